"""A fully connected classifier with its forward and backward written out; logistic regression is one with
no hidden layer."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..seeds import INIT, run_generators
from .classification import Classification
from .protocol import ACTIVATIONS, check_choice


@dataclass
class MLPCache:
    acts: list  # a_0 (inputs), a_1 ... a_{L-1}: the inputs of each linear layer
    probs: torch.Tensor  # softmax of the logits (S, B, C)
    y: torch.Tensor  # (S, B)


class MLP(Classification):
    """A fully connected classifier with cross-entropy loss, forward and backward written out.

    ``hidden=()`` is multinomial logistic regression (convex). Weights and biases start from
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's ``nn.Linear`` default. The flat layout is, per
    layer, the weight (fan_in x fan_out, row-major) followed by the bias.
    """

    reusable_forward = True

    def __init__(self, dataset="mnist", hidden=(20,), activation="sigmoid", device="cpu", batch_size=128):
        check_choice("activation", activation, ACTIVATIONS)
        super().__init__(dataset, device, batch_size)
        self.hidden, self.activation = tuple(int(h) for h in hidden), activation
        widths = (self.in_features, *self.hidden, self.classes)
        self.shapes = list(zip(widths[:-1], widths[1:]))
        self._sizes = [n for i, o in self.shapes for n in (i * o, o)]
        self.dim = sum(self._sizes)
        self.name = f"mlp{'-'.join(map(str, widths))}-{activation}-{dataset}"

    def _layers(self, params):
        """[(weight (S, fan_in, fan_out), bias (S, 1, fan_out))] per layer: views of ``params`` (one split; the
        bias broadcasts over a batch's examples)."""
        parts = params.view(params.shape[0], 1, -1).split(self._sizes, dim=2)
        return [(parts[2 * j].view(-1, i, o), parts[2 * j + 1]) for j, (i, o) in enumerate(self.shapes)]

    def init_params(self, seeds) -> torch.Tensor:
        rows = []
        for g in run_generators(seeds, INIT):
            parts = []
            for i, o in self.shapes:
                bound = 1.0 / math.sqrt(i)
                parts.append((torch.rand(i * o + o, generator=g) * 2 - 1) * bound)
            rows.append(torch.cat(parts))
        return torch.stack(rows).to(self.device)

    def _act(self, z):
        if self.activation == "sigmoid":
            return torch.sigmoid(z)
        if self.activation == "relu":
            return torch.relu(z)
        return torch.tanh(z)

    def _act_grad(self, a):  # derivative of the activation, written in terms of its output
        if self.activation == "sigmoid":
            return a * (1 - a)
        if self.activation == "relu":
            return (a > 0).to(a.dtype)
        return 1 - a * a

    def _logits(self, params, x):
        layers = self._layers(params)
        a = x
        for w, b in layers[:-1]:
            a = self._act(torch.baddbmm(b, a, w))
        w, b = layers[-1]
        return torch.baddbmm(b, a, w)

    @staticmethod
    def _nll(logp, y):
        return -logp.gather(-1, y.unsqueeze(-1)).squeeze(-1)

    @staticmethod
    def _example_losses(z, y):
        return MLP._nll(torch.log_softmax(z, -1), y)

    def forward(self, params, batch):
        x, y = self.examples(batch)
        layers = self._layers(params)
        acts, a = [x], x
        for w, b in layers[:-1]:
            a = self._act(torch.baddbmm(b, a, w))
            acts.append(a)
        w, b = layers[-1]
        z = torch.baddbmm(b, a, w)
        logp = torch.log_softmax(z, -1)
        return self._nll(logp, y), MLPCache(acts, logp.exp(), y)

    def backward(self, params, cache: MLPCache):
        layers = self._layers(params)
        B = cache.y.shape[1]
        dz = cache.probs.clone()
        dz.scatter_add_(-1, cache.y.unsqueeze(-1), torch.full_like(dz[..., :1], -1.0))
        dz /= B
        grads = []
        for li in range(len(layers) - 1, -1, -1):
            w, _ = layers[li]
            a = cache.acts[li]
            grads.append(dz.sum(1))
            grads.append(torch.bmm(a.transpose(1, 2), dz).flatten(1))
            if li:
                dz = torch.bmm(dz, w.transpose(1, 2)) * self._act_grad(a)
        return torch.cat(grads[::-1], dim=1)

    @staticmethod
    def select_cache(take_a, a: MLPCache, b: MLPCache) -> MLPCache:
        m = take_a.view(-1, 1, 1)
        return MLPCache([torch.where(m, u, v) for u, v in zip(a.acts, b.acts)], torch.where(m, a.probs, b.probs), a.y)


def logistic_regression(dataset="mnist", device="cpu", batch_size=128) -> MLP:
    """Multinomial logistic regression: a convex problem on real data."""
    return MLP(dataset, hidden=(), device=device, batch_size=batch_size)
