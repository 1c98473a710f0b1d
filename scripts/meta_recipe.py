"""Probe: meta-train the L2O with changes to stage 02's recipe, then compare it with tuned SGD and Adam.

Starts from ``params.yaml``'s ``02_meta_train.config``; each NAME=VALUE overrides one key (YAML values).
The result is scored on probe seeds that no stage reports (300-309 by default), at the stage's report
steps, so that choosing a recipe here does not select on the seeds stage 02 reports:

    .venv/bin/python scripts/meta_recipe.py scratch/recipes/log objective=log episodes=100
    .venv/bin/python scripts/meta_recipe.py scratch/recipes/warm-log init=models/l2o objective=log episodes=60
    .venv/bin/python scripts/meta_recipe.py scratch/recipes/stage --checkpoint models/l2o  # no training

A run resumes from its folder (the config's hash names it) when repeated with the same overrides.
"""
import argparse
import json
import time

import torch
import yaml

from lgl2o import SGD, Adam, L2O, evaluate
from lgl2o.core.paths import repo_path
from lgl2o.experiments import artifacts, summary as summary_mod
from lgl2o.l2o import checkpoint, meta
from lgl2o.pipeline.stage import stage_section
from lgl2o.problems import tasks


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="folder for the run (repo-relative)")
    ap.add_argument("overrides", nargs="*", metavar="NAME=VALUE")
    ap.add_argument("--seeds", default="300-309", help="probe seeds, FIRST-LAST")
    ap.add_argument("--steps", type=int, default=200, help="evaluation steps")
    ap.add_argument("--checkpoint", help="score this L2O checkpoint instead of meta-training one")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    p = stage_section("02_meta_train")
    config = dict(p["config"])
    for arg in args.overrides:
        name, _, value = arg.partition("=")
        if name not in meta.MetaConfig.__dataclass_fields__:
            raise SystemExit(f"unknown meta-training setting {name!r}")
        config[name] = yaml.safe_load(value)
    cfg = meta.MetaConfig(**config)
    out = repo_path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.checkpoint:
        log = None
        net, info = checkpoint.load(args.checkpoint)
    else:
        log = meta.meta_train(cfg, out / meta.config_hash(cfg), progress=False)
        net, info = checkpoint.load(out / meta.config_hash(cfg) / "l2o")
    meta_min = (time.perf_counter() - t0) / 60
    first, last = (int(s) for s in args.seeds.split("-"))
    lrs = artifacts.tuned_rates(p["baselines_from"], p["baseline_horizon"])
    problem = tasks.make_task(**cfg.task)  # YAML lists are accepted
    table = evaluate(problem, {"sgd": SGD(lrs["sgd"]), "adam": Adam(lrs["adam"]), "l2o": L2O(net)},
                     steps=args.steps, seeds=range(first, last + 1), log_every=10, test_accuracy=False,
                     progress=False)
    summary = summary_mod.summarize(table, [s for s in p["report_steps"] if s <= args.steps])
    result = {"overrides": args.overrides, "checkpoint": args.checkpoint, "best_meta_step": info["meta_step"],
              "val_loss": info["val_loss"], "meta_min_this_call": meta_min, "summary": summary}
    if log is not None:
        result.update(skipped=int(log.skipped.sum()),
                      val_curve=log.dropna(subset=["val_loss"])[["meta_step", "val_loss"]].values.tolist())
    (out / "result.json").write_text(json.dumps(result, indent=1) + "\n")
    print(summary_mod.summary_table(summary).to_string())
    print(f"best val {info['val_loss']:.4f} at meta-step {info['meta_step']}; {meta_min:.1f} min")


if __name__ == "__main__":
    main()
