"""The guard's cost per step, paired: optimizers take turns block by block in one run.

    .venv/bin/python scripts/guard_cost.py versions [--rounds 21] [--steps 20]
    .venv/bin/python scripts/guard_cost.py gl2o [--rounds 21] [--steps 20]
    .venv/bin/python scripts/guard_cost.py readings [--rounds 21] [--steps 20]

``versions``: three versions of LGL2O-SGD that take the same decisions (tests/optim/test_guards.py,
test_candidates.py): "forward", ``optim.reference.ReferenceLGL2O`` (one ``forward`` per candidate, with
the backward cache, and ``isfinite().all(1)``); "eager", the comparison through ``Oracle.losses`` and the
choice by ``candidates.pick``'s PyTorch ops (``native_choice = False``); "native", the guard as it is
(``pick`` in C on CPU). ``gl2o``: GL2O (SGD fallback at 3.0) against LGL2O-SGD as the stages configure it
(z = 2). ``readings``: GL2O against LGL2O-SGD (z = 2) and the paper's rule under each reading of
``experiments.runs.READINGS`` (fresh, same, next). Beside the L2O (native step, untrained LSTM: the weights do not change the cost), on the MNIST
MLP, one seed (``experiments.cost.time_interleaved``); prints each one's median ms per step and the median
and range of the rounds' ratios to the L2O step (``versions``) or each guard's to GL2O's (``gl2o``,
``readings``).
"""
from __future__ import annotations

import argparse
import statistics
import sys


def _versions():
    from lgl2o.optim import candidates
    from lgl2o.optim.guards import LGL2O
    from lgl2o.optim.reference import ReferenceLGL2O

    class EagerChoice(LGL2O):
        native_choice = False

    if not candidates.native_available():
        sys.exit("the native choice cannot be built here (no C compiler?)")
    return {"forward": ReferenceLGL2O, "eager": EagerChoice, "native": LGL2O}, "l2o"


def _gl2o():
    from lgl2o.optim.guards import GL2O, LGL2O

    return {"gl2o": lambda p, f: GL2O(p, lr=f.lr), "lgl2o-sgd": lambda p, f: LGL2O(p, f, z=2.0)}, "gl2o"


def _readings():
    from lgl2o.experiments.runs import READINGS, reading_guard
    from lgl2o.optim.guards import LGL2O

    guards, _ = _gl2o()
    for reading, name in READINGS.items():
        guards[name] = lambda p, f, r=reading: LGL2O(p, f, **reading_guard(r))
    return guards, "gl2o"


COMPARISONS = {"versions": _versions, "gl2o": _gl2o, "readings": _readings}


def main(argv=None) -> int:
    from lgl2o.core.allocator import keep_freed_memory
    from lgl2o.experiments.cost import time_interleaved
    from lgl2o.l2o.backends import make_step
    from lgl2o.l2o.model import LSTMOptimizer
    from lgl2o.l2o.optimizer import L2O
    from lgl2o.optim.baselines import SGD
    from lgl2o.problems.tasks import MLP

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("comparison", choices=list(COMPARISONS))
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    guards, base = COMPARISONS[args.comparison]()
    keep_freed_memory()
    step = make_step(LSTMOptimizer(), "native")
    t = time_interleaved(MLP("mnist"), {"l2o": L2O(step), **{k: g(L2O(step), SGD(3.0)) for k, g in guards.items()}},
                         [0], steps=args.steps, repeats=args.rounds)
    print(f"{args.rounds} rounds of {args.steps} steps; L2O step (native) {statistics.median(t['l2o']):.3f} ms")
    for name in guards:
        if name == base:
            print(f"{name:<10} {statistics.median(t[name]):.3f} ms")
            continue
        ratios = [g / b for g, b in zip(t[name], t[base])]
        print(f"{name:<10} {statistics.median(t[name]):.3f} ms, {statistics.median(ratios):.3f}x {base} "
              f"(rounds: {min(ratios):.3f}-{max(ratios):.3f}), {statistics.median(t[name]) - statistics.median(t[base]):+.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
