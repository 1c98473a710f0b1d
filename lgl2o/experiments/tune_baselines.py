"""Learning-rate grid search for the baselines (SGD, Adam), logged in full.

The guards' fallbacks use the rates chosen here, so they are tuned on seeds that no figure uses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..core import io
from ..engine.loop import evaluate
from ..optim.baselines import SGD, Adam
from ..problems.tasks import make_task
from .artifacts import write_best_rates
from .config import Config, ConfigError, TaskConfig, checked, device, positive, positive_each, seeds
from .stats import mean_ci

BASELINES = {"sgd": SGD, "adam": Adam}


@dataclass(frozen=True)
class TuningConfig(Config):
    """Stage 01: the baselines' learning-rate grid."""

    task: TaskConfig
    grid: dict[str, list[float]]
    steps: int = field(metadata=checked(positive))
    horizons: list[int] = field(metadata=checked(positive_each))
    seeds: list[int] = field(metadata=checked(seeds))
    device: str = field(default="cpu", metadata=checked(device))

    def validate(self, where):
        from .tune_baselines import BASELINES

        bad = sorted(set(self.grid) - set(BASELINES))
        if bad or not self.grid:
            raise ConfigError(f"{where}.grid: {bad or 'empty'}: rates for {', '.join(BASELINES)}")
        for name, lrs in self.grid.items():
            positive_each(f"{where}.grid.{name}", lrs)


def grid_search(task, grid: dict[str, list[float]], *, steps: int, seeds, horizons=(100,), progress=True) -> pd.DataFrame:
    """Full-training-set loss of every (optimizer, lr) at each horizon (and at ``steps``), per seed."""
    unknown = set(grid) - set(BASELINES)
    if unknown:
        raise ValueError(f"unknown baseline(s) {sorted(unknown)}; allowed: {', '.join(BASELINES)}")
    horizons = sorted({*(int(h) for h in horizons if 0 < int(h) < steps), int(steps)})
    opts = {f"{kind}@{lr:g}": BASELINES[kind](lr) for kind, lrs in grid.items() for lr in lrs}
    df = evaluate(task, opts, steps=steps, seeds=seeds, log_every=steps, full_steps=horizons, progress=progress,
                  test_accuracy=False)
    df = df[df.step.isin(horizons)]
    kind_lr = df.optimizer.str.split("@", expand=True)
    return pd.DataFrame({"optimizer": kind_lr[0], "lr": kind_lr[1].astype(float), "seed": df.seed,
                         "step": df.step, "full_loss": df.full_loss}).reset_index(drop=True)


def summarize(grid: pd.DataFrame) -> pd.DataFrame:
    """Mean and 95% CI over seeds per (optimizer, lr, step); a diverged seed makes the mean inf."""
    rows = []
    for (opt, lr, step), g in grid.groupby(["optimizer", "lr", "step"]):
        v = g.full_loss.to_numpy(float)
        v = np.where(np.isfinite(v), v, np.inf)
        m, lo, hi = mean_ci(v)
        rows.append({"optimizer": opt, "lr": lr, "step": step, "mean": m, "ci_low": lo, "ci_high": hi,
                     "diverged_seeds": int((~np.isfinite(v)).sum())})
    return pd.DataFrame(rows)


def best_rates(summary: pd.DataFrame) -> dict:
    """{horizon: {optimizer: lr}} with the lowest mean full loss at each horizon."""
    out: dict = {}
    for step, g in summary.groupby("step"):
        out[int(step)] = {opt: float(h.loc[h["mean"].idxmin(), "lr"]) for opt, h in g.groupby("optimizer")}
    return out


def run_tuning(cfg: TuningConfig, out_dir=None, progress=True):
    """Stage 01: the grid on ``cfg.task``; with ``out_dir``, ``grid.csv`` and ``best.json`` there.
    Returns (per-seed table, summary, best rates per horizon, problem)."""
    problem = make_task(**cfg.task.to_dict(), device=cfg.device)
    table = grid_search(problem, cfg.grid, steps=cfg.steps, seeds=cfg.seeds, horizons=cfg.horizons, progress=progress)
    summary = summarize(table)
    best = best_rates(summary)
    if out_dir is not None:
        io.write_csv(table, f"{out_dir}/grid.csv")
        write_best_rates(best, f"{out_dir}/best.json", problem.name, cfg.steps, cfg.seeds)
    return table, summary, best, problem
