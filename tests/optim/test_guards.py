import pytest
import torch

import lgl2o as O
from lgl2o.problems import tasks
from lgl2o.l2o.model import LSTMOptimizer
from lgl2o.problems.oracle import Oracle

from lgl2o.optim.adversarial import Divergent, Fixed, NonFinite, RandomStep
from lgl2o.optim.protocol import finite_rows
from lgl2o.optim.reference import ReferenceLGL2O


def _grads(n=100, shape=(3, 17), seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g) * (1 + i % 7) for i in range(n)]


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_matches_torch_optim(kind):
    x0 = torch.randn(3, 17, generator=torch.Generator().manual_seed(1))
    ref = torch.nn.Parameter(x0.clone())
    if kind == "sgd":
        mine, theirs = O.SGD(0.05), torch.optim.SGD([ref], lr=0.05)
    else:
        mine, theirs = O.Adam(0.01, betas=(0.8, 0.99), eps=1e-6), torch.optim.Adam([ref], lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    x, st = x0.clone(), mine.init(x0)
    for g in _grads():
        x, st, _ = mine.step(x, st, g, None)
        ref.grad = g.clone()
        theirs.step()
    assert torch.allclose(x, ref.detach(), atol=1e-6, rtol=0)
    assert not torch.equal(x, x0)


def test_bad_hyperparameters_are_refused():
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="lr must be a positive number"):
            O.SGD(bad)
    with pytest.raises(ValueError, match="unknown compare 'nope'; allowed: fresh, full, same, next"):
        O.LGL2O(O.SGD(1), O.SGD(1), compare="nope")
    with pytest.raises(ValueError, match="unknown test 'median'; allowed: mean, sign"):
        O.LGL2O(O.SGD(1), O.SGD(1), test="median")
    with pytest.raises(ValueError, match="test='sign' needs per-example losses"):
        O.LGL2O(O.SGD(1), O.SGD(1), compare="full", test="sign")
    with pytest.raises(ValueError, match="unknown mu_rule"):
        O.GL2O(O.SGD(1), lr=1, mu_rule="median")
    with pytest.raises(ValueError, match="delta must be in"):
        O.GL2O(O.SGD(1), lr=1, delta=1.0)


# ------------------------------------------------------------------------------------------- LGL2O


def _quadratic_run(opt, steps, seeds=(0, 1, 2), **kw):
    task = tasks.Quadratic(**kw)
    oracle = Oracle(task, seeds)
    x = task.init_params(list(seeds))
    st = opt.init(x)
    gaps, took = [task.full_loss(x) - task.f_star], []
    for _ in range(steps):
        oracle.advance()
        _, g = oracle.grad(x)
        x, st, info = opt.step(x, st, g, oracle)
        gaps.append(task.full_loss(x) - task.f_star)
        took.append(info.get("took_proposal"))
    return task, torch.stack(gaps), took


@pytest.mark.parametrize("proposal", [RandomStep(3.0), Divergent(), NonFinite(float("nan")), NonFinite(float("inf"))],
                         ids=["random", "divergent", "nan", "inf"])
@pytest.mark.parametrize("compare", ["same", "full", "next"])
def test_lgl2o_with_gd_fallback_obeys_the_linear_rate(proposal, compare):
    mu, L = 0.1, 10.0
    guard = O.LGL2O(proposal, O.SGD(1 / L), compare=compare)
    task, gaps, took = _quadratic_run(guard, 1000, mu=mu, L=L)
    k = torch.arange(gaps.shape[0], dtype=torch.float64).unsqueeze(1)
    bound = (1 - mu / L) ** k * gaps[0].double()
    assert torch.isfinite(gaps).all()
    assert (gaps.double() <= bound * (1 + 1e-4) + 1e-5).all()
    assert gaps[-1].max() < 1e-3 * gaps[0].min()  # it really converged, not just stayed below a loose line


