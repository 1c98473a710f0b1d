"""The guard's fixed cost with each of its past implementations, in one run.

    .venv/bin/python scripts/guard_cost_before_after.py [--rounds 15] [--steps 20]

Three versions of LGL2O-SGD that take the same decisions (tests/optim/test_guards.py, test_candidates.py):
"forward": ``ForwardLGL2O`` of ``tests/optim/test_guards.py`` (one ``forward`` per candidate, with the
backward cache, and ``isfinite().all(1)``); "eager": the comparison through ``Oracle.losses``, the choice
by ``candidates.pick``'s PyTorch ops; "native": the guard as it is (``pick`` in C on CPU). The L2O (native
step, untrained LSTM: the weights do not change the cost) and the three take turns block by block
(``experiments.cost.time_interleaved``) on the MNIST MLP, one seed; prints each one's median ms per step
and the median of the rounds' ratios to the L2O step.
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
    from lgl2o.optim import candidates
    from lgl2o.optim.baselines import SGD
    from lgl2o.optim.guards import LGL2O
    from lgl2o.problems.tasks import MLP

    class EagerChoice(LGL2O):
        def step(self, *args):
            native, candidates._native = candidates._native, lambda: None
            try:
                return super().step(*args)
            finally:
                candidates._native = native

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args(argv)
    keep_freed_memory()
    if not candidates.native_available():
        ap.error("the native choice cannot be built here (no C compiler?)")
    step = make_step(LSTMOptimizer(), "native")
    versions = {"forward": ForwardLGL2O, "eager": EagerChoice, "native": LGL2O}
    t = time_interleaved(MLP("mnist"), {"l2o": L2O(step), **{k: v(L2O(step), SGD(3.0)) for k, v in versions.items()}},
                         [0], args.steps, args.rounds)
    l2o = statistics.median(t["l2o"])
    print(f"L2O step (native) {l2o:.3f} ms; {args.rounds} rounds of {args.steps} steps")
    for name in versions:
        ms = statistics.median(t[name])
        ratio = statistics.median(g / a for g, a in zip(t[name], t["l2o"]))
        print(f"LGL2O-SGD {name:<7} {ms:.3f} ms, {ratio:.2f}x the L2O step, +{ms - l2o:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
