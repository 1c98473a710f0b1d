"""Benchmark: LossGuard's price in a user's training loop, against the plain step of the optimizer it guards.

    python -m lgl2o.perf.guard_bench [--rounds 11] [--steps 10] [--json out.json]

On Fashion-MNIST, minibatch 128, NAdam (lr 1e-3) as the proposal and SGD (lr 0.05) as the fallback, for
two models: a small CNN (3x3 convolutions of 16 and 32 channels, each with ReLU and 2x2 max-pooling, a
linear layer) and an MLP (784-256-10, ReLU). Each variant trains its own copy of the model in the
ordinary way (``zero_grad``, forward, ``backward``, ``step``): "plain" is NAdam's step alone, "guard" is
LossGuard without an audit, comparing on a batch of ``min_examples`` examples drawn apart from the
gradient's at every step, and "audited" is LossGuard as the README uses it: each step compares on a
fresh batch of half the gradient's size, and every ``audit_every`` steps that took the proposal are checked
on a fixed audit set of ``min_examples`` training examples (``torch_guard``'s audit). The variants take turns block by block (a round: ``steps`` steps of each), so that a slow spell
of the machine falls on all alike; each figure is the median over rounds, the ratio the median of the
rounds' ratios to "plain" (with its range). The host is recorded.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
from torch import nn
from torch.nn import functional as F

from ..core.host import host
from ..optim.torch_guard import LossGuard
from ..problems import data

BATCH = 128


def cnn() -> nn.Module:
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(32 * 7 * 7, 10))


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))


MODELS = {"cnn": cnn, "mlp": mlp}


def plain(model: nn.Module, train, gen: torch.Generator):
    """One step of NAdam alone, as a training loop takes it."""
    opt = torch.optim.NAdam(model.parameters(), lr=1e-3)

    def step():
        i = torch.randint(len(train.y), (BATCH,), generator=gen)
        opt.zero_grad()
        F.cross_entropy(model(train.x[i]), train.y[i]).backward()
        opt.step()

    return step


def guarded(model: nn.Module, train, gen: torch.Generator):
    """One step of NAdam guarded by SGD through LossGuard at its defaults."""
    guard = LossGuard(model.parameters(), torch.optim.NAdam(model.parameters(), lr=1e-3),
                      torch.optim.SGD(model.parameters(), lr=0.05))

    def step():
        i = torch.randint(len(train.y), (BATCH,), generator=gen)
        j = torch.randint(len(train.y), (guard.min_examples,), generator=gen)

        def closure():
            guard.zero_grad()
            loss = F.cross_entropy(model(train.x[i]), train.y[i])
            loss.backward()
            return loss

        guard.step(closure, compare=lambda: F.cross_entropy(model(train.x[j]), train.y[j], reduction="none"))

    return step


def audited(model: nn.Module, train, gen: torch.Generator):
    """One step of NAdam guarded by SGD through LossGuard with its audit: a comparison of ``BATCH // 2``
    fresh examples per step, a fixed audit set of ``min_examples``."""
    guard = LossGuard(model.parameters(), torch.optim.NAdam(model.parameters(), lr=1e-3),
                      torch.optim.SGD(model.parameters(), lr=0.05))
    a = torch.randint(len(train.y), (guard.min_examples,), generator=gen)
    xa, ya = train.x[a], train.y[a]

    def step():
        i = torch.randint(len(train.y), (BATCH,), generator=gen)
        j = torch.randint(len(train.y), (BATCH // 2,), generator=gen)
        xj, yj = train.x[j], train.y[j]

        def closure():
            guard.zero_grad()
            loss = F.cross_entropy(model(train.x[i]), train.y[i])
            loss.backward()
            return loss

        guard.step(closure, compare=lambda: F.cross_entropy(model(xj), yj, reduction="none"),
                   audit=lambda: F.cross_entropy(model(xa), ya, reduction="none"))

    return step


VARIANTS = {"plain": plain, "guard": guarded, "audited": audited}


def time_variants(model_name: str, train, rounds: int, steps: int, warmup: int = 3) -> dict[str, list[float]]:
    """ms per step of each variant in each round (variants in turn within a round)."""
    steppers = {}
    for name, make in VARIANTS.items():
        torch.manual_seed(0)
        steppers[name] = make(MODELS[model_name](), train, torch.Generator().manual_seed(1))
        for _ in range(warmup):
            steppers[name]()
    times = {name: [] for name in steppers}
    for _ in range(rounds):
        for name, step in steppers.items():
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            times[name].append(1000 * (time.perf_counter() - t0) / steps)
    return times


def summarize(times: dict[str, list[float]]) -> dict:
    out = {}
    for name, ts in times.items():
        ratios = [t / p for t, p in zip(ts, times["plain"])]
        out[name] = {"ms": statistics.median(ts), "ratio": statistics.median(ratios), "ratio_min": min(ratios),
                     "ratio_max": max(ratios)}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lgl2o.perf.guard_bench", description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=11)
    ap.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--json", help="write the figures here as JSON")
    args = ap.parse_args(argv)
    train = data.load("fashion_mnist", "train")
    machine = host()
    print(f"{machine['cpu']}, {machine['threads']} threads, torch {machine['torch']}; Fashion-MNIST, batch {BATCH}, "
          f"NAdam guarded by SGD; {args.rounds} rounds of {args.steps} steps per variant")
    print(f"{'model':<6} {'variant':<8} {'ms/step':>8} {'x plain':>8} {'(range)':>14}")
    out = {"host": machine, "rounds": args.rounds, "steps": args.steps, "batch": BATCH, "models": {}}
    for model in args.models:
        result = summarize(time_variants(model, train, args.rounds, args.steps))
        out["models"][model] = result
        for name, r in result.items():
            print(f"{model:<6} {name:<8} {r['ms']:8.2f} {r['ratio']:8.2f} {r['ratio_min']:6.2f}-{r['ratio_max']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
