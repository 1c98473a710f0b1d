"""The fast L2O steps (lgl2o.l2o.backends: fast, native) against the plain module: same updates, states and
guard decisions."""
import pytest
import torch

from lgl2o.l2o import checkpoint
from lgl2o.l2o.backends.fast import FastLSTM
from lgl2o.l2o.backends.native import NativeLSTM
from lgl2o import GL2O, L2O, LGL2O, SGD
from lgl2o.problems.oracle import Oracle
from lgl2o.core.paths import ROOT
from lgl2o.problems.tasks import MLP


def _trained():
    """The committed meta-trained L2O: realistic weights, not a random init's near-zero updates."""
    net, _ = checkpoint.load(ROOT / "models" / "l2o")
    return net


def _gradients(shape, steps, seed=0):
    """Gradients spanning both preprocessing branches (|g| from 1e-7 to 1, below and above e^-10), and
    exact zeros."""
    gen = torch.Generator().manual_seed(seed)
    for k in range(steps):
        g = torch.randn(shape, generator=gen) * 10 ** torch.empty(shape).uniform_(-7, 0, generator=gen)
        g.view(-1)[k :: 97] = 0.0
        yield g


# on a machine with a GPU, the same comparison runs there too (scripts/device/check.sh); the native step
# is CPU only
CASES = [(FastLSTM, "cpu"), (NativeLSTM, "cpu")] + ([(FastLSTM, "cuda")] if torch.cuda.is_available() else [])
STEPS = [FastLSTM, NativeLSTM]


@pytest.mark.parametrize("step,device", CASES)
@pytest.mark.parametrize("shape", [(3, 500), (1, 15910), (700,)])
def test_fast_step_matches_the_plain_module_over_many_steps(shape, step, device):
    net = _trained().to(device)
    fast = step(net)
    plain_state, fast_state = net.init_state(shape, device), fast.init_state(shape, device)
    with torch.no_grad():
        for g in _gradients(shape, 30):
            g = g.to(device)
            u, plain_state = net(g, plain_state)
            v, fast_state = fast(g, fast_state)
            assert v.shape == u.shape
            # the same products and sums in another layout: float32 rounding only
            torch.testing.assert_close(v, u, rtol=1e-4, atol=1e-7)
            for a, b in zip(plain_state, fast_state):
                torch.testing.assert_close(b, a.transpose(-1, -2), rtol=1e-4, atol=1e-5)
    assert u.abs().max() > 1e-3  # the trained L2O's updates are not vanishing, so the comparison has teeth


@pytest.mark.parametrize("step", STEPS)
def test_fast_step_follows_changes_to_the_wrapped_modules_weights(step):
    net = _trained()
    fast = step(net)
    g = next(_gradients((2, 300), 1))
    with torch.no_grad():
        before, _ = fast(g, fast.init_state(g.shape))
        net.out.bias.add_(0.5)  # the update moves by output_scale * 0.5
        after, _ = fast(g, fast.init_state(g.shape))
    torch.testing.assert_close(after - before, torch.full_like(g, 0.5 * net.config.output_scale))


@pytest.mark.parametrize("step", STEPS)
def test_fast_step_refuses_gradients_and_the_plain_state_layout(step):
    net = _trained()
    fast = step(net)
    g = torch.randn(2, 30)
    with pytest.raises(RuntimeError, match="no_grad"):
        fast(g, fast.init_state(g.shape))
    with torch.no_grad(), pytest.raises(ValueError, match=f"{step.__name__}.init_state"):
        fast(g, net.init_state(g.shape))
    with pytest.raises(TypeError, match="LSTMOptimizer"):
        step(torch.nn.Linear(2, 2))


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("kind", ["lgl2o", "lgl2o-reset", "gl2o"])
def test_guarded_runs_with_the_fast_step_match_the_plain_ones(data_root, kind, step):
    """Whole guarded runs on MNIST: the same decision at every step, the same iterates to rounding while
    rounding is all that separates them, the same loss at the end.

    Rounding differences grow along an L2O's trajectory (its steps feed its next gradients): measured
    over these 40 steps with the committed L2O, the largest coordinate difference from the plain module
    reaches ~1e-5 with the fast step and ~2e-5 with the compiled module under LGL2O, 2.4e-2 and 1.2e-2
    under GL2O (which takes the L2O on most steps), a few coordinates at a time (a gradient near 0 flips
    the sign the LSTM sees). So the iterates are compared after 10 steps, by the norm of their difference
    relative to the distance travelled: measured 0.8-3e-6 for the fast step, 1-2e-6 for the compiled
    module; the bound is 1e-5. The final losses differ by ~3e-7 (relative) under LGL2O, and under GL2O
    by 4.7e-4 for the fast step and 1.6e-4 for the compiled module (the earlier L2O: 7e-5 and 7e-6), so
    the bound there is 1e-3."""
    net = _trained()
    task = MLP("mnist")
    seeds = [0, 1, 2]

    def make(step):
        if kind == "gl2o":
            return GL2O(L2O(step), lr=3.0)
        return LGL2O(L2O(step), SGD(3.0), z=2.0, reset_proposal_on_fallback=kind == "lgl2o-reset")

    runs = {}
    for name, module in (("plain", net), ("fast", step(net))):
        opt, oracle = make(module), Oracle(task, seeds)
        params = x0 = task.init_params(seeds)
        state, took = opt.init(params), []
        with torch.no_grad():
            for k in range(40):
                oracle.advance()
                loss, g = oracle.grad(params)
                params, state, info = opt.step(params, state, g, oracle)
                took.append(info["took_proposal"])
                if k == 9:
                    early = params
        runs[name] = early, loss, torch.stack(took)
    (xp, lp, tp), (xf, lf, tf) = runs["plain"], runs["fast"]
    assert torch.equal(tp, tf)
    assert 0 < tp.sum() < tp.numel()  # both kinds of decision occur, so agreeing on them means something
    assert ((xf - xp).norm(dim=1) / (xp - x0).norm(dim=1)).max() < 1e-5
    torch.testing.assert_close(lf, lp, rtol=1e-3 if kind == "gl2o" else 1e-4, atol=0)
