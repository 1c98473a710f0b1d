"""What every run of the optimizers on a classification task shares: the comparisons (stages 03-05), the
long horizon (06) and the guard ablation (09).

- the settings (``RunSettings``, ``RunConfig``) and the guard's (``GuardConfig``, ``ComparisonGuard``);
- ``prepare``: the tuned rates, the task and the L2O, built once, in that order;
- the optimizers of the comparison figures (``comparison_optimizers``, named in ``ORDER``): SGD and Adam
  at their tuned rates, the L2O alone, GL2O, and LGL2O with an SGD and with an Adam fallback; beside them,
  the paper's rule under each literal reading asked for (``READINGS``: the plain comparison, z = 0, SGD at
  the tuned rate, on a fresh minibatch of the gradient's size, on the gradient's own minibatch, or on the
  next step's), wherever the main guards are configured otherwise, so every story stays visible;
- a run's resume folder, and running, summarising and saving (``evaluate_and_save``).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..core import io
from ..core.paths import repo_path
from ..engine.loop import FLOAT32_COLUMNS, evaluate
from ..l2o.backends import make_step
from ..l2o.checkpoint import load_l2o
from ..l2o.model import LSTMOptimizer
from ..l2o.optimizer import L2O
from ..optim.baselines import SGD, Adam
from ..optim.guards import GL2O, LGL2O
from ..problems.tasks import make_task
from .artifacts import tuned_rates
from .config import (Config, ConfigError, TaskConfig, checked, device, given, l2o_checkpoint, one_of, positive,
                     positive_each, rates_file, seeds)
from .l2o_step import l2o_step
from .summary import save_summary, summarize

FALLBACKS = ("sgd", "adam")  # an ablation variant's fallback optimizer
GUARD_KEYS = ("compare", "compare_batch", "z", "test", "reset_proposal_on_fallback", "max_fallback_increase",
              "audit_every", "audit_batch")


@dataclass(frozen=True)
class GuardConfig(Config):
    """An ablation variant: LGL2O's settings (``optim.guards.LGL2O``) and its fallback; keys not given take
    LGL2O's defaults and the tuned SGD. The settings are checked by LGL2O's own constructor."""

    compare: str | None = None
    compare_batch: int | None = None
    z: float | None = None
    test: str | None = None
    reset_proposal_on_fallback: bool | None = None
    max_fallback_increase: float | None = None
    audit_every: int | None = None
    audit_batch: int | None = None
    fallback: str | None = field(default=None, metadata=checked(one_of(FALLBACKS)))
    fallback_lr: float | None = field(default=None, metadata=checked(positive))

    def validate(self, where):
        try:
            LGL2O(None, None, **{k: v for k, v in given(self).items() if k in GUARD_KEYS})
        except ValueError as e:
            raise ConfigError(f"{where}: {e}") from None

    def to_dict(self) -> dict:
        return given(self)


@dataclass(frozen=True)
class ComparisonGuard(GuardConfig):
    """The comparisons' guard: LGL2O's settings only (the comparison builds both fallbacks)."""

    def validate(self, where):
        extra = sorted(set(given(self)) - set(GUARD_KEYS))
        if extra:
            raise ConfigError(f"{where}: {', '.join(extra)} belong(s) to an ablation variant; a comparison's "
                              f"guard takes {', '.join(GUARD_KEYS)}")
        super().validate(where)


@dataclass(frozen=True, kw_only=True)
class RunSettings(Config):
    """What every run of the optimizers on one task takes, whatever its length and seeds."""

    task: TaskConfig
    l2o_checkpoint: str | None = field(metadata=checked(l2o_checkpoint))
    rates: str | dict[str, float] = field(metadata=checked(rates_file))
    rates_horizon: int = field(metadata=checked(positive))
    log_every: int = field(metadata=checked(positive))
    l2o_step: str = field(default="fast", metadata=checked(l2o_step))
    device: str = field(default="cpu", metadata=checked(device))


@dataclass(frozen=True, kw_only=True)
class RunConfig(RunSettings):
    """The runs of one figure (the comparisons, the ablation): their length, seeds and reported steps."""

    steps: int = field(metadata=checked(positive))
    seeds: list[int] = field(metadata=checked(seeds))
    report_steps: list[int] = field(metadata=checked(positive_each))


PAPER_GUARD = {"compare": "fresh", "compare_batch": None, "z": 0.0}
# the paper's rule ("decides solely based on the expected future loss value of both optimizers") under each
# literal reading of where that loss is estimated: the optimizer's name, by the minibatch it compares on
READINGS = {"fresh": "lgl2o-paper", "same": "lgl2o-paper-same", "next": "lgl2o-paper-next"}
ORDER = ["sgd", "adam", "l2o", "gl2o", "lgl2o-sgd", "lgl2o-adam", *READINGS.values()]


def reading_guard(reading: str) -> dict:
    """LGL2O's settings for the paper's rule under ``reading`` (a key of ``READINGS``)."""
    if reading not in READINGS:
        raise ValueError(f"unknown reading {reading!r}; allowed: {', '.join(READINGS)}")
    return {**PAPER_GUARD, "compare": reading}


def comparison_optimizers(net, lrs: dict, guard: dict | None = None, readings=("fresh",)) -> dict:
    """The optimizers of every comparison figure, keyed by the names that fix their colours: the main ones,
    then the paper's rule under each of ``readings`` that the main guard is not already."""
    guard = {**PAPER_GUARD, **(guard or {})}
    sgd_lr = float(lrs["sgd"])
    opts = {
        "sgd": SGD(sgd_lr),
        "adam": Adam(lrs["adam"]),
        "l2o": L2O(net),
        "gl2o": GL2O(L2O(net), lr=sgd_lr),
        "lgl2o-sgd": LGL2O(L2O(net), SGD(sgd_lr), **guard),
        "lgl2o-adam": LGL2O(L2O(net), Adam(lrs["adam"]), **guard),
    }
    for reading in readings:
        if reading_guard(reading) != guard:
            opts[READINGS[reading]] = LGL2O(L2O(net), SGD(sgd_lr), **reading_guard(reading))
    return opts