def test_lgl2o_never_takes_a_non_finite_proposal():
    guard = O.LGL2O(NonFinite(float("nan")), O.SGD(0.1), compare="same")
    _, _, took = _quadratic_run(guard, 20)
    assert not any(t.any() for t in took)


@pytest.mark.parametrize("compare", ["same", "full", "fresh", "next"])
def test_lgl2o_takes_a_finite_proposal_over_a_non_finite_fallback(compare):
    # the fallback's step is NaN everywhere (as a NaN learning rate makes it); the proposal is a finite SGD step
    guard = O.LGL2O(O.SGD(0.05), NonFinite(float("nan")), compare=compare)
    _, gaps, took = _quadratic_run(guard, 30)
    assert torch.isfinite(gaps).all() and all(t.all() for t in took)
    assert gaps[-1].max() < gaps[0].min()


@pytest.mark.parametrize("compare", ["same", "full", "next"])
def test_lgl2o_keeps_the_iterate_when_both_candidates_are_non_finite(compare):
    task = tasks.Quadratic()
    oracle = Oracle(task, [0, 1])
    guard = O.LGL2O(NonFinite(float("inf")), NonFinite(float("nan")), compare=compare)
    x = task.init_params([0, 1])
    st = guard.init(x)
    for _ in range(3):
        oracle.advance()
        _, g = oracle.grad(x)
        new, st, info = guard.step(x, st, g, oracle)
        assert torch.equal(new, x) and info["kept_current"].all() and not info["took_proposal"].any()


def test_gl2o_keeps_the_iterate_when_both_candidates_are_non_finite_and_takes_a_finite_one():
    task = tasks.Quadratic()
    oracle = Oracle(task, [0, 1])
    x = task.init_params([0, 1])
    oracle.advance()
    nan_grad = torch.full_like(x, float("nan"))  # the fallback x - lr * grad is NaN
    guard = O.GL2O(NonFinite(float("nan")), lr=0.1)
    new, _, info = guard.step(x, guard.init(x), nan_grad, oracle)
    assert torch.equal(new, x) and info["kept_current"].all()
    finite = O.GL2O(Fixed(lambda v: v * 0.5), lr=0.1)  # a finite proposal beats the NaN fallback
    new, _, info = finite.step(x, finite.init(x), nan_grad, oracle)
    assert torch.equal(new, x * 0.5) and info["took_proposal"].all() and not info["kept_current"].any()


def test_lgl2o_takes_an_exactly_optimal_proposal():
    task = tasks.Quadratic()
    guard = O.LGL2O(Fixed(task.x_star), O.SGD(0.1), compare="same")
    _, gaps, took = _quadratic_run(guard, 3)
    assert took[0].all()  # afterwards both candidates are x* (gradient 0): a tie, which goes to the fallback
    assert gaps[1:].abs().max() < 1e-4


def test_lgl2o_ties_go_to_the_fallback():
    guard = O.LGL2O(O.SGD(0.1), O.SGD(0.1), compare="same")
    _, _, took = _quadratic_run(guard, 5)
    assert not any(t.any() for t in took)


def test_paired_test_at_z0_is_plain_lgl2o_and_z_makes_it_stricter():
    task = tasks.MLP("digits", hidden=(20,))
    net = LSTMOptimizer()
    torch.manual_seed(0)
    net.reset_parameters(torch.Generator().manual_seed(3))
    runs = {}
    for name, z in [("plain", None), ("z0", 0.0), ("z2", 2.0)]:
        kw = {} if z is None else {"z": z}
        guard = O.LGL2O(O.L2O(net), O.SGD(0.5), compare="fresh", **kw)
        oracle, x = Oracle(task, [0, 1]), task.init_params([0, 1])
        st, took = guard.init(x), []
        for _ in range(30):
            oracle.advance()
            _, g = oracle.grad(x)
            x, st, info = guard.step(x, st, g, oracle)
            took.append(info["took_proposal"])
        runs[name] = (x, torch.stack(took))
    assert torch.equal(runs["plain"][0], runs["z0"][0])
    assert torch.equal(runs["plain"][1], runs["z0"][1])
    assert runs["z2"][1].sum() <= runs["z0"][1].sum()


