"""A strongly convex quadratic with exact gradients: the setting of the convergence guarantee."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from ..seeds import INIT, run_generators


@dataclass
class QuadCache:
    diff: torch.Tensor  # x - x*


@dataclass
class Quadratic:
    """f(x) = 1/2 (x - x*)^T A (x - x*) + f*, with the spectrum of A log-spaced in [mu, L].

    A = Q diag(eigs) Q^T with a random rotation Q (from ``seed``); the problem is the same for every run,
    the starting point x0 ~ N(0, I) differs by run seed. Gradients are exact: a "batch" is a placeholder.
    """

    dim: int = 50
    mu: float = 0.1
    L: float = 10.0
    f_star: float = 1.0
    seed: int = 0
    rotate: bool = True  # False: A is diagonal (exact, for hand-checked tests)
    device: str = "cpu"
    reusable_forward: bool = field(default=True, init=False)

    def __post_init__(self):
        if not (0 < self.mu <= self.L):
            raise ValueError(f"need 0 < mu <= L, got mu={self.mu}, L={self.L}")
        g = torch.Generator().manual_seed(self.seed)
        q, _ = torch.linalg.qr(torch.randn(self.dim, self.dim, generator=g, dtype=torch.float64))
        if not self.rotate:
            q = torch.eye(self.dim, dtype=torch.float64)
        eigs = torch.logspace(math.log10(self.L), math.log10(self.mu), self.dim, dtype=torch.float64)
        self.A = ((q * eigs) @ q.T).float().to(self.device)
        self.x_star = torch.randn(self.dim, generator=g).to(self.device)
        self.name = f"quadratic{self.dim}-mu{self.mu:g}-L{self.L:g}"

    def init_params(self, seeds):
        return torch.stack([torch.randn(self.dim, generator=g) for g in run_generators(seeds, INIT)]).to(self.device)

    def sample_batch(self, gens, size=None):
        return None

    def forward(self, params, batch=None):
        diff = params - self.x_star
        f = 0.5 * ((diff @ self.A) * diff).sum(1) + self.f_star
        return f.unsqueeze(1), QuadCache(diff)

    def backward(self, params, cache: QuadCache):
        return cache.diff @ self.A

    @staticmethod
    def select_cache(take_a, a: QuadCache, b: QuadCache) -> QuadCache:
        return QuadCache(torch.where(take_a.view(-1, 1), a.diff, b.diff))

    def full_loss(self, params):
        return self.forward(params)[0].squeeze(1)


# ----------------------------------------------------------------------------------------------
