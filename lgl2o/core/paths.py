"""Repo-root-relative paths that work the same under DVC, papermill, nbval and Jupyter.

Notebooks run with their own folder as the working directory (papermill, nbval) while DVC runs
from the repo root, so no code here trusts the working directory: the root is found from the
package's own location (an editable install lives in the repo), or named by ``LGL2O_ROOT``.
"""
from __future__ import annotations

import os
from pathlib import Path


def _find_root() -> Path:
    env = os.environ.get("LGL2O_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").exists() and (here / "lgl2o").is_dir():
        return here
    # an installed (non-editable) package: look upwards from the working directory
    for d in [Path.cwd(), *Path.cwd().parents]:
        if (d / "dvc.yaml").exists():
            return d
    return Path.cwd()


ROOT = _find_root()
DATA = ROOT / "data"
RESULTS = ROOT / "results"


def repo_path(p: str | os.PathLike) -> Path:
    """A path given relative to the repo root (as in params.yaml), made absolute."""
    p = Path(p)
    return p if p.is_absolute() else ROOT / p


def repo_relative(p: str | os.PathLike) -> str:
    """``p`` relative to the repo root where it lies inside it (as params.yaml and checkpoints record paths)."""
    p = Path(p).resolve()
    return p.relative_to(ROOT).as_posix() if p.is_relative_to(ROOT) else str(p)
