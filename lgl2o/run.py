"""The evaluation loop: any optimizer on any task, many steps, many seeds batched, tidy telemetry.

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
from tqdm.auto import tqdm

from .oracle import Oracle

COLUMNS = ["optimizer", "seed", "step", "batch_loss", "full_loss", "proposal_share", "fwd", "bwd",
           "examples", "wall_s", "test_acc", "diverged_at", "diverged"]


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


def evaluate(task, optimizers: dict, steps: int, seeds, log_every: int = 100, full_every: int | None = None,
             test_accuracy: bool = True, progress: bool = True, resume: str | os.PathLike | None = None,
             checkpoint_every: int = 0, full_steps=None) -> pd.DataFrame:
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
        tables.append(run_one(task, name, opt, steps, seeds, log_every, full_every, test_accuracy,
                              progress, ck, checkpoint_every, full_steps))
    return pd.concat(tables, ignore_index=True)


def _flatten(state: dict, prefix="") -> dict:
    out = {}
    for k, v in state.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}/"))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _fill(template: dict, flat: dict, prefix="") -> dict:
    """The nested state of ``template``'s shape, with the tensors from ``flat``."""
    return {k: _fill(v, flat, f"{prefix}{k}/") if isinstance(v, dict) else flat[f"{prefix}{k}"]
            for k, v in template.items()}


def schedule(steps, log_every, full_every=None, full_steps=None) -> tuple[set, set]:
    """(steps to log, steps at which to measure the full-training-set loss; always the last one)."""
    logged = set(log_steps(steps, log_every).tolist())
    if full_steps is None:
        full_every = int(full_every or log_every)
        full_steps = {t for t in logged if t % full_every == 0}
    full_steps = {int(t) for t in full_steps} | {int(steps)}
    return logged | full_steps, full_steps


def new_run(S: int) -> dict:
    """The bookkeeping of a run of S seeds that a checkpoint saves: next step, wall time, the guard's
    acceptances since the last logged row, the logged rows, the first diverged step per seed."""
    return {"step": 0, "wall": 0.0, "taken": torch.zeros(S), "guarded_steps": 0, "rows": [],
            "diverged_at": torch.full((S,), -1, dtype=torch.int64)}


@torch.no_grad()
def run_one(task, name, opt, steps, seeds, log_every=100, full_every=None, test_accuracy=True,
            progress=True, checkpoint: Path | None = None, checkpoint_every: int = 0, full_steps=None) -> pd.DataFrame:
    """One optimizer, all seeds batched. Resumes from ``checkpoint`` when that file exists."""
    logged, full_steps = schedule(steps, log_every, full_every, full_steps)
    oracle = Oracle(task, seeds)
    params = task.init_params(seeds)
    state = opt.init(params)
    S = len(seeds)
    run = new_run(S)
    if checkpoint is not None and checkpoint.exists():
        params, state, run = _load_checkpoint(checkpoint, oracle, state)
    rows = run["rows"]
    bar = tqdm(total=steps, initial=run["step"], desc=name, disable=not progress, leave=False, mininterval=1.0)
    for t in range(run["step"], steps + 1):
        counts, wall = (oracle.fwd, oracle.bwd, oracle.examples), run["wall"]  # spent to reach x_t
        t0 = time.perf_counter()
        oracle.advance()
        loss, grad = oracle.grad(params)
        bad = ~torch.isfinite(loss).cpu() & (run["diverged_at"] < 0)
        run["diverged_at"][bad] = t
        if t < steps:
            params_next, state, info = opt.step(params, state, grad, oracle)
            run["wall"] += time.perf_counter() - t0
        if t in logged:
            full = task.full_loss(params).cpu() if t in full_steps else None
            share = run["taken"] / run["guarded_steps"] if run["guarded_steps"] else None
            rows.append({"step": t, "batch_loss": loss.cpu(), "full_loss": full, "share": share,
                         "counts": counts, "wall": wall})
            run["taken"] = torch.zeros(S)
            run["guarded_steps"] = 0
        if t == steps:
            break
        if "took_proposal" in info:
            run["taken"] += info["took_proposal"].float().cpu()
            run["guarded_steps"] += 1
        params = params_next
        bar.update(1)
        if checkpoint is not None and checkpoint_every and (t + 1) % checkpoint_every == 0:
            run["step"] = t + 1
            _save_checkpoint(checkpoint, params, state, oracle, run)
    bar.close()
    return _table(task, name, seeds, rows, params, test_accuracy, run["diverged_at"])


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


# ----------------------------------------------------------------------------------------------
# resumable runs: tensors and plain containers only, loaded with weights_only=True


def _save_checkpoint(path: Path, params, state, oracle, run) -> None:
    payload = {
        "params": params,
        "state": _flatten(state),
        "train_gens": [g.get_state() for g in oracle.train_gens],
        "guard_gens": [g.get_state() for g in oracle.guard_gens],
        "next_batch": oracle._next,
        "run": run,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, oracle, state_template):
    try:
        payload = torch.load(path, weights_only=True)
        payload["state"], payload["params"], payload["run"]  # noqa: B018 - the keys a resume needs
    except Exception as e:  # noqa: BLE001 - a truncated or foreign file is refused the same way
        raise ValueError(f"{path}: unreadable resume checkpoint ({type(e).__name__}); "
                         "delete it to start over") from e
    if set(payload["state"]) != set(_flatten(state_template)) or payload["params"].shape[0] != len(oracle.seeds):
        raise ValueError(f"{path}: this checkpoint is of another optimizer or other seeds; delete it to start over")
    state = _fill(state_template, payload["state"])
    for g, s in zip(oracle.train_gens, payload["train_gens"]):
        g.set_state(s)
    for g, s in zip(oracle.guard_gens, payload["guard_gens"]):
        g.set_state(s)
    oracle._next = payload["next_batch"]
    return payload["params"], state, payload["run"]
