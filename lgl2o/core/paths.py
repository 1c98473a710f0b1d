"""Repo-root-relative paths that work the same under DVC, papermill, nbval and Jupyter.

Notebooks run with their own folder as the working directory (papermill, nbval) while DVC runs
from the repo root, so no code here trusts the working directory alone. The root is, in order:

1. inside a DVC stage (DVC sets ``DVC_STAGE``), the folder holding ``dvc.yaml`` at or above the working
   directory: DVC runs every stage there, in the workspace or in an experiment's own copy of it
   (``dvc exp run --temp``, ``--queue``), and a run must read and write only there;
2. ``LGL2O_ROOT``, where set (the stage runner hands its root to the notebook's kernel this way);
3. the repo the package lives in (an editable install, or the source tree on ``sys.path``);
4. the folder holding ``dvc.yaml`` at or above the working directory, else the working directory.
"""
from __future__ import annotations

import os
from pathlib import Path


def _workspace_above(start: Path) -> Path | None:
    return next((d for d in [start, *start.parents] if (d / "dvc.yaml").exists()), None)


def _find_root() -> Path:
    cwd = Path.cwd().resolve()
    if os.environ.get("DVC_STAGE") and (workspace := _workspace_above(cwd)) is not None:
        return workspace
    env = os.environ.get("LGL2O_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").exists() and (here / "lgl2o").is_dir():
        return here
    return _workspace_above(cwd) or cwd


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
