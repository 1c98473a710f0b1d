"""What the fast step backends share: the LSTM state laid out hidden-major, (..., H, P), and the
weights of the plain module repacked for it, cached until the module's weights change."""
from __future__ import annotations

import torch
from torch import nn

from ..model import LSTMOptimizer, LSTMState


class HiddenMajorLSTM(nn.Module):
    """Computes ``net``'s step (an ``l2o.model.LSTMOptimizer``, shared, not copied: a change to its weights
    is seen at the next step) with state (h_1, c_1, ..., h_L, c_L), each (..., H, P). No backward."""

    def __init__(self, net: LSTMOptimizer):
        super().__init__()
        if not isinstance(net, LSTMOptimizer):
            raise TypeError(f"{type(self).__name__} wraps an l2o.model.LSTMOptimizer, got {type(net).__name__}")
        self.net = net
        self.config = net.config
        H = net.config.hidden
        # nn.LSTM's gate order (i, f, g, o) -> (i, f, o, g): one sigmoid covers three contiguous gates
        self.register_buffer("_order", torch.cat((torch.arange(0, 2 * H), torch.arange(3 * H, 4 * H),
                                                  torch.arange(2 * H, 3 * H))), persistent=False)
        self._packed_for, self._packed = None, None

    def init_state(self, shape: tuple[int, ...], device=None, dtype=torch.float32):
        *lead, P = shape
        z = torch.zeros(*lead, self.config.hidden, P, device=device, dtype=dtype)
        return LSTMState([z.clone() for _ in range(2 * self.config.layers)])

    def weights(self) -> list[torch.Tensor]:
        """Per layer, ``pack``'s matrices, recomputed only when one of ``net``'s parameters changed."""
        key = tuple((p.data_ptr(), p._version, p.device) for p in self.net.parameters())
        if key != self._packed_for:
            with torch.no_grad():
                self._packed = self.pack([torch.cat((w[:, self._order].t(), b[self._order].unsqueeze(1)), 1)
                                          for w, b in zip(self.net.w, self.net.b)])
            self._packed_for = key
        return self._packed

    def pack(self, weights: list[torch.Tensor]) -> list[torch.Tensor]:
        """The (4H, inputs + H + 1) matrices over [input; h; 1], gate rows (i, f, o, g), as a backend uses them."""
        return weights

    def check(self, grad: torch.Tensor, state: tuple) -> None:
        if torch.is_grad_enabled() and any(p.requires_grad for p in self.net.parameters()):
            raise RuntimeError(f"{type(self).__name__} has no backward: call it under torch.no_grad() "
                               "(meta-training uses the plain l2o.model.LSTMOptimizer)")
        cfg, lead, P = self.config, grad.shape[:-1], grad.shape[-1]
        want = (*lead, cfg.hidden, P)
        if len(state) != 2 * cfg.layers or any(s.shape != want for s in state):
            raise ValueError(f"{type(self).__name__} state must be {2 * cfg.layers} tensors of shape {want} "
                             f"(from {type(self).__name__}.init_state, not the plain module's (..., P, H) state)")

    def output(self, h: torch.Tensor) -> torch.Tensor:
        """The update from the last layer's h (S, H, P): the output layer, scaled."""
        out = self.net.out
        return torch.matmul(out.weight, h).squeeze(1).add_(out.bias).mul_(self.config.output_scale)