class TableOracle:
    """An oracle whose per-example losses are given: the iterate's first coordinate picks a row."""

    def __init__(self, table):
        self.table = torch.as_tensor(table, dtype=torch.float32)

    def fresh_batch(self, size=None):
        return None

    def forward(self, y, batch):
        return self.table[y[:, 0].long()], None

    def losses(self, points, batch):
        return [self.forward(y, batch)[0] for y in points]


def _guard_takes(test, z, proposal_losses, fallback_losses):
    guard = O.LGL2O(Fixed(torch.ones(1, 1)), Fixed(torch.zeros(1, 1)), compare="fresh", z=z, test=test)
    oracle = TableOracle([fallback_losses, proposal_losses])
    x = torch.zeros(1, 1)
    _, _, info = guard.step(x, guard.init(x), torch.zeros(1, 1), oracle)
    return bool(info["took_proposal"])


def test_sign_test_threshold_is_half_plus_z_over_two_root_n():
    # n = 100, z = 2: the proposal must be better on more than 60 examples (and on average)
    for wins, expected in [(60, False), (61, True)]:
        proposal = [1.0] * wins + [2.0] * (100 - wins)
        assert _guard_takes("sign", 2.0, proposal, [1.5] * 100) is expected
    # z = 0: a strict majority; 50 of 100 is not one
    assert _guard_takes("sign", 0.0, [1.0] * 51 + [2.0] * 49, [1.5] * 100)
    assert not _guard_takes("sign", 0.0, [1.0] * 50 + [1.9] * 50, [1.5] * 100)


def test_sign_test_keeps_the_proposal_when_the_fallback_is_catastrophic_on_a_few_examples():
    """The conv collapse of stage 05 in miniature: the fallback step is far worse on average because a
    few examples blow up; their spread inflates the paired test's standard error, so the mean test at
    z = 2 keeps the catastrophic fallback, while the sign test sees the proposal better on almost all."""
    proposal = [0.2] * 128
    fallback = [0.25] * 126 + [100.0] * 2
    assert not _guard_takes("mean", 2.0, proposal, fallback)
    assert _guard_takes("sign", 2.0, proposal, fallback)
    assert _guard_takes("mean", 0.0, proposal, fallback)


def _capped_guard_takes(cap, current, proposal, fallback, z=2.0):
    """LGL2O at x = 2 (row 2 of the table) with the fallback candidate at 0 and the proposal at 1."""
    guard = O.LGL2O(Fixed(torch.ones(1, 1)), Fixed(torch.zeros(1, 1)), compare="fresh", z=z,
                    max_fallback_increase=cap)
    oracle = TableOracle([fallback, proposal, current])
    x = torch.full((1, 1), 2.0)
    _, _, info = guard.step(x, guard.init(x), torch.zeros(1, 1), oracle)
    return bool(info["took_proposal"]), bool(info.get("refused_fallback", False))


def test_a_capped_guard_refuses_a_catastrophic_fallback_step():
    """The conv collapse in miniature again: at z = 2 the mean test keeps the fallback that wrecks two
    examples (mean loss 1.81 from 0.3); refusing fallback steps that more than double the loss keeps the
    proposal instead. A fallback step that does not raise the loss that much leaves the test in charge."""
    current, proposal = [0.3] * 128, [0.2] * 128
    catastrophic = [0.25] * 126 + [100.0] * 2
    assert _capped_guard_takes(None, current, proposal, catastrophic) == (False, False)
    assert _capped_guard_takes(1.0, current, proposal, catastrophic) == (True, True)
    assert _capped_guard_takes(10.0, current, proposal, catastrophic) == (False, False)  # 1.81 < 11 x 0.3
    mild = [0.21] * 64 + [0.29] * 64  # mean 0.25: lower than the current loss; the proposal is not
    assert _capped_guard_takes(1.0, current, proposal, mild, z=20.0) == (False, False)  # confidently better
    # never a proposal whose estimate is not lower, however bad the fallback
    assert _capped_guard_takes(1.0, current, [200.0] * 128, catastrophic) == (False, False)


