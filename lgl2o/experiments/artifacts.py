"""The pipeline's artifacts that later stages read, written and read in one place."""
from __future__ import annotations

import json

from ..core.io import write_json
from ..core.paths import repo_path


def write_best_rates(best: dict, path, task: str, steps: int, seeds) -> None:
    """Stage 01's ``best.json``: {"best_lr": {horizon: {optimizer: lr}}, ...}."""
    write_json({"best_lr": {str(k): v for k, v in best.items()}, "task": task, "steps": steps, "seeds": list(seeds)},
               path)


def tuned_rates(source, horizon: int | str) -> dict:
    """{"sgd": lr, "adam": lr}: a dict as given, or read from stage 01's best.json at ``horizon``."""
    if isinstance(source, dict):
        return {k: float(v) for k, v in source.items()}
    best = json.loads(repo_path(source).read_text())["best_lr"]
    if str(horizon) not in best:
        raise ValueError(f"{source} has no rates for horizon {horizon}; it has {', '.join(best)}")
    return best[str(horizon)]
