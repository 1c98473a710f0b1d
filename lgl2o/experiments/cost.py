"""Stage 08's measurement: time and passes per step of every optimizer, stepped by the loop's engine."""
from __future__ import annotations

import platform
from dataclasses import dataclass, field
import statistics
import time

import pandas as pd
import torch

from ..core import io
from ..core.allocator import keep_freed_memory
from ..engine.loop import make_engine
from ..l2o.backends import make_step
from ..l2o.model import LSTMOptimizer
from ..l2o.optimizer import L2O
from ..optim.baselines import SGD, Adam
from ..optim.guards import GL2O, LGL2O
from ..problems.tasks import MLP
from .config import Config, checked, dataset, device, positive
from .l2o_step import l2o_step
from .runs import READINGS, ComparisonGuard, reading_guard
from .summary import save_summary


@dataclass(frozen=True)
class CostConfig(Config):
    """Stage 08: time and passes per step of every optimizer."""

    dataset: str = field(metadata=checked(dataset))
    seeds: int = field(metadata=checked(positive))
    steps: int = field(metadata=checked(positive))
    repeats: int = field(metadata=checked(positive))
    l2o_step: str = field(default="fast", metadata=checked(l2o_step))
    device: str = field(default="cpu", metadata=checked(device))
    guard: ComparisonGuard = field(default_factory=ComparisonGuard)  # the comparisons' (shared.guard)


def cost_optimizers(net, guard: dict | None = None, lr_sgd=3.0, lr_adam=0.01) -> dict:
    """Every optimizer whose cost stage 08 measures (the weights and rates do not change the cost): those of
    the comparisons, LGL2O with ``guard``'s settings (None: LGL2O's defaults), and the paper's rule under
    each reading (``runs.READINGS``; on the next step's batch the next gradient reuses a forward pass)."""
    guard = guard or {}
    opts = {
        "sgd": SGD(lr_sgd), "adam": Adam(lr_adam), "l2o": L2O(net), "gl2o": GL2O(L2O(net), lr=lr_sgd),
        "lgl2o-sgd": LGL2O(L2O(net), SGD(lr_sgd), **guard), "lgl2o-adam": LGL2O(L2O(net), Adam(lr_adam), **guard),
    }
    opts.update({name: LGL2O(L2O(net), SGD(lr_sgd), **reading_guard(r)) for r, name in READINGS.items()})
    return opts


@torch.no_grad()
def time_steps(task, opt, seeds, *, steps, repeats, warmup=5, engine="eager"):
    """(median ms per step, forward passes per step, backward passes per step) of the loop's step, by
    ``engine`` (``engine.loop``: "eager", or "graph": replayed from a CUDA graph captured in the warm-up)."""
    eng = make_engine(engine, task, opt, seeds)

    def block(n):
        for _ in range(n):
            eng.step()

    block(warmup)
    times = []
    oracle = eng.oracle
    oracle.reset_counters()
    for _ in range(repeats):
        eng.sync()
        t0 = time.perf_counter()
        block(steps)
        eng.sync()
        times.append((time.perf_counter() - t0) / steps)
    n = steps * repeats
    return 1000 * statistics.median(times), oracle.fwd / n, oracle.bwd / n


@torch.no_grad()
def time_interleaved(task, opts: dict, seeds, *, steps, repeats, warmup=5) -> dict[str, list[float]]:
    """ms per step of each optimizer of ``opts`` in each of ``repeats`` rounds; a round times a block of
    ``steps`` eager steps of each optimizer in turn, so that a slow spell of the machine falls on all of
    them alike and the ratio of two optimizers' times in one round is a paired measurement."""
    engines = {name: make_engine("eager", task, opt, seeds) for name, opt in opts.items()}
    for eng in engines.values():
        for _ in range(warmup):
            eng.step()
    times = {name: [] for name in opts}
    for _ in range(repeats):
        for name, eng in engines.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                eng.step()
            times[name].append(1000 * (time.perf_counter() - t0) / steps)
    return times


def cost_table(task, net, seeds, *, steps, repeats, engine="eager", guard: dict | None = None):
    """Per optimizer of ``cost_optimizers`` (LGL2O with ``guard``'s settings): ms per step, ratio to SGD,
    forward and backward passes per step (a DataFrame). With the graph engine, ms is NaN where a graph
    cannot hold the step."""
    from ..engine.graphs import GraphError

    rows = []
    for name, opt in cost_optimizers(net, guard).items():
        try:
            ms, f, b = time_steps(task, opt, seeds, steps=steps, repeats=repeats, engine=engine)
        except GraphError:
            ms, f, b = (float("nan"),) * 3
        rows.append({"optimizer": name, "ms": ms, "fwd": f, "bwd": b})
    df = pd.DataFrame(rows)
    df["ratio_to_sgd"] = df.ms / df.ms[df.optimizer == "sgd"].iloc[0]
    return df


def run_cost(cfg: CostConfig, out_dir=None):
    """Stage 08: ``cost_table`` on the MLP of ``cfg.dataset`` with the ``cfg.l2o_step`` backend (an untrained
    LSTM: the weights do not change the cost), malloc keeping freed memory as the benchmark does; with
    ``out_dir``, ``cost.csv``, ``summary.json`` (the machine, the table) and ``metrics.json`` there. Returns (table, machine, task)."""
    malloc_tuned = keep_freed_memory()
    task = MLP(cfg.dataset, device=cfg.device)
    net = LSTMOptimizer().to(cfg.device)
    cost = cost_table(task, make_step(net, cfg.l2o_step), list(range(cfg.seeds)), steps=cfg.steps,
                      repeats=cfg.repeats, guard=cfg.guard.to_dict())
    machine = f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, {cfg.device}"
    if out_dir is not None:
        io.write_csv(cost, f"{out_dir}/cost.csv")
        save_summary({"machine": machine, "task": task.name, "l2o_step": cfg.l2o_step,
                       "malloc_keeps_freed_memory": malloc_tuned, "guard": cfg.guard.to_dict(),
                       "per_step": cost.set_index("optimizer").to_dict("index")}, out_dir)
    return cost, machine, task
