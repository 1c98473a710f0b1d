"""The loop that steps any optimizer on any task over many seeds batched, with tidy telemetry and
resume checkpoints; the per-step work is done by an engine: eager, or replayed from a CUDA graph."""
