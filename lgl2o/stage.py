"""Run one pipeline stage: execute its notebook with papermill, parameters from params.yaml.

    python -m lgl2o.stage 01_tune_baselines [--variant NAME]

Stage name = notebook name = params.yaml section (DESIGN §2). The executed notebook is written to
``results/<stage>/notebook.ipynb`` (``results/<stage>/<variant>/`` for a ``foreach`` variant), atomically.
"""
from __future__ import annotations

import argparse
import os
import sys

import yaml

from .paths import ROOT


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


def main(argv=None) -> int:
    import papermill as pm

    ap = argparse.ArgumentParser(prog="python -m lgl2o.stage", description=__doc__.splitlines()[0])
    ap.add_argument("stage")
    ap.add_argument("--variant", default=None)
    args = ap.parse_args(argv)
    params = stage_params(args.stage, args.variant)
    out_dir = ROOT / "results" / args.stage / (args.variant or "")
    params.setdefault("out_dir", str(out_dir.relative_to(ROOT)))
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".notebook.tmp.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / f"{args.stage}.ipynb"), str(tmp), parameters=params,
                        cwd=str(ROOT / "notebooks"), progress_bar=False)
    relativize(tmp)
    os.replace(tmp, out_dir / "notebook.ipynb")
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
