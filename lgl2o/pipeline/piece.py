"""Run one piece of a stage split into pieces: one optimizer on one seed of the long horizon.

    python -m lgl2o.pipeline.piece 06_long_horizon lgl2o-sgd 0

DVC runs every piece as a stage of its own (``06_long_horizon_run@lgl2o-sgd-0``), each a sitting's work,
and the stage ``06_long_horizon`` joins them (``experiments.long_horizon``). The configuration is the
stage's ``params.yaml`` section, built and checked before any work starts, as the stage runner does;
the piece writes ``<pieces_dir>/runs/<optimizer>-<seed>.csv`` (``results/06_long_horizon``) and ``.json`` (its length, wall time,
machine and L2O step), both put in place when it finishes (``outputs``), and checkpoints in
``<pieces_dir>/resume`` (git-ignored), so an interrupted piece resumes where it stopped.
"""
from __future__ import annotations

import argparse
import sys
import time

from ..core.allocator import keep_freed_memory
from ..core.paths import ROOT
from ..experiments.config import ConfigError
from ..experiments.long_horizon import piece_name, run_piece
from .outputs import Staging, declared_outputs
from .stage import shown_progress, stage_config

STAGES = ("06_long_horizon",)  # the stages that run in pieces


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lgl2o.pipeline.piece", description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=STAGES)
    ap.add_argument("optimizer")
    ap.add_argument("seed", type=int)
    args = ap.parse_args(argv)
    try:
        _, cfg = stage_config(args.stage)
        if args.optimizer not in cfg.steps or args.seed not in cfg.seeds:
            raise ConfigError(f"{args.stage} has no piece {args.optimizer} on seed {args.seed}: its steps name "
                              f"{', '.join(cfg.steps)} and its seeds are {cfg.seeds}")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    name = f"{args.stage}_run@{piece_name(args.optimizer, args.seed)}"
    out = cfg.pieces_dir or f"results/{args.stage}"
    keep_freed_memory()  # no page faults per L2O step (as the benchmark and the stages); results do not change
    t0 = time.monotonic()
    print(f"{name}: {cfg.steps[args.optimizer]} steps", file=sys.stderr, flush=True)
    with Staging(name) as staging, shown_progress(name):
        table = run_piece(cfg, args.optimizer, args.seed, runs_dir=staging.path(f"{out}/runs"),
                          resume_dir=ROOT / out / "resume")
        staging.publish(declared_outputs(f"{args.stage}_run", {"optimizer": args.optimizer, "seed": args.seed}))
    loss = table.full_loss.iloc[-1]
    print(f"{name}: done in {(time.monotonic() - t0) / 60:.1f} min, final full loss {loss:.4g}", file=sys.stderr,
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
