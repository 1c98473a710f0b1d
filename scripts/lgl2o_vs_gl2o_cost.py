"""LGL2O-SGD's step against GL2O's, paired: the two guards as the stages configure them take turns.

    .venv/bin/python scripts/lgl2o_vs_gl2o_cost.py [--rounds 21] [--steps 20]

The L2O (native step, untrained LSTM: the weights do not change the cost), GL2O (SGD fallback at 3.0) and
LGL2O-SGD (z = 2) step the MNIST MLP, one seed, block by block (``experiments.cost.time_interleaved``);
prints each one's median ms per step and LGL2O-SGD's time over GL2O's (median and range of the rounds).
"""
from __future__ import annotations

import argparse
import statistics
import sys


def main(argv=None) -> int:
    from lgl2o.core.allocator import keep_freed_memory
    from lgl2o.experiments.cost import time_interleaved
    from lgl2o.l2o.backends import make_step
    from lgl2o.l2o.model import LSTMOptimizer
    from lgl2o.l2o.optimizer import L2O
    from lgl2o.optim.baselines import SGD
    from lgl2o.optim.guards import GL2O, LGL2O
    from lgl2o.problems.tasks import MLP

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    keep_freed_memory()
    step = make_step(LSTMOptimizer(), "native")
    t = time_interleaved(MLP("mnist"), {"l2o": L2O(step), "gl2o": GL2O(L2O(step), lr=3.0),
                                        "lgl2o-sgd": LGL2O(L2O(step), SGD(3.0), z=2.0)}, [0], args.steps, args.rounds)
    for name, ms in t.items():
        print(f"{name:<10} {statistics.median(ms):.3f} ms per step")
    ratios = [a / b for a, b in zip(t["lgl2o-sgd"], t["gl2o"])]
    print(f"LGL2O-SGD / GL2O: {statistics.median(ratios):.3f} (rounds: {min(ratios):.3f}-{max(ratios):.3f}), "
          f"{args.rounds} rounds of {args.steps} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
