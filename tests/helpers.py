"""Small proposal optimizers for testing the guards."""
import torch


class FixedProposal:
    """Proposes a given point (or a function of the iterate) regardless of the gradient."""

    def __init__(self, point):
        self.point = point

    def init(self, params):
        return {"calls": torch.zeros(params.shape[0])}

    def step(self, params, state, grad, oracle=None):
        y = self.point(params) if callable(self.point) else self.point.expand_as(params).clone()
        return y, {"calls": state["calls"] + 1}, {}


def random_proposal(scale=3.0, seed=0):
    g = torch.Generator().manual_seed(seed)
    return FixedProposal(lambda x: x + scale * torch.randn(x.shape, generator=g))


def divergent_proposal():
    return FixedProposal(lambda x: 10.0 * x + 1.0)


def nan_proposal(kind="nan"):
    bad = float(kind)
    return FixedProposal(lambda x: x + bad)
