"""The loss guard as a ``torch.optim.Optimizer``, for ordinary PyTorch training loops.

    guard = LossGuard(model.parameters(), proposal=L2OTorch(model.parameters(), load_l2o()),
                      fallback=torch.optim.SGD(model.parameters(), lr=0.1))
    xa, ya = audit_set                                  # >= 1024 training examples, fixed for the run
    for (x, y), (xc, yc) in zip(train_batches, comparison_batches):   # comparison batches: ~half as large
        def closure():              # as for L-BFGS: zero the grads, compute the loss, backward
            guard.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            return loss
        guard.step(closure, compare=lambda: F.cross_entropy(model(xc), yc, reduction="none"),
                   audit=lambda: F.cross_entropy(model(xa), ya, reduction="none"))

Each step: one gradient at the current parameters (``closure``); the proposal optimizer and the fallback
optimizer both step from it (both states advance, as in ``lgl2o.optim.guards.LGL2O``); ``compare`` (no
backward; called with the parameters set to each candidate in turn, so it must use the same examples on
every call of a step) gives each candidate's per-example losses on a comparison batch drawn apart from
the gradient's. The proposal is kept if the paired test of ``optim.decision`` (the guard of the stages:
``test="mean"``, ``z=2``) is confident that its mean loss is lower.

Why a small comparison is not safe on its own (``python -m lgl2o.experiments.guard_safety``, docs/guard.md):
a proposal that is much worse in expectation but better on most examples (e.g. an overconfident
classifier, catastrophic on the 2% it misclassifies) wins every comparison batch that holds none of the
bad examples, whatever the test; that happens with probability about (1 - f)^n for n comparison examples.
Without an audit, ``min_examples`` (default 1024, the size the study found safe) refuses smaller
comparisons, at 5-16x the price of a plain step (docs/performance.md); lower it knowingly.
A training set smaller than that is compared whole: ``whole_set=True`` says that ``compare`` returns every
training example's loss, so the comparison is exact (no batch can miss the bad examples) and
``min_examples`` does not apply.

The audit: a comparison cheap enough for every step is too small to be safe on its own, so with ``audit``
(``guard.step(closure, compare, audit)``: the per-example losses on a fixed audit set of at least
``min_examples`` examples, e.g. held-out training examples) the per-step ``compare`` may be small and each
acceptance is checked afterwards. Every ``audit_every`` steps in which the proposal was taken at least
once, the guard compares the audit loss of the current parameters with that of the parameters at the
previous audit point; if it is higher (the plain mean: a catastrophe on a few examples raises it however
heavy-tailed the differences), the parameters return to that point and the next
``audit_every * 2**(k-1)`` steps take the fallback alone, for the k-th failed audit in a row. So an
acceptance that a small comparison got wrong costs at most one window of progress, never the run. What
holds: at every audit point after a window with proposal steps, the audit loss is no higher than at the
previous one; with exact comparisons (``whole_set``, the audit the whole training set) each step keeps the
candidate of lower loss, the convex-case argument of the paper's rule. Windows without a proposal step
cost no audit, so late in training, where the fallback wins most steps, the audit is nearly free.

Non-finite candidates (``decision.choose``): a finite candidate beats a non-finite one; when both are
non-finite the parameters stay where they were (``guard.kept_current``), so the guard never makes them
non-finite. ``guard.took_proposal``, ``guard.losses`` and ``guard.proposal_share`` are the telemetry.

Never silent: a closure that leaves no parameter with a gradient (no ``backward()``) is an error; a
non-finite closure loss skips the step (no optimizer steps, the parameters stay) and is counted
(``guard.skipped_steps``); a non-finite fallback candidate, on which the convergence argument does not hold
for that step, is counted (``guard.nonfinite_fallback``). Each warns the first time it happens.

The guard's ``param_groups`` are the fallback's: a learning-rate scheduler built on the guard schedules
the fallback (the proposal has no learning rate). ``state_dict`` holds both inner optimizers' states and
the guard's counters, so a run resumed from it continues exactly.
"""
from __future__ import annotations

import math
import warnings

import torch

from .decision import TESTS, choose, proposal_is_better, refuse_fallback

MIN_EXAMPLES = 1024  # docs/guard.md: the comparison size that never took the overconfident proposal
AUDIT_EVERY = 32  # steps between audits (docs/guard.md: its price and what it catches)
MAX_BENCH_DOUBLINGS = 10  # the fallback-only spell after failed audits in a row grows at most 2**10-fold


