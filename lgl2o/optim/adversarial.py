"""Adversarial proposals for testing a guard: optimizers of the common protocol that are bad on purpose."""
from __future__ import annotations

import torch


class Fixed:
    """Proposes ``point`` (a tensor, broadcast over runs) or ``point(x)`` (a function of the iterate)."""

    def __init__(self, point):
        self.point = point

    def init(self, params):
        return {}

    def step(self, params, state, grad, oracle):
        y = self.point(params) if callable(self.point) else self.point.expand_as(params).clone()
        return y, state, {}


class RandomStep(Fixed):
    """x + scale * N(0, I), from its own seeded generator."""

    def __init__(self, scale: float = 1.0, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        super().__init__(lambda x: x + scale * torch.randn(x.shape, generator=gen).to(x.device))


class Divergent(Fixed):
    """x -> factor * x + shift: runs away geometrically."""

    def __init__(self, factor: float = 10.0, shift: float = 1.0):
        super().__init__(lambda x: factor * x + shift)


class NonFinite(Fixed):
    """x + nan (or inf): a proposal no guard may take."""

    def __init__(self, value: float = float("nan")):
        super().__init__(lambda x: x + value)
