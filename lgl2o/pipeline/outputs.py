"""A stage's outputs replaced all at once, when it finishes: an interrupted run leaves the previous ones.

DVC deletes a stage's outputs before it runs it, unless they are ``persist: true`` (every output in
dvc.yaml is; a test keeps it so). The stage then writes into a staging folder that mirrors the repo
(``.staging/<stage>/results/...``, ``.staging/<stage>/figures/...``), and ``publish`` moves each declared
output from there into place once the run is complete. An output the run did not write is deleted, so no
stale file survives a run that should have replaced it (and DVC then says that output is missing). A run
stopped by Ctrl-C, SIGTERM or SIGKILL publishes nothing; its staging folder is emptied by the next run.
What must outlive an interrupted run (its ``resume/`` checkpoints) is written in place (``keep``).

    with Staging("07_convex_guarantee") as staging:
        run(out_dir=staging.path("results/07_convex_guarantee"), figure=staging.path("figures/07_....png"))
        staging.publish(declared_outputs("07_convex_guarantee"))
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import yaml

from ..core.paths import ROOT

FOLDER = ".staging"  # git-ignored


def declared_outputs(stage: str, item: str | dict | None = None, dvc_yaml: Path | None = None) -> list[str]:
    """The repo-relative files a dvc.yaml stage declares (outs, metrics, plots), with a ``foreach`` or
    ``matrix`` item filled in (``${item}``, ``${item.key}``)."""
    stages = yaml.safe_load((dvc_yaml or ROOT / "dvc.yaml").read_text())["stages"]
    if stage not in stages:
        raise KeyError(f"dvc.yaml has no stage {stage!r}")
    body = stages[stage].get("do", stages[stage])
    return [fill_item(next(iter(o)) if isinstance(o, dict) else o, stage, item)
            for kind in ("outs", "metrics", "plots") for o in body.get(kind, [])]


def fill_item(text: str, stage: str, item: str | dict | None) -> str:
    """A dvc.yaml entry of ``stage`` with its ``foreach`` or ``matrix`` item filled in (``${item}``,
    ``${item.key}``); KeyError where it needs an item it was not given."""
    values = item if isinstance(item, dict) else {"": item}

    def one(m):
        key = m.group(1) or ""
        if key not in values or values[key] is None:
            raise KeyError(f"dvc.yaml stage {stage!r}: {m.group(0)} in {text!r} needs an item")
        return str(values[key])

    return re.sub(r"\$\{item(?:\.(\w+))?\}", one, text)


class Staging:
    """A fresh folder ``.staging/<name>`` under the repo root; ``path`` maps a repo-relative path into it."""

    def __init__(self, name: str):
        self.rel = Path(FOLDER) / name.replace("@", "-")
        self.root = ROOT / self.rel

    def __enter__(self) -> Staging:
        shutil.rmtree(self.root, ignore_errors=True)  # what an interrupted run left
        self.root.mkdir(parents=True)
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def path(self, rel: str | os.PathLike) -> str:
        """Where the run writes what belongs at ``rel`` (repo-relative, as the notebooks take paths)."""
        return (self.rel / rel).as_posix()

    def keep(self, rel: str | os.PathLike) -> None:
        """Let the run write ``rel`` (a folder, e.g. an interrupted run's ``resume/`` checkpoints) in place:
        the staging folder's ``rel`` is a link to the repo's, so what is written there outlives the run."""
        real, link = ROOT / rel, self.root / rel
        real.mkdir(parents=True, exist_ok=True)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(real, target_is_directory=True)

    def unstaged(self, text: str) -> str:
        """``text`` with the staging prefix taken out of every path (for the executed notebook)."""
        return text.replace(self.rel.as_posix() + "/", "")

    def publish(self, outputs: list[str]) -> list[str]:
        """Move each of ``outputs`` from the staging folder into place (renames, on one file system);
        delete those the run did not write. Returns the ones deleted."""
        missing = []
        for rel in outputs:
            src, dst = self.root / rel, ROOT / rel
            if src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
            else:
                missing.append(rel)
                dst.unlink(missing_ok=True)
        return missing
