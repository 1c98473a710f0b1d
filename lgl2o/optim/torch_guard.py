"""The loss guard as a ``torch.optim.Optimizer``, for ordinary PyTorch training loops.

    guard = LossGuard(model.parameters(), proposal=L2OTorch(model.parameters(), net),
                      fallback=torch.optim.SGD(model.parameters(), lr=0.1))
    def closure():                  # as for L-BFGS: zero the grads, compute the loss, backward
        guard.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss
    guard.step(closure, compare=lambda: loss_fn(model(x_fresh), y_fresh))

Each step: one gradient at the current parameters (``closure``); the proposal optimizer and the
fallback optimizer both step from it (both states advance, as in ``lgl2o.optim.guards.LGL2O``); the loss
of each candidate is measured by ``compare`` (no backward; default: ``closure`` itself, i.e. the same
batch); the proposal is kept only if its loss is finite and strictly lower. ``guard.took_proposal``
and ``guard.losses`` say what happened at the last step.
"""
from __future__ import annotations

import math

import torch


class LossGuard(torch.optim.Optimizer):
    def __init__(self, params, proposal: torch.optim.Optimizer, fallback: torch.optim.Optimizer):
        super().__init__(params, {})
        mine = {id(p) for g in self.param_groups for p in g["params"]}
        for name, opt in (("proposal", proposal), ("fallback", fallback)):
            theirs = {id(p) for g in opt.param_groups for p in g["params"]}
            if theirs != mine:
                raise ValueError(f"the {name} optimizer must optimize exactly the guard's parameters")
        self.proposal, self.fallback = proposal, fallback
        self.took_proposal: bool | None = None
        self.losses: tuple[float, float] | None = None

    @staticmethod
    def _measure(closure, compare) -> float:
        if compare is None:  # the closure itself calls backward(), so it needs autograd on
            with torch.enable_grad():
                return float(closure().detach())
        return float(compare())

    def _params(self):
        return [p for g in self.param_groups for p in g["params"]]

    @torch.no_grad()
    def step(self, closure, compare=None):
        if closure is None:
            raise ValueError("LossGuard.step needs a closure that computes the loss and calls backward()")
        params = self._params()
        with torch.enable_grad():
            loss = closure()
        x0 = [p.detach().clone() for p in params]
        g0 = [None if p.grad is None else p.grad.clone() for p in params]  # ``compare`` may overwrite them
        self.proposal.step()
        y_prop = [p.detach().clone() for p in params]
        l_prop = self._measure(closure, compare)
        for p, x, g in zip(params, x0, g0):
            p.copy_(x)
            p.grad = g
        self.fallback.step()
        l_fb = self._measure(closure, compare)
        self.took_proposal = math.isfinite(l_prop) and all(torch.isfinite(y).all() for y in y_prop) and l_prop < l_fb
        if self.took_proposal:
            for p, y in zip(params, y_prop):
                p.copy_(y)
        self.losses = (l_prop, l_fb)
        return loss
