"""The coordinatewise LSTM learned optimizer of Andrychowicz et al. (2016).

Every coordinate of the optimizee is one row of a batch through the same 2-layer LSTM (20 hidden units,
weights shared over coordinates). Its input is the preprocessed gradient of that coordinate
(Andrychowicz et al., appendix A):

    |g| >= e^-p :  (log|g| / p, sign g)
    |g| <  e^-p :  (-1, e^p g)

with p = 10, and its output times 0.1 is the update added to the parameter. One step over all
coordinates (and over several runs, a leading dimension) is one batched computation: the input and
recurrent matmuls of each layer are fused into one ``addmm`` over the (runs x coordinates) rows.

Checkpoints are a ``state_dict`` plus a JSON config (``save``/``load``), never a pickled object.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class L2OConfig:
    hidden: int = 20
    layers: int = 2
    preproc_p: float = 10.0
    output_scale: float = 0.1

    def __post_init__(self):
        for name in ("hidden", "layers"):
            v = getattr(self, name)
            if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
                raise ValueError(f"L2OConfig.{name} must be a positive integer, got {v!r}")
        for name in ("preproc_p", "output_scale"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0):
                raise ValueError(f"L2OConfig.{name} must be a positive number, got {v!r}")


def preprocess(g: torch.Tensor, p: float = 10.0) -> torch.Tensor:
    """(..., ) gradient -> (..., 2) LSTM input, with the small-gradient branch below e^-p."""
    big = g.abs() >= math.exp(-p)
    first = torch.where(big, torch.log(g.abs().clamp_min(1e-38)) / p, torch.full_like(g, -1.0))
    second = torch.where(big, torch.sign(g), g * math.exp(p))
    return torch.stack((first, second), dim=-1)


class LSTMOptimizer(nn.Module):
    """Coordinatewise 2-layer LSTM. State: a tuple (h_1, c_1, ..., h_L, c_L), each (..., P, hidden)."""

    def __init__(self, config: L2OConfig = L2OConfig()):
        super().__init__()
        self.config = config
        H = config.hidden
        ins = [2] + [H] * (config.layers - 1)
        # One weight per layer over the concatenated [input, h]: gates i, f, g, o as in nn.LSTM.
        self.w = nn.ParameterList([nn.Parameter(torch.empty(i + H, 4 * H)) for i in ins])
        self.b = nn.ParameterList([nn.Parameter(torch.zeros(4 * H)) for _ in ins])
        self.out = nn.Linear(H, 1)
        self.reset_parameters()

    def reset_parameters(self, generator: torch.Generator | None = None):
        H = self.config.hidden
        bound = 1.0 / math.sqrt(H)
        with torch.no_grad():
            for w, b in zip(self.w, self.b):
                w.copy_((torch.rand(w.shape, generator=generator) * 2 - 1) * bound)
                b.zero_()
                b[H : 2 * H] = 1.0  # forget-gate bias 1: remember by default
            self.out.weight.copy_((torch.rand(self.out.weight.shape, generator=generator) * 2 - 1) * bound)
            self.out.bias.zero_()

    def init_state(self, shape: tuple[int, ...], device=None, dtype=torch.float32):
        z = torch.zeros(*shape, self.config.hidden, device=device, dtype=dtype)
        return tuple(z.clone() for _ in range(2 * self.config.layers))

    def forward(self, grad: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """grad (..., P) -> update (..., P) and the next state. All coordinates in one batch."""
        H = self.config.hidden
        lead = grad.shape
        x = preprocess(grad, self.config.preproc_p).reshape(-1, 2)
        new = []
        for layer, (w, b) in enumerate(zip(self.w, self.b)):
            h, c = state[2 * layer].reshape(-1, H), state[2 * layer + 1].reshape(-1, H)
            gates = torch.addmm(b, torch.cat((x, h), dim=1), w)
            i, f, g, o = gates.split(H, dim=1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            new += [h.view(*lead, H), c.view(*lead, H)]
            x = h
        update = self.out(x).view(lead) * self.config.output_scale
        return update, tuple(new)


# ----------------------------------------------------------------------------------------------
# checkpoints: state_dict + JSON, loaded without executing code


def save(model: LSTMOptimizer, path: str | os.PathLike, extra: dict | None = None) -> None:
    """Write ``path`` (.pt, tensors only) and ``path`` with suffix .json (config + ``extra``), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": "lgl2o.l2o/1", "l2o": asdict(model.config), **(extra or {})}
    tmp_pt, tmp_js = path.with_suffix(".pt.tmp"), path.with_suffix(".json.tmp")
    torch.save(model.state_dict(), tmp_pt)
    tmp_js.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.replace(tmp_pt, path.with_suffix(".pt"))
    os.replace(tmp_js, path.with_suffix(".json"))


class CheckpointError(RuntimeError):
    pass


def load(path: str | os.PathLike, expect: L2OConfig | None = None, device="cpu") -> tuple[LSTMOptimizer, dict]:
    """Load a checkpoint written by ``save``; refuse a config or tensors that do not match."""
    path = Path(path)
    pt, js = path.with_suffix(".pt"), path.with_suffix(".json")
    for f in (pt, js):
        if not f.is_file():
            raise CheckpointError(f"{f} is missing (a checkpoint is a .pt state_dict plus a .json config)")
    try:
        meta = json.loads(js.read_text())
        config = L2OConfig(**meta["l2o"])
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{js}: not a valid L2O checkpoint config ({e})") from e
    if expect is not None and config != expect:
        raise CheckpointError(f"{path}: checkpoint is for {config}, but {expect} was requested")
    try:
        state = torch.load(pt, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is refused the same way
        raise CheckpointError(f"{pt}: unreadable checkpoint tensors ({type(e).__name__})") from e
    model = LSTMOptimizer(config).to(device)
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{pt}: tensors do not match the config {config} ({e})") from e
    return model, meta
