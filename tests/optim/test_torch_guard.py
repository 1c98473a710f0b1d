"""LossGuard: the library guard in an ordinary PyTorch loop."""
import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lgl2o.l2o.checkpoint import load, load_l2o
from lgl2o.l2o.model import LSTMOptimizer
from lgl2o.l2o.torch_optim import L2OTorch
from lgl2o.optim.torch_guard import MIN_EXAMPLES, LossGuard
from lgl2o.problems import data
from state_bytes import restore
from state_bytes import saved as saved_state


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))


def _batches(steps, seed=1, compare=MIN_EXAMPLES):
    d = data.load("digits", "train")
    g = torch.Generator().manual_seed(seed)
    return d, [(torch.randint(len(d.y), (64,), generator=g), torch.randint(len(d.y), (compare,), generator=g))
               for _ in range(steps)]


def _train(model, opt, batches, d, guard=True, scheduler=None, nan_loss_at=()):
    took = []
    for k, (idx, cmp) in enumerate(batches):
        def closure():
            opt.zero_grad()
            loss = F.cross_entropy(model(d.x[idx]), d.y[idx])
            if k in nan_loss_at:  # as an overflowing or diverged loss would be
                loss = loss * math.nan
            loss.backward()
            return loss

        if guard:
            opt.step(closure, compare=lambda: F.cross_entropy(model(d.x[cmp]), d.y[cmp], reduction="none"))
            took.append(opt.took_proposal)
        else:
            opt.step(closure)
        if scheduler is not None:
            scheduler.step()
    with torch.no_grad():
        return float(F.cross_entropy(model(d.x), d.y)), took


class SetTo(torch.optim.Optimizer):
    """A stand-in optimizer whose step puts every parameter at ``value``."""

    def __init__(self, params, value):
        super().__init__(params, {"lr": 0.0})
        self.value = value

    @torch.no_grad()
    def step(self, closure=None):
        for g in self.param_groups:
            for p in g["params"]:
                p.fill_(self.value)


def _one_parameter_case(losses: dict, **guard_kw):
    """A guard over one scalar parameter w: the proposal puts w at 1, the fallback at 2, and ``compare``
    returns ``losses[w]``. Returns (guard, w, closure, compare)."""
    w = nn.Parameter(torch.zeros(()))
    guard = LossGuard([w], SetTo([w], 1.0), SetTo([w], losses.get("fallback_value", 2.0)), **guard_kw)

    def closure():
        guard.zero_grad()
        loss = w * 0 + 1.0
        loss.backward()
        return loss

    return guard, w, closure, lambda: losses["nan" if math.isnan(float(w.detach())) else float(w.detach())]


def test_guard_around_the_meta_trained_l2o_trains_an_mlp_on_digits():
    model = _model()
    d, batches = _batches(60)
    with torch.no_grad():
        start = float(F.cross_entropy(model(d.x), d.y))
    guard = LossGuard(model.parameters(), L2OTorch(model.parameters(), load_l2o()),
                      torch.optim.SGD(model.parameters(), lr=0.5))
    end, took = _train(model, guard, batches, d)
    assert end < 0.5 * start
    assert len(took) == 60 and guard.proposal_share == sum(took) / 60


def test_guard_equals_plain_fallback_when_the_proposal_is_always_worse():
    d, batches = _batches(30)
    guarded_model, plain_model = _model(), _model()
    guard = LossGuard(guarded_model.parameters(), torch.optim.SGD(guarded_model.parameters(), lr=1e4),
                      torch.optim.Adam(guarded_model.parameters(), lr=0.01))
    guarded, took = _train(guarded_model, guard, batches, d)
    plain, _ = _train(plain_model, torch.optim.Adam(plain_model.parameters(), lr=0.01), batches, d, guard=False)
    assert not any(took)
    for a, b in zip(guarded_model.parameters(), plain_model.parameters()):
        assert torch.equal(a, b)
    assert guarded == plain


def test_the_paired_test_needs_the_margin_the_plain_comparison_does_not():
    # differences of mean -0.05 and standard deviation ~1 over 1024 examples: 1.6 standard errors
    n = 1024
    diff = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).double() - 0.05
    losses = {1.0: 5.0 + diff, 2.0: torch.full((n,), 5.0, dtype=torch.float64)}
    se = float(diff.std() / math.sqrt(n))
    assert 1.5 < 0.05 / se < 2.0
    for z, kept in ((0.0, True), (1.0, True), (2.0, False)):
        guard, w, closure, compare = _one_parameter_case(losses, z=z)
        guard.step(closure, compare)
        assert guard.took_proposal is kept and float(w.detach()) == (1.0 if kept else 2.0), z
    # the sign test counts wins: the proposal wins on half of the examples only, so it is refused
    guard, w, closure, compare = _one_parameter_case(losses, test="sign", z=0.0)
    guard.step(closure, compare)
    assert not guard.took_proposal


