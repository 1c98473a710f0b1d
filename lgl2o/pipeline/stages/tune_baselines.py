"""Stage 01: the baselines' learning-rate grid."""
from __future__ import annotations

from ...experiments import tune_baselines
from .. import plots
from .show import MNIST_MLP, Shown, save, scale  # noqa: F401 - MNIST_MLP for the notebook's smoke config


def run(config: dict, out_dir, figure) -> Shown:
    cfg = tune_baselines.TuningConfig.from_dict(config)
    _, summary, best, problem = tune_baselines.run_tuning(cfg, out_dir)
    png = save(plots.lr_grid(summary, title=f"{problem.name}: learning-rate grid ({len(cfg.seeds)} seeds)"),
               figure, scale(cfg.seeds, cfg.steps, False))
    return Shown(summary.pivot_table(index=["optimizer", "lr"], columns="step", values="mean"), [png],
                 text=f"best rates per horizon: {best}", data={"summary": summary, "best": best})
