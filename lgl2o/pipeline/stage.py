"""Run one pipeline stage: execute its notebook with papermill, its configuration from params.yaml.

    python -m lgl2o.pipeline.stage 03_in_distribution [--variant NAME]

A stage is named after its notebook (``notebooks/03_in_distribution.ipynb``); its ``params.yaml``
section is the name without the number (``in_distribution``), so that ``dvc exp run -S
in_distribution.steps=2000`` addresses it. A ``foreach`` stage's section holds a ``base`` mapping and one
mapping per variant, merged (the variant's keys win). A setting of the stage's configuration that its
section does not state comes from the ``shared`` section (``with_shared``; dvc.yaml lists the shared keys
each stage takes, ``shared.<key>``, so that ``dvc exp run -S shared.<key>=...`` re-runs exactly those).
A comparison (03-05) whose only change since dvc.lock is the readings of the paper's rule runs only the
optimizers it adds and keeps the others' published curves (``reuse``; ``--no-reuse`` runs them all).
The section's ``figure`` is where the figure goes;
the rest is the stage's typed configuration (``experiments.config``), built before papermill starts, so a
misspelt, missing or wrongly typed key fails in seconds, names itself, and writes nothing.

The notebook gets three parameters: ``out_dir`` (``results/<stage>[/<variant>]``), ``figure`` and
``config``, every place it writes (those two and the config's ``outputs`` fields) mapped into a staging
folder whose files replace the stage's declared outputs only when the run is complete (``outputs``);
the executed notebook goes to ``out_dir/notebook.ipynb`` the same way, with the machine and the L2O step
in its metadata (``record_run``). The kernel works in this process's root, whatever an editable install
points at (``pin_root``: ``dvc exp run --temp`` and ``--queue`` run stages in a copy of the repo). While it
runs, the terminal shows its progress (``core.progress``: a line per loop every 30 s, with rate and time left).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import threading
import time
import typing
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path

import yaml

from ..core.paths import ROOT
from ..experiments.guard_ablation import AblationConfig
from ..experiments.comparison import ComparisonConfig
from ..experiments.config import Config, ConfigError
from ..experiments.convex_guarantee import ConvexConfig
from ..experiments.cost import CostConfig
from ..experiments.long_horizon import LongHorizonConfig
from ..experiments.meta_train import MetaTrainConfig
from ..experiments.tune_baselines import TuningConfig
from .outputs import Staging, declared_outputs
from .reuse import reusable_curves

KINDS = {
    "tune_baselines": TuningConfig,
    "meta_train": MetaTrainConfig,
    "in_distribution": ComparisonConfig,
    "ood_data": ComparisonConfig,
    "ood_optimizee": ComparisonConfig,
    "long_horizon": LongHorizonConfig,
    "convex_guarantee": ConvexConfig,
    "cost": CostConfig,
    "guard_ablation": AblationConfig,
}


def section_name(stage: str) -> str:
    """``03_in_distribution`` -> ``in_distribution`` (DVC's -S grammar refuses keys that start with a digit)."""
    return re.sub(r"^\d+_", "", stage)


SHARED = "shared"  # the params.yaml section of what several stages share, stated once


def with_shared(section: dict, kind, shared: dict, used: set | None = None) -> dict:
    """``section`` with each setting of the configuration ``kind`` (a ``Config`` class; nested ones too)
    that it does not set itself taken from ``shared``; the keys taken are added to ``used``."""
    used = set() if used is None else used
    out, hints = dict(section), typing.get_type_hints(kind)
    for f in fields(kind):
        hint = hints[f.name]
        if f.name not in out and f.name in shared:
            out[f.name] = shared[f.name]
            used.add(f.name)
        elif isinstance(out.get(f.name), dict) and isinstance(hint, type) and issubclass(hint, Config):
            out[f.name] = with_shared(out[f.name], hint, shared, used)
    return out


def stage_section(stage: str, variant: str | None = None, params: dict | None = None,
                  used: set | None = None) -> dict:
    """The stage's ``params.yaml`` section, a variant's merged over its ``base``, and what it does not set
    of the ``shared`` section's settings taken from there (the keys taken are added to ``used``)."""
    params = params if params is not None else yaml.safe_load((ROOT / "params.yaml").read_text())
    name = section_name(stage)
    if name not in params or name == SHARED:
        raise ConfigError(f"params.yaml has no section {name!r} (for stage {stage}); sections: "
                          f"{', '.join(k for k in params if k != SHARED)}")
    section = dict(params[name])
    if "base" in section:
        variants = [k for k in section if k != "base"]
        if variant not in variants:
            raise ConfigError(f"stage {stage!r} has no variant {variant!r}; variants: {', '.join(variants)}")
        section = {**section["base"], **section[variant]}
    elif variant is not None:
        raise ConfigError(f"stage {stage!r} has no variants (got --variant {variant})")
    return with_shared(section, KINDS[name], params.get(SHARED) or {}, used)


def stage_config(stage: str, variant: str | None = None, params: dict | None = None):
    """(figure path, typed configuration) of a stage; ConfigError naming what is wrong."""
    section = stage_section(stage, variant, params)
    if "reuse" in section:
        raise ConfigError(f"{section_name(stage)}: reuse is the stage runner's to set (lgl2o/pipeline/reuse.py), "
                          "not params.yaml's")
    if "figure" not in section:
        raise ConfigError(f"{section_name(stage)}: missing parameter figure")
    figure = section.pop("figure")
    where = section_name(stage) + (f".{variant}" if variant else "")
    return figure, KINDS[section_name(stage)].from_dict(section, where)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lgl2o.pipeline.stage", description=__doc__.splitlines()[0])
    ap.add_argument("stage")
    ap.add_argument("--variant", default=None)
    ap.add_argument("--no-reuse", action="store_true", help="run every optimizer of a comparison, even where "
                    "only the readings changed (lgl2o/pipeline/reuse.py)")
    args = ap.parse_args(argv)
    try:
        figure, config = stage_config(args.stage, args.variant)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    import papermill as pm

    name = args.stage + (f"@{args.variant}" if args.variant else "")
    out_dir = f"results/{args.stage}" + (f"/{args.variant}" if args.variant else "")
    earlier = None  # the executed notebook of the run whose optimizers this one keeps
    if isinstance(config, ComparisonConfig) and not args.no_reuse:
        curves, why = reusable_curves(args.stage, args.variant, out_dir)
        print(f"{name}: {'keeping the optimizers of ' + curves if curves else 'running every optimizer'} ({why})",
              file=sys.stderr, flush=True)
        config = replace(config, reuse=curves)
        earlier = ROOT / out_dir / "notebook.ipynb" if curves else None
    pin_root()
    t0 = time.monotonic()
    print(f"{name}: running notebooks/{args.stage}.ipynb", file=sys.stderr, flush=True)
    with Staging(name) as staging, shown_progress(name):
        params = {"out_dir": staging.path(out_dir), "figure": staging.path(figure),
                  "config": config.staged(staging.path).to_dict()}
        staging.keep(f"{out_dir}/resume")  # an interrupted run's checkpoints (git-ignored) outlive it
        executed = staging.root / out_dir / "notebook.ipynb"
        executed.parent.mkdir(parents=True, exist_ok=True)
        pm.execute_notebook(str(ROOT / "notebooks" / f"{args.stage}.ipynb"), str(executed), parameters=params,
                            cwd=str(ROOT / "notebooks"), progress_bar=False)
        relativize(executed, staging)
        record_run(executed, config, earlier)
        missing = staging.publish(declared_outputs(args.stage, args.variant))
    if missing:
        print(f"error: {name} did not write {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"{name}: done in {(time.monotonic() - t0) / 60:.1f} min", file=sys.stderr, flush=True)
    return 0


def pin_root() -> None:
    """Hand this process's repo root to the notebook's kernel (``LGL2O_ROOT``) and put the package of that
    root first on its path: an experiment's copy reads, writes and imports its own files, whatever an
    editable install elsewhere points at."""
    os.environ["LGL2O_ROOT"] = str(ROOT)
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])