def test_a_fallback_step_far_above_the_current_loss_is_refused_by_the_cap():
    n = 1024
    noisy = torch.where(torch.arange(n) % 2 == 0, 115.0, -85.0).double()  # mean 15, spread 100
    losses = {0.0: torch.full((n,), 10.0, dtype=torch.float64), 1.0: noisy, 2.0: torch.full((n,), 20.0, dtype=torch.float64)}
    guard, w, closure, compare = _one_parameter_case(losses)
    guard.step(closure, compare)
    assert not guard.took_proposal  # 15 < 20, but not by 2 standard errors
    guard, w, closure, compare = _one_parameter_case(losses, max_fallback_increase=0.5)
    guard.step(closure, compare)  # the fallback's 20 is above 1.5 x the current 10: refused
    assert guard.took_proposal and guard.refused_fallback and float(w.detach()) == 1.0


def test_a_finite_candidate_beats_a_non_finite_one_and_two_non_finite_keep_the_parameters():
    n = 1024
    finite = torch.ones(n, dtype=torch.float64)
    # the fallback's step makes the parameters NaN (as a NaN learning rate does): the finite proposal wins
    guard, w, closure, compare = _one_parameter_case({1.0: finite * 3, "fallback_value": math.nan,
                                                      "nan": finite * math.nan})
    with pytest.warns(RuntimeWarning, match="guarantee does not hold"):
        guard.step(closure, compare)
    assert guard.took_proposal and float(w.detach()) == 1.0 and guard.nonfinite_fallback == 1
    # a proposal whose loss is infinite loses to a finite fallback, however the test reads it
    guard, w, closure, compare = _one_parameter_case({1.0: finite * math.inf, 2.0: finite})
    guard.step(closure, compare)
    assert not guard.took_proposal and not guard.kept_current and float(w.detach()) == 2.0
    # both non-finite: the parameters stay where they were
    guard, w, closure, compare = _one_parameter_case({1.0: finite * math.nan, "fallback_value": math.inf,
                                                      math.inf: finite})
    with pytest.warns(RuntimeWarning, match="guarantee does not hold"):
        guard.step(closure, compare)
    assert guard.kept_current and not guard.took_proposal and float(w.detach()) == 0.0


def test_a_nan_learning_rate_in_the_fallback_never_reaches_the_parameters_and_is_reported():
    model = _model()
    d, batches = _batches(5)
    guard = LossGuard(model.parameters(), torch.optim.SGD(model.parameters(), lr=0.1),
                      torch.optim.SGD(model.parameters(), lr=math.nan))
    with pytest.warns(RuntimeWarning, match="fallback's candidate is non-finite at step 1.*guarantee does not hold") as w:
        _, took = _train(model, guard, batches, d)
    assert len([x for x in w if "fallback" in str(x.message)]) == 1  # the first time only
    assert all(took) and all(torch.isfinite(p).all() for p in model.parameters())
    assert guard.nonfinite_fallback == 5 and guard.state_dict()["guard"]["nonfinite_fallback"] == 5


def test_a_training_set_smaller_than_the_comparison_is_compared_whole_and_exactly():
    """300 training examples, fewer than min_examples: the error names whole_set; with it the comparison
    on every example decides, and a proposal better on most examples but worse on the whole set (an
    overconfident one) is never taken, while a better one is."""
    n = 300
    d, _ = _batches(1)
    x, y = d.x[:n], d.y[:n]
    model = _model()
    with pytest.raises(ValueError, match="whole_set=True"):
        LossGuard(model.parameters(), torch.optim.SGD(model.parameters(), lr=0.1),
                  torch.optim.SGD(model.parameters(), lr=0.1)).step(
            lambda: F.cross_entropy(model(x), y).backward(), lambda: F.cross_entropy(model(x), y, reduction="none"))
    finite = torch.ones(n, dtype=torch.float64)
    overconfident = finite * 0.01
    overconfident[:9] = 50.0  # better on 97% of the examples, worse in mean: 0.5 + 0.0097 > 0.3
    for proposal, taken in ((overconfident, False), (finite * 0.2, True)):
        guard, w, closure, compare = _one_parameter_case({1.0: proposal, 2.0: finite * 0.3}, whole_set=True)
        for _ in range(20):
            guard.step(closure, compare)
            assert guard.took_proposal is taken


