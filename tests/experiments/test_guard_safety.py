"""The guard-safety study: a proposal catastrophic on a few examples against the comparison size."""
import math

import pandas as pd

from lgl2o.experiments.guard_safety import acceptance, audit_survival, smallest_safe


def test_a_small_comparison_takes_the_overconfident_proposal_and_a_large_one_does_not(data_root):
    t = acceptance(train_steps=300, scales=(10.0,), sizes=(16, 1024), trials=400)
    row = t.iloc[0]
    assert row.full_loss_proposal > 2 * row.full_loss_fallback  # much worse in expectation
    assert 0.01 < row.worse_fraction < 0.5  # but only on a small share of the examples
    small, large = t[t.n == 16].set_index("test"), t[t.n == 1024].set_index("test")
    assert small.accepted["plain"] > 0.2 and (large.accepted == 0).all()
    # a batch without a bad example prefers the proposal: the plain comparison's rate is about (1 - f)^n
    assert abs(small.accepted["plain"] - small.no_bad_example["plain"]) < 0.1


def test_smallest_safe_reads_the_worst_scale_and_says_when_no_size_is_safe():
    t = pd.DataFrame([{"test": "plain", "scale": s, "n": n, "accepted": a}
                      for s, n, a in ((1, 64, 0.0), (2, 64, 0.2), (1, 256, 0.0), (2, 256, 0.005))]
                     + [{"test": "sign", "scale": 1, "n": 64, "accepted": 0.5}])
    assert smallest_safe(t) == {"plain": 256, "sign": math.inf}


def test_the_audit_keeps_no_overconfident_acceptance_that_a_small_comparison_lets_through(data_root):
    t = audit_survival(train_steps=300, scales=(10.0,), sizes=(64, 1024), trials=200)
    assert list(t.n) == [64, 1024] and (t.audit_every == 16).all()
    row = t.iloc[-1]
    # the window that took the proposal ends far above where it started, whatever SGD did after it
    assert row.full_loss_end > 1.5 * row.full_loss_start
    assert row.survives == 0.0  # no audit set of 1024 examples lets it pass
