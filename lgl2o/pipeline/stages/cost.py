"""Stage 08: time and passes per step of every optimizer."""
from __future__ import annotations

from ...experiments import cost
from .. import plots
from .show import Shown, save


def run(config: dict, out_dir, figure) -> Shown:
    cfg = cost.CostConfig.from_dict(config)
    table, machine, task = cost.run_cost(cfg, out_dir)
    png = save(plots.cost_bars(table, title=f"{task.name}, {cfg.seeds} seed(s): {machine}"), figure,
               f"{cfg.repeats} blocks of {cfg.steps} steps, L2O step: {cfg.l2o_step}")
    return Shown(table, [png])
