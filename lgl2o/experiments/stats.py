"""Summary statistics over seeds."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and a Student-t confidence interval over seeds (a single seed gives an interval of width 0).

    Non-finite values make the mean non-finite; callers count diverged seeds separately.
    """
    v = np.asarray(values, dtype=float)
    m = float(v.mean())
    if len(v) < 2 or not np.isfinite(v).all():
        return m, m, m
    half = float(stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / math.sqrt(len(v)))
    return m, m - half, m + half
