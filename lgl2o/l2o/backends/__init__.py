"""The ways of computing the L2O's step, behind one registry (as ``torch.optim.adam`` picks its kernel).

    step = make_step(net, "native")      # a module with net's forward and init_state
    L2O(step)                            # the protocol optimizer over it

Every consumer (the stages, the ablation, the benchmark, meta-training's validation, the torch adapter)
chooses here by name, so ``params.yaml`` can name any backend. Each declares the layout of its LSTM state
(a resume checkpoint is only valid for the same layout) and whether it is differentiable (meta-training
needs a backward). ``plain`` is the reference that every other backend is tested against.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..model import LSTMOptimizer


@dataclass(frozen=True)
class Backend:
    name: str
    make: Callable[[LSTMOptimizer], nn.Module]
    state_layout: str  # "coordinate-major": (..., P, H), the plain module's; "hidden-major": (..., H, P)
    differentiable: bool  # has a backward (meta-training)
    devices: tuple[str, ...]  # device types it runs on
    what: str


def _fast(net):
    from .fast import FastLSTM

    return FastLSTM(net)


def _native(net):
    from .native import NativeLSTM

    return NativeLSTM(net)


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("plain", lambda net: net, "coordinate-major", True, ("cpu", "cuda"),
            "the reference: l2o.model.LSTMOptimizer itself, eager"),
    Backend("compile", lambda net: torch.compile(net, dynamic=False), "coordinate-major", True, ("cpu", "cuda"),
            "the reference through torch.compile"),
    Backend("fast", _fast, "hidden-major", False, ("cpu", "cuda"),
            "hidden-major state, in-place PyTorch kernels (fast.FastLSTM)"),
    Backend("native", _native, "hidden-major", False, ("cpu",),
            "each layer in one compiled C loop (native.NativeLSTM; needs a C compiler)"),
)}
NAMES = tuple(BACKENDS)


def backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown L2O step {name!r}; allowed: {', '.join(NAMES)}") from None


def make_step(net: LSTMOptimizer, name: str) -> nn.Module:
    """The module that computes ``net``'s step with backend ``name`` (``native`` may raise
    ``NativeUnavailable`` with the reason)."""
    return backend(name).make(net)