def test_a_capped_guard_costs_one_forward_pass_more():
    task = tasks.MLP("digits", hidden=(8,))
    for cap, fwd in ((None, 3), (1.0, 4)):
        guard = O.LGL2O(O.SGD(0.3), O.SGD(1.0), z=2.0, max_fallback_increase=cap)
        oracle, x = Oracle(task, [0, 1]), task.init_params([0, 1])
        oracle.advance()
        _, g = oracle.grad(x)
        guard.step(x, guard.init(x), g, oracle)
        assert (oracle.fwd, oracle.bwd) == (fwd, 1)
    for bad in (-1.0, float("nan"), float("inf"), "1"):
        with pytest.raises(ValueError, match="max_fallback_increase"):
            O.LGL2O(O.SGD(0.3), O.SGD(1.0), max_fallback_increase=bad)


def test_sign_test_refuses_a_proposal_better_on_most_examples_but_worse_on_average():
    proposal = [1.0] * 90 + [50.0] * 10
    assert not _guard_takes("sign", 0.0, proposal, [1.1] * 100)
    assert not _guard_takes("mean", 0.0, proposal, [1.1] * 100)


class AscentProposal(O.SGD):
    def step(self, params, state, grad, oracle=None):
        return params + self.lr * grad, state, {}


def test_always_worse_proposal_share_shrinks_with_comparison_batch():
    """An ascent step (x + lr g) is worse than the descent step (x - lr g) in expectation; it wins some
    noisy comparisons on small batches, fewer as the batch grows, none on the full training set."""
    task = tasks.MLP("digits", hidden=(20,))
    shares = []
    for b in (4, 32, 1024, None):
        kw = {"compare": "fresh", "compare_batch": b} if b else {"compare": "full"}
        guard = O.LGL2O(AscentProposal(0.3), O.SGD(0.3), **kw)
        oracle, x = Oracle(task, list(range(4))), task.init_params(list(range(4)))
        st, took = guard.init(x), []
        for _ in range(40):
            oracle.advance()
            _, g = oracle.grad(x)
            x, st, info = guard.step(x, st, g, oracle)
            took.append(info["took_proposal"].float().mean())
        shares.append(float(torch.stack(took).mean()))
    assert shares[0] > shares[1] > shares[2] >= shares[3]
    assert shares[3] < 0.05


# -------------------------------------------------------------------------------------------- GL2O


def test_gl2o_mu_rules_by_hand():
    r = torch.tensor([1.0, 1.0])
    mu = torch.tensor([2.0, 2.0])
    accept = torch.tensor([True, False])
    hist = torch.full((2, 3), 2.0)
    for rule, want in [("ema", 0.1 * 1 + 0.9 * 2), ("geometric", 0.5 * 2), ("recent_term", 1.0), ("recent_max", 2.0)]:
        g = O.GL2O(O.SGD(1), lr=1, delta=0.5, theta=0.1, mu_rule=rule, window=3)
        new, _ = g.update_mu(mu, hist, r, accept)
        assert new.tolist() == pytest.approx([want, 2.0])  # mu changes only on acceptance
    g = O.GL2O(O.SGD(1), lr=1, mu_rule="recent_max", window=3)
    mu, hist = torch.tensor([2.0]), torch.full((1, 3), 2.0)
    seen = []
    for res in (1.0, 0.5, 0.25, 0.1):
        mu, hist = g.update_mu(mu, hist, torch.tensor([res]), torch.tensor([True]))
        seen.append(float(mu))
    assert seen == [2.0, 2.0, 1.0, 0.5]
    g = O.GL2O(O.SGD(1), lr=1, mu_rule="ema", theta=0.5)
    mu, seen = torch.tensor([4.0]), []
    for res in (2.0, 2.0, 1.0):
        mu, _ = g.update_mu(mu, hist, torch.tensor([res]), torch.tensor([True]))
        seen.append(float(mu))
    assert seen == [3.0, 2.5, 1.75]


