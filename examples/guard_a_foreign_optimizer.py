"""Guard an optimizer you did not write: NAdam at an aggressive rate on a small CNN for Fashion-MNIST.

    python examples/guard_a_foreign_optimizer.py            # ~1 min on 2 cores
    python -m lgl2o.problems.data fetch fashion_mnist       # first, if data/ lacks it

NAdam is the proposal, SGD (with a step schedule, set on the guard) the fallback. Every step both step
from the same gradient; a comparison batch of 1024 examples, drawn apart from the gradient's, decides
which step to keep (LossGuard's defaults: the paired test with z = 2; why 1024: docs/guard.md). The
telemetry: the share of steps on which NAdam's proposal was kept, and the last comparison's losses.
"""
import argparse

import torch
from torch import nn
from torch.nn import functional as F

from lgl2o import LossGuard
from lgl2o.problems import data


def cnn() -> nn.Module:
    return nn.Sequential(nn.Unflatten(1, (1, 28, 28)), nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(256, 10))


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--report-every", type=int, default=100)
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    train, test = data.load("fashion_mnist", "train"), data.load("fashion_mnist", "test")
    model = cnn()
    proposal = torch.optim.NAdam(model.parameters(), lr=0.03)
    fallback = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    guard = LossGuard(model.parameters(), proposal, fallback)
    schedule = torch.optim.lr_scheduler.StepLR(guard, step_size=max(1, args.steps // 3), gamma=0.5)  # the fallback's

    g = torch.Generator().manual_seed(0)
    kept = 0
    for step in range(1, args.steps + 1):
        i = torch.randint(len(train.y), (64,), generator=g)  # the gradient's batch
        j = torch.randint(len(train.y), (1024,), generator=g)  # the comparison batch

        def closure():
            guard.zero_grad()
            loss = F.cross_entropy(model(train.x[i]), train.y[i])
            loss.backward()
            return loss

        guard.step(closure, compare=lambda: F.cross_entropy(model(train.x[j]), train.y[j], reduction="none"))
        schedule.step()
        kept += guard.took_proposal
        if step % args.report_every == 0 or step == args.steps:
            lp, lf = guard.losses
            print(f"step {step:4d}: NAdam kept on {kept / args.report_every:4.0%} of the last steps "
                  f"(comparison loss NAdam {lp:.3f}, SGD {lf:.3f}; SGD lr {fallback.param_groups[0]['lr']:.3g})")
            kept = 0
    with torch.no_grad():
        acc = float((model(test.x).argmax(1) == test.y).float().mean())
    print(f"test accuracy {acc:.3f}; NAdam's proposal kept on {guard.proposal_share:.0%} of {guard.steps} steps")
    return {"test_acc": acc, "proposal_share": guard.proposal_share, "steps": guard.steps}


if __name__ == "__main__":
    main()
