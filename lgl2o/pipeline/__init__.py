"""DVC glue: the stage runner (parameters checked before papermill starts), the README report, the
shared figure style. Nothing here changes a number."""
