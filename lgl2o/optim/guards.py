"""The guards: LGL2O (the loss guard of the paper) and GL2O (Heaton et al.'s safeguard).

Both wrap a proposal optimizer (the L2O) and follow the protocol of ``optim.protocol``. Inner states
(a documented choice, docs/design.md): the proposal and the fallback both step from the gradient at the
current iterate, and both inner states (the L2O's LSTM state, Adam's moments) advance every step,
whichever candidate is kept. ``LGL2O(reset_proposal_on_fallback=True)`` instead zeroes the proposal's
state on the runs where its candidate was rejected.
"""
from __future__ import annotations

import math

import torch

from . import audit
from .candidates import pick
from .decision import TESTS, proposal_is_better, refuse_fallback
from .protocol import Guard, check_positive, map_state, where_runs


class LGL2O(Guard):
    """Loss-Guarded L2O: keep whichever candidate has the lower estimated loss.

    Both candidates come from the same gradient at x. Their losses are estimated on ``compare``:
      "fresh": a fresh minibatch of ``compare_batch`` examples from the guard's own stream (common
               random numbers: one batch for both candidates);
      "full":  the whole training set (the exact expected loss, a reference);
      "same":  the minibatch the gradient was computed on;
      "next":  the next step's minibatch; the winner's forward pass is reused by the next gradient,
               so the comparison costs one forward pass net.
    "fresh", "same" and "next" with z = 0 are the three literal readings of the paper's rule (the
    abstract does not say where the expected loss is estimated). The proposal is taken only if it is
    finite, its mean loss is lower, and ``test`` ("mean": a paired test with ``z`` standard errors;
    "sign": a sign test; ``decision.proposal_is_better``) is confident of it. Heavy-tailed differences inflate the mean test's standard error exactly when one candidate is
    catastrophic, so that test can keep a diverging fallback step; the sign test's threshold does not
    depend on the size of the differences.
    Ties go to the fallback. Non-finite candidates (``decision.choose``): a finite candidate beats a
    non-finite one; where both are non-finite the current iterate is kept (``info["kept_current"]``).

    ``audit_every`` (default None: off) checks each acceptance afterwards (``optim.audit``): every
    ``audit_every`` steps a run that took the proposal compares its loss on a fixed audit set of
    ``audit_batch`` examples with that at its last audit point, and returns there if it rose.

    ``max_fallback_increase`` (default None: off) refuses a catastrophic fallback step: when the fallback
    candidate's estimated loss is above (1 + max_fallback_increase) times the current iterate's on the
    same comparison examples (one more forward pass), the proposal is taken wherever its estimate is
    lower, confident or not. Heavy-tailed differences can keep the test from ever being confident exactly
    when the fallback step wrecks a few examples (seen on the conv net of stage 05).
    """

    COMPARE = ("fresh", "full", "same", "next")
    TESTS = TESTS

    # the choice by candidates.pick in C where it can be; False: its PyTorch ops (the same bits), for a
    # subclass that times or tests one against the other
    native_choice = True

    def __init__(self, proposal, fallback, compare: str = "fresh", compare_batch: int | None = None,
                 z: float = 0.0, reset_proposal_on_fallback: bool = False, test: str = "mean",
                 max_fallback_increase: float | None = None, audit_every: int | None = None,
                 audit_batch: int = 1024):
        if compare not in self.COMPARE:
            raise ValueError(f"unknown compare {compare!r}; allowed: {', '.join(self.COMPARE)}")
        if test not in self.TESTS:
            raise ValueError(f"unknown test {test!r}; allowed: {', '.join(self.TESTS)}")
        if test == "sign" and compare == "full":
            raise ValueError("test='sign' needs per-example losses; compare='full' is exact, use test='mean'")
        if compare_batch is not None and compare != "fresh":
            raise ValueError(f"compare_batch applies to compare='fresh' only (got compare={compare!r})")
        if compare_batch is not None:
            check_positive("compare_batch", compare_batch)
        if not (math.isfinite(z) and z >= 0):
            raise ValueError(f"z must be a finite number >= 0, got {z!r}")
        cap = max_fallback_increase
        if cap is not None and not (isinstance(cap, (int, float)) and math.isfinite(cap) and cap >= 0):
            raise ValueError(f"max_fallback_increase must be None or a finite number >= 0, got {cap!r}")
        if audit_every is not None:
            check_positive("audit_every", audit_every)
            if int(audit_every) != audit_every:
                raise ValueError(f"audit_every must be None or a positive integer, got {audit_every!r}")
        check_positive("audit_batch", audit_batch)
        self.proposal, self.fallback = proposal, fallback
        self.compare, self.compare_batch, self.z, self.test = compare, compare_batch, float(z), test
        self.reset = reset_proposal_on_fallback
        self.max_fallback_increase = max_fallback_increase
        self.audit_every = None if audit_every is None else int(audit_every)
        self.audit_batch = int(audit_batch)

    def init(self, params):
        state = {"proposal": self.proposal.init(params), "fallback": self.fallback.init(params)}
        if self.audit_every is not None:
            state["audit"] = audit.init(params)
        return state

    def _audited(self, state, new, take, oracle):
        """(the iterate, the audit's state, the runs rolled back) after the audit's part of the step."""
        return audit.end_step(state["audit"], new, take, oracle, self.audit_every, self.audit_batch)

    def _losses(self, oracle, yp, yf):
        """Per-run (mean proposal loss, mean fallback loss, whether the test is confident the proposal is
        better, the comparison batch (None for compare="full"), the forward passes for compare="next")."""
        if self.compare == "full":
            lp, lf = oracle.full_loss(yp), oracle.full_loss(yf)
            return lp, lf, lp < lf, None, None
        if self.compare == "next":  # keep both forward passes: the next gradient reuses the winner's
            batch = oracle.next_batch()
            (ep, cp), (ef, cf) = oracle.forward(yp, batch), oracle.forward(yf, batch)
            passes = (ep, cp, ef, cf)
        else:
            batch = oracle.batch if self.compare == "same" else oracle.fresh_batch(self.compare_batch)
            (ep, ef), passes = oracle.losses((yp, yf), batch), None
        lp, lf, confident = proposal_is_better(ep, ef, self.test, self.z)
        return lp, lf, confident, batch, passes

    def step(self, params, state, grad, oracle):
        yp, sp, _ = self.proposal.step(params, state["proposal"], grad, oracle)
        yf, sf, _ = self.fallback.step(params, state["fallback"], grad, oracle)
        lp, lf, confident, batch, passes = self._losses(oracle, yp, yf)
        info = {}
        if self.audit_every is not None:  # after a failed audit: the fallback alone
            lp = torch.where(audit.benched(state["audit"]), math.nan, lp)
        if self.max_fallback_increase is not None:  # the current iterate's loss on the same examples
            current = (oracle.full_loss(params) if self.compare == "full"
                       else oracle.losses((params,), batch)[0].mean(1))
            refuse = refuse_fallback(lp, lf, current, confident, self.max_fallback_increase)
            confident = confident | refuse
            info["refused_fallback"] = refuse
        new, take, keep = pick(confident, yp, yf, params, lp, lf, native=self.native_choice)
        out, candidate = {}, ~keep  # the runs whose iterate is a candidate (whose forward pass can be reused)
        if self.audit_every is not None:
            new, out["audit"], info["rolled_back"] = self._audited(state, new, take, oracle)
            candidate = candidate & ~info["rolled_back"]
        if passes is not None:
            ep, cp, ef, cf = passes
            oracle.keep_forward(new, batch, take, (ep, cp), (ef, cf), valid=candidate)
        if self.reset:
            sp = map_state(lambda v: where_runs(take, v, torch.zeros_like(v)) if v.dim() else v, sp)
        return new, {"proposal": sp, "fallback": sf, **out}, {"took_proposal": take, "kept_current": keep,
                                                              "loss_proposal": lp, "loss_fallback": lf, **info}


