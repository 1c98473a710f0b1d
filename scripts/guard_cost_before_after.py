"""The guard's fixed cost before and after its comparison moved to ``Oracle.losses``, in one run.

    .venv/bin/python scripts/guard_cost_before_after.py [--rounds 15] [--steps 20]

"Before" is ``ForwardLGL2O`` of ``tests/optim/test_guards.py`` (one ``forward`` per candidate, with the
backward cache, and ``isfinite().all(1)``), the reference that the guard's decisions are tested against.
The L2O (native step, untrained LSTM: the weights do not change the cost), the guard before and the guard
after take turns block by block (``experiments.cost.time_interleaved``) on the MNIST MLP, one seed;
prints each one's median ms per step and the median of the rounds' ratios to the L2O step.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "optim"))


def main(argv=None) -> int:
    from test_guards import ForwardLGL2O

    from lgl2o.core.allocator import keep_freed_memory
    from lgl2o.experiments.cost import time_interleaved
    from lgl2o.l2o.backends import make_step
    from lgl2o.l2o.model import LSTMOptimizer
    from lgl2o.l2o.optimizer import L2O
    from lgl2o.optim.baselines import SGD
    from lgl2o.optim.guards import LGL2O
    from lgl2o.problems.tasks import MLP

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    keep_freed_memory()
    step = make_step(LSTMOptimizer(), "native")
    t = time_interleaved(MLP("mnist"), {"l2o": L2O(step), "before": ForwardLGL2O(L2O(step), SGD(3.0)),
                                        "after": LGL2O(L2O(step), SGD(3.0))}, [0], args.steps, args.rounds)
    l2o = statistics.median(t["l2o"])
    print(f"L2O step (native) {l2o:.3f} ms; {args.rounds} rounds of {args.steps} steps")
    for name in ("before", "after"):
        ms = statistics.median(t[name])
        ratio = statistics.median(g / a for g, a in zip(t[name], t["l2o"]))
        print(f"LGL2O-SGD {name:<6} {ms:.3f} ms, {ratio:.2f}x the L2O step, +{ms - l2o:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
