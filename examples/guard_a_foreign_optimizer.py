"""Guard an optimizer you did not write: NAdam at an aggressive rate on a small CNN for Fashion-MNIST.

    python examples/guard_a_foreign_optimizer.py            # ~1 min on 2 cores
    python -m lgl2o.problems.data fetch fashion_mnist       # first, if data/ lacks it

NAdam is the proposal, SGD (with a step schedule, set on the guard) the fallback. Every step both step
from the same gradient; a comparison batch of half the gradient's size, drawn apart from it, decides which
step to keep (LossGuard's paired test with z = 2), and every 32 steps that kept NAdam's step are audited on a
fixed set of 1024 training examples: if the loss there rose, the guard goes back to where it stood and
takes SGD's steps alone for a while (why: docs/guard.md). It prints the share of steps on which NAdam's
proposal was kept, the last comparison's losses, the audits and rollbacks, and at the end the guard's
measured price: milliseconds per step against NAdam's plain step on the same model.
"""
import argparse
import copy
import time

import torch
from torch import nn
from torch.nn import functional as F

from lgl2o import LossGuard
from lgl2o.problems import data

BATCH = 64


def cnn() -> nn.Module:
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 10))


def guarded_stepper(model, train, g):
    """(the guard, a function taking one guarded step): NAdam guarded by SGD, audited on a fixed set."""
    proposal = torch.optim.NAdam(model.parameters(), lr=0.03)
    fallback = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    guard = LossGuard(model.parameters(), proposal, fallback)
    a = torch.randint(len(train.y), (guard.min_examples,), generator=g)  # the audit set, fixed
    xa, ya = train.x[a], train.y[a]

    def step():
        i = torch.randint(len(train.y), (BATCH,), generator=g)  # the gradient's batch
        j = torch.randint(len(train.y), (BATCH // 2,), generator=g)  # the comparison batch: half as large
        xj, yj = train.x[j], train.y[j]

        def closure():
            guard.zero_grad()
            loss = F.cross_entropy(model(train.x[i]), train.y[i])
            loss.backward()
            return loss

        guard.step(closure, compare=lambda: F.cross_entropy(model(xj), yj, reduction="none"),
                   audit=lambda: F.cross_entropy(model(xa), ya, reduction="none"))

    return guard, step


def price(model, train, steps=20, rounds=3) -> tuple[float, float]:
    """ms per step of the guarded step and of NAdam's plain step, each on its own copy of ``model``,
    taking turns block by block; medians over ``rounds``."""
    g = torch.Generator().manual_seed(1)
    plain_model, guard_model = copy.deepcopy(model), copy.deepcopy(model)
    nadam = torch.optim.NAdam(plain_model.parameters(), lr=0.03)

    def plain():
        i = torch.randint(len(train.y), (BATCH,), generator=g)
        nadam.zero_grad()
        F.cross_entropy(plain_model(train.x[i]), train.y[i]).backward()
        nadam.step()

    _, guarded = guarded_stepper(guard_model, train, g)
    times = {"guard": [], "plain": []}
    for _ in range(rounds):
        for name, step in (("guard", guarded), ("plain", plain)):
            t0 = time.perf_counter()
            for _ in range(steps):
                step()
            times[name].append(1000 * (time.perf_counter() - t0) / steps)
    return tuple(sorted(times[name])[rounds // 2] for name in ("guard", "plain"))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--report-every", type=int, default=100)
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    train, test = data.load("fashion_mnist", "train"), data.load("fashion_mnist", "test")
    model = cnn()
    guard, step = guarded_stepper(model, train, torch.Generator().manual_seed(0))
    schedule = torch.optim.lr_scheduler.StepLR(guard, step_size=max(1, args.steps // 3), gamma=0.5)  # the fallback's
    kept = 0
    for t in range(1, args.steps + 1):
        step()
        schedule.step()
        kept += guard.took_proposal
        if t % args.report_every == 0 or t == args.steps:
            lp, lf = guard.losses
            print(f"step {t:4d}: NAdam kept on {kept / args.report_every:4.0%} of the last steps "
                  f"(comparison loss NAdam {lp:.3f}, SGD {lf:.3f}; SGD lr {guard.param_groups[0]['lr']:.3g}); "
                  f"{guard.audits} audits, {guard.rollbacks} rollbacks so far")
            kept = 0
    with torch.no_grad():
        acc = float((model(test.x).argmax(1) == test.y).float().mean())
    print(f"test accuracy {acc:.3f}; NAdam's proposal kept on {guard.proposal_share:.0%} of {guard.steps} steps")
    guard_ms, plain_ms = price(model, train)
    print(f"price: {guard_ms:.2f} ms per guarded step against {plain_ms:.2f} ms for NAdam's plain step "
          f"({guard_ms / plain_ms:.2f}x, this machine, from the trained model)")
    return {"test_acc": acc, "proposal_share": guard.proposal_share, "steps": guard.steps,
            "audits": guard.audits, "rollbacks": guard.rollbacks, "price": guard_ms / plain_ms}


if __name__ == "__main__":
    main()
