"""The long horizon (stage 06) in pieces: each optimizer on each seed is one resumable run of its own, and
the pieces are joined into one table, summary and figure.

A piece is what one sitting can hold: 10^6 steps of an L2O-based optimizer on one seed is 1-2 hours on
two CPU cores, ten of them are more than a day. DVC runs each piece as its own stage
(``06_long_horizon_run@<optimizer>-<seed>``), so that finished pieces are committed as they land.

A piece checkpoints every ``checkpoint_every`` steps and keeps its last checkpoint when it finishes, so a
piece whose length is raised later (``dvc exp run -S long_horizon.steps.l2o=1000000``) continues from
where it stopped: the logged steps do not depend on a run's length (``engine.loop.log_steps``), so the
extended run is the uninterrupted run of the longer length. A piece run again at its own length, or
shortened, starts over.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..core import io
from ..core.paths import repo_path
from ..engine.checkpoint import saved_step
from ..engine.loop import evaluate
from ..l2o.backends import backend
from .artifacts import tuned_rates
from .config import Config, ConfigError, checked, fail, positive, positive_each, seeds
from .runs import (ORDER, PAPER_GUARD, READINGS, ComparisonGuard, RunSettings, comparison_optimizers, prepare,
                   reading_guard, resume_folder)
from .summary import save_summary, summarize


@dataclass(frozen=True, kw_only=True)
class PieceSettings(RunSettings):
    """What every piece shares (changing one re-runs every piece): the comparison's settings and guard, and
    how often a piece checkpoints."""

    guard: ComparisonGuard
    checkpoint_every: int = field(metadata=checked(positive))


@dataclass(frozen=True, kw_only=True)
class LongHorizonConfig(Config):
    """Stage 06: the optimizers of ``runs.comparison_optimizers`` named in ``steps``, each run for its
    own number of steps on every seed of ``seeds``, one piece per optimizer and seed."""

    run: PieceSettings
    steps: dict[str, int]
    seeds: list[int] = field(metadata=checked(seeds))
    report_steps: list[int] = field(metadata=checked(positive_each))
    # where the pieces' tables (runs/) and resume checkpoints (resume/) live: what the join reads, whatever
    # folder the join itself writes to; None: the join's own folder (a smoke run, a notebook opened by hand)
    pieces_dir: str | None = "results/06_long_horizon"

    def validate(self, where):
        if not self.steps:
            fail(f"{where}.steps", self.steps, f"a mapping of optimizer names ({', '.join(ORDER)}) to step counts")
        unknown = sorted(set(self.steps) - set(ORDER))
        if unknown:
            raise ConfigError(f"{where}.steps: unknown optimizer(s) {', '.join(unknown)}; allowed: {', '.join(ORDER)}")
        for name, n in self.steps.items():
            positive(f"{where}.steps.{name}", n)
        guard = {**PAPER_GUARD, **self.run.guard.to_dict()}
        for reading, name in READINGS.items():
            if name in self.steps and reading_guard(reading) == guard:
                raise ConfigError(f"{where}.steps: {name} runs only beside a guard configured otherwise; "
                                  f"{where}.run.guard is that reading's own (lgl2o-sgd is that run)")

    def pieces(self) -> list[tuple[str, int]]:
        """(optimizer, seed) of every piece, in the order of ``steps`` then ``seeds``."""
        return [(name, s) for name in self.steps for s in self.seeds]


def piece_name(optimizer: str, seed: int) -> str:
    """``lgl2o-sgd-0``: the piece's file stem, and its DVC stage's key (``06_long_horizon_run@lgl2o-sgd-0``)."""
    return f"{optimizer}-{seed}"


def run_piece(cfg: LongHorizonConfig, optimizer: str, seed: int, *, runs_dir, resume_dir, progress=True) -> pd.DataFrame:
    """One optimizer on one seed for ``cfg.steps[optimizer]`` steps: writes ``runs_dir/<piece>.csv`` (the loop's
    table) and ``runs_dir/<piece>.json`` (its length, the step it resumed from, this sitting's minutes and the
    minutes spent stepping in all sittings, the machine and the L2O step); checkpoints in ``resume_dir``.
    Returns the table."""
    from ..core.host import host

    if optimizer not in cfg.steps:
        raise ValueError(f"no piece for {optimizer!r}: the configuration's steps name {', '.join(cfg.steps)}")
    if seed not in cfg.seeds:
        raise ValueError(f"no piece for seed {seed}: the configuration's seeds are {cfg.seeds}")
    run, steps = cfg.run, cfg.steps[optimizer]
    built, guard = prepare(run), run.guard.to_dict()
    lrs, task, problem = built.lrs, built.task, built.problem
    opt = comparison_optimizers(built.net, lrs, guard, readings=READINGS)[optimizer]
    # the run's identity without its length, so that a longer run continues a shorter one's checkpoint
    folder = resume_folder(resume_dir, l2o=run.l2o_checkpoint, task=task, lrs=lrs, guard=guard, optimizer=optimizer,
                           seed=seed, log_every=run.log_every, device=run.device,
                           l2o_state=backend(run.l2o_step).state_layout)
    checkpoint = folder / f"{optimizer}.pt"
    resumed_from = saved_step(checkpoint) if checkpoint.exists() else 0
    if resumed_from >= steps:  # run again at its own length, or shortened: start over
        checkpoint.unlink()
        resumed_from = 0
    started, t0 = datetime.now(timezone.utc), time.monotonic()
    table = evaluate(problem, {optimizer: opt}, steps=steps, seeds=[seed], log_every=run.log_every, full_every=1,
                     progress=progress, resume=folder, checkpoint_every=run.checkpoint_every)
    name = piece_name(optimizer, seed)
    io.write_csv(table, Path(runs_dir) / f"{name}.csv")
    io.write_json({"optimizer": optimizer, "seed": seed, "steps": steps, "task": problem.name,
                   "resumed_from": resumed_from, "started": started.isoformat(timespec="seconds"),
                   "minutes": (time.monotonic() - t0) / 60, "stepping_minutes": float(table.wall_s.max()) / 60,
                   "host": host(), "l2o_step": run.l2o_step,
                   "diverged_at": int(table.diverged_at.iloc[0])}, Path(runs_dir) / f"{name}.json")
    return table


def stale_piece(cfg: LongHorizonConfig, runs_dir, optimizer: str, seed: int) -> str | None:
    """Why the piece's table in ``runs_dir`` cannot be joined (missing, or of another length or seed), or None."""
    path = repo_path(runs_dir) / f"{piece_name(optimizer, seed)}.csv"
    if not path.exists() or not path.with_suffix(".json").exists():
        return f"{path} is missing"
    record = json.loads(path.with_suffix(".json").read_text())
    if record["steps"] != cfg.steps[optimizer] or record["seed"] != seed:
        return f"{path} holds {record['steps']} steps of seed {record['seed']}, not {cfg.steps[optimizer]} of seed {seed}"
    return None


