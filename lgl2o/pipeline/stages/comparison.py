"""Stages 03-05: every optimizer on one task."""
from __future__ import annotations

from ...core.allocator import keep_freed_memory
from ...experiments import comparison
from ...experiments.runs import ORDER
from ...experiments.summary import summary_table
from .. import plots
from .show import MNIST_MLP, SMOKE_RATES, Shown, save, scale

SMOKE = {"l2o_checkpoint": None, "rates": SMOKE_RATES, "rates_horizon": 1000, "guard": {"compare": "fresh"},
         "steps": 20, "seeds": [0, 1], "log_every": 10, "report_steps": [10], "l2o_step": "plain", "device": "cpu"}
__all__ = ["MNIST_MLP", "SMOKE", "run"]


def run(config: dict, out_dir, figure, title: str) -> Shown:
    """``title`` says what the comparison asks (e.g. "in distribution")."""
    cfg = comparison.ComparisonConfig.from_dict(config)
    keep_freed_memory()  # no page faults per L2O step (as the benchmark); results do not change
    table, summary, problem = comparison.run_comparison(cfg, out_dir)
    png = save(plots.loss_curves(table, title=f"{problem.name}, {title}", order=ORDER), figure,
               scale(cfg.seeds, cfg.steps, cfg.l2o_checkpoint))
    return Shown(summary_table(summary), [png], data={"table": table, "summary": summary})
