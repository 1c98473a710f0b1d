"""Keep a comparison's earlier runs when the only change is which readings of the paper's rule it adds.

A comparison stage (03-05) runs every optimizer of its figure, each independently of the others. Asking for
another reading (``dvc exp run -S 'shared.readings=[fresh,same,next]'``) adds optimizers and changes none of
the others, so the stage runner hands the notebook the published ``curves.csv`` to keep (the config's
``reuse``), and only the added optimizers run. It does so only where ``dvc.lock`` shows that the published
curves were made by what the stage would run now:

- the same command, and every dependency with the md5 the lock records (a folder: its ``.dvc`` file's,
  which set-up verifies against the folder's bytes), and no dependency added or removed;
- every parameter the stage reads with the lock's value, except the readings, which differ;
- the published ``curves.csv`` with the lock's md5.

Anything else (``dvc repro -f`` with nothing changed included) runs every optimizer again.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import yaml

from ..core.paths import ROOT
from .outputs import fill_item

READINGS_KEY = "readings"


def reusable_curves(stage: str, variant: str | None, out_dir: str, params: dict | None = None,
                    root: Path = ROOT) -> tuple[str | None, str]:
    """(``out_dir/curves.csv``, why) where the stage may keep those curves' optimizers, else (None, why not)."""
    curves = f"{out_dir}/curves.csv"
    lock_file, dvc_file = root / "dvc.lock", root / "dvc.yaml"
    if not (root / curves).is_file() or not lock_file.is_file():
        return None, f"no earlier {curves} in dvc.lock"
    name = stage + (f"@{variant}" if variant else "")
    locked = (yaml.safe_load(lock_file.read_text()).get("stages") or {}).get(name)
    if locked is None:
        return None, f"dvc.lock has no stage {name}"
    spec = yaml.safe_load(dvc_file.read_text())["stages"][stage]
    spec = spec.get("do", spec)
    params = params if params is not None else yaml.safe_load((root / "params.yaml").read_text())

    def fill(text):
        return fill_item(text, stage, variant)

    if locked.get("cmd") != fill(spec["cmd"]):
        return None, "the stage's command changed"
    deps = {d["path"]: d for d in locked.get("deps", [])}
    if set(deps) != {fill(d) for d in spec.get("deps", [])}:
        return None, "the stage's dependencies changed"
    for path, d in deps.items():
        if md5(root, path) != d.get("md5"):
            return None, f"{path} changed"
    old = locked.get("params", {}).get("params.yaml", {})
    now = {fill(k) for k in spec.get("params", [])}
    if set(old) != now:
        return None, "the stage's parameters changed"
    readings_differ = False
    for key, value in old.items():
        current = lookup(params, key)
        if without_readings(key, current) != without_readings(key, value):
            return None, f"params.yaml {key} changed"
        readings_differ |= current != value
    if not readings_differ:
        return None, "the readings did not change"
    out = next((o for o in locked.get("outs", []) if o["path"] == curves), None)
    if out is None or md5(root, curves) != out.get("md5"):
        return None, f"{curves} is not the one dvc.lock records"
    return curves, "dvc.lock shows the same code, data and settings but the readings"


def lookup(params: dict, key: str):
    """``params``' value at a dotted key (``shared.readings``); None where it has none."""
    value = params
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def without_readings(key: str, value):
    """A parameter's value with the readings left out (the key itself, or a section's entry)."""
    if key.split(".")[-1] == READINGS_KEY:
        return None
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != READINGS_KEY}
    return value


def md5(root: Path, path: str) -> str | None:
    """The md5 dvc.lock records for ``path``: a file's bytes; a folder's, the one its ``.dvc`` file records."""
    p = root / path
    if p.is_file():
        return hashlib.md5(p.read_bytes()).hexdigest()
    pinned = root / f"{path}.dvc"
    if p.is_dir() and pinned.is_file():
        outs = yaml.safe_load(pinned.read_text()).get("outs", [])
        return next((o.get("md5") for o in outs if o.get("path") == p.name), None)
    return None
