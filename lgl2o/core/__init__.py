"""The bottom layer: repo-root-relative paths and atomic writes. Imports nothing else of lgl2o."""