@pytest.mark.parametrize("dist, accepted", [(2.0, False), (1.9990234375, True), (1.5, True), (2.5, False)])
def test_gl2o_accepts_strictly_by_the_inequality(dist, accepted):
    # f = 1/2 ||x - x*||^2 (A = I), lr = 0.5, delta = 0.5: r(y) = 0.5 ||y - x*||; x0 - x* = (4, 0, ...)
    task = tasks.Quadratic(dim=4, mu=1.0, L=1.0, rotate=False, f_star=0.0)
    x0 = (task.x_star + torch.tensor([4.0, 0, 0, 0])).unsqueeze(0)
    y = (task.x_star + torch.tensor([dist, 0, 0, 0])).unsqueeze(0)
    g = O.GL2O(Fixed(y), lr=0.5, delta=0.5, mu_rule="recent_term")
    oracle = Oracle(task, [0])
    st = g.init(x0)
    oracle.advance()
    _, grad = oracle.grad(x0)
    x1, st, info = g.step(x0, st, grad, oracle)
    assert float(st["mu"]) == (0.5 * dist if accepted else 2.0)  # mu0 = 0.5 * 4 = 2, threshold 1
    assert bool(info["took_proposal"]) is accepted
    assert torch.equal(x1, y if accepted else x0 - 0.5 * grad)


# ------------------------------------------------------------------------------------- telemetry


@pytest.mark.parametrize("name, fwd, bwd, examples", [
    ("sgd", 1, 1, 128), ("adam", 1, 1, 128), ("l2o", 1, 1, 128), ("gl2o", 2, 2, 256),
    ("lgl2o-fresh", 3, 1, 128 + 2 * 64), ("lgl2o-same", 3, 1, 3 * 128), ("lgl2o-next", 2, 1, 2 * 128),
    ("lgl2o-full", 3, 1, 128 + 2 * 1437),
])
def test_passes_per_step_match_their_definition(name, fwd, bwd, examples):
    task = tasks.MLP("digits", hidden=(20,))
    net = LSTMOptimizer()
    opt = {
        "sgd": O.SGD(0.1), "adam": O.Adam(0.01), "l2o": O.L2O(net), "gl2o": O.GL2O(O.L2O(net), lr=0.1),
        "lgl2o-fresh": O.LGL2O(O.L2O(net), O.SGD(0.1), compare="fresh", compare_batch=64),
        "lgl2o-same": O.LGL2O(O.L2O(net), O.SGD(0.1), compare="same"),
        "lgl2o-next": O.LGL2O(O.L2O(net), O.SGD(0.1), compare="next"),
        "lgl2o-full": O.LGL2O(O.L2O(net), O.SGD(0.1), compare="full"),
    }[name]
    oracle, x = Oracle(task, [0, 1]), task.init_params([0, 1])
    st = opt.init(x)
    per_step = []
    for t in range(4):
        before = (oracle.fwd, oracle.bwd, oracle.examples)
        oracle.advance()
        _, g = oracle.grad(x)
        x, st, _ = opt.step(x, st, g, oracle)
        per_step.append(tuple(a - b for a, b in zip((oracle.fwd, oracle.bwd, oracle.examples), before)))
    if name == "lgl2o-next":  # the first step has no previous comparison to reuse
        assert per_step[0] == (3, 1, 3 * 128)
        per_step = per_step[1:]
    assert set(per_step) == {(fwd, bwd, examples)}


