"""What every optimizee offers (``Task``), and the checks the task constructors share."""
from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

ACTIVATIONS = ("sigmoid", "relu", "tanh")


@runtime_checkable
class Task(Protocol):
    """What the oracle and the engines need of an optimizee (the module docstring says what each does).

    ``reusable_forward``: whether a forward pass's cache may serve a later gradient (``select_cache`` is
    then not None); ``name``: a short name for tables and titles.
    """

    name: str
    reusable_forward: bool

    def init_params(self, seeds) -> torch.Tensor: ...
    def sample_batch(self, gens: list[torch.Generator], size: int | None = None) -> Any: ...
    def forward(self, params: torch.Tensor, batch) -> tuple[torch.Tensor, Any]: ...
    def backward(self, params: torch.Tensor, cache) -> torch.Tensor: ...
    def full_loss(self, params: torch.Tensor) -> torch.Tensor: ...


def check_choice(name: str, value, allowed) -> None:
    """A ValueError naming ``name``, ``value`` and what is allowed, unless ``value`` is one of ``allowed``."""
    if value not in allowed:
        raise ValueError(f"unknown {name} {value!r}; allowed: {', '.join(map(str, allowed))}")
