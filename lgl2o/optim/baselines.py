"""The convergent baselines (and the guards' fallbacks): SGD and Adam, as protocol optimizers."""
from __future__ import annotations

from typing import NamedTuple

import torch

from .protocol import check_positive


class SGD:
    def __init__(self, lr: float):
        check_positive("lr", lr)
        self.lr = float(lr)

    def init(self, params):
        return {}

    def step(self, params, state, grad, oracle):
        return params - self.lr * grad, state, {}


class AdamState(NamedTuple):
    """Adam's state: the moment estimates and the step count (a checkpoint keys them ``m``, ``v``, ``t``)."""

    m: torch.Tensor
    v: torch.Tensor
    t: torch.Tensor


class Adam:
    """Adam exactly as ``torch.optim.Adam`` computes it (bias corrections, eps outside the sqrt).

    The step count is a tensor on the parameters' device and the bias corrections are computed from it
    in float64 there (as ``torch.optim.Adam(capturable=True)`` does), so a step never waits for the device
    and can be captured in a CUDA graph.
    """

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        check_positive("lr", lr)
        self.lr, self.betas, self.eps = float(lr), tuple(betas), float(eps)

    def init(self, params) -> AdamState:
        return AdamState(m=torch.zeros_like(params), v=torch.zeros_like(params),
                         t=torch.zeros((), dtype=torch.int64, device=params.device))

    def step(self, params, state, grad, oracle):
        b1, b2 = self.betas
        t = state.t + 1
        td = t.double()
        m = state.m.mul(b1).add_(grad, alpha=1 - b1)
        v = state.v.mul(b2).addcmul_(grad, grad, value=1 - b2)
        denom = (v.sqrt() / (1 - b2**td).sqrt()).add_(self.eps)
        new = params + (-self.lr / (1 - b1**td) * m).div_(denom)
        return new, AdamState(m, v, t), {}
