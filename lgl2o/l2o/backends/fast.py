"""The ``fast`` step backend: the LSTM hidden-major, computed in place with PyTorch's own kernels.

``FastLSTM(net)`` computes what ``net`` (the reference, ``l2o.model.LSTMOptimizer``) computes, to
floating-point rounding (``tests/l2o/test_backends.py``), on any device. The state is (..., H, P), so
each gate is a contiguous block of rows; the bias is a column of the weight matrix times a row of ones
kept in the input buffer; the gates are ordered (i, f, o, g) so that one ``sigmoid_`` covers three of
them; every elementwise op writes into a buffer it owns (docs/performance.md says why that matters).
"""
from __future__ import annotations

import math

import torch

from ..model import LSTMState
from .hidden_major import HiddenMajorLSTM


class FastLSTM(HiddenMajorLSTM):
    """``net``'s step over all coordinates in one pass, in place. One ``FastLSTM`` serves one step at a time."""

    def __init__(self, net):
        super().__init__(net)
        self._work = {}  # reused buffers, by (runs, coordinates, device, dtype): see _workspace

    def _workspace(self, S, P, like):
        """The step's intermediates, allocated once per shape and fully rewritten by every step."""
        key = (S, P, like.device, like.dtype)
        if key not in self._work:
            H, L = self.config.hidden, self.config.layers
            inputs = [like.new_empty(S, (2 if layer == 0 else H) + H + 1, P) for layer in range(L)]
            for inp in inputs:
                inp[:, -1] = 1.0  # the bias's row of ones
            self._work = {key: (inputs, like.new_empty(S, 4 * H, P))}  # one shape at a time
        return self._work[key]

    def forward(self, grad: torch.Tensor, state: tuple) -> tuple[torch.Tensor, LSTMState]:
        self.check(grad, state)
        cfg, H = self.config, self.config.hidden
        lead, P = grad.shape[:-1], grad.shape[-1]
        g = grad.reshape(-1, P)
        S = g.shape[0]
        state = LSTMState([s.reshape(S, H, P) for s in state])
        weights = self.weights()

        inputs, gates = self._workspace(S, P, g)
        # layer 1's input [preprocessed grad (2 rows); h_1; 1], the preprocessing of l2o.model.preprocess
        p = cfg.preproc_p
        a = g.abs()
        big = a >= math.exp(-p)
        torch.where(big, torch.log(a.clamp_min(1e-38)).div_(p), torch.full_like(g, -1.0), out=inputs[0][:, 0])
        torch.where(big, torch.sign(g), g * math.exp(p), out=inputs[0][:, 1])
        new = []
        for layer in range(cfg.layers):
            inp = inputs[layer]  # [input; h; 1]
            inp[:, -1 - H : -1] = state.h(layer)
            torch.matmul(weights[layer], inp, out=gates)  # (S, 4H, P)
            torch.sigmoid_(gates[:, : 3 * H])
            torch.tanh_(gates[:, 3 * H :])
            i, f, o, z = gates.split(H, dim=1)
            c = torch.mul(f, state.c(layer)).addcmul_(i, z)
            h = torch.tanh(c).mul_(o)
            new.append((h.view(*lead, H, P), c.view(*lead, H, P)))
            if layer < cfg.layers - 1:
                inputs[layer + 1][:, :H] = h
        return self.output(h).view(grad.shape), LSTMState.of_layers(new)
