"""Loss-Guarded L2O (LGL2O): a replication of "A Simple Guard for Learned Optimizers" (ICML 2022).

The public API, for use in your own code::

    from lgl2o import SGD, Adam, L2O, LGL2O, GL2O, LossGuard, load_l2o, make_task, evaluate

The package is layered; each layer imports only those listed before it (tests/test_layers.py):

    core         paths and atomic writes
    problems     datasets, tasks, seed streams, the oracle
    optim        the optimizer protocol, SGD/Adam, the guards and their decision rule, LossGuard
    engine       the evaluation loop (eager and CUDA-graph engines), resume checkpoints
    l2o          the LSTM optimizer, its checkpoints, its step backends, meta-training
    experiments  what the figures compare
    pipeline     the DVC stage runner, the report, the figures
    perf         the benchmark

The names below are loaded on first use, so that importing one layer does not import the others.
"""
from __future__ import annotations

import importlib

_API = {
    "SGD": "lgl2o.optim.baselines",
    "Adam": "lgl2o.optim.baselines",
    "LGL2O": "lgl2o.optim.guards",
    "GL2O": "lgl2o.optim.guards",
    "Optimizer": "lgl2o.optim.protocol",
    "Guard": "lgl2o.optim.protocol",
    "LossGuard": "lgl2o.optim.torch_guard",
    "L2O": "lgl2o.l2o.optimizer",
    "LSTMOptimizer": "lgl2o.l2o.model",
    "L2OTorch": "lgl2o.l2o.torch_optim",
    "load_l2o": "lgl2o.l2o.checkpoint",
    "make_step": "lgl2o.l2o.backends",
    "make_task": "lgl2o.problems.tasks",
    "Oracle": "lgl2o.problems.oracle",
    "evaluate": "lgl2o.engine.loop",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        value = getattr(importlib.import_module(_API[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lgl2o' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])
