"""The loss guard's decision rule: is the proposal's candidate confidently better than the fallback's?

One implementation, used by ``guards.LGL2O`` (runs x parameters) and ``torch_guard.LossGuard`` (a torch
model: one run), on the per-example losses of both candidates on the same comparison examples (common
random numbers); ``choose`` then applies the rule for non-finite candidates shared by every guard.
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


def refuse_fallback(lp, lf, current, confident, max_increase: float):
    """Where the fallback candidate's loss is above (1 + ``max_increase``) times the current iterate's on
    the same examples and the proposal's is lower, refuse the fallback step (take the proposal, confident
    or not). Written as "not <=" so that a non-finite fallback loss counts as catastrophic."""
    return ~(lf <= (1 + max_increase) * current) & (lp < lf) & ~confident


def choose(confident, proposal_ok, fallback_ok):
    """(take the proposal, keep the current iterate) per run, from whether the test is ``confident`` that
    the proposal is better and whether each candidate is finite (its parameters and its estimated loss):
    a finite candidate beats a non-finite one; of two finite candidates the proposal is taken only where
    the test is confident; where both are non-finite neither is taken and the current iterate is kept, so
    that a run never turns non-finite through the guard."""
    take = proposal_ok & (confident | ~fallback_ok)
    return take, ~proposal_ok & ~fallback_ok
