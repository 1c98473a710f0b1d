"""The graph engine (lgl2o.engine.graphs) gives the eager engine's table; what a graph cannot hold is refused.

The equivalence tests need a GPU and are skipped without one (CI has none; scripts/device/check.sh runs them
on a GPU machine). The refusals that need no GPU run everywhere.
"""
import numpy as np
import pytest
import torch

from lgl2o.engine import graphs
from lgl2o.engine import loop as run
from lgl2o.problems import seeds, tasks
import lgl2o as O
from lgl2o.l2o.model import LSTMOptimizer

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _net(device):
    net = LSTMOptimizer()
    net.reset_parameters(torch.Generator().manual_seed(0))
    return net.to(device)


def test_a_cpu_task_is_refused_with_a_clear_error():
    task = tasks.MLP("digits", hidden=(8,))
    with pytest.raises(graphs.GraphError, match="CUDA graphs need a CUDA device"):
        graphs.GraphEngine(task, O.SGD(0.5), [0])
    with pytest.raises(graphs.GraphError, match="CUDA"):
        run.run_one(task, "sgd", O.SGD(0.5), steps=5, seeds=[0], progress=False, engine="graph")


def test_host_draws_are_the_eager_oracles_minibatches():
    """The graphed loop draws indices into host buffers itself; they must be sample_batch's numbers."""
    task = tasks.MLP("digits", hidden=(8,), batch_size=16)
    a, b = seeds.run_generators([3, 4], 1), seeds.run_generators([3, 4], 1)
    out = torch.empty(2, 16, dtype=torch.int64)
    for size in (16, 16, 40):
        want = task.sample_batch(a, size)
        got = graphs.draw_indices(task, b, torch.empty(2, size, dtype=torch.int64) if size != 16 else out)
        assert torch.equal(got, want)


def _same_table(a, b):
    assert list(a.step) == list(b.step) and list(a.seed) == list(b.seed)
    for col in ("batch_loss", "full_loss", "test_acc"):
        np.testing.assert_allclose(a[col], b[col], rtol=1e-4, atol=1e-6, equal_nan=True, err_msg=col)
    np.testing.assert_allclose(a.proposal_share, b.proposal_share, atol=0.05, equal_nan=True)
    for col in ("fwd", "bwd", "examples", "diverged_at"):
        assert (a[col].to_numpy() == b[col].to_numpy()).all(), col


GRAPHABLE = {
    "sgd": lambda net: O.SGD(0.5),
    "l2o": lambda net: O.L2O(net),
    "lgl2o-fresh": lambda net: O.LGL2O(O.L2O(net), O.SGD(0.5)),
    "lgl2o-fresh-1024-z1": lambda net: O.LGL2O(O.L2O(net), O.SGD(0.5), compare_batch=1024, z=1.0),
    "lgl2o-same": lambda net: O.LGL2O(O.L2O(net), O.SGD(0.5), compare="same"),
    "lgl2o-full": lambda net: O.LGL2O(O.L2O(net), O.SGD(0.5), compare="full"),
    # Adam's step count and GL2O's first-step rule live on the device: both can be captured
    "adam": lambda net: O.Adam(0.01),
    "lgl2o-adam": lambda net: O.LGL2O(O.L2O(net), O.Adam(0.01)),
    "gl2o": lambda net: O.GL2O(O.L2O(net), lr=0.5),
}


@cuda
@pytest.mark.parametrize("name", sorted(GRAPHABLE))
def test_graph_replay_gives_the_eager_table(name):
    task = tasks.MLP("digits", hidden=(20,), device="cuda")
    kw = dict(steps=60, seeds=[0, 1, 2], log_every=20, progress=False)
    eager = run.run_one(task, name, GRAPHABLE[name](_net("cuda")), **kw)
    graphed = run.run_one(task, name, GRAPHABLE[name](_net("cuda")), engine="graph", **kw)
    _same_table(graphed, eager)


@cuda
def test_divergence_is_recorded_inside_the_graph():
    task = tasks.MLP("digits", hidden=(20,), device="cuda")
    kw = dict(steps=40, seeds=[0, 1], log_every=10, progress=False)
    eager = run.run_one(task, "sgd", O.SGD(1e6), **kw)
    graphed = run.run_one(task, "sgd", O.SGD(1e6), engine="graph", **kw)
    assert (eager.diverged_at >= 0).all()
    _same_table(graphed, eager)


@cuda
def test_a_killed_graphed_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    task = tasks.MLP("digits", hidden=(20,), device="cuda")
    kw = dict(steps=60, seeds=[0, 1], log_every=20, progress=False)
    opt = lambda: O.LGL2O(O.L2O(_net("cuda")), O.SGD(0.5))  # noqa: E731
    whole = run.run_one(task, "lgl2o", opt(), engine="graph", **kw)
    ck = tmp_path / "lgl2o.pt"
    save = run.save_run

    def save_then_die(*a):
        save(*a)
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "save_run", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run.run_one(task, "lgl2o", opt(), checkpoint=ck, checkpoint_every=30, engine="graph", **kw)
    monkeypatch.setattr(run, "save_run", save)
    resumed = run.run_one(task, "lgl2o", opt(), checkpoint=ck, checkpoint_every=30, engine="graph", **kw)
    _same_table(resumed.drop(columns="wall_s"), whole.drop(columns="wall_s"))


@cuda
@pytest.mark.parametrize("make, why", [
    (lambda net: O.LGL2O(O.L2O(net), O.SGD(0.5), compare="next"), "compare='next'"),
])
def test_what_a_graph_cannot_hold_is_refused(make, why):
    task = tasks.MLP("digits", hidden=(20,), device="cuda")
    loop = None
    with pytest.raises(graphs.GraphError, match=why):
        loop = graphs.GraphEngine(task, make(_net("cuda")), [0, 1])
        for _ in range(5):
            loop.step()
