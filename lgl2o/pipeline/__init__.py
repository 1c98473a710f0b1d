"""DVC glue: the stage runner (parameters checked before papermill starts), the generated results page, the
shared figure style. Nothing here changes a number."""
