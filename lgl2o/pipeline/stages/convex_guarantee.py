"""Stage 07: the guarded runs on a strongly convex quadratic against GD's rate."""
from __future__ import annotations

from ...experiments import convex_guarantee
from .. import plots
from .show import Shown, save, scale


def run(config: dict, out_dir, figure) -> Shown:
    cfg = convex_guarantee.ConvexConfig.from_dict(config)
    table, violations, final, problem = convex_guarantee.run_convex(cfg, out_dir)
    png = save(plots.gap_vs_bound(table, title=f"{problem.name}: f(x_k) - f* under a GD guard (step 1/L)"), figure,
               scale(cfg.seeds, cfg.steps, cfg.l2o_checkpoint))
    return Shown(final, [png], text=f"points of a guarded run above the bound: {violations}", data={"table": table})
