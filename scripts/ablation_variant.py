"""One more guard variant on a stage-09 task, outside the pipeline (nothing under results/ is written):

    python scripts/ablation_variant.py mnist compare=fresh compare_batch=1024 z=2

Runs the variant with stage 09's configuration of that task (params.yaml: seeds, steps, rates, L2O) and
prints its summary (losses at the reported steps with 95% CIs, the L2O share), to set beside the
committed results/09_guard_ablation/<task>/summary.json.
"""
import argparse
import dataclasses
import json
import time

import yaml

from lgl2o.experiments.guard_ablation import run_ablation
from lgl2o.experiments.runs import GuardConfig
from lgl2o.pipeline.stage import stage_config


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("task", help="a guard_ablation variant of params.yaml (mnist, fashion_mnist)")
    ap.add_argument("settings", nargs="+", help="key=value guard settings (YAML values)")
    args = ap.parse_args(argv)
    spec = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.settings)}
    name = "-".join(f"{k}{v}" for k, v in spec.items())
    _, cfg = stage_config("09_guard_ablation", args.task)
    cfg = dataclasses.replace(cfg, guards={name: GuardConfig.from_dict(spec, name)}, gl2o={})  # the variant alone
    start = time.perf_counter()
    _, summary, _ = run_ablation(cfg, progress=False, references=False)
    print(json.dumps(summary, indent=1))
    print(f"wall {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