def test_a_closure_that_forgets_backward_is_an_error_naming_it():
    model = _model()
    d, [(idx, cmp)] = _batches(1)
    guard = LossGuard(model.parameters(), torch.optim.SGD(model.parameters(), lr=0.1),
                      torch.optim.SGD(model.parameters(), lr=0.1))
    before = [p.detach().clone() for p in model.parameters()]

    def closure():
        guard.zero_grad(set_to_none=True)
        return F.cross_entropy(model(d.x[idx]), d.y[idx])

    with pytest.raises(RuntimeError, match=r"no parameter has a gradient.*loss\.backward\(\)"):
        guard.step(closure, compare=lambda: F.cross_entropy(model(d.x[cmp]), d.y[cmp], reduction="none"))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_non_finite_loss_skips_the_step_warns_once_and_is_counted():
    model = _model()
    d, batches = _batches(6)
    guard = LossGuard(model.parameters(), torch.optim.NAdam(model.parameters(), lr=0.01),
                      torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    _train(model, guard, batches[:2], d)
    before = [p.detach().clone() for p in model.parameters()]
    states = (str(guard.proposal.state_dict()), str(guard.fallback.state_dict()))
    with pytest.warns(RuntimeWarning, match="loss is nan at step 3: the step is skipped") as w:
        _train(model, guard, batches[2:4], d, nan_loss_at={0, 1})
    assert len(w) == 1 and guard.skipped_steps == 2 and guard.steps == 2
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert (str(guard.proposal.state_dict()), str(guard.fallback.state_dict())) == states  # neither stepped
    _train(model, guard, batches[4:], d)
    assert guard.steps == 4 and guard.skipped_steps == 2
    assert not all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_a_run_with_skipped_steps_resumes_exactly_with_its_counters():
    def run(batches, d, nan_loss_at, state=None):
        model = _model()
        guard = LossGuard(model.parameters(), torch.optim.NAdam(model.parameters(), lr=0.01),
                          torch.optim.SGD(model.parameters(), lr=math.nan if state is None else 0.1))
        if state is not None:
            model.load_state_dict(state[0])
            guard.load_state_dict(state[1])
        with warnings.catch_warnings():  # the first time only: a resumed run does not warn again
            warnings.simplefilter("ignore", RuntimeWarning)
            _train(model, guard, batches, d, nan_loss_at=nan_loss_at)
        return model, guard

    d, batches = _batches(8)
    whole_model, whole = run(batches, d, {1, 5})
    first_model, first = run(batches[:4], d, {1})
    saved = (first_model.state_dict(), first.state_dict())
    resumed_model, resumed = run(batches[4:], d, {1}, saved)  # the fallback's lr comes back from the state
    assert all(torch.equal(a, b) for a, b in zip(whole_model.parameters(), resumed_model.parameters()))
    assert (resumed.steps, resumed.proposals_taken, resumed.skipped_steps, resumed.nonfinite_fallback) == (
        whole.steps, whole.proposals_taken, whole.skipped_steps, whole.nonfinite_fallback) == (6, 6, 2, 6)


def _resumable_run(steps, stop=None, saved=None):
    """40 steps of the meta-trained L2O guarded by Adam; with ``stop``, the states after ``stop`` steps."""
    model = _model()
    guard = LossGuard(model.parameters(), L2OTorch(model.parameters(), load_l2o()),
                      torch.optim.Adam(model.parameters(), lr=0.01))
    d, batches = _batches(steps)
    if saved is not None:
        restore(saved, model=model, guard=guard)
        batches = batches[saved["done"]:]
    elif stop is not None:
        batches = batches[:stop]
    _train(model, guard, batches, d)
    return model, guard, saved_state(stop, model=model, guard=guard)


def test_a_run_resumed_from_the_state_dicts_equals_the_uninterrupted_one_bit_for_bit():
    whole, whole_guard, _ = _resumable_run(40)
    _, _, saved = _resumable_run(40, stop=20)
    resumed, resumed_guard, _ = _resumable_run(40, saved=saved)
    for a, b in zip(whole.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    assert (resumed_guard.steps, resumed_guard.proposals_taken) == (whole_guard.steps, whole_guard.proposals_taken)
    assert 0 < whole_guard.proposals_taken < 40  # both optimizers' states matter in this run


def test_a_learning_rate_scheduler_on_the_guard_schedules_the_fallback():
    model = _model()
    d, batches = _batches(3)
    fallback = torch.optim.SGD(model.parameters(), lr=0.4)
    guard = LossGuard(model.parameters(), torch.optim.SGD(model.parameters(), lr=1e4), fallback)
    scheduler = torch.optim.lr_scheduler.StepLR(guard, step_size=1, gamma=0.5)
    _train(model, guard, batches, d, scheduler=scheduler)
    assert fallback.param_groups[0]["lr"] == pytest.approx(0.05)
    assert guard.param_groups[0]["lr"] == fallback.param_groups[0]["lr"]


def test_zero_grad_clears_and_add_param_group_refuses_clearly():
    model = _model()
    guard = LossGuard(model.parameters(), torch.optim.SGD(model.parameters(), lr=0.1),
                      torch.optim.SGD(model.parameters(), lr=0.1))
    F.cross_entropy(model(torch.zeros(2, 64)), torch.zeros(2, dtype=torch.long)).backward()
    guard.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(NotImplementedError, match="add the group to the proposal and the fallback"):
        guard.add_param_group({"params": [nn.Parameter(torch.zeros(1))]})


@pytest.mark.parametrize("proposal, message", [
    (LSTMOptimizer(), "L2OTorch\\(model.parameters\\(\\), net\\)"),
    ((LSTMOptimizer(), {}), "use lgl2o.load_l2o\\(\\)"),
    ("sgd", "got str"),
])
def test_a_proposal_that_is_not_a_torch_optimizer_is_refused_with_what_to_pass(proposal, message):
    model = _model()
    with pytest.raises(TypeError, match=message):
        LossGuard(model.parameters(), proposal, torch.optim.SGD(model.parameters(), lr=0.1))


def test_l2otorch_refuses_the_checkpoint_tuple():
    model = _model()
    with pytest.raises(TypeError, match="returns \\(net, meta\\): pass net"):
        L2OTorch(model.parameters(), load("models/l2o"))


def test_guard_refuses_mismatched_parameters():
    m1, m2 = _model(), _model()
    with pytest.raises(ValueError, match="proposal optimizer must optimize exactly the guard's parameters"):
        LossGuard(m1.parameters(), torch.optim.SGD(m2.parameters(), lr=0.1), torch.optim.SGD(m1.parameters(), lr=0.1))


def test_comparisons_the_defaults_cannot_trust_are_refused_by_name():
    n = MIN_EXAMPLES
    guard, _, closure, _ = _one_parameter_case({})
    with pytest.raises(ValueError, match="needs compare"):
        guard.step(closure)
    with pytest.raises(ValueError, match="reduction='none'"):
        guard.step(closure, lambda: torch.tensor(1.0))
    with pytest.raises(ValueError, match="fewer than min_examples=1024"):
        guard.step(closure, lambda: torch.ones(64))
    guard, _, closure, compare = _one_parameter_case({1.0: torch.ones(n), 2.0: torch.ones(n + 1)})
    with pytest.raises(ValueError, match="same examples on every call"):
        guard.step(closure, compare)
    # the plain comparison of scalars, asked for explicitly
    guard, w, closure, compare = _one_parameter_case({1.0: torch.tensor(1.0), 2.0: torch.tensor(2.0)}, z=0,
                                                     min_examples=0)
    guard.step(closure, compare)
    assert guard.took_proposal and float(w.detach()) == 1.0


@pytest.mark.parametrize("kw, message", [({"z": -1}, "z must be"), ({"test": "t"}, "unknown test"),
                                         ({"min_examples": 1.5}, "min_examples must be"),
                                         ({"max_fallback_increase": math.nan}, "max_fallback_increase must be")])
def test_bad_guard_settings_are_refused_by_name(kw, message):
    model = _model()
    with pytest.raises(ValueError, match=message):
        LossGuard(model.parameters(), torch.optim.SGD(model.parameters(), lr=0.1),
                  torch.optim.SGD(model.parameters(), lr=0.1), **kw)


def test_the_shipped_l2o_loads_from_any_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = load_l2o()
    assert isinstance(net, LSTMOptimizer) and not net.training


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_the_guard_steps_a_model_on_cuda():
    model = _model().cuda()
    d = data.load("digits", "train", device="cuda")
    guard = LossGuard(model.parameters(), L2OTorch(model.parameters(), load_l2o(device="cuda")),
                      torch.optim.SGD(model.parameters(), lr=0.5))
    g = torch.Generator(device="cuda").manual_seed(0)
    for _ in range(5):
        idx, cmp = torch.randint(len(d.y), (64,), device="cuda", generator=g), torch.randint(len(d.y), (1024,), device="cuda", generator=g)

        def closure():
            guard.zero_grad()
            loss = F.cross_entropy(model(d.x[idx]), d.y[idx])
            loss.backward()
            return loss

        guard.step(closure, lambda: F.cross_entropy(model(d.x[cmp]), d.y[cmp], reduction="none"))
    assert all(p.is_cuda and torch.isfinite(p).all() for p in model.parameters())


def test_the_finiteness_check_sees_any_non_finite_element_and_only_those():
    from lgl2o.optim.torch_guard import _finite

    g = torch.Generator().manual_seed(0)
    for n in (1, 7, 16, 17, 1000, 200_000):
        for pos in (0, n // 3, n - 1):
            for bad in (math.nan, math.inf, -math.inf):
                t = torch.randn(n, generator=g)
                t[pos] = bad
                assert not _finite([torch.randn(3), t]), (n, pos, bad)
    assert _finite([torch.full((5,), 3e38), torch.zeros(0), torch.randn(4, 4).double()])
    assert _finite([torch.zeros(0)])
