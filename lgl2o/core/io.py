"""Atomic writes: a killed run never leaves a truncated file that a later stage (or resume) reads.

Every file the package writes goes through ``atomic``: the content is written beside its destination
under a temporary name and renamed onto it only once complete.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .paths import repo_path


@contextmanager
def atomic(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` (same suffix, so writers that go by it still work), renamed onto
    ``path`` when the block ends without an error and removed when it does not. Relative paths are taken
    from the repo root."""
    path = repo_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(data: bytes, path) -> Path:
    with atomic(path) as tmp:
        tmp.write_bytes(data)
    return repo_path(path)


def write_text(text: str, path) -> Path:
    with atomic(path) as tmp:
        tmp.write_text(text)
    return repo_path(path)


def write_json(obj, path) -> Path:
    return write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", path)


def write_csv(df, path) -> Path:
    with atomic(path) as tmp:
        df.to_csv(tmp, index=False)
    return repo_path(path)


def save_torch(obj, path) -> Path:
    """``torch.save`` of tensors and plain containers (loaded back with ``weights_only=True``)."""
    import torch

    with atomic(path) as tmp:
        torch.save(obj, tmp)
    return repo_path(path)
