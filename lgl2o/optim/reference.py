"""LGL2O written plainly: the definition that the fast guard (``guards.LGL2O``) must match bit for bit.

As facebookresearch/schedule_free keeps a ``*_reference.py`` beside each optimized optimizer: this is the
version to read, and to change first; the fast one is then brought level with it and tested against it
(``tests/optim/test_guards.py``, every comparison setting; ``scripts/guard_cost.py versions`` times both).
Here each candidate's loss is one ``Oracle.forward`` (with its backward cache), finiteness is
``isfinite().all(1)``, and the choice is ``decision.choose`` with ``where``; the fast guard gets both losses
from one gather (``Oracle.losses``) and makes the choice in one C pass (``candidates.pick``).
``reset_proposal_on_fallback`` is not part of the definition; the audit (``audit_every``) is the same code
in both (``optim.audit``), applied after the choice.
"""
from __future__ import annotations

import math

import torch

from . import audit, decision
from .guards import LGL2O
from .protocol import where_runs


class ReferenceLGL2O(LGL2O):
    """``LGL2O`` with the same settings and decisions, computed the plain way."""

    def _losses(self, oracle, yp, yf):
        if self.compare == "full":
            lp, lf = oracle.full_loss(yp), oracle.full_loss(yf)
            return lp, lf, lp < lf, None
        if self.compare == "same":
            batch = oracle.batch
        elif self.compare == "next":
            batch = oracle.next_batch()
        else:
            batch = oracle.fresh_batch(self.compare_batch)
        (ep, cp), (ef, cf) = oracle.forward(yp, batch), oracle.forward(yf, batch)
        lp, lf, confident = decision.proposal_is_better(ep, ef, self.test, self.z)
        return lp, lf, confident, (batch, ep, cp, ef, cf)

    def step(self, params, state, grad, oracle):
        yp, sp, _ = self.proposal.step(params, state["proposal"], grad, oracle)
        yf, sf, _ = self.fallback.step(params, state["fallback"], grad, oracle)
        lp, lf, confident, fwd = self._losses(oracle, yp, yf)
        if self.audit_every is not None:  # after a failed audit: the fallback alone
            lp = torch.where(audit.benched(state["audit"]), math.nan, lp)
        if self.max_fallback_increase is not None:
            current = oracle.full_loss(params) if fwd is None else oracle.forward(params, fwd[0])[0].mean(1)
            confident = confident | decision.refuse_fallback(lp, lf, current, confident, self.max_fallback_increase)
        take, keep = decision.choose(confident, torch.isfinite(lp) & torch.isfinite(yp).all(1),
                                     torch.isfinite(lf) & torch.isfinite(yf).all(1))
        new = where_runs(take, yp, where_runs(keep, params, yf))
        out, info, candidate = {}, {}, ~keep
        if self.audit_every is not None:
            new, out["audit"], info["rolled_back"] = self._audited(state, new, take, oracle)
            candidate = candidate & ~info["rolled_back"]
        if fwd is not None and self.compare == "next":
            batch, ep, cp, ef, cf = fwd
            oracle.keep_forward(new, batch, take, (ep, cp), (ef, cf), valid=candidate)
        return new, {"proposal": sp, "fallback": sf, **out}, {"took_proposal": take, "kept_current": keep,
                                                              "loss_proposal": lp, "loss_fallback": lf, **info}
