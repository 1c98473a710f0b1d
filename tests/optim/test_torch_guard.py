import torch
from torch import nn

from lgl2o.problems import data
from lgl2o.l2o.model import LSTMOptimizer
from lgl2o.l2o.torch_optim import L2OTorch
from lgl2o.optim.torch_guard import LossGuard


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))


def _train(model, make_opt, steps=60, guard=True):
    d = data.load("digits", "train")
    opt = make_opt(model)
    loss_fn = nn.CrossEntropyLoss()
    g = torch.Generator().manual_seed(1)
    took = []
    for _ in range(steps):
        idx = torch.randint(len(d.y), (64,), generator=g)
        cmp = torch.randint(len(d.y), (256,), generator=g)

        def closure():
            opt.zero_grad()
            loss = loss_fn(model(d.x[idx]), d.y[idx])
            loss.backward()
            return loss

        if guard:
            opt.step(closure, compare=lambda: loss_fn(model(d.x[cmp]), d.y[cmp]))
            took.append(opt.took_proposal)
        else:
            opt.step(closure)
    with torch.no_grad():
        return float(loss_fn(model(d.x), d.y)), took


def test_guard_around_the_l2o_trains_an_mlp_on_digits():
    model = _model()
    d = data.load("digits", "train")
    with torch.no_grad():
        start = float(nn.CrossEntropyLoss()(model(d.x), d.y))
    net = LSTMOptimizer()
    end, took = _train(model, lambda m: LossGuard(m.parameters(), L2OTorch(m.parameters(), net),
                                                  torch.optim.SGD(m.parameters(), lr=0.5)))
    assert end < 0.5 * start
    assert len(took) == 60


def test_guard_equals_plain_fallback_when_the_proposal_is_always_worse():
    worse = lambda m: torch.optim.SGD(m.parameters(), lr=1e4)  # noqa: E731 - always overshoots
    guarded_model, plain_model = _model(), _model()
    guarded, took = _train(guarded_model, lambda m: LossGuard(m.parameters(), worse(m), torch.optim.Adam(m.parameters(), lr=0.01)))
    plain, _ = _train(plain_model, lambda m: torch.optim.Adam(m.parameters(), lr=0.01), guard=False)
    assert not any(took)
    for a, b in zip(guarded_model.parameters(), plain_model.parameters()):
        assert torch.equal(a, b)
    assert guarded == plain


def test_guard_refuses_mismatched_parameters():
    import pytest

    m1, m2 = _model(), _model()
    with pytest.raises(ValueError, match="proposal optimizer must optimize exactly the guard's parameters"):
        LossGuard(m1.parameters(), torch.optim.SGD(m2.parameters(), lr=0.1), torch.optim.SGD(m1.parameters(), lr=0.1))
