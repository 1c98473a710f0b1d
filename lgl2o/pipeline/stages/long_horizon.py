"""Stage 06: the long horizon's pieces joined into one figure and summary (a smoke run, or a notebook
opened by hand, first runs the pieces it lacks; under DVC the piece stages have run them)."""
from __future__ import annotations

from ...core.allocator import keep_freed_memory
from ...experiments import long_horizon
from ...experiments.runs import ORDER
from ...experiments.summary import summary_table
from .. import plots
from .show import FEW_SEEDS, MNIST_MLP, SMOKE_RATES, Shown, save, scale, seed_table

SMOKE = {"run": {"task": MNIST_MLP, "l2o_checkpoint": None, "rates": SMOKE_RATES, "rates_horizon": 1000,
                 "guard": {"compare": "fresh"}, "log_every": 10, "checkpoint_every": 10, "l2o_step": "plain",
                 "device": "cpu"},
         "steps": {"sgd": 20, "l2o": 10, "lgl2o-sgd": 20}, "seeds": [0, 1], "report_steps": [10],
         "pieces_dir": None}
__all__ = ["SMOKE", "run"]


def lengths(steps: dict) -> str:
    """``1000000 steps (l2o, lgl2o-paper: 200000)``: the longest run, and the optimizers run shorter."""
    longest = max(steps.values())
    shorter = {}
    for name, n in steps.items():
        if n < longest:
            shorter.setdefault(n, []).append(name)
    return f"{longest}" + "".join(f" ({', '.join(names)}: {n})" for n, names in sorted(shorter.items()))


def run(config: dict, out_dir, figure) -> Shown:
    cfg = long_horizon.LongHorizonConfig.from_dict(config)
    keep_freed_memory()  # no page faults per L2O step (as the benchmark); results do not change
    pieces = cfg.pieces_dir or out_dir
    long_horizon.run_missing_pieces(cfg, f"{pieces}/runs", f"{pieces}/resume")
    table, doc = long_horizon.join_pieces(cfg, f"{pieces}/runs", out_dir)
    png = save(plots.loss_curves(table, title=f"{doc['task']}, long horizon", order=ORDER), figure,
               scale(cfg.seeds, lengths(cfg.steps), cfg.run.l2o_checkpoint))
    ops = doc["optimizers"]
    shown = (seed_table(table, cfg.report_steps, {k: e["proposal_share"] for k, e in ops.items() if "proposal_share" in e})
             if len(cfg.seeds) <= FEW_SEEDS else summary_table(ops))
    return Shown(shown, [png], data={"table": table, "summary": ops})
