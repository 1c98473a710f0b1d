"""Resume checkpoints of a run: tensors and plain containers only, loaded with ``weights_only=True``.

A checkpoint holds the iterate, the optimizer's state (flattened to "a/b/0"-style keys), the oracle's
random streams and the loop's bookkeeping (``new_run``), so that a resumed run continues bit for bit.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..core.io import save_torch


def flatten(state, prefix: str = "") -> dict:
    """A state tree (dicts and tuples of tensors) as {"key/0": tensor, ...}; a NamedTuple's entries are
    keyed by their field names, as a dict's."""
    if isinstance(state, dict):
        items = state.items()
    elif _named(state):
        items = state._asdict().items()
    elif isinstance(state, tuple):
        items = enumerate(state)
    else:
        return {prefix[:-1]: state}
    out = {}
    for k, v in items:
        out.update(flatten(v, f"{prefix}{k}/"))
    return out


def fill(template, flat: dict, prefix: str = ""):
    """The state tree of ``template``'s shape, with the tensors from ``flat``."""
    if isinstance(template, dict):
        return {k: fill(v, flat, f"{prefix}{k}/") for k, v in template.items()}
    if _named(template):
        return type(template)(**{k: fill(v, flat, f"{prefix}{k}/") for k, v in template._asdict().items()})
    if isinstance(template, tuple):  # a tuple's type kept (l2o.model.LSTMState)
        return type(template)([fill(v, flat, f"{prefix}{i}/") for i, v in enumerate(template)])
    return flat[prefix[:-1]]


def _named(state) -> bool:
    return isinstance(state, tuple) and hasattr(state, "_fields")


def new_run(S: int) -> dict:
    """The bookkeeping of a run of S seeds that a checkpoint saves: next step, wall time, the guard's
    acceptances since the last logged row, the logged rows, the first diverged step per seed."""
    return {"step": 0, "wall": 0.0, "taken": torch.zeros(S), "guarded_steps": 0, "rows": [],
            "diverged_at": torch.full((S,), -1, dtype=torch.int64)}


def save_run(path: Path, params, state, oracle, run: dict) -> None:
    save_torch({"params": params, "state": flatten(state), "oracle": oracle.state_dict(), "run": run}, path)


def load_run(path: Path, oracle, state_template):
    """(params, state, run) from ``path``, the oracle's streams restored; a clear error for a file that is
    truncated, foreign, or of another optimizer or other seeds."""
    payload = _payload(path)
    if set(payload["state"]) != set(flatten(state_template)) or payload["params"].shape[0] != len(oracle.seeds):
        raise ValueError(f"{path}: this checkpoint is of another optimizer or other seeds; delete it to start over")
    oracle.load_state_dict(payload["oracle"])
    return payload["params"], fill(state_template, payload["state"]), payload["run"]


def saved_step(path: Path) -> int:
    """The step at which the checkpoint ``path`` resumes."""
    return int(_payload(path)["run"]["step"])


def _payload(path: Path) -> dict:
    """The checkpoint's contents; a clear error for a truncated or foreign file."""
    try:
        payload = torch.load(path, weights_only=True)
        payload["state"], payload["params"], payload["run"], payload["oracle"]  # noqa: B018 - the keys a resume needs
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file is refused the same way
        raise ValueError(f"{path}: unreadable resume checkpoint ({type(e).__name__}); "
                         "delete it to start over") from e
    return payload
