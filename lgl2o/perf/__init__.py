"""Speed: the benchmark command (``python -m lgl2o.perf.bench``); docs/performance.md has the measurements."""
