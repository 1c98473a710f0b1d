"""The (meta-trained) LSTM optimizer as a ``torch.optim.Optimizer``, for ordinary PyTorch loops."""
from __future__ import annotations

import torch
from torch import nn

from .backends import make_step
from .model import LSTMOptimizer


class L2OTorch(torch.optim.Optimizer):
    """One LSTM state per parameter element; ``step_backend`` names how the step is computed
    (``l2o.backends``; default the reference module)."""

    def __init__(self, params, net: LSTMOptimizer, step_backend: str = "plain"):
        super().__init__(params, {})
        if not isinstance(net, LSTMOptimizer):
            raise TypeError(f"L2OTorch needs an l2o.model.LSTMOptimizer, got {type(net).__name__}"
                            + (" (l2o.checkpoint.load returns (net, meta): pass net)" if isinstance(net, tuple) else ""))
        self.net: nn.Module = make_step(net, step_backend)

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                st = self.state[p]
                # a plain tuple in the optimizer's state: state_dict() goes through torch.load(weights_only=True)
                if "hidden" not in st:
                    st["hidden"] = tuple(self.net.init_state(p.shape, p.device, p.dtype))
                update, hidden = self.net(p.grad, st["hidden"])
                st["hidden"] = tuple(hidden)
                p.add_(update)
        return loss
