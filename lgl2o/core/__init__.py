"""The bottom layer: repo-root-relative paths, atomic writes and the allocator setting. Imports nothing
else of lgl2o."""
