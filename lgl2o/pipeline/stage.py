"""Run one pipeline stage: execute its notebook with papermill, parameters from params.yaml.

    python -m lgl2o.pipeline.stage 01_tune_baselines [--variant NAME]

Stage name = notebook name = params.yaml section (docs/design.md). The executed notebook is written to
``results/<stage>/notebook.ipynb`` (``results/<stage>/<variant>/`` for a ``foreach`` variant), atomically.
The parameters are checked first (``check_params``), so that a bad one fails in a second with a message
naming it, not an hour into a run.
"""
from __future__ import annotations

import argparse
import sys

import yaml

from ..core.paths import ROOT


def stage_params(stage: str, variant: str | None = None) -> dict:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    if stage not in params:
        raise SystemExit(f"params.yaml has no section {stage!r}; sections: {', '.join(params)}")
    p = dict(params[stage])
    variants = p.pop("variants", None)
    if variant is not None:
        if not variants or variant not in variants:
            raise SystemExit(f"stage {stage!r} has no variant {variant!r}; variants: {', '.join(variants or [])}")
        p.update(variants[variant])
    return p


POSITIVE_INTS = ("steps", "eval_steps", "log_every", "repeats", "rates_horizon", "baseline_horizon", "episodes",
                 "episode_steps", "unroll", "optimizees", "validate_every", "validate_seeds", "validate_steps")
SEED_LISTS = ("seeds", "eval_seeds")


def _fail(name, value, allowed) -> None:
    raise SystemExit(f"bad parameter {name}={value!r}: {allowed}")


ZERO_OK = ("z", "max_fallback_increase")  # numbers that may be 0


def check_params(params: dict, where: str = "") -> None:
    """Refuse, with the parameter's name, value and what is allowed, what would fail later in a run:
    unknown task kind/dataset/activation, optimizer or guard setting; non-positive steps, seeds, batch
    sizes or rates; a missing checkpoint or rates file; a CUDA device where there is none."""
    import math
    import re

    import torch

    from ..core.paths import repo_path
    from ..experiments.ablation import FALLBACKS, SPEC_KEYS
    from ..l2o.backends import NAMES as L2O_STEPS
    from ..optim.guards import LGL2O
    from ..problems import data
    from ..problems.tasks import ACTIVATIONS

    for key, v in params.items():
        name = f"{where}{key}"
        if key in POSITIVE_INTS and not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
            _fail(name, v, "a positive integer")
        elif key in SEED_LISTS and not (isinstance(v, int) and v > 0) and not (
                isinstance(v, list) and v and all(isinstance(s, int) and s >= 0 for s in v)):
            _fail(name, v, "a non-empty list of non-negative integer seeds")
        elif key in ("lr", "meta_lr", "clip", "fallback_lr", "compare_batch", "batch_size", "z",
                     "max_fallback_increase") and v is not None and not (
                isinstance(v, (int, float)) and math.isfinite(v) and (v > 0 or (key in ZERO_OK and v == 0))):
            _fail(name, v, "a positive number" + (" (or 0)" if key in ZERO_OK else ""))
        elif key == "device":
            if not isinstance(v, str) or not re.fullmatch(r"cpu|cuda(:\d+)?", v):
                _fail(name, v, "'cpu' or 'cuda[:index]'")
            if v.startswith("cuda") and not torch.cuda.is_available():
                _fail(name, v, "CUDA is not available on this machine; use 'cpu' here")
        elif key == "kind" and v not in ("mlp", "logreg", "conv", "quadratic"):
            _fail(name, v, "one of mlp, logreg, conv, quadratic")
        elif key == "dataset" and v not in data.KNOWN:
            _fail(name, v, f"one of {', '.join(data.KNOWN)}")
        elif key == "activation" and v not in ACTIVATIONS:
            _fail(name, v, f"one of {', '.join(ACTIVATIONS)}")
        elif key == "compare" and v not in LGL2O.COMPARE:
            _fail(name, v, f"one of {', '.join(LGL2O.COMPARE)}")
        elif key == "test" and v not in LGL2O.TESTS:
            _fail(name, v, f"one of {', '.join(LGL2O.TESTS)}")
        elif key == "l2o_step" and v not in L2O_STEPS:
            _fail(name, v, f"one of {', '.join(L2O_STEPS)}")
        elif key == "fallback" and v not in FALLBACKS:
            _fail(name, v, f"one of {', '.join(FALLBACKS)}")
        elif key in ("l2o_checkpoint",) and v and not repo_path(f"{v}.pt").is_file():
            _fail(name, v, f"{v}.pt does not exist (the meta-trained L2O comes from stage 02_meta_train)")
        elif key in ("rates", "baselines_from") and isinstance(v, str) and not repo_path(v).is_file():
            _fail(name, v, f"{v} does not exist (the tuned rates come from stage 01_tune_baselines)")
        elif key == "guard":
            _check_guard(name, v, SPEC_KEYS)
            continue
        elif key == "guards":
            if not isinstance(v, dict):
                _fail(name, v, "a mapping of guard names to settings")
            for g, spec in v.items():
                _check_guard(f"{name}.{g}", spec, SPEC_KEYS)
            continue
        if isinstance(v, dict):
            check_params(v, f"{name}.")


def _check_guard(name, spec, allowed) -> None:
    if not isinstance(spec, dict):
        _fail(name, spec, "a mapping of guard settings")
    unknown = set(spec) - set(allowed)
    if unknown:
        _fail(name, spec, f"guard settings among {', '.join(allowed)} (unknown: {', '.join(sorted(unknown))})")
    check_params(spec, f"{name}.")


def main(argv=None) -> int:
    import papermill as pm

    from ..core.io import atomic

    ap = argparse.ArgumentParser(prog="python -m lgl2o.pipeline.stage", description=__doc__.splitlines()[0])
    ap.add_argument("stage")
    ap.add_argument("--variant", default=None)
    args = ap.parse_args(argv)
    params = stage_params(args.stage, args.variant)
    check_params(params)
    out_dir = ROOT / "results" / args.stage / (args.variant or "")
    params.setdefault("out_dir", str(out_dir.relative_to(ROOT)))
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic(out_dir / "notebook.ipynb") as tmp:
        pm.execute_notebook(str(ROOT / "notebooks" / f"{args.stage}.ipynb"), str(tmp), parameters=params,
                            cwd=str(ROOT / "notebooks"), progress_bar=False)
        relativize(tmp)
    return 0


def relativize(path) -> None:
    """Make the executed notebook name no machine's paths: papermill records absolute input/output
    paths and warnings print file names; both become relative to the repo root."""
    from pathlib import Path

    path = Path(path)
    text = path.read_text()
    path.write_text(text.replace(str(ROOT) + "/", "").replace(str(ROOT), "."))


if __name__ == "__main__":
    sys.exit(main())
