"""The ``native`` step backend: each LSTM layer in one compiled C loop (CPU, float32).

``NativeLSTM(net)`` computes what ``fast.FastLSTM(net)`` computes, with the same state layout, to
floating-point rounding (``tests/l2o/test_backends.py`` runs every check of the fast step on it too). Per
layer, ``csrc/lstm_cell.c`` does the input preprocessing, the gate matmul and the cell's gate functions
in one pass over blocks of coordinates, so the (4H, P) pre-activations stay in registers.

The C file is compiled on first use (``core.clib``: the system C compiler, ``-march=native``, a build
folder keyed by source, compiler and CPU); where that fails ``load`` raises ``NativeUnavailable`` saying
why.
"""
from __future__ import annotations

import ctypes
import math
from functools import lru_cache
from pathlib import Path

import torch

from ...core import clib
from ...core.clib import NativeUnavailable
from ..model import LSTMState
from .hidden_major import HiddenMajorLSTM

__all__ = ["NativeLSTM", "NativeUnavailable", "load"]

SOURCE = Path(__file__).parent / "csrc" / "lstm_cell.c"


@lru_cache(maxsize=None)
def load(cc: tuple[str, ...] | None = None) -> ctypes.CDLL:
    """The compiled layer, built on first use with ``cc`` (default: ``$CC`` or ``cc``)."""
    try:
        dll = clib.load(SOURCE, "the native L2O step", cc)
    except NativeUnavailable as e:
        raise NativeUnavailable(f"{e}. Set CC, or use the fast step (l2o_step: fast)") from e
    f = dll.lgl2o_lstm_layer
    L, ptr = ctypes.c_long, ctypes.c_void_p
    f.argtypes = ([ptr, L, L, L] + [ctypes.c_float] * 3 + [ptr, L, L] * 2 + [ptr] + [ptr, L, L] * 2
                  + [L, L, L, ctypes.c_int])
    f.restype = None
    dll.lgl2o_lstm_units.restype = ctypes.c_int
    return dll


def _rows(t: torch.Tensor):
    """(pointer, stride of runs, stride of rows) of an (S, rows, P) float32 CPU tensor, rows contiguous."""
    if t.dtype != torch.float32 or t.device.type != "cpu" or t.dim() != 3 or t.stride(2) != 1:
        raise ValueError(f"the native layer takes float32 CPU tensors (S, H, P) with contiguous rows, got "
                         f"{t.dtype} on {t.device} with shape {tuple(t.shape)} and strides {t.stride()}")
    return t.data_ptr(), t.stride(0), t.stride(1)


class NativeLSTM(HiddenMajorLSTM):
    """``net``'s step with every layer in one call of ``csrc/lstm_cell.c`` (CPU, float32)."""

    def __init__(self, net):
        super().__init__(net)
        lib = load()
        self._layer, self._units = lib.lgl2o_lstm_layer, lib.lgl2o_lstm_units()
        # l2o.model.preprocess's constants as float32, as PyTorch applies them to a float32 gradient
        p = self.config.preproc_p
        self._preproc = tuple(torch.tensor([p, math.exp(-p), math.exp(p)]).tolist())

    def pack(self, weights):
        """Each (4H, K) matrix in the C loop's order: (H / U, K, U, 4), U units at a time, their four gates
        side by side, zeros for the units past H where U does not divide it."""
        H, U = self.config.hidden, self._units
        Hp = -(-H // U) * U
        out = []
        for w in weights:
            w = w.view(4, H, -1)
            if Hp > H:
                w = torch.cat((w, w.new_zeros(4, Hp - H, w.shape[2])), 1)
            out.append(w.view(4, Hp // U, U, -1).permute(1, 3, 2, 0).contiguous())
        return out

    def forward(self, grad: torch.Tensor, state: tuple) -> tuple[torch.Tensor, LSTMState]:
        if grad.device.type != "cpu" or grad.dtype != torch.float32:
            raise ValueError(f"NativeLSTM runs on float32 CPU tensors, got {grad.dtype} on {grad.device} "
                             "(the fast step runs anywhere)")
        self.check(grad, state)
        H = self.config.hidden
        lead, P = grad.shape[:-1], grad.shape[-1]
        g = grad.reshape(-1, 1, P).contiguous()  # one input row per run, preprocessed in the C loop
        S = g.shape[0]
        state = LSTMState([s.reshape(S, H, P).contiguous() for s in state])
        # the new state is handed to the caller (it becomes the optimizer's state), so it is allocated
        # per step; the packed weights are kept between steps (``weights``)
        x, new = g, []
        for layer, weights in enumerate(self.weights()):
            c, h = torch.empty_like(state.h(0)), torch.empty_like(state.h(0))
            self._layer(*_rows(x), weights.shape[1] - H - 1, *(self._preproc if layer == 0 else (0.0, 0.0, 0.0)),
                        *_rows(state.h(layer)), *_rows(state.c(layer)), weights.data_ptr(),
                        *_rows(c), *_rows(h), S, H, P, torch.get_num_threads())
            x = h
            new.append((h.view(*lead, H, P), c.view(*lead, H, P)))
        return self.output(h).view(grad.shape), LSTMState.of_layers(new)
