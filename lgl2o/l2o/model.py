"""The coordinatewise LSTM learned optimizer of Andrychowicz et al. (2016).

Every coordinate of the optimizee is one row of a batch through the same 2-layer LSTM (20 hidden units,
weights shared over coordinates). Its input is the preprocessed gradient of that coordinate
(Andrychowicz et al., appendix A):

    |g| >= e^-p :  (log|g| / p, sign g)
    |g| <  e^-p :  (-1, e^p g)

with p = 10, and its output times 0.1 is the update added to the parameter. One step over all
coordinates (and over several runs, a leading dimension) is one batched computation: the input and
recurrent matmuls of each layer are fused into one ``addmm`` over the (runs x coordinates) rows.

This module is the reference: every faster way of computing the step (``l2o.backends``) is tested against
it, and meta-training differentiates through it. Checkpoints: ``l2o.checkpoint``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class L2OConfig:
    hidden: int = 20
    layers: int = 2
    preproc_p: float = 10.0
    output_scale: float = 0.1

    def __post_init__(self):
        for name in ("hidden", "layers"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
                raise ValueError(f"L2OConfig.{name} must be a positive integer, got {v!r}")
        for name in ("preproc_p", "output_scale"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
                raise ValueError(f"L2OConfig.{name} must be a positive number, got {v!r}")


def preprocess(g: torch.Tensor, p: float = 10.0) -> torch.Tensor:
    """(..., ) gradient -> (..., 2) LSTM input, with the small-gradient branch below e^-p."""
    big = g.abs() >= math.exp(-p)
    first = torch.where(big, torch.log(g.abs().clamp_min(1e-38)) / p, torch.full_like(g, -1.0))
    second = torch.where(big, torch.sign(g), g * math.exp(p))
    return torch.stack((first, second), dim=-1)


class LSTMState(tuple):
    """The LSTM's recurrent state over the coordinates: ``(h_1, c_1, ..., h_L, c_L)``, each layer's hidden
    and cell tensors in the layout of the module that computes the step; ``h(layer)``, ``c(layer)`` name
    them. A flat tuple, not a NamedTuple, because the number of layers is a setting: checkpoints key it
    ``0`` to ``2L - 1`` and a CUDA graph captures its tensors in that order, as for any tuple. Every step
    takes a plain tuple of that order too (meta-training slices and joins the state as tuples)."""

    __slots__ = ()

    def h(self, layer: int) -> torch.Tensor:
        return self[2 * layer]

    def c(self, layer: int) -> torch.Tensor:
        return self[2 * layer + 1]

    @classmethod
    def of_layers(cls, layers: list) -> LSTMState:
        """From ``[(h_1, c_1), ...]``; a list comprehension, which torch.compile traces (a generator it does not)."""
        return cls([t for hc in layers for t in hc])


class LSTMOptimizer(nn.Module):
    """Coordinatewise 2-layer LSTM. State: an ``LSTMState``, each tensor (..., P, hidden)."""

    def __init__(self, config: L2OConfig = L2OConfig()):
        super().__init__()
        self.config = config
        H = config.hidden
        ins = [2] + [H] * (config.layers - 1)
        # One weight per layer over the concatenated [input, h]: gates i, f, g, o as in nn.LSTM.
        self.w = nn.ParameterList([nn.Parameter(torch.empty(i + H, 4 * H)) for i in ins])
        self.b = nn.ParameterList([nn.Parameter(torch.zeros(4 * H)) for _ in ins])
        self.out = nn.Linear(H, 1)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None):
        H = self.config.hidden
        bound = 1.0 / math.sqrt(H)
        with torch.no_grad():
            for w, b in zip(self.w, self.b):
                w.copy_((torch.rand(w.shape, generator=generator) * 2 - 1) * bound)
                b.zero_()
                b[H : 2 * H] = 1.0  # forget-gate bias 1: remember by default
            self.out.weight.copy_((torch.rand(self.out.weight.shape, generator=generator) * 2 - 1) * bound)
            self.out.bias.zero_()

    def init_state(self, shape: tuple[int, ...], device=None, dtype=torch.float32):
        z = torch.zeros(*shape, self.config.hidden, device=device, dtype=dtype)
        return LSTMState([z.clone() for _ in range(2 * self.config.layers)])

    def forward(self, grad: torch.Tensor, state: tuple) -> tuple[torch.Tensor, LSTMState]:
        """grad (..., P) -> update (..., P) and the next state. All coordinates in one batch."""
        H = self.config.hidden
        lead = grad.shape
        x = preprocess(grad, self.config.preproc_p).reshape(-1, 2)
        state, new = LSTMState(state), []
        for layer, (w, b) in enumerate(zip(self.w, self.b)):
            h, c = state.h(layer).reshape(-1, H), state.c(layer).reshape(-1, H)
            gates = torch.addmm(b, torch.cat((x, h), dim=1), w)
            i, f, g, o = gates.split(H, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            new.append((h.view(*lead, H), c.view(*lead, H)))
            x = h
        update = self.out(x).view(lead) * self.config.output_scale
        return update, LSTMState.of_layers(new)
