"""The learned optimizer as a protocol optimizer (``optim.protocol``): its state is the LSTM state of
every coordinate, ``{"lstm": LSTMState (h_1, c_1, ..., h_L, c_L)}``, in the layout of the module that computes the
step (``backends``)."""
from __future__ import annotations

from torch import nn

from .model import LSTMState


class L2O:
    """``step`` adds ``net``'s update to the parameters; ``net`` is the model or one of its step backends."""

    def __init__(self, net: nn.Module):
        if not callable(getattr(net, "init_state", None)):
            raise TypeError(f"L2O steps an LSTM optimizer module (l2o.model.LSTMOptimizer or a backend of it), "
                            f"got {type(net).__name__}")
        self.net = net

    def init(self, params):
        return {"lstm": LSTMState(self.net.init_state(params.shape, params.device, params.dtype))}

    def step(self, params, state, grad, oracle):
        update, hidden = self.net(grad, state["lstm"])
        return params + update, {"lstm": LSTMState(hidden)}, {}
