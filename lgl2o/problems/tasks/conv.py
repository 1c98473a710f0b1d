"""A small conv net on 28x28 images, runs batched as convolution groups, its gradient from autograd."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..seeds import INIT, run_generators
from .classification import Classification
from .protocol import ACTIVATIONS, check_choice


class ConvNet(Classification):
    """A small conv net on 28x28 images: conv5x5/2 (c1) - act - conv5x5/2 (c2) - act - linear.

    Runs are batched as convolution groups; the gradient comes from autograd, so the forward pass is
    not reusable across steps (a guard comparing on the next batch recomputes it, and says so).
    """

    reusable_forward = False

    def __init__(self, dataset="mnist", channels=(8, 16), activation="relu", device="cpu", batch_size=128):
        check_choice("activation", activation, ACTIVATIONS)
        super().__init__(dataset, device, batch_size)
        if self.train.image_shape != (28, 28):
            raise ValueError(f"ConvNet needs 28x28 images; {dataset} has {self.train.image_shape}")
        self.c1, self.c2 = (int(c) for c in channels)
        self.activation = activation
        self.sizes = [self.c1 * 25, self.c1, self.c2 * self.c1 * 25, self.c2, self.c2 * 16 * self.classes, self.classes]
        self.fans = [25, 25, self.c1 * 25, self.c1 * 25, self.c2 * 16, self.c2 * 16]
        self.dim = sum(self.sizes)
        self.name = f"conv{self.c1}-{self.c2}-{activation}-{dataset}"

    def init_params(self, seeds):
        rows = []
        for g in run_generators(seeds, INIT):
            rows.append(torch.cat([(torch.rand(n, generator=g) * 2 - 1) / math.sqrt(f) for n, f in zip(self.sizes, self.fans)]))
        return torch.stack(rows).to(self.device)

    def _logits(self, params, x):
        S, N = x.shape[:2]
        w1, b1, w2, b2, w3, b3 = torch.split(params, self.sizes, dim=1)
        act = getattr(torch, self.activation)
        h = x.reshape(S, N, 28, 28).transpose(0, 1)  # (N, S, 28, 28): runs as groups
        h = act(F.conv2d(h, w1.reshape(S * self.c1, 1, 5, 5), b1.reshape(-1), stride=2, groups=S))
        h = act(F.conv2d(h, w2.reshape(S * self.c2, self.c1, 5, 5), b2.reshape(-1), stride=2, groups=S))
        h = h.reshape(N, S, self.c2 * 16).transpose(0, 1)
        return torch.baddbmm(b3.unsqueeze(1), h, w3.reshape(S, self.c2 * 16, self.classes))

    @staticmethod
    def _example_losses(z, y):
        return torch.logsumexp(z, -1) - z.gather(-1, y.unsqueeze(-1)).squeeze(-1)

    def forward(self, params, batch):
        x, y = self.examples(batch)
        with torch.enable_grad():
            p = params.detach().requires_grad_(True)
            losses = self._example_losses(self._logits(p, x), y)
        return losses.detach(), (p, losses)

    def backward(self, params, cache):
        p, losses = cache
        with torch.enable_grad():  # the evaluation loop runs under no_grad; the graph was built with grad
            (g,) = torch.autograd.grad(losses.mean(1).sum(), p)
        return g

    select_cache = None
