"""The optimizer protocol: every optimizer steps a (runs x parameters) matrix.

    state = opt.init(params)                                   # params: (S, P), S runs
    params, state, info = opt.step(params, state, grad, oracle)

``grad`` is the minibatch gradient at ``params`` (the loop computed it through ``oracle``); an optimizer
that needs more (a guard comparing candidates) asks ``oracle`` (``problems.oracle.Oracle``), which
counts every pass. ``state`` is a tree of tensors (dicts and tuples of them) so that it can be
checkpointed and, since every piece lives on the parameters' device, a whole step can be captured as
one CUDA graph. ``info`` maps names to (S,) tensors of telemetry; the keys in use:

    took_proposal    bool, a guard kept the proposal's candidate (every ``Guard``)
    kept_current     bool, both candidates were non-finite and the guard kept the current iterate (every ``Guard``)
    loss_proposal    the proposal candidate's estimated loss (LGL2O)
    loss_fallback    the fallback candidate's estimated loss (LGL2O)
    refused_fallback bool, a catastrophic fallback step was refused (LGL2O with max_fallback_increase)
    residual, mu     the fixed-point residual at the proposal and the acceptance threshold (GL2O)
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any, Protocol, runtime_checkable

import torch

State = Any  # a tree of tensors: dicts and tuples of tensors
Info = dict[str, torch.Tensor]


@runtime_checkable
class Optimizer(Protocol):
    def init(self, params: torch.Tensor) -> State: ...

    def step(self, params: torch.Tensor, state: State, grad: torch.Tensor, oracle) -> tuple[torch.Tensor, State, Info]:
        ...


class Guard(ABC):
    """An optimizer built from a proposal (the L2O) that decides, per run and step, whether to keep the
    proposal's candidate; its ``info`` always carries ``took_proposal`` and ``kept_current``."""

    proposal: Optimizer

    @abstractmethod
    def init(self, params: torch.Tensor) -> State: ...

    @abstractmethod
    def step(self, params, state, grad, oracle) -> tuple[torch.Tensor, State, Info]: ...


def where_runs(take: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a`` on the runs (rows) where ``take``, else ``b``."""
    return torch.where(take.view(-1, *([1] * (a.dim() - 1))), a, b)


def finite_rows(x: torch.Tensor) -> torch.Tensor:
    """(S,) whether every entry of each run's row of ``x`` (S, P) is finite: ``isfinite(x).all(1)``, computed
    as ``(x - x).sum(1) == 0`` (x - x is exactly 0 where x is finite and NaN where it is not), in two
    kernels and no boolean matrix; on CPU a fraction of the cost."""
    return (x - x).sum(1) == 0


def map_state(fn, state: State) -> State:
    """``fn`` applied to every tensor of a state tree."""
    if isinstance(state, dict):
        return {k: map_state(fn, v) for k, v in state.items()}
    if isinstance(state, tuple):
        return tuple(map_state(fn, v) for v in state)
    return fn(state)


def check_positive(name, value) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
