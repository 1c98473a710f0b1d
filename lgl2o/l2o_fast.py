"""A faster L2O step for evaluation: the same LSTM, laid out hidden-major and computed in place.

``FastLSTM(net)`` computes what ``net`` (an ``l2o.LSTMOptimizer``) computes, to floating-point tolerance
(``tests/test_l2o_fast.py``), ~1.6x as fast as the compiled module on CPU and 2-3x the eager one
(``python -m lgl2o.bench``). It is a drop-in for ``net`` wherever the L2O only steps
(``optimizers.L2O(FastLSTM(net))``, the guards, evaluation); meta-training needs the plain module's
autograd, so ``FastLSTM`` refuses to run with gradients enabled.

Why it is faster (measured on the 2-core CPUs, MNIST MLP, 15,910 coordinates): the plain step keeps the
state as (..., P, 20), so every gate is a strided slice of 20 floats per row that no vector kernel
handles well, and the bias is broadcast into an 80 x P buffer before each matmul. Here the state is
(..., 20, P): each gate is a contiguous block of rows, the bias is a column of the weight matrix times a
row of ones kept in the input buffer, the gates are ordered (i, f, o, g) so that one ``sigmoid_`` covers
three of them, and every elementwise op writes into a buffer it owns. The matmuls are the same products
in another layout, so the results differ from the plain step's only in rounding.

The state has a different layout from the plain module's: start it with ``FastLSTM.init_state`` (which
``optimizers.L2O`` does) and do not mix states of the two.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .l2o import LSTMOptimizer


class FastLSTM(nn.Module):
    """``net``'s step over all coordinates in one pass; state (h_1, c_1, ..., h_L, c_L), each (..., H, P)."""

    def __init__(self, net: LSTMOptimizer):
        super().__init__()
        if not isinstance(net, LSTMOptimizer):
            raise TypeError(f"FastLSTM wraps an l2o.LSTMOptimizer, got {type(net).__name__}")
        self.net = net  # shared, not copied: a change to net's weights is seen at the next step
        self.config = net.config
        H = net.config.hidden
        self._work = {}  # reused buffers, by (runs, coordinates, device, dtype): see _workspace
        # nn.LSTM's gate order (i, f, g, o) -> (i, f, o, g)
        self.register_buffer("_order", torch.cat((torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H),
                                                  torch.arange(2 * H, 3 * H))), persistent=False)

    def init_state(self, shape: tuple[int, ...], device=None, dtype=torch.float32):
        *lead, P = shape
        z = torch.zeros(*lead, self.config.hidden, P, device=device, dtype=dtype)
        return tuple(z.clone() for _ in range(2 * self.config.layers))

    def _weights(self):
        """Per layer, the (4H, inputs + H + 1) matrix over [input; h; 1], gate rows (i, f, o, g)."""
        return [torch.cat((w[:, self._order].t(), b[self._order].unsqueeze(1)), 1)
                for w, b in zip(self.net.w, self.net.b)]

    def _workspace(self, S, P, like):
        """The step's intermediates, allocated once per shape and fully rewritten by every step: fresh
        multi-MB buffers at every step cost more in page faults than the arithmetic (S = 4 runs: 11,000
        faults and 2.7x the time per step). One ``FastLSTM`` serves one step at a time."""
        key = (S, P, like.device, like.dtype)
        if key not in self._work:
            H, L = self.config.hidden, self.config.layers
            inputs = [like.new_empty(S, (2 if layer == 0 else H) + H + 1, P) for layer in range(L)]
            for inp in inputs:
                inp[:, -1] = 1.0  # the bias's row of ones
            self._work = {key: (inputs, like.new_empty(S, 4 * H, P))}  # one shape at a time
        return self._work[key]

    def forward(self, grad: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        if torch.is_grad_enabled() and any(p.requires_grad for p in self.net.parameters()):
            raise RuntimeError("FastLSTM computes in place and has no backward: call it under torch.no_grad() "
                               "(meta-training uses the plain l2o.LSTMOptimizer)")
        cfg, H = self.config, self.config.hidden
        lead, P = grad.shape[:-1], grad.shape[-1]
        g = grad.reshape(-1, P)
        S = g.shape[0]
        if len(state) != 2 * cfg.layers or any(s.shape != (*lead, H, P) for s in state):
            raise ValueError(f"FastLSTM state must be {2 * cfg.layers} tensors of shape {(*lead, H, P)} "
                             "(from FastLSTM.init_state, not the plain module's (..., P, H) state)")
        state = [s.reshape(S, H, P) for s in state]
        weights = self._weights()

        inputs, gates = self._workspace(S, P, g)
        # layer 1's input [preprocessed grad (2 rows); h_1; 1], the preprocessing of l2o.preprocess
        p = cfg.preproc_p
        a = g.abs()
        big = a >= math.exp(-p)
        torch.where(big, torch.log(a.clamp_min(1e-38)).div_(p), torch.full_like(g, -1.0), out=inputs[0][:, 0])
        torch.where(big, torch.sign(g), g * math.exp(p), out=inputs[0][:, 1])
        new = []
        for layer in range(cfg.layers):
            inp = inputs[layer]  # [input; h; 1]
            inp[:, -1 - H : -1] = state[2 * layer]
            torch.matmul(weights[layer], inp, out=gates)  # (S, 4H, P)
            torch.sigmoid_(gates[:, : 3 * H])
            torch.tanh_(gates[:, 3 * H :])
            i, f, o, z = gates.split(H, dim=1)
            c = torch.mul(f, state[2 * layer + 1]).addcmul_(i, z)
            h = torch.tanh(c).mul_(o)
            new += [h, c]
            if layer < cfg.layers - 1:
                inputs[layer + 1][:, :H] = h
        update = torch.matmul(self.net.out.weight, h).squeeze(1).add_(self.net.out.bias).mul_(cfg.output_scale)
        return update.view(grad.shape), tuple(s.view(*lead, H, P) for s in new)


STEPS = ("plain", "compile", "fast")


def stepper(net: LSTMOptimizer, kind: str) -> nn.Module:
    """The module that computes ``net``'s step: ``plain`` (``net`` itself), ``compile`` (``net`` through
    ``torch.compile``) or ``fast`` (``FastLSTM(net)``, no backward; the comparison stages' choice)."""
    if kind not in STEPS:
        raise ValueError(f"unknown L2O step {kind!r}; allowed: {', '.join(STEPS)}")
    if kind == "compile":
        return torch.compile(net, dynamic=False)
    return FastLSTM(net) if kind == "fast" else net