@contextmanager
def shown_progress(name: str, every: float = 1.0):
    """Name a progress file in ``core.progress.ENV`` (inherited by the notebook's kernel) and print the
    lines appended to it on stderr, prefixed with ``name``, until the block ends."""
    from ..core.progress import ENV

    fd, path = tempfile.mkstemp(prefix="lgl2o-progress-", suffix=".log")
    os.close(fd)
    done = threading.Event()

    def tail():
        pending = ""
        with open(path) as f:
            while True:
                finished = done.is_set()  # read before the file: an empty read after it means all is shown
                pending += f.readline()
                if pending.endswith("\n") or (finished and pending):
                    print(f"{name}: {pending.rstrip()}", file=sys.stderr, flush=True)
                    pending = ""
                elif finished:
                    return
                else:
                    time.sleep(every)

    before = os.environ.get(ENV)
    os.environ[ENV] = path
    thread = threading.Thread(target=tail, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        Path(path).unlink(missing_ok=True)
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def record_run(path, config, earlier=None) -> None:
    """Add to the executed notebook's metadata the machine it ran on and the L2O step it used (papermill
    already records the start, end and duration): ``python -m lgl2o.pipeline.report`` tabulates them. With
    ``earlier``, the executed notebook of the run whose optimizers this one kept, the minutes that run
    took in all (``earlier_minutes``), so that a stage's minutes stay a full run's."""
    import nbformat

    from ..core.host import host
    from .report import run_minutes

    nb = nbformat.read(str(path), as_version=4)
    run = {"host": host(), "l2o_step": getattr(config, "l2o_step", None)}
    if earlier is not None and Path(earlier).is_file():
        run["earlier_minutes"] = run_minutes(earlier)
    nb.metadata["lgl2o"] = run
    nbformat.write(nb, str(path))


def relativize(path, staging=None) -> None:
    """Make the executed notebook name no machine's paths and no staging folder: papermill records
    absolute input/output paths and warnings print file names; all become relative to the repo root."""
    path = Path(path)
    text = path.read_text().replace(str(ROOT) + "/", "").replace(str(ROOT), ".")
    path.write_text(staging.unstaged(text) if staging is not None else text)

if __name__ == "__main__":
    sys.exit(main())
