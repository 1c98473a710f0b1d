"""The evaluation loop: any optimizer on any task, many steps, many seeds batched, tidy telemetry.

The per-step work is an engine's (``EagerEngine`` here, ``graphs.GraphEngine`` replayed from a CUDA
graph): one loop drives either, with one checkpoint format (``checkpoint``).

``evaluate(task, {"sgd": SGD(3.0), ...}, steps=10_000, seeds=range(5))`` returns one pandas table with a
row per optimizer x seed x logged step:

    optimizer, seed, step, batch_loss, full_loss, proposal_share, fwd, bwd, examples, wall_s, test_acc,
    diverged_at, diverged

``batch_loss`` is the minibatch loss at the iterate of that step (before its update), ``full_loss`` the
whole-training-set loss (every ``full_every`` steps and at the end, NaN elsewhere), ``proposal_share``
the fraction of steps since the previous logged row on which a guard took the L2O proposal (NaN for
optimizers that are not guards), ``fwd``/``bwd``/``examples`` cumulative passes per run, ``wall_s``
cumulative seconds spent stepping (the S runs share them), ``test_acc`` on the final row.
Divergence is data, not a crash: ``diverged_at`` is the first step at which a run's minibatch loss was
not finite (-1 if never), and ``diverged`` marks that step and every later row of that run.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..core.progress import Progress
from ..optim.protocol import Guard
from ..problems.oracle import Oracle
from .checkpoint import load_run, new_run, save_run

COLUMNS = ["optimizer", "seed", "step", "batch_loss", "full_loss", "proposal_share", "fwd", "bwd",
           "examples", "wall_s", "test_acc", "diverged_at", "diverged"]
FLOAT32_COLUMNS = ("batch_loss", "full_loss", "proposal_share")  # torch's float32; a CSV reads them as float64
ENGINES = ("eager", "graph")


def log_steps(steps: int, every: int, per_decade: int = 10) -> np.ndarray:
    """Steps to log: 0, every multiple of ``every``, the last step, and ``per_decade`` log-spaced steps
    per decade (so the first steps are visible on log axes; the grid does not depend on ``steps``, so
    a run extended by resuming logs the same steps as one run)."""
    if int(steps) <= 0:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if int(every) <= 0:
        raise ValueError(f"log_every must be a positive integer, got {every!r}")
    grid = np.round(10 ** (np.arange(0, per_decade * np.log10(steps) + 1) / per_decade)).astype(np.int64)
    grid = grid[grid <= steps]
    return np.unique(np.concatenate(([0, steps], np.arange(0, steps + 1, every), grid)))


def schedule(steps, log_every, full_every=None, full_steps=None) -> tuple[set, set]:
    """(steps to log, steps at which to measure the full-training-set loss; always the last one)."""
    logged = set(log_steps(steps, log_every).tolist())
    if full_steps is None:
        full_every = int(full_every or log_every)
        full_steps = {t for t in logged if t % full_every == 0}
    full_steps = {int(t) for t in full_steps} | {int(steps)}
    return logged | full_steps, full_steps


class EagerEngine:
    """One optimizer on all seeds, stepped eagerly. ``step()`` takes the loop's step from x_t (the
    minibatch gradient at x_t, the optimizer's step) and returns the minibatch loss at x_t; ``info`` is
    that step's telemetry, ``taken`` counts a guard's acceptances and ``diverged_at`` holds each run's first
    step with a non-finite loss (-1: none)."""

    def __init__(self, task, opt, seeds):
        self.task, self.opt = task, opt
        self.oracle = Oracle(task, seeds)
        self.params = task.init_params(seeds)
        self.state = opt.init(self.params)
        self.guarded = isinstance(opt, Guard)
        S = self.params.shape[0]
        self.taken = torch.zeros(S, device=self.params.device)
        self.diverged_at = torch.full((S,), -1, dtype=torch.int64, device=self.params.device)
        self.t = 0
        self.info: dict = {}

    def resume(self, params, state, run) -> None:
        self.params, self.state, self.t = params, state, int(run["step"])
        self.taken.copy_(run["taken"])
        self.diverged_at.copy_(run["diverged_at"])

    def _loss_and_grad(self):
        self.oracle.advance()
        loss, grad = self.oracle.grad(self.params)
        bad = ~torch.isfinite(loss) & (self.diverged_at < 0)
        self.diverged_at.copy_(torch.where(bad, self.t, self.diverged_at))
        return loss, grad

    def step(self) -> torch.Tensor:
        loss, grad = self._loss_and_grad()
        self.params, self.state, self.info = self.opt.step(self.params, self.state, grad, self.oracle)
        if self.guarded:
            self.taken.add_(self.info["took_proposal"])  # bool promotes to the count's dtype
        self.t += 1
        return loss

    def final_loss(self) -> torch.Tensor:
        """The minibatch loss at the last iterate (the loop's last row), on the next training batch."""
        return self._loss_and_grad()[0]

    def sync(self) -> None:
        pass


def make_engine(kind: str, task, opt, seeds):
    if kind == "eager":
        return EagerEngine(task, opt, seeds)
    if kind == "graph":
        from .graphs import GraphEngine

        return GraphEngine(task, opt, seeds)
    raise ValueError(f"unknown engine {kind!r}; allowed: {', '.join(ENGINES)}")


def evaluate(task, optimizers: dict, *, steps: int, seeds, log_every: int = 100, full_every: int | None = None,
             test_accuracy: bool = True, progress: bool = True, resume: str | os.PathLike | None = None,
             checkpoint_every: int = 0, full_steps=None, engine: str = "eager") -> pd.DataFrame:
    """Run every optimizer for ``steps`` steps on all ``seeds`` (batched) and return the tidy table.

    The full-training-set loss is measured every ``full_every`` steps (default ``log_every``) or, if
    ``full_steps`` is given, at exactly those steps (and always at the last one).

    With ``resume`` set to a folder, each optimizer's run checkpoints there every ``checkpoint_every``
    steps and a rerun picks up from the last checkpoint (see ``run_one``).
    """
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    if not optimizers:
        raise ValueError("no optimizers to evaluate")
    tables = []
    for name, opt in optimizers.items():
        ck = Path(resume) / f"{name}.pt" if resume is not None else None
        tables.append(run_one(task, name, opt, steps=steps, seeds=seeds, log_every=log_every, full_every=full_every,
                              test_accuracy=test_accuracy, progress=progress, checkpoint=ck,
                              checkpoint_every=checkpoint_every, full_steps=full_steps, engine=engine))
    return pd.concat(tables, ignore_index=True)


@torch.no_grad()
def run_one(task, name, opt, *, steps, seeds, log_every=100, full_every=None, test_accuracy=True,
            progress=True, checkpoint: Path | None = None, checkpoint_every: int = 0, full_steps=None,
            engine: str = "eager") -> pd.DataFrame:
    """One optimizer, all seeds batched, stepped by ``engine`` ("eager", or "graph": replayed from a CUDA
    graph, the same table to float tolerance). Resumes from ``checkpoint`` when that file exists.

    ``wall_s`` is the host's time spent stepping (the device is synchronised at every logged step)."""
    seeds = [int(s) for s in seeds]
    logged, full_steps = schedule(steps, log_every, full_every, full_steps)
    eng = make_engine(engine, task, opt, seeds)
    run = new_run(len(seeds))
    if checkpoint is not None and Path(checkpoint).exists():
        params, state, run = load_run(Path(checkpoint), eng.oracle, eng.state)
        eng.resume(params, state, run)
    rows = run["rows"]
    bar = Progress(steps, f"{name} steps", initial=run["step"], disable=not progress)
    t0 = time.perf_counter()
    for t in range(run["step"], steps + 1):
        if t in logged:
            eng.sync()
            run["wall"] += time.perf_counter() - t0
            counts = eng.oracle.counts  # spent to reach x_t
            full = task.full_loss(eng.params).cpu() if t in full_steps else None
            share = eng.taken.cpu() / run["guarded_steps"] if eng.guarded and run["guarded_steps"] else None
            eng.taken.zero_()
            run["guarded_steps"] = 0
            t0 = time.perf_counter()
            loss = eng.step() if t < steps else eng.final_loss()
            rows.append({"step": t, "batch_loss": loss.cpu(), "full_loss": full, "share": share,
                         "counts": counts, "wall": run["wall"]})
        elif t < steps:
            eng.step()
        if t == steps:
            break
        run["guarded_steps"] += 1
        bar.update(1)
        if checkpoint is not None and checkpoint_every and (t + 1) % checkpoint_every == 0:
            eng.sync()
            run.update(step=t + 1, diverged_at=eng.diverged_at.cpu(), taken=eng.taken.cpu())
            save_run(Path(checkpoint), eng.params, eng.state, eng.oracle, run)
    bar.close()
    return _table(task, name, seeds, rows, eng.params, test_accuracy, eng.diverged_at.cpu())


def _table(task, name, seeds, rows, params, test_accuracy, diverged_at) -> pd.DataFrame:
    S, n = len(seeds), len(rows)
    nan = torch.full((S,), float("nan"))
    col = lambda key: torch.stack([r[key] if r[key] is not None else nan for r in rows], 1).numpy()  # noqa: E731
    counts = np.array([r["counts"] for r in rows], dtype=np.int64)  # (n, 3)
    df = pd.DataFrame({
        "optimizer": name,
        "seed": np.repeat(seeds, n),
        "step": np.tile([r["step"] for r in rows], S),
        "batch_loss": col("batch_loss").reshape(-1),
        "full_loss": col("full_loss").reshape(-1),
        "proposal_share": col("share").reshape(-1),
        "fwd": np.tile(counts[:, 0], S),
        "bwd": np.tile(counts[:, 1], S),
        "examples": np.tile(counts[:, 2], S),
        "wall_s": np.tile([r["wall"] for r in rows], S),
        "test_acc": np.nan,
        "diverged_at": np.repeat(diverged_at.numpy(), n),
    })
    df["diverged"] = (df.diverged_at >= 0) & (df.step >= df.diverged_at)
    if test_accuracy and hasattr(task, "accuracy"):
        last = df["step"] == rows[-1]["step"]
        df.loc[last, "test_acc"] = np.repeat(task.accuracy(params).cpu().numpy(), 1)
    return df[COLUMNS]