def run_missing_pieces(cfg: LongHorizonConfig, runs_dir, resume_dir, progress=True) -> list[str]:
    """Run every piece that ``stale_piece`` finds missing or stale (each resumes from its checkpoint, if it
    has one); under DVC the piece stages have run them all. Returns the names of the pieces run."""
    todo = [(o, s) for o, s in cfg.pieces() if stale_piece(cfg, runs_dir, o, s)]
    for optimizer, seed in todo:
        run_piece(cfg, optimizer, seed, runs_dir=runs_dir, resume_dir=resume_dir, progress=progress)
    return [piece_name(o, s) for o, s in todo]


def load_pieces(cfg: LongHorizonConfig, runs_dir) -> tuple[pd.DataFrame, list[dict]]:
    """Every piece's table, concatenated in ``ORDER``, and its record; a missing or stale piece is an error
    naming the DVC stage that makes it."""
    tables, records = [], []
    for optimizer, seed in sorted(cfg.pieces(), key=lambda p: (ORDER.index(p[0]), p[1])):
        name = piece_name(optimizer, seed)
        why = stale_piece(cfg, runs_dir, optimizer, seed)
        if why:
            raise FileNotFoundError(f"{why}: run `dvc repro 06_long_horizon_run@{name}`")
        path = repo_path(runs_dir) / f"{name}.csv"
        tables.append(pd.read_csv(path))
        records.append(json.loads(path.with_suffix(".json").read_text()))
    return pd.concat(tables, ignore_index=True), records


def join_pieces(cfg: LongHorizonConfig, runs_dir, out_dir=None) -> tuple[pd.DataFrame, dict]:
    """The pieces as one table and one summary document (``summary.json``'s: task, rates, guard, lengths,
    seeds, and per optimizer the loss at the report steps it reached and at its own last step). With
    ``out_dir``: ``curves.csv``, ``summary.json`` and ``metrics.json``."""
    table, records = load_pieces(cfg, runs_dir)
    summary = {}
    for name, g in table.groupby("optimizer", sort=False):
        summary.update(summarize(g, [s for s in cfg.report_steps if s <= cfg.steps[name]]))
    doc = {"task": records[0]["task"], "lr": tuned_rates(cfg.run.rates, cfg.run.rates_horizon),
           "l2o": str(cfg.run.l2o_checkpoint), "guard": {**PAPER_GUARD, **cfg.run.guard.to_dict()},
           "steps": max(cfg.steps.values()), "steps_by_optimizer": dict(cfg.steps), "seeds": list(cfg.seeds),
           "optimizers": summary}
    if out_dir is not None:
        io.write_csv(table, f"{out_dir}/curves.csv")
        save_summary(doc, out_dir)
    return table, doc
