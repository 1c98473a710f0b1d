"""Stage 09: guard variants beside the references on one task, and the default the stated rule picks."""
from __future__ import annotations

from ...core.allocator import keep_freed_memory
from ...experiments import guard_ablation
from .. import plots
from .show import MNIST_MLP, SMOKE_RATES, Shown, save, scale  # noqa: F401 - for the notebook's smoke config


def run(config: dict, out_dir, figure) -> Shown:
    cfg = guard_ablation.AblationConfig.from_dict(config)
    keep_freed_memory()  # no page faults per L2O step (as the benchmark); results do not change
    table, summary, problem = guard_ablation.run_ablation(cfg, out_dir)
    tidy = guard_ablation.tidy_summary(table, summary)
    png = save(plots.ablation_dots(tidy, title=f"{problem.name}: guard variants"), figure,
               scale(cfg.seeds, cfg.steps, cfg.l2o_checkpoint))
    shown = tidy.pivot_table(index="optimizer", columns="step", values="mean", sort=False).join(
        tidy.drop_duplicates("optimizer").set_index("optimizer")[["share", "fwd_per_step", "bwd_per_step", "diverged"]])
    _, reason = guard_ablation.recommend(tidy, early=min(cfg.report_steps), late=cfg.steps)
    return Shown(shown, [png], text=reason, data={"tidy": tidy})
