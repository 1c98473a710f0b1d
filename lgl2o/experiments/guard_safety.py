"""How large a comparison must the guard make? A proposal catastrophic on a few examples.

The failure mode: a proposal that is much worse in expectation but better on most examples. Example, on
a real classifier: scaling the output layer by ``c`` (a huge step towards confidence) sends the loss of
every correctly classified example to ~0 and multiplies that of every misclassified one by ~``c``. A
comparison batch that happens to hold no misclassified example prefers it, whatever the test: the
per-example differences on such a batch are all in the proposal's favour. The chance of such a batch is
about (1 - f)^n for a fraction f of bad examples and n comparison examples, so only n decides.

``acceptance`` measures it: the MLP of the stages trained by SGD for ``train_steps``, then, from that
iterate, the fallback (one SGD step at ``lr``) against the overconfident proposal, both evaluated on every
training example once; the guard's decision (``decision.proposal_is_better``) is then drawn on
``trials`` fresh comparison batches of each size (with replacement, as the guard's fresh batch).

``audit_survival`` measures what ``LossGuard``'s audit (``optim.torch_guard``) leaves of such an acceptance:
the overconfident proposal taken at the first step of a window and the fallback's SGD steps for the rest
of it, then the audit (is the mean loss on a fixed audit set of n examples at the window's end no higher
than at its start?) drawn on ``trials`` audit sets of each size: the share that passes is the share of
acceptances the audit would keep.

    python -m lgl2o.experiments.guard_safety [--train-steps N]   # prints the tables of docs/guard.md
"""
from __future__ import annotations

import argparse
import math

import pandas as pd
import torch

from ..engine.loop import EagerEngine
from ..optim.baselines import SGD
from ..optim.decision import proposal_is_better
from ..problems.tasks import MLP

TESTS = {"plain": ("mean", 0.0), "mean z=1": ("mean", 1.0), "mean z=2": ("mean", 2.0), "sign z=2": ("sign", 2.0)}
SIZES = (16, 64, 128, 256, 1024, 4096)


def _per_example(task: MLP, params: torch.Tensor) -> torch.Tensor:
    """The loss of every training example at ``params`` (1, P)."""
    idx = torch.arange(task.n_train, device=params.device)
    return torch.cat([task.forward(params, idx[i : i + 10_000].unsqueeze(0))[0][0]
                      for i in range(0, task.n_train, 10_000)])


