"""L2O checkpoints: a ``state_dict`` (.pt) plus a JSON config (.json), loaded without executing code."""
from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import torch

from ..core.io import save_torch, write_json
from ..core.paths import repo_path
from .model import L2OConfig, LSTMOptimizer

FORMAT = "lgl2o.l2o/1"
# The meta-trained L2O as package data: stage 02_meta_train writes it beside models/l2o (the DVC artifact),
# the same bytes, so that an installed package loads it from any working directory.
PRETRAINED = "pretrained"  # lgl2o/l2o/pretrained/l2o.{pt,json}


def pretrained_path() -> Path:
    """The packaged checkpoint's path (no suffix), wherever the package is installed."""
    from importlib.resources import files

    return Path(str(files("lgl2o.l2o") / PRETRAINED / "l2o"))


class CheckpointError(RuntimeError):
    pass


def save(model: LSTMOptimizer, path: str | os.PathLike, extra: dict | None = None) -> None:
    """Write ``path``.pt (tensors only) and ``path``.json (config + ``extra``), each atomically."""
    path = Path(path)
    save_torch(model.state_dict(), path.with_suffix(".pt"))
    write_json({"format": FORMAT, "l2o": asdict(model.config), **(extra or {})}, path.with_suffix(".json"))


def load(path: str | os.PathLike, expect: L2OConfig | None = None, device="cpu") -> tuple[LSTMOptimizer, dict]:
    """Load a checkpoint written by ``save`` (a relative ``path`` is taken from the repo root); refuse a
    config or tensors that do not match. Returns (model, its JSON)."""
    path = repo_path(path)
    pt, js = path.with_suffix(".pt"), path.with_suffix(".json")
    for f in (pt, js):
        if not f.is_file():
            raise CheckpointError(f"{f} is missing (a checkpoint is a .pt state_dict plus a .json config)")
    try:
        meta = json.loads(js.read_text())
        config = L2OConfig(**meta["l2o"])
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{js}: not a valid L2O checkpoint config ({e})") from e
    if expect is not None and config != expect:
        raise CheckpointError(f"{path}: checkpoint is for {config}, but {expect} was requested")
    try:
        state = torch.load(pt, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is refused the same way
        raise CheckpointError(f"{pt}: unreadable checkpoint tensors ({type(e).__name__})") from e
    model = LSTMOptimizer(config).to(device)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{pt}: tensors do not match the config {config} ({e})") from e
    return model, meta


def load_l2o(path: str | os.PathLike | None = None, device="cpu") -> LSTMOptimizer:
    """The meta-trained L2O in eval mode: by default the one the package ships (from any working directory,
    installed or not); else the checkpoint at ``path`` (relative: from the repo root). A clear error says
    which stage makes it."""
    try:
        net, _ = load(pretrained_path() if path is None else path, device=device)
    except CheckpointError as e:
        raise CheckpointError(f"{e}\n(the meta-trained L2O comes from stage 02_meta_train)") from None
    return net.eval()
