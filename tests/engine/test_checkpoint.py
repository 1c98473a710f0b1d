"""A run's state in a checkpoint: named containers keep their keys and come back as themselves."""
import torch

from lgl2o.engine.checkpoint import fill, flatten
from lgl2o.l2o.model import LSTMOptimizer, LSTMState
from lgl2o.l2o.optimizer import L2O
from lgl2o.optim.baselines import Adam, AdamState
from lgl2o.optim.guards import LGL2O


def test_a_guards_state_flattens_to_the_keys_checkpoints_have_always_had_and_fills_back_to_its_types():
    params = torch.zeros(2, 5)
    state = LGL2O(L2O(LSTMOptimizer()), Adam(0.01)).init(params)
    flat = flatten(state)
    assert {k for k in flat if k.startswith(("proposal", "fallback"))} == {
        "proposal/lstm/0", "proposal/lstm/1", "proposal/lstm/2", "proposal/lstm/3",
        "fallback/m", "fallback/v", "fallback/t"}
    marked = {k: torch.full_like(v, i) for i, (k, v) in enumerate(flat.items())}
    back = fill(state, marked)
    assert type(back["proposal"]["lstm"]) is LSTMState and type(back["fallback"]) is AdamState
    assert all(torch.equal(v, marked[k]) for k, v in flatten(back).items())
    assert torch.equal(back["fallback"].t, marked["fallback/t"])


def test_the_lstm_state_names_each_layers_hidden_and_cell_tensors():
    net = LSTMOptimizer()
    state = net.init_state((3, 7))
    assert type(state) is LSTMState and len(state) == 2 * net.config.layers
    _, new = net(torch.randn(3, 7), tuple(state))  # a plain tuple, as meta-training passes it, is taken too
    assert type(new) is LSTMState
    assert new.h(1) is new[2] and new.c(1) is new[3] and new.h(0).shape == (3, 7, net.config.hidden)
    assert torch.equal(LSTMState.of_layers([(new.h(0), new.c(0)), (new.h(1), new.c(1))])[1], new.c(0))
