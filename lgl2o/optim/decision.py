"""The loss guard's decision rule: is the proposal's candidate confidently better than the fallback's?

One implementation, used by ``guards.LGL2O`` (and to be shared by the library guard), on the per-example
losses of both candidates on the same comparison examples (common random numbers).
"""
from __future__ import annotations

import math

import torch

TESTS = ("mean", "sign")


def proposal_is_better(ep: torch.Tensor, ef: torch.Tensor, test: str = "mean", z: float = 0.0):
    """(mean proposal loss (S,), mean fallback loss (S,), whether ``test`` is confident that the proposal
    is better (S,)) from per-example losses ``ep``, ``ef`` of shape (S, n):

      "mean": the mean is lower by more than ``z`` standard errors of the per-example differences (a paired
              test; z = 0 is the plain comparison);
      "sign": the proposal is better on more than 1/2 + z / (2 sqrt(n)) of the n examples (a sign test,
              normal approximation), and its mean is lower.
    """
    n, lp, lf = ep.shape[1], ep.mean(1), ef.mean(1)
    if test == "sign":
        wins = (ep < ef).sum(1)  # counts, so the threshold is exact
        confident = (lp < lf) & (wins > 0.5 * n + 0.5 * z * math.sqrt(n))
    elif z > 0 and n > 1:
        confident = lp - lf < -z * (ep - ef).std(1) / math.sqrt(n)
    else:
        confident = lp < lf
    return lp, lf, confident
