"""What is particular to the native L2O step (lgl2o.l2o.backends.native); tests/l2o/test_backends.py runs the fast step's
checks against the plain module on it too."""
import pytest
import torch

from lgl2o.l2o import backends, model
from lgl2o.l2o.backends import native
from lgl2o.l2o.backends.native import NativeLSTM, NativeUnavailable


def _random_net(hidden, layers, seed=0):
    net = model.LSTMOptimizer(model.L2OConfig(hidden=hidden, layers=layers))
    gen = torch.Generator().manual_seed(seed)
    net.reset_parameters(gen)
    with torch.no_grad():  # weights large enough that every gate function leaves its linear range
        for p in net.parameters():
            p.add_(torch.randn(p.shape, generator=gen))
    return net


@pytest.mark.parametrize("hidden,layers", [(20, 2), (5, 3), (1, 1)])
@pytest.mark.parametrize("P", [1, 31, 32, 33, 95])
def test_any_size_of_lstm_and_any_number_of_coordinates(hidden, layers, P):
    """Odd hidden sizes (the C loop takes two units at a time), a third layer, and coordinate counts
    around the blocks of 32 (the last block is zero-padded)."""
    net = _random_net(hidden, layers)
    step = NativeLSTM(net)
    shape = (3, P)
    s_plain, s_native = net.init_state(shape), step.init_state(shape)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(5):
            g = torch.randn(shape, generator=gen) * 10 ** torch.empty(shape).uniform_(-6, 0, generator=gen)
            u, s_plain = net(g, s_plain)
            v, s_native = step(g, s_native)
            torch.testing.assert_close(v, u, rtol=1e-4, atol=1e-6)
            for a, b in zip(s_plain, s_native):
                torch.testing.assert_close(b, a.transpose(-1, -2), rtol=1e-4, atol=1e-5)
    assert u.abs().max() > 1e-2


def test_nan_and_infinite_gradients_reach_the_update_as_in_the_plain_module():
    """Built without -ffast-math: a diverging run's NaN must reach the proposal, where the guards see it."""
    net = _random_net(20, 2)
    step = NativeLSTM(net)
    g = torch.randn(2, 100)
    g[0, 3], g[0, 40], g[1, 7], g[1, 99] = float("nan"), float("inf"), float("-inf"), float("nan")
    with torch.no_grad():
        u, _ = net(g, net.init_state(g.shape))
        v, _ = step(g, step.init_state(g.shape))
    assert torch.isnan(u).any()
    assert torch.equal(torch.isnan(v), torch.isnan(u)) and torch.equal(torch.isinf(v), torch.isinf(u))
    finite = torch.isfinite(u)
    torch.testing.assert_close(v[finite], u[finite], rtol=1e-4, atol=1e-6)


def test_the_step_does_not_depend_on_the_number_of_threads():
    """Each block of coordinates is computed whole by one thread, so the result is bit for bit the same."""
    net = _random_net(20, 2)
    step = NativeLSTM(net)
    g = torch.randn(4, 1000)
    before = torch.get_num_threads()
    out = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with torch.no_grad():
                out.append(step(g, step.init_state(g.shape)))
    finally:
        torch.set_num_threads(before)
    (u1, s1), (u2, s2) = out
    assert torch.equal(u1, u2) and all(torch.equal(a, b) for a, b in zip(s1, s2))


def test_bad_input_and_a_missing_compiler_give_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("LGL2O_NATIVE_BUILD", str(tmp_path))  # the failing builds' folders go there
    step = NativeLSTM(_random_net(4, 2))
    g = torch.randn(2, 10, dtype=torch.float64)
    with torch.no_grad(), pytest.raises(ValueError, match="float32 CPU"):
        step(g, step.init_state(g.shape))
    with pytest.raises(NativeUnavailable, match="needs a C compiler"):
        native.load(("/nonexistent/cc",))
    with pytest.raises(NativeUnavailable, match="compiling lstm_cell.c failed"):
        native.load(("cc", "-DLGL2O_TEST", "-fno-such-option"))
    assert isinstance(backends.make_step(_random_net(4, 2), "native"), NativeLSTM)
    with pytest.raises(ValueError, match="allowed: plain, compile, fast, native"):
        backends.make_step(None, "jit")
