"""Meta-training the LSTM optimizer: truncated backpropagation through optimizee unrolls.

Protocol (Andrychowicz et al. 2016; docs/design.md, experimental protocol): every episode starts ``optimizees`` fresh optimizees
(batched as runs) and unrolls the L2O on them for ``episode_steps`` steps; every ``unroll`` steps the
meta-loss (the sum over the unroll of the optimizees' minibatch losses after each update, averaged
over optimizees) is backpropagated into the LSTM, the meta-optimizer (Adam) steps, and the optimizee
parameters and LSTM state are detached. The optimizee gradients fed to the LSTM are detached (no second
derivatives). Meta-gradients are clipped by norm; a meta-step with a
non-finite loss or gradient is skipped and counted, never applied.

Every ``validate_every`` meta-steps the L2O runs (no grad) on held-out optimizee seeds for
``validate_steps`` steps; the mean training loss over those steps, measured on a held-out part of the
training set, picks the best checkpoint. Meta-training resumes from its last checkpoint.
``meta_train_phases`` chains runs into a curriculum (e.g. longer unrolls), each phase from the
previous phase's best checkpoint.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ..core.io import save_torch, write_csv
from ..core.progress import Progress
from ..core.paths import repo_relative
from ..problems.seeds import TRAIN, TRAIN_SEED_BASE, VALIDATION_SEED_BASE, run_generators
from ..problems.tasks import make_task
from . import checkpoint
from .backends import make_step
from .model import LSTMOptimizer

OBJECTIVES = ("sum", "log")
LOG_COLUMNS = ["meta_step", "episode", "meta_loss", "grad_norm", "skipped", "val_loss", "wall_s"]


@dataclass
class MetaConfig:
    task: dict = field(default_factory=lambda: {"kind": "mlp", "dataset": "mnist", "hidden": [20],
                                                "activation": "sigmoid", "batch_size": 128})
    episodes: int = 100
    episode_steps: int = 100
    unroll: int = 20
    optimizees: int = 8  # optimizees per meta-step (batched)
    # optimizees per forward-and-backward pass (0: all at once). A meta-step then accumulates the
    # meta-gradient over optimizees // chunk passes: the same meta-gradient, to rounding, in a chunk's
    # memory (docs/performance.md: what an unroll holds).
    chunk: int = 0
    meta_lr: float = 1e-3
    clip: float = 1.0
    validate_every: int = 25  # meta-steps
    validate_seeds: int = 5
    validate_steps: int = 100
    heldout: int = 10_000  # training examples held out for validation (MLP tasks)
    seed: int = 0
    compile: bool = False  # step with the "compile" backend (torch.compile'd LSTM; docs/performance.md)
    # "sum": the sum of the unroll's minibatch losses (Andrychowicz et al.); "log": the sum of their logs, which
    # weighs a relative gain late in the episode as much as the same relative gain early on.
    objective: str = "sum"
    init: str | None = None  # an L2O checkpoint (repo-relative, no suffix) to start from; its path, not its
    # contents, is part of the resume key

    def __post_init__(self):
        for name in ("episodes", "episode_steps", "unroll", "optimizees", "validate_every", "validate_seeds",
                     "validate_steps"):
            v = getattr(self, name)
            if not (isinstance(v, int) and v > 0):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if not (isinstance(self.chunk, int) and self.chunk >= 0 and self.optimizees % (self.chunk or 1) == 0):
            raise ValueError(f"chunk must be 0 or a divisor of optimizees ({self.optimizees}), got {self.chunk!r}")
        if self.episode_steps % self.unroll:
            raise ValueError(f"episode_steps ({self.episode_steps}) must be a multiple of unroll ({self.unroll})")
        for name in ("meta_lr", "clip"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a positive number, got {v!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")


def _split_task(cfg: MetaConfig, device):
    """Training task (without the held-out examples) and validation task (only those)."""
    task = make_task(**cfg.task, device=device)
    if not hasattr(task, "train") or not cfg.heldout:
        return task, task
    import copy

    n = task.n_train
    if not 0 < cfg.heldout < n:
        raise ValueError(f"heldout must be in (0, {n}), got {cfg.heldout}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed))
    full, val = task.train, copy.copy(task)
    for t, idx in ((task, perm[cfg.heldout:]), (val, perm[: cfg.heldout])):
        idx = idx.to(full.x.device)
        t.train = type(full)(full.x[idx], full.y[idx], full.image_shape, full.classes)
        t.n_train = len(idx)
    return task, val


def unroll_loss(net, task, params, hidden, gens, steps: int, objective="sum"):
    """Run the L2O ``steps`` steps from ``params``; return (meta-loss, params, hidden).

    As in Andrychowicz et al.'s implementation, the meta-loss sums f(theta_t) over the unroll's steps,
    each on the minibatch whose gradient feeds the LSTM at that step, so one forward pass serves both;
    averaged over optimizees. With ``objective="log"`` it sums log f(theta_t) instead (per optimizee).
    The optimizee gradient is an input to the LSTM, not differentiated (no second derivatives).
    """
    total = 0.0
    for _ in range(steps):
        batch = task.sample_batch(gens)
        losses, cache = task.forward(params, batch)
        with torch.no_grad():
            g = task.backward(params.detach(), cache)
        total = total + (losses.mean(1).log().mean() if objective == "log" else losses.mean())
        update, hidden = net(g, hidden)
        params = params + update
    return total, params, hidden


def _meta_gradient(cfg: MetaConfig, net, task, params, hidden, gens):
    """One unroll of every optimizee, its meta-gradient accumulated into ``net``'s ``.grad``, chunk by chunk
    (``cfg.chunk``); each chunk's meta-loss is weighted by its share of the optimizees, so the sum is the
    mean over all of them. Returns (meta-loss, params, hidden, skipped), params and hidden detached;
    a non-finite chunk loss stops the meta-step (skipped) before anything more is backpropagated."""
    size = cfg.chunk or cfg.optimizees
    total, out_p, out_h = 0.0, [], []
    for start in range(0, cfg.optimizees, size):
        part = slice(start, start + size)
        loss, p, h = unroll_loss(net, task, params[part], tuple(x[part] for x in hidden), gens[part], cfg.unroll,
                                 cfg.objective)
        loss = loss * (size / cfg.optimizees)
        total = total + loss.detach()
        if not torch.isfinite(loss):
            return total, params.detach(), tuple(x.detach() for x in hidden), True
        loss.backward()
        out_p.append(p.detach())
        out_h.append([x.detach() for x in h])
    return total, torch.cat(out_p), tuple(torch.cat(xs) for xs in zip(*out_h)), False


@torch.no_grad()
def validate(net, task, seeds, steps: int) -> float:
    """Mean (over seeds and ten points of steps 1..steps) full-set loss of the L2O's iterates on ``task``."""
    from ..engine.loop import run_one
    from .optimizer import L2O

    every = max(1, steps // 10)
    at = [t for t in range(1, steps + 1) if t % every == 0 or t == steps]
    table = run_one(task, "l2o", L2O(net), steps=steps, seeds=seeds, log_every=steps, full_steps=at, test_accuracy=False,
                    progress=False)
    # (points, seeds): the order in which the losses were measured, which fixes the mean's rounding
    v = torch.tensor(table.pivot(index="step", columns="seed", values="full_loss").loc[at].to_numpy()).mean()
    return float(v) if torch.isfinite(v) else float("inf")


def episode_seeds(cfg: MetaConfig, episode: int) -> list[int]:
    """The optimizee seeds (initialisations and minibatch streams) of one meta-training episode."""
    first = TRAIN_SEED_BASE + cfg.seed * 1_000_003 + episode * cfg.optimizees
    return list(range(first, first + cfg.optimizees))


def meta_train(cfg: MetaConfig, out: str | os.PathLike, device="cpu", progress=True, log=print) -> pd.DataFrame:
    """Meta-train; write ``out``/l2o.{pt,json} (best), ``out``/last.pt (resume), ``out``/log.csv."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    task, val_task = _split_task(cfg, device)
    torch.manual_seed(cfg.seed)
    if cfg.init:
        net, _ = checkpoint.load(cfg.init, device=device)
    else:
        net = LSTMOptimizer().to(device)
        net.reset_parameters(torch.Generator().manual_seed(cfg.seed))
    meta_opt = torch.optim.Adam(net.parameters(), lr=cfg.meta_lr)
    step_net = make_step(net, "compile" if cfg.compile else "plain")  # shares net's parameters
    val_seeds = list(range(VALIDATION_SEED_BASE, VALIDATION_SEED_BASE + cfg.validate_seeds))
    per_episode = cfg.episode_steps // cfg.unroll
    rows, episode, best, wall = [], 0, float("inf"), 0.0
    last = out / "last.pt"
    if last.exists():
        try:
            ck = torch.load(last, weights_only=True, map_location=device)
            ck["config"]  # noqa: B018
        except Exception as e:  # noqa: BLE001 - a truncated or foreign file is refused the same way
            raise ValueError(f"{last}: unreadable meta-training checkpoint ({type(e).__name__}); "
                             f"delete {out} to start over") from e
        if ck["config"] != _resume_key(cfg):
            raise ValueError(f"{last} was written with another meta-training config; delete {out} to start over")
        net.load_state_dict(ck["net"])
        meta_opt.load_state_dict(ck["meta_opt"])
        rows, episode, best, wall = ck["rows"], ck["episode"], ck["best"], ck["wall"]
        log(f"resuming meta-training at episode {episode}")
    bar = Progress(cfg.episodes, "meta-training episodes", initial=episode, disable=not progress)
    while episode < cfg.episodes:
        t0 = time.perf_counter()
        seeds = episode_seeds(cfg, episode)
        gens = run_generators(seeds, TRAIN)
        params = task.init_params(seeds)
        hidden = net.init_state(params.shape, params.device, params.dtype)
        for k in range(per_episode):
            meta_step = episode * per_episode + k
            meta_opt.zero_grad()
            loss, params, hidden, skipped = _meta_gradient(cfg, step_net, task, params, hidden, gens)
            gnorm = float("nan")
            if not skipped:
                gnorm = float(torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.clip))
                skipped = not math.isfinite(gnorm)
            if not skipped:
                meta_opt.step()
            row = {"meta_step": meta_step, "episode": episode, "meta_loss": float(loss.detach()) / cfg.unroll,
                   "grad_norm": gnorm, "skipped": bool(skipped), "val_loss": float("nan"), "wall_s": 0.0}
            if (meta_step + 1) % cfg.validate_every == 0 or (episode + 1 == cfg.episodes and k + 1 == per_episode):
                row["val_loss"] = validate(step_net, val_task, val_seeds, cfg.validate_steps)
                if row["val_loss"] < best:
                    best = row["val_loss"]
                    checkpoint.save(net, out / "l2o", extra={"meta": asdict(cfg), "meta_step": meta_step,
                                                          "val_loss": best})
            rows.append(row)
            if skipped:  # a non-finite unroll: start the episode's optimizees afresh
                break
        episode += 1
        wall += time.perf_counter() - t0
        rows[-1]["wall_s"] = wall
        save_torch({"config": _resume_key(cfg), "net": net.state_dict(),
                            "meta_opt": meta_opt.state_dict(), "rows": rows, "episode": episode, "best": best,
                            "wall": wall}, last)
        bar.update(1)
    bar.close()
    df = pd.DataFrame(rows, columns=LOG_COLUMNS)
    write_csv(df, out / "log.csv")
    return df


def meta_train_phases(cfg: MetaConfig, phases: list[dict], out: str | os.PathLike, device="cpu", progress=True,
                      log=print) -> pd.DataFrame:
    """A curriculum: ``meta_train`` once per phase (``cfg`` with the phase's overrides, e.g. a longer
    ``unroll`` and a lower ``meta_lr``), each starting from the previous phase's best checkpoint.

    Phase k works in ``out``/phase{k} (resumable like ``meta_train``); ``out``/l2o.{pt,json} is the last
    phase's best, its JSON also recording the phases. The log gains a ``phase`` column, with meta-steps and
    wall time counted across phases. No phases: one plain ``meta_train`` run.
    """
    out = Path(out)
    phases = phases or [{}]
    logs, init, step0, wall0 = [], cfg.init, 0, 0.0
    for k, overrides in enumerate(phases, 1):
        bad = set(overrides) - (set(asdict(cfg)) - {"init"})
        if bad:
            raise ValueError(f"phase {k}: unknown or not overridable meta-training settings {sorted(bad)}")
        phase_cfg = MetaConfig(**{**asdict(cfg), **overrides, "init": init})
        df = meta_train(phase_cfg, out / f"phase{k}", device=device, progress=progress, log=log)
        ended = df.wall_s > 0  # rows that close an episode carry the cumulative wall time
        logs.append(df.assign(phase=k, meta_step=df.meta_step + step0,
                              wall_s=df.wall_s.where(~ended, df.wall_s + wall0)))
        last_offset = step0
        step0, wall0 = step0 + int(df.meta_step.max()) + 1, wall0 + float(df.wall_s.max())
        init = repo_relative(out / f"phase{k}" / "l2o")  # checkpoints record repo-relative paths only
    net, info = checkpoint.load(init, device=device)
    extra = {k: v for k, v in info.items() if k not in ("format", "l2o")}
    # "meta" is the curriculum's base config (its own init, not a phase's working folder) and "phases" its
    # overrides: together they say how every phase was run
    checkpoint.save(net, out / "l2o", extra={**extra, "meta": asdict(cfg), "phase": len(phases), "phases": phases,
                                          "meta_step": extra["meta_step"] + last_offset})
    return pd.concat(logs, ignore_index=True)


def config_hash(cfg: MetaConfig, phases: list[dict] | None = None) -> str:
    """A short name for a configuration and its curriculum phases, if any, less their numbers of episodes:
    a resumed run may grow them (growing a phase after a later one has started leaves that later one as it
    was: delete its folder to redo it)."""
    import hashlib

    phases = [{k: v for k, v in ph.items() if k != "episodes"} for ph in phases or []]
    key = _resume_key(cfg) + (json.dumps(phases, sort_keys=True) if phases else "")
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def _resume_key(cfg: MetaConfig) -> str:
    """What must not change between a run and its resumption (the number of episodes may grow)."""
    # ``chunk`` splits the work without changing what is computed (beyond rounding), and a run written before
    # it existed must still resume: it is left out
    return json.dumps({k: v for k, v in asdict(cfg).items() if k not in ("episodes", "chunk")}, sort_keys=True)
