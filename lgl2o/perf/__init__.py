"""Speed: the benchmark command (``python -m lgl2o.perf.bench``) and the allocator setting it and the
stages use. docs/performance.md has the measurements."""