def trained(task: MLP, steps: int, lr: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The stages' MLP after ``steps`` SGD steps at ``lr`` from its seeded initialisation, and one SGD step
    further (the fallback's candidate), both (1, P)."""
    eng = EagerEngine(task, SGD(lr), [seed])
    for _ in range(steps):
        eng.step()
    x = eng.params
    eng.step()
    return x, eng.params


def overconfident(task: MLP, params: torch.Tensor, scale: float) -> torch.Tensor:
    """``params`` with the output layer's weights and bias multiplied by ``scale``."""
    i, o = task.shapes[-1]
    out = params.clone()
    out[:, -(i * o + o):] *= scale
    return out


def acceptance(dataset: str = "mnist", *, train_steps: int = 2000, lr: float = 3.0, scales=(10.0, 30.0),
               sizes=SIZES, trials: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per (scale, comparison size, test): the share of ``trials`` fresh comparison batches on
    which the guard takes the overconfident proposal, with the full-training-set losses of both
    candidates, the fraction ``f`` of examples on which the proposal is worse, and (1 - f)^n."""
    task = MLP(dataset)
    x, after_sgd = trained(task, train_steps, lr, seed)
    fallback = _per_example(task, after_sgd)
    g = torch.Generator().manual_seed(seed)
    rows = []
    for scale in scales:
        proposal = _per_example(task, overconfident(task, x, scale))
        worse = float((proposal > fallback).double().mean())
        for n in sizes:
            idx = torch.randint(task.n_train, (trials, n), generator=g)
            ep, ef = proposal[idx], fallback[idx]
            for name, (test, z) in TESTS.items():
                rows.append({"scale": scale, "n": n, "test": name,
                             "accepted": float(proposal_is_better(ep, ef, test, z)[2].double().mean()),
                             "no_bad_example": (1 - worse) ** n, "worse_fraction": worse,
                             "full_loss_proposal": float(proposal.mean()), "full_loss_fallback": float(fallback.mean())})
    return pd.DataFrame(rows)


def audit_survival(dataset: str = "mnist", *, train_steps: int = 2000, lr: float = 3.0, scales=(10.0, 30.0),
                   audit_every: int = 16, sizes=(64, 256, 1024), trials: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per (scale, audit size): the share of ``trials`` audit sets (drawn without replacement, a
    fixed set per run) on which the window that took the overconfident proposal first and then
    ``audit_every - 1`` SGD steps passes the audit, with the full-training-set losses at the window's start
    and end."""
    task = MLP(dataset)
    x, _ = trained(task, train_steps, lr, seed)
    start = _per_example(task, x)
    g = torch.Generator().manual_seed(seed)
    rows = []
    for scale in scales:
        eng = EagerEngine(task, SGD(lr), [seed])
        for _ in range(train_steps + 1):  # the same minibatch stream: the window's steps follow the study's
            eng.oracle.advance()
        eng.params = overconfident(task, x, scale)
        for _ in range(audit_every - 1):
            eng.step()
        end = _per_example(task, eng.params)
        for n in sizes:
            idx = torch.stack([torch.randperm(task.n_train, generator=g)[:n] for _ in range(trials)])
            passed = start[idx].mean(1) >= end[idx].mean(1)
            rows.append({"scale": scale, "n": n, "audit_every": audit_every, "survives": float(passed.double().mean()),
                         "full_loss_start": float(start.mean()), "full_loss_end": float(end.mean())})
    return pd.DataFrame(rows)


def smallest_safe(table: pd.DataFrame, risk: float = 0.01) -> dict:
    """Per test, the smallest comparison size whose acceptance of the proposal is at most ``risk`` in
    every scale (math.inf if none of the sizes is)."""
    out = {}
    for test, g in table.groupby("test", sort=False):
        worst = g.groupby("n").accepted.max()
        ok = worst[worst <= risk]
        out[test] = int(ok.index.min()) if len(ok) else math.inf
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lgl2o.experiments.guard_safety", description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--train-steps", type=int, default=2000)
    ap.add_argument("--trials", type=int, default=2000)
    args = ap.parse_args(argv)
    table = acceptance(args.dataset, train_steps=args.train_steps, trials=args.trials)
    head = table.iloc[0]
    print(f"{args.dataset} MLP after {args.train_steps} SGD steps; full-training-set loss: fallback "
          f"{head.full_loss_fallback:.3f}; the proposal is worse on a fraction f of the examples")
    for scale, g in table.groupby("scale"):
        print(f"\noutput layer x{scale:g}: full loss {g.full_loss_proposal.iloc[0]:.3f}, f = {g.worse_fraction.iloc[0]:.4f};"
              " share of comparison batches that take it")
        wide = g.pivot(index="n", columns="test", values="accepted")[list(TESTS)]
        wide["(1-f)^n"] = g.groupby("n").no_bad_example.first()
        print(wide.to_string(float_format=lambda v: f"{v:.4f}"))
    print("\nsmallest comparison with acceptance <= 1% at every scale:", smallest_safe(table))
    audit = audit_survival(args.dataset, train_steps=args.train_steps, trials=args.trials)
    print(f"\nthe audit (LossGuard's, every {audit.audit_every.iloc[0]} steps): the proposal taken at a window's first "
          "step, SGD for the rest; share of fixed audit sets of n examples on which the window passes")
    for scale, g in audit.groupby("scale"):
        print(f"output layer x{scale:g}: full loss {g.full_loss_start.iloc[0]:.3f} at the window's start, "
              f"{g.full_loss_end.iloc[0]:.3f} at its end; survives: "
              + ", ".join(f"n={r.n} {r.survives:.4f}" for r in g.itertuples()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
