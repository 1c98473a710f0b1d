"""The audit of a guard's acceptances, for runs x parameters (``guards.LGL2O(audit_every=...)``; the same
rule as ``torch_guard.LossGuard``'s audit, for one torch model).

A comparison cheap enough for every step is too small to be safe on its own: a proposal catastrophic on a
few examples wins every comparison batch that holds none of them (docs/guard.md). So each acceptance is
checked afterwards. Every run keeps an audit point (its iterate at the last audit) and a fixed audit set
(``size`` examples drawn from the guard's stream at the first step). Every ``every`` steps, a run that took
the proposal at least once since its audit point compares the mean loss on its audit set at the current
iterate with that at the audit point: if it is higher (the plain mean, or non-finite), the run returns to
the audit point and takes the fallback alone for the next ``every * 2**(k-1)`` steps (its k-th failed
audit in a row); otherwise, as for a run that took no proposal step, the current iterate becomes the
audit point. All runs step in lockstep, so the window is one counter; the audit costs forward passes only
where some run took the proposal.
"""
from __future__ import annotations

import math

import torch

from .protocol import where_runs

MAX_DOUBLINGS = 10  # the fallback-only spell after failed audits in a row grows at most 2**10-fold


def init(params: torch.Tensor) -> dict:
    S = params.shape[0]
    return {"anchor": params.clone(), "anchor_loss": torch.full((S,), math.nan, dtype=params.dtype, device=params.device),
            # the audit set, drawn at the first step (a task with exact losses, as the quadratic, draws None)
            "set": torch.zeros((S, 0), dtype=torch.int64, device=params.device), "drawn": torch.zeros((), dtype=torch.bool),
            "window": torch.zeros((), dtype=torch.int64), "taken": torch.zeros(S, dtype=torch.bool, device=params.device),
            "bench": torch.zeros(S, dtype=torch.int64, device=params.device),
            "failures": torch.zeros(S, dtype=torch.int64, device=params.device)}


def benched(state: dict) -> torch.Tensor:
    """(S,) the runs that take the fallback alone at this step (after a failed audit)."""
    return state["bench"] > 0


def end_step(state: dict, new: torch.Tensor, take: torch.Tensor, oracle, every: int, size: int):
    """The audit's part of a step, after the guard's choice: (the iterate (S, P), the audit's state, the
    runs rolled back to their audit point (S,))."""
    st = dict(state)
    if not bool(st["drawn"]):
        st["set"], st["drawn"] = oracle.fresh_batch(size), torch.ones((), dtype=torch.bool)
    st["bench"] = (st["bench"] - 1).clamp(min=0)
    taken = st["taken"] | take
    failed = torch.zeros_like(take)
    window = int(st["window"]) + 1
    if window == every:
        window, loss = 0, torch.full_like(st["anchor_loss"], math.nan)  # unknown at a new point, until needed
        if bool(taken.any()):
            now = oracle.losses((new,), st["set"])[0].mean(1)
            unknown = taken & torch.isnan(st["anchor_loss"])
            before = st["anchor_loss"]
            if bool(unknown.any()):
                before = torch.where(unknown, oracle.losses((st["anchor"],), st["set"])[0].mean(1), before)
            failed = taken & ~(now <= before)  # "not <=": a non-finite audit loss fails too
            passed = taken & ~failed
            new = where_runs(failed, st["anchor"], new)
            failures = torch.where(failed, st["failures"] + 1, torch.where(passed, 0, st["failures"]))
            spell = every * 2 ** (failures - 1).clamp(min=0, max=MAX_DOUBLINGS)
            st["failures"], st["bench"] = failures, torch.where(failed, spell, st["bench"])
            loss = torch.where(failed, before, torch.where(passed, now, loss))
        st["anchor"], st["anchor_loss"] = new.clone(), loss
        taken = torch.zeros_like(taken)
    st["taken"], st["window"] = taken, torch.tensor(window, dtype=torch.int64)
    return new, st, failed
