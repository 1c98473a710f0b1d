"""Optimizee problems as pure functions of a flat parameter matrix, one module per kind of task.

Every task works on ``params`` of shape (S, P): S independent runs (seeds) of a problem with P
parameters, so optimizers never see modules and several seeds run as one batched computation.

A task exposes:
    init_params(seeds)            -> (S, P) initial parameters, one generator per seed
    sample_batch(gens, size)      -> a minibatch per run (indices (S, B)), from each run's generator
    forward(params, batch)        -> per-example losses (S, B) and a cache for ``backward``
    backward(params, cache)       -> gradient of the mean minibatch loss, (S, P)
    losses(points, batch)         -> per-example losses at several points, no cache (optional)
    select_cache(take_a, a, b)    -> per-run choice between two caches of the same batch
    full_loss(params)             -> (S,) loss on the whole training set
    accuracy(params, split)       -> (S,) accuracy (classification tasks)

``forward`` + ``backward`` is one forward and one backward pass. Keeping the cache lets a guard that
compared candidates on the next step's batch reuse that forward pass (``LGL2O(compare="next")``).

Adding a kind of task is one module here and one line of ``KINDS``: its constructor's keywords are its
configuration (``parameters``; ``experiments.config.TaskConfig`` checks a params.yaml task against them).
"""
from __future__ import annotations

import inspect

from .. import data as data_mod
from .classification import Classification
from .conv import ConvNet
from .mlp import MLP, MLPCache, logistic_regression
from .protocol import ACTIVATIONS, Task, check_choice
from .quadratic import QuadCache, Quadratic

__all__ = ["ACTIVATIONS", "KINDS", "Classification", "ConvNet", "MLP", "MLPCache", "QuadCache", "Quadratic", "Task",
           "logistic_regression", "make_task", "parameters"]

# every kind of task, by the name params.yaml gives it
KINDS = {"mlp": MLP, "logreg": logistic_regression, "conv": ConvNet, "quadratic": Quadratic}


def parameters(kind: str) -> dict:
    """The keywords a kind of task takes (its constructor's, less ``device``), with their defaults."""
    check_choice("task kind", kind, tuple(KINDS))
    return {name: p.default for name, p in inspect.signature(KINDS[kind]).parameters.items() if name != "device"}


def make_task(kind: str = "mlp", **kw):
    """Build a task from a params.yaml-style description (``kind`` plus keyword arguments; YAML lists,
    such as ``hidden: [20]``, are taken as the tuples the tasks expect)."""
    kw = {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}
    check_choice("task kind", kind, tuple(KINDS))
    if "dataset" in kw and kw["dataset"] not in data_mod.KNOWN:
        raise ValueError(f"unknown dataset {kw['dataset']!r}; allowed: {', '.join(data_mod.KNOWN)}")
    return KINDS[kind](**kw)
