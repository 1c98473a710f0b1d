"""Probe: run guard variants on one dataset of stage 09 (the guard ablation); its references on request.

Same task, L2O, tuned rates, steps, seeds and minibatches as the stage (``params.yaml``), so a variant
that the stage also ran must reproduce its committed numbers, and a new one can be compared with them
before it is added to the stage (which re-runs every variant: ~30 min per dataset on 2 cores). Variants
are given as YAML mappings, as under ``guard_ablation.base.guards``:

    .venv/bin/python scripts/guard_variants.py mnist z2='{compare: fresh, z: 2.0}' \\
        sign-z2='{compare: fresh, z: 2.0, test: sign}'
"""
import argparse

import yaml

from lgl2o.experiments import ablation, summary
from lgl2o.experiments.config import AblationConfig
from lgl2o.pipeline.stage import stage_section


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="a variant of 09_guard_ablation (mnist, fashion_mnist)")
    ap.add_argument("variants", nargs="+", metavar="NAME=SPEC")
    ap.add_argument("--references", action="store_true",
                    help="run SGD, Adam, the L2O and GL2O first, as the stage does")
    args = ap.parse_args()
    p = stage_section("09_guard_ablation", args.dataset)
    p.pop("figure")
    variants = {}
    for arg in args.variants:
        name, _, spec = arg.partition("=")
        variants[name] = yaml.safe_load(spec)
    cfg = AblationConfig.from_dict({**p, "guards": variants}, "guard_ablation")
    _, summary_, _ = ablation.run_ablation(cfg, progress=False, references=args.references)
    print(summary.summary_table(summary_).to_string())


if __name__ == "__main__":
    main()
