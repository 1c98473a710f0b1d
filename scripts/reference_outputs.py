"""Reference outputs for a refactor: every stage's notebook at a reduced scale, into a git-ignored folder.

    .venv/bin/python scripts/reference_outputs.py scratch/ref/before      # before the change
    .venv/bin/python scripts/reference_outputs.py scratch/ref/after       # after it, same machine
    .venv/bin/python scripts/reference_outputs.py --compare scratch/ref/before scratch/ref/after

Each run is the stage's own ``params.yaml`` configuration (task, L2O checkpoint, tuned rates, guards,
L2O step) with the scale cut down (two seeds, a few dozen steps; meta-training: one episode per phase),
executed through the stage's notebook with papermill, as ``dvc repro`` runs it. ``--compare`` checks that
every CSV, JSON and checkpoint (.pt) file of the two folders is identical, value for value (timings excepted: columns and
keys named in ``TIMING``), and exits 1 naming every file and column or key that differs.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parent.parent
TIMING = {"wall_s", "ms", "ratio_to_sgd", "meta_wall_min", "machine", "malloc_keeps_freed_memory", "l2o_vs_sgd",
          "lgl2o_sgd_vs_l2o", "wall", "minutes", "stepping_minutes", "started"}

COMPARISON = {"steps": 30, "seeds": [0, 1], "log_every": 10, "report_steps": [10, 20]}
REDUCED = {
    "01_tune_baselines": {"steps": 40, "horizons": [10, 20], "seeds": [100, 101]},
    "02_meta_train": {"eval_steps": 20, "eval_seeds": [200, 201], "report_steps": [10], "compile_eval": False},
    "03_in_distribution": COMPARISON,
    "04_ood_data": COMPARISON,
    "05_ood_optimizee": COMPARISON,
    # the pieces, cut down, are run by the notebook itself (it runs the pieces it lacks)
    "06_long_horizon": lambda p: {"run": {**p["run"], "log_every": 10, "checkpoint_every": 10},
                                  "steps": {name: 30 for name in p["steps"]}, "seeds": [0, 1], "report_steps": [10, 20]},
    "07_convex_guarantee": {"steps": 60},
    "08_cost": {"steps": 3, "repeats": 2},
    "09_guard_ablation": {**COMPARISON, "report_steps": [10]},
}
META = {"episodes": 1, "episode_steps": 20, "unroll": 10, "optimizees": 2, "validate_every": 1,
        "validate_seeds": 2, "validate_steps": 10, "compile": False}


def runs():
    """(stage, variant, figure, reduced configuration) of every reduced run."""
    from lgl2o.pipeline.stage import stage_section

    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for stage, spec in stages.items():
        if stage not in REDUCED:  # a piece of a stage, run by that stage's notebook
            continue
        for variant in spec.get("foreach", [None]):
            p = stage_section(stage, variant)
            figure = p.pop("figure")
            reduced = REDUCED[stage]
            p.update(reduced(p) if callable(reduced) else reduced)
            if stage == "02_meta_train":
                p["config"] = {**p["config"], **META}
                # each phase's meta learning rate; its unroll cut to the reduced episode's length
                p["phases"] = [{**({"meta_lr": ph["meta_lr"]} if "meta_lr" in ph else {}),
                                **({"unroll": 20} if "unroll" in ph else {})} for ph in p["phases"]]
            yield stage, variant, figure, p


def record(out: Path) -> None:
    import papermill as pm

    for stage, variant, _, p in runs():
        where = out / stage / (variant or "")
        where.mkdir(parents=True, exist_ok=True)
        rel = where.relative_to(ROOT)
        if stage == "02_meta_train":
            p["model_dir"] = str(rel / "model")
            p["work_dir"] = str(rel / "model" / "work")
            p["pretrained_dir"] = str(rel / "pretrained")
        if stage == "06_long_horizon":
            p["pieces_dir"] = str(rel)
        print(f"{stage} {variant or ''}", flush=True)
        pm.execute_notebook(str(ROOT / "notebooks" / f"{stage}.ipynb"), str(where / "notebook.ipynb"),
                            parameters={"out_dir": str(rel), "figure": str(rel / "figure.png"), "config": p},
                            cwd=str(ROOT / "notebooks"), progress_bar=False)


def _diff(x, y, where="") -> list[str]:
    """The key paths at which two trees of dicts, lists, tensors and values (a JSON file, a checkpoint)
    differ, keys named in ``TIMING`` aside."""
    import torch

    if isinstance(x, dict) and isinstance(y, dict):
        return [d for k in sorted(set(x) | set(y), key=str) if k not in TIMING
                for d in (_diff(x[k], y[k], f"{where}.{k}") if k in x and k in y else [f"{where}.{k}"])]
    if isinstance(x, (list, tuple)) and isinstance(y, (list, tuple)) and len(x) == len(y):
        return [d for i, (u, v) in enumerate(zip(x, y)) for d in _diff(u, v, f"{where}[{i}]")]
    if isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor):
        return [] if x.dtype == y.dtype and torch.equal(x, y) else [where or "."]
    return [] if x == y else [where or "."]


def compare(a: Path, b: Path) -> int:
    files = sorted(rel for rel in (p.relative_to(a) for p in a.rglob("*"))
                   if rel.suffix in (".csv", ".json", ".pt") and "work" not in rel.parts)
    if not files:
        print(f"{a} holds no CSV or JSON files", file=sys.stderr)
        return 1
    bad = 0
    for rel in files:
        if not (b / rel).exists():
            print(f"{rel}: missing in {b}", file=sys.stderr)
            bad += 1
            continue
        if rel.suffix == ".pt":
            import torch

            diff = _diff(*(torch.load(d / rel, weights_only=True) for d in (a, b)))
        elif rel.suffix == ".json":
            diff = _diff(*(json.loads((d / rel).read_text()) for d in (a, b)))
        else:
            x, y = (pd.read_csv(d / rel) for d in (a, b))
            x, y = (t.drop(columns=[c for c in t.columns if c in TIMING]) for t in (x, y))
            diff = [] if x.equals(y) else [c for c in x.columns if c not in y or not x[c].equals(y[c])] or ["shape"]
        if diff:
            print(f"{rel}: differs at {', '.join(diff)}", file=sys.stderr)
            bad += 1
        else:
            print(f"identical: {rel}")
    print(f"{len(files) - bad} of {len(files)} files identical")
    return 1 if bad else 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--compare", action="store_true")
    args = ap.parse_args(argv)
    folders = [f if f.is_absolute() else Path.cwd() / f for f in args.folders]
    if args.compare:
        return compare(*folders)
    record(folders[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