def test_next_batch_reuse_gives_the_same_gradient_as_recomputing():
    task = tasks.MLP("digits", hidden=(20,))
    net = LSTMOptimizer()
    guard = O.LGL2O(O.L2O(net), O.SGD(0.3), compare="next")
    oracle, x = Oracle(task, [0, 1, 2]), task.init_params([0, 1, 2])
    st = guard.init(x)
    oracle.advance()
    _, g = oracle.grad(x)
    x, st, info = guard.step(x, st, g, oracle)
    oracle.advance()
    reused_loss, reused = oracle.grad(x)
    fresh_loss, fresh = task.forward(x, oracle.batch)[0].mean(1), task.backward(x, task.forward(x, oracle.batch)[1])
    assert torch.allclose(reused, fresh, atol=1e-7) and torch.allclose(reused_loss, fresh_loss)


def test_finite_rows_is_isfinite_all():
    inf, nan = float("inf"), float("nan")
    x = torch.tensor([[0.0, 1.0, -2.0], [3.0e38, -3.0e38, 1e-45], [-0.0, 0.0, 5.0], [1.0, inf, 0.0],
                      [-inf, 1.0, 1.0], [nan, 0.0, 0.0], [inf, -inf, nan]])
    got = finite_rows(x)
    assert got.tolist() == [True, True, True, False, False, False, False]
    assert torch.equal(got, torch.isfinite(x).all(1))


class NanOnRun1(O.SGD):
    """SGD whose candidate is non-finite on run 1: the guard must keep the fallback there."""

    def step(self, params, state, grad, oracle):
        y, state, info = super().step(params, state, grad, oracle)
        y[1, :3] = float("nan")
        return y, state, info


@pytest.mark.parametrize("proposal", ["sgd", "nan-on-run-1", "l2o"])
@pytest.mark.parametrize("kw", [{}, {"z": 2.0}, {"compare": "same"}, {"compare": "next", "z": 1.0},
                                {"compare_batch": 512, "z": 2.0}, {"test": "sign", "z": 1.0},
                                {"z": 2.0, "max_fallback_increase": 0.0}, {"compare": "full"},
                                {"compare_batch": 16, "audit_every": 4, "audit_batch": 256},
                                {"compare": "next", "audit_every": 3, "audit_batch": 128}],
                         ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "paper")
def test_lgl2o_takes_the_decisions_of_the_forward_based_reference(proposal, kw):
    task = tasks.MLP("digits", hidden=(20,))
    make = {"sgd": lambda: O.SGD(1.0), "nan-on-run-1": lambda: NanOnRun1(1.0), "l2o": lambda: O.L2O(LSTMOptimizer())}
    runs = []
    for cls in (O.LGL2O, ReferenceLGL2O):
        torch.manual_seed(0)  # the same LSTM weights for both
        guard = cls(make[proposal](), O.Adam(0.05), **kw)
        oracle, x = Oracle(task, [0, 1, 2]), task.init_params([0, 1, 2])
        st, trace = guard.init(x), []
        for _ in range(40):
            oracle.advance()
            _, g = oracle.grad(x)
            x, st, info = guard.step(x, st, g, oracle)
            trace.append(torch.stack([info["took_proposal"].double(), info["loss_proposal"].double(),
                                      info["loss_fallback"].double(), info["kept_current"].double()]))
        runs.append((x, torch.stack(trace), oracle.counts))
    (x, trace, counts), (x_ref, trace_ref, counts_ref) = runs
    assert torch.equal(trace.nan_to_num(-1.0), trace_ref.nan_to_num(-1.0)) and torch.equal(x, x_ref)
    assert counts == counts_ref
    took = trace[:, 0]
    if proposal == "sgd":  # both kinds of decision were taken, so the comparison could have failed
        assert 0 < float(took.mean()) < 1
    if proposal == "nan-on-run-1":
        assert not took[:, 1].any() and torch.isfinite(x).all()