def the_l2o(checkpoint, l2o_step: str, device="cpu"):
    """The L2O's step module: the checkpoint's LSTM (None: an untrained one, for smoke runs only) through
    the backend ``l2o_step``."""
    net = load_l2o(checkpoint, device) if checkpoint else LSTMOptimizer().to(device)
    return make_step(net, l2o_step)


@dataclass(frozen=True)
class Prepared:
    """What a run is built from: the tuned rates, the task's settings and the task, the L2O's step module."""

    lrs: dict[str, float]
    task: dict[str, Any]
    problem: Any
    net: Any


def prepare(settings: RunSettings) -> Prepared:
    """The rates (stage 01's, or given), the task on its device, then the L2O (``the_l2o``)."""
    lrs = tuned_rates(settings.rates, settings.rates_horizon)
    task = settings.task.to_dict()
    problem = make_task(**task, device=settings.device)
    return Prepared(lrs, task, problem, the_l2o(settings.l2o_checkpoint, settings.l2o_step, settings.device))


def resume_folder(resume_dir, l2o=None, **config) -> Path:
    """``resume_dir/<key>``: one folder per configuration (and per L2O checkpoint's bytes), so that an
    interrupted run resumes only into the same run, never one with another parameter or another L2O.
    A relative ``resume_dir`` is taken from the repo root, like every path of params.yaml (a notebook
    runs with notebooks/ as its working directory)."""
    content = {**config, "l2o": None}
    if l2o:
        content["l2o"] = hashlib.sha256(repo_path(f"{l2o}.pt").read_bytes()).hexdigest()
    key = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return repo_path(resume_dir) / key


def evaluate_and_save(problem, optimizers: dict, *, steps: int, seeds, log_every: int, report_steps=(), out_dir=None,
                      meta: dict | None = None, progress=True, resume_dir=None, checkpoint_every: int = 0,
                      done: pd.DataFrame | None = None):
    """Run ``optimizers`` on ``problem``, summarise, and with ``out_dir`` write ``curves.csv`` and
    ``summary.json`` (the summary, with ``meta``) and its headline ``metrics.json``. Returns (table, summary).

    ``done``: the rows of an earlier run of the same settings (``kept_rows``); its optimizers are not run
    again. Each optimizer's run depends on nothing else, so the table is the one a full run gives."""
    kept = set() if done is None else set(done.optimizer)
    todo = {name: opt for name, opt in optimizers.items() if name not in kept}
    # the full-training-set loss at every logged step (multiples of log_every and a log-spaced grid), so
    # that the first steps, where the L2O is fast, are drawn from measurements too
    ran = evaluate(problem, todo, steps=steps, seeds=seeds, log_every=log_every, full_every=1,
                   progress=progress, resume=resume_dir, checkpoint_every=checkpoint_every) if todo else None
    table = pd.concat([(ran if name in todo else done).query("optimizer == @name") for name in optimizers],
                      ignore_index=True)
    summary = summarize(table, report_steps)
    if out_dir is not None:
        io.write_csv(table, f"{out_dir}/curves.csv")
        save_summary({"task": problem.name, **(meta or {}), "steps": steps, "seeds": list(seeds),
                      "optimizers": summary}, out_dir)
    return table, summary


def kept_rows(curves, optimizers, *, steps: int, seeds) -> pd.DataFrame:
    """The rows of ``curves`` (an earlier ``curves.csv`` of the same settings) for those of ``optimizers``
    it holds, each checked to reach ``steps`` on exactly ``seeds``; ValueError naming what does not."""
    # the losses and shares as the engine's table holds them (torch's float32), so that the summary is a
    # full run's to the last digit
    table = pd.read_csv(repo_path(curves), dtype=dict.fromkeys(FLOAT32_COLUMNS, "float32"))
    rows = table[table.optimizer.isin(list(optimizers))]
    for name, g in rows.groupby("optimizer", sort=False):
        if sorted(g.seed.unique().tolist()) != sorted(int(s) for s in seeds) or int(g.step.max()) != steps:
            raise ValueError(f"{curves}: {name} ran seeds {sorted(g.seed.unique().tolist())} to step "
                             f"{int(g.step.max())}, not seeds {list(seeds)} to step {steps}")
    return rows
