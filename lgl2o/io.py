"""Atomic writes of results: a killed run never leaves a truncated file that a later stage reads."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .paths import repo_path


def _tmp(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp")


def write_csv(df, path) -> Path:
    path = repo_path(path)
    tmp = _tmp(path)
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return path


def write_json(obj, path) -> Path:
    path = repo_path(path)
    tmp = _tmp(path)
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)
    return path