MU_RULES = ("ema", "geometric", "recent_term", "recent_max")


class GL2O(Guard):
    """Safeguarded L2O (Heaton et al.): accept the proposal y iff lr * ||grad f_B(y)|| < (1 - delta) * mu.

    The fallback is an SGD step with ``lr``; the residual is that of the fixed-point operator
    T(x) = x - lr * grad f(x), ||x - T(x)|| = lr * ||grad f(x)||, on the current minibatch B. mu starts at
    the residual at x0 and changes only when a proposal is accepted, by ``mu_rule``. Non-finite candidates
    as in LGL2O (``decision.choose``): a finite one beats a non-finite one (a proposal whose residual is
    non-finite counts as non-finite); where both are non-finite the current iterate is kept. mu rules:
      "ema":         mu <- theta * r(y) + (1 - theta) * mu          (default, theta = 0.1)
      "geometric":   mu <- (1 - delta) * mu
      "recent_term": mu <- r(y)
      "recent_max":  mu <- max of the last ``window`` accepted residuals (mu0 fills the window)
    """

    # the choice by candidates.pick in C where it can be; False: its PyTorch ops (the same bits), for a
    # subclass that times or tests one against the other
    native_choice = True

    def __init__(self, proposal, lr: float, delta: float = 0.1, theta: float = 0.1,
                 mu_rule: str = "ema", window: int = 10):
        check_positive("lr", lr)
        if not 0 < delta < 1:
            raise ValueError(f"delta must be in (0, 1), got {delta!r}")
        if not 0 < theta <= 1:
            raise ValueError(f"theta must be in (0, 1], got {theta!r}")
        if mu_rule not in MU_RULES:
            raise ValueError(f"unknown mu_rule {mu_rule!r}; allowed: {', '.join(MU_RULES)}")
        if int(window) < 1:
            raise ValueError(f"window must be a positive integer, got {window!r}")
        self.proposal, self.lr, self.delta, self.theta = proposal, float(lr), float(delta), float(theta)
        self.mu_rule, self.window = mu_rule, int(window)

    def init(self, params):
        S = params.shape[0]
        nan = torch.full((S,), float("nan"), dtype=params.dtype, device=params.device)
        return {"proposal": self.proposal.init(params), "mu": nan,
                "history": torch.full((S, self.window), float("nan"), dtype=params.dtype, device=params.device)}

    def update_mu(self, mu, history, r, accept):
        """The mu rule applied where ``accept``; returns (mu, history)."""
        if self.mu_rule == "ema":
            new = self.theta * r + (1 - self.theta) * mu
        elif self.mu_rule == "geometric":
            new = (1 - self.delta) * mu
        elif self.mu_rule == "recent_term":
            new = r
        else:
            rolled = torch.cat((history[:, 1:], r.unsqueeze(1)), dim=1)
            history = where_runs(accept, rolled, history)
            new = history.max(1).values
        return torch.where(accept, new, mu), history

    def step(self, params, state, grad, oracle):
        mu, history = state["mu"], state["history"]
        # mu0 = the residual at x0, on the runs at their first step (no host-side branch: capturable)
        first = torch.isnan(mu)
        r0 = self.lr * grad.norm(dim=1)
        mu = torch.where(first, r0, mu)
        history = where_runs(first, r0.unsqueeze(1).expand_as(history), history)
        y, sp, _ = self.proposal.step(params, state["proposal"], grad, oracle)
        _, gy = oracle.grad(y)
        r = self.lr * gy.norm(dim=1)
        fallback = params - self.lr * grad
        new, accept, keep = pick(r < (1 - self.delta) * mu, y, fallback, params, proposal_est=r,
                                 native=self.native_choice)
        mu, history = self.update_mu(mu, history, r, accept)
        return new, {"proposal": sp, "mu": mu, "history": history}, {"took_proposal": accept, "kept_current": keep,
                                                                     "residual": r, "mu": mu}
