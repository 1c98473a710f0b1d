"""Probe: run guard variants on one dataset of stage 09 (the guard ablation); its references on request.

Same task, L2O, tuned rates, steps, seeds and minibatches as the stage (``params.yaml``), so a variant
that the stage also ran must reproduce its committed numbers, and a new one can be compared with them
before it is added to the stage (which re-runs every variant: ~30 min per dataset on 2 cores). Variants
are given as YAML mappings, as under ``09_guard_ablation.guards``:

    .venv/bin/python scripts/guard_variants.py mnist z2='{compare: fresh, z: 2.0}' \\
        sign-z2='{compare: fresh, z: 2.0, test: sign}'
"""
import argparse

import yaml

from lgl2o.experiments import ablation, summary
from lgl2o.pipeline.stage import check_params, stage_params


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="a variant of 09_guard_ablation (mnist, fashion_mnist)")
    ap.add_argument("variants", nargs="+", metavar="NAME=SPEC")
    ap.add_argument("--references", action="store_true",
                    help="run SGD, Adam, the L2O and GL2O first, as the stage does")
    args = ap.parse_args()
    p = stage_params("09_guard_ablation", args.dataset)
    variants = {}
    for arg in args.variants:
        name, _, spec = arg.partition("=")
        variants[name] = yaml.safe_load(spec)
    check_params({**p, "guards": variants})
    _, summary_, _ = ablation.run_ablation(p["task"], p["l2o_checkpoint"], p["rates"], p["rates_horizon"], variants,
                                          p["steps"], p["seeds"], p["log_every"], p["report_steps"],
                                          l2o_step=p.get("l2o_step", "plain"), progress=False,
                                          references=args.references)
    print(summary.summary_table(summary_).to_string())


if __name__ == "__main__":
    main()