def _check_optimizer(name: str, opt) -> None:
    if isinstance(opt, torch.optim.Optimizer):
        return
    if isinstance(opt, tuple):
        hint = " (lgl2o.l2o.checkpoint.load returns (net, meta): use lgl2o.load_l2o() for the network)"
    elif isinstance(opt, torch.nn.Module):
        hint = (" (an L2O network steps parameters through an optimizer: "
                "lgl2o.L2OTorch(model.parameters(), net))")
    else:
        hint = ""
    raise TypeError(f"LossGuard's {name} must be a torch.optim.Optimizer over the guard's parameters, "
                    f"got {type(opt).__name__}{hint}")


def _finite(tensors) -> torch.Tensor:
    """Whether every element of ``tensors`` is finite: their minima and maxima are (NaN propagates to
    both, an infinity reaches one); one reduction pass each, ~20x faster on CPU than ``isfinite().all()``."""
    extremes = [m for t in tensors if t.numel() for m in torch.aminmax(t.detach())]
    return torch.stack(extremes).isfinite().all() if extremes else torch.ones((), dtype=torch.bool)


class LossGuard(torch.optim.Optimizer):
    """Keep the ``proposal`` optimizer's step where a comparison shows it better than the ``fallback``'s.

    ``test`` and ``z``: the decision rule of ``optim.decision.proposal_is_better`` ("mean": a paired test
    that the proposal's mean loss is lower by ``z`` standard errors; "sign": a sign test); ``z=0`` is the
    plain comparison, the only one a scalar ``compare`` allows. ``max_fallback_increase``: refuse a
    fallback step whose comparison loss exceeds (1 + it) times the current parameters' (one more
    ``compare`` call). ``min_examples``: the fewest per-example losses a comparison may have, unless
    ``whole_set`` (``compare`` gives the loss of every training example: exact, for a small training set);
    with an ``audit`` (the module's docstring) it applies to the audit set instead, and ``compare`` may be
    small. ``audit_every``: the steps between audits.
    """

    TESTS = TESTS

    def __init__(self, params, proposal: torch.optim.Optimizer, fallback: torch.optim.Optimizer, *,
                 test: str = "mean", z: float = 2.0, min_examples: int = MIN_EXAMPLES, whole_set: bool = False,
                 max_fallback_increase: float | None = None, audit_every: int = AUDIT_EVERY):
        _check_optimizer("proposal", proposal)
        _check_optimizer("fallback", fallback)
        if test not in self.TESTS:
            raise ValueError(f"unknown test {test!r}; allowed: {', '.join(self.TESTS)}")
        if not (isinstance(z, (int, float)) and math.isfinite(z) and z >= 0):
            raise ValueError(f"z must be a finite number >= 0, got {z!r}")
        if not (isinstance(min_examples, int) and min_examples >= 0):
            raise ValueError(f"min_examples must be an integer >= 0, got {min_examples!r}")
        if not (isinstance(audit_every, int) and audit_every >= 1):
            raise ValueError(f"audit_every must be an integer >= 1, got {audit_every!r}")
        cap = max_fallback_increase
        if cap is not None and not (isinstance(cap, (int, float)) and math.isfinite(cap) and cap >= 0):
            raise ValueError(f"max_fallback_increase must be None or a finite number >= 0, got {cap!r}")
        self._ready = False
        super().__init__(params, {})
        mine = {id(p) for g in self.param_groups for p in g["params"]}
        for name, opt in (("proposal", proposal), ("fallback", fallback)):
            theirs = {id(p) for g in opt.param_groups for p in g["params"]}
            if theirs != mine:
                raise ValueError(f"the {name} optimizer must optimize exactly the guard's parameters")
        self._params = [p for g in self.param_groups for p in g["params"]]
        self.param_groups = fallback.param_groups  # schedulers set the fallback's lr
        self.proposal, self.fallback = proposal, fallback
        self.test, self.z, self.min_examples, self.max_fallback_increase = test, float(z), min_examples, cap
        self.whole_set, self.audit_every = bool(whole_set), audit_every
        self.took_proposal: bool | None = None
        self.kept_current: bool | None = None
        self.refused_fallback: bool | None = None
        self.losses: tuple[float, float] | None = None
        self.steps = self.proposals_taken = 0
        self.skipped_steps = self.nonfinite_fallback = 0  # never silent: see the module's docstring
        self.audits = self.rollbacks = 0
        # the audit's window: the parameters at the last audit point (and their audit losses, once known),
        # the steps since then and those that took the proposal, the fallback-only steps still owed and
        # the failed audits in a row
        self._anchor: list[torch.Tensor] | None = None
        self._anchor_losses: torch.Tensor | None = None
        self._window = self._window_taken = self._bench = self._failures = 0
        self._ready = True

    def add_param_group(self, param_group: dict) -> None:
        if getattr(self, "_ready", False):
            raise NotImplementedError("LossGuard cannot grow: add the group to the proposal and the fallback "
                                      "optimizers and build a new LossGuard over all the parameters")
        super().add_param_group(param_group)

    @property
    def proposal_share(self) -> float:
        """The share of steps so far on which the proposal was kept."""
        return self.proposals_taken / self.steps if self.steps else math.nan

    def _measure(self, compare, minimum: int, what: str = "compare") -> torch.Tensor:
        e = compare()
        e = e.detach() if isinstance(e, torch.Tensor) else torch.as_tensor(e)
        if e.numel() == 1:
            if self.z > 0 or self.test != "mean" or minimum > 1:
                raise ValueError(
                    f"{what} returned a scalar loss, but test={self.test!r}, z={self.z:g} and min_examples="
                    f"{minimum} need per-example losses: return e.g. loss_fn(out, y, reduction='none'), "
                    "or pass test='mean', z=0, min_examples=0 for the plain comparison of two scalars")
            return e.reshape(1, 1).double()
        e = e.reshape(1, -1)
        if e.shape[1] < minimum and not self.whole_set:
            raise ValueError(
                f"{what} gave {e.shape[1]} per-example losses, fewer than min_examples={self.min_examples}: a "
                "small comparison takes a proposal that is catastrophic on a few examples whatever the test "
                "(docs/guard.md); use a larger comparison batch, or check small comparisons afterwards with an "
                "audit set of that size (guard.step(closure, compare, audit)), or, if the training set is "
                "smaller than that, compare on all of it with whole_set=True (exact), or lower min_examples "
                "knowingly")
        return e.double()

    def _set(self, values) -> None:
        torch._foreach_copy_(self._params, values)

    @torch.no_grad()
    def step(self, closure, compare=None, audit=None):
        if closure is None:
            raise ValueError("LossGuard.step needs a closure that computes the loss and calls backward()")
        if compare is None:
            raise ValueError("LossGuard.step needs compare: a function giving the per-example losses of the "
                             "current parameters on a comparison batch drawn apart from the gradient's "
                             "(the gradient's own batch favours the proposal that fits it)")
        params = self._params
        with torch.enable_grad():
            loss = closure()
        if all(p.grad is None for p in params):
            raise RuntimeError("LossGuard.step: no parameter has a gradient after closure(); the closure must "
                               "call loss.backward() (after guard.zero_grad())")
        if loss is not None and not bool(torch.isfinite(torch.as_tensor(loss)).all()):
            if not self.skipped_steps:
                warnings.warn(f"LossGuard: the closure's loss is {float(loss)} at step {self.steps + 1}: the step "
                              "is skipped (parameters and both optimizers unchanged), as every such step will be; "
                              "guard.skipped_steps counts them", RuntimeWarning, stacklevel=4)  # past torch.optim's step wrappers
            self.skipped_steps += 1
            return loss
        if audit is not None and self._anchor is None:
            self._anchor = [p.detach().clone() for p in params]
        benched = audit is not None and self._bench > 0  # after a failed audit: the fallback alone
        minimum = 1 if audit is not None else self.min_examples
        current = None
        if self.max_fallback_increase is not None and not benched:
            current = self._measure(compare, minimum).mean(1)
        x0 = [p.detach().clone() for p in params]
        g0 = [None if p.grad is None else p.grad.clone() for p in params]  # the optimizers may change them
        self.proposal.step()
        y_prop = [p.detach().clone() for p in params]
        ep = None if benched else self._measure(compare, minimum)
        self._set(x0)
        for p, g in zip(params, g0):
            p.grad = g
        self.fallback.step()
        if benched:
            self._bench -= 1
            lp = lf = torch.full((1,), math.nan, dtype=torch.float64)
            confident = refused = torch.zeros(1, dtype=torch.bool)
            fallback_ok, proposal_ok = _finite(params), torch.zeros((), dtype=torch.bool)
        else:
            ef = self._measure(compare, minimum)
            if ep.shape != ef.shape:
                raise ValueError(f"compare gave {ep.shape[1]} losses for the proposal and {ef.shape[1]} for the "
                                 "fallback: it must evaluate the same examples on every call of a step")
            lp, lf, confident = proposal_is_better(ep, ef, self.test, self.z)
            refused = torch.zeros_like(confident)
            if current is not None:
                refused = refuse_fallback(lp, lf, current, confident, self.max_fallback_increase)
                confident = confident | refused
            fallback_ok, proposal_ok = torch.isfinite(lf) & _finite(params), torch.isfinite(lp) & _finite(y_prop)
        if not fallback_ok:
            if not self.nonfinite_fallback:
                warnings.warn(f"LossGuard: the fallback's candidate is non-finite at step {self.steps + 1} (loss "
                              f"{float(lf)}): the convergence guarantee does not hold for this step, nor for any "
                              "such step; guard.nonfinite_fallback counts them (a bad learning rate?)",
                              RuntimeWarning, stacklevel=4)  # past torch.optim's step wrappers
            self.nonfinite_fallback += 1
        take, keep = choose(confident, proposal_ok, fallback_ok)
        self.took_proposal, self.kept_current = bool(take), bool(keep)
        self.refused_fallback = bool(refused)
        if self.took_proposal:
            self._set(y_prop)
        elif self.kept_current:
            self._set(x0)
        self.losses = (float(lp), float(lf))
        self.steps += 1
        self.proposals_taken += self.took_proposal
        if audit is not None:
            self._window += 1
            self._window_taken += self.took_proposal
            if self._window >= self.audit_every:
                self._end_window(audit)
        return loss

    def _end_window(self, audit) -> None:
        """Audit the window if it took the proposal (the module's docstring); otherwise, or if the audit
        passes, the current parameters become the audit point; if it fails, they return to it."""
        params = self._params
        if self._window_taken:
            now = self._measure(audit, self.min_examples, "audit")
            if self._anchor_losses is None:  # the audit point's losses, unknown after a window without audit
                here = [p.detach().clone() for p in params]
                self._set(self._anchor)
                self._anchor_losses = self._measure(audit, self.min_examples, "audit")
                self._set(here)
            if now.shape != self._anchor_losses.shape:
                raise ValueError(f"audit gave {now.shape[1]} losses now and {self._anchor_losses.shape[1]} at the last "
                                 "audit point: it must evaluate the same examples on every call (a fixed audit set)")
            self.audits += 1
            if not now.mean() <= self._anchor_losses.mean():  # "not <=": a non-finite audit loss fails too
                self._set(self._anchor)
                self.rollbacks += 1
                self._failures += 1
                self._bench = self.audit_every * 2 ** min(self._failures - 1, MAX_BENCH_DOUBLINGS)
                self._window = self._window_taken = 0
                return
            self._failures, self._anchor_losses = 0, now
        else:
            self._anchor_losses = None
        self._anchor = [p.detach().clone() for p in params]
        self._window = self._window_taken = 0

    def state_dict(self) -> dict:
        return {"proposal": self.proposal.state_dict(), "fallback": self.fallback.state_dict(),
                "guard": {"steps": self.steps, "proposals_taken": self.proposals_taken,
                          "skipped_steps": self.skipped_steps, "nonfinite_fallback": self.nonfinite_fallback,
                          "audits": self.audits, "rollbacks": self.rollbacks},
                "audit": {"anchor": None if self._anchor is None else [a.clone() for a in self._anchor],
                          "anchor_losses": self._anchor_losses, "window": self._window,
                          "window_taken": self._window_taken, "bench": self._bench, "failures": self._failures}}

    def load_state_dict(self, state_dict: dict) -> None:
        missing = {"proposal", "fallback", "guard"} - set(state_dict)
        if missing:
            raise ValueError(f"not a LossGuard state_dict: it lacks {', '.join(sorted(missing))}")
        self.proposal.load_state_dict(state_dict["proposal"])
        self.fallback.load_state_dict(state_dict["fallback"])
        self.param_groups = self.fallback.param_groups
        self.steps = int(state_dict["guard"]["steps"])
        self.proposals_taken = int(state_dict["guard"]["proposals_taken"])
        self.skipped_steps = int(state_dict["guard"].get("skipped_steps", 0))  # absent from older state_dicts
        self.nonfinite_fallback = int(state_dict["guard"].get("nonfinite_fallback", 0))
        self.audits = int(state_dict["guard"].get("audits", 0))
        self.rollbacks = int(state_dict["guard"].get("rollbacks", 0))
        audit = state_dict.get("audit") or {}
        anchor = audit.get("anchor")
        self._anchor = None if anchor is None else [a.clone().to(p.device) for a, p in zip(anchor, self._params)]
        self._anchor_losses = audit.get("anchor_losses")
        self._window, self._window_taken = int(audit.get("window", 0)), int(audit.get("window_taken", 0))
        self._bench, self._failures = int(audit.get("bench", 0)), int(audit.get("failures", 0))
