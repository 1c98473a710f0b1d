"""LossGuard's audit: small per-step comparisons, each acceptance checked afterwards on a fixed audit set
and rolled back when the audit loss went up (lgl2o.optim.torch_guard)."""
import functools

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lgl2o.optim.torch_guard import LossGuard
from lgl2o.problems import data
from state_bytes import restore
from state_bytes import saved as saved_state

D = data.load("digits", "train")  # 1437 examples
AUDIT = torch.randperm(len(D.y), generator=torch.Generator().manual_seed(7))[:1024]  # a fixed audit set


class Overconfident(torch.optim.SGD):
    """An SGD step, then the output layer scaled by ``scale``: lower loss on the examples the model
    classifies right, far higher on the few it gets wrong (docs/guard.md's catastrophic proposal)."""

    def __init__(self, params, lr, out, scale):
        super().__init__(params, lr=lr)
        self.out, self.scale = out, scale

    @torch.no_grad()
    def step(self, closure=None):
        super().step()
        for p in self.out:
            p.mul_(self.scale)


@functools.cache
def _trained_state():
    """The digits MLP after 300 SGD steps: 2.8% of the training examples misclassified."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))
    g, opt = torch.Generator().manual_seed(5), torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(300):
        i = torch.randint(len(D.y), (64,), generator=g)
        opt.zero_grad()
        F.cross_entropy(model(D.x[i]), D.y[i]).backward()
        opt.step()
    return {k: v.clone() for k, v in model.state_dict().items()}


def _trained_model():
    model = nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 10))
    model.load_state_dict(_trained_state())
    return model


def _audit_loss(model):
    with torch.no_grad():
        return float(F.cross_entropy(model(D.x[AUDIT]), D.y[AUDIT]))


def _full_loss(model):
    with torch.no_grad():
        return float(F.cross_entropy(model(D.x), D.y))


def _run(proposal="overconfident", audit=True, steps=200, compare=16, saved=None, stop=None, on_step=None, **kw):
    """``steps`` steps of the trained model, SGD as the fallback, comparisons of ``compare`` fresh examples;
    with ``audit`` the fixed audit set checks them. Returns (model, guard or None, audit calls)."""
    model = _trained_model()
    fallback = torch.optim.SGD(model.parameters(), lr=0.5)
    guard = None
    if proposal == "overconfident":
        prop = Overconfident(model.parameters(), 0.5, list(model[2].parameters()), 3.0)
    elif proposal == "catastrophic":
        prop = torch.optim.SGD(model.parameters(), lr=1e3)
    if proposal is not None:
        guard = LossGuard(model.parameters(), prop, fallback, min_examples=1024 if audit else 0, **kw)
    calls = []

    def audit_fn():
        calls.append(1)
        return F.cross_entropy(model(D.x[AUDIT]), D.y[AUDIT], reduction="none")

    g = torch.Generator().manual_seed(1)
    batches = [(torch.randint(len(D.y), (64,), generator=g), torch.randint(len(D.y), (compare,), generator=g))
               for _ in range(steps)]
    if saved is not None:
        restore(saved, model=model, guard=guard)
        batches = batches[saved["done"]:]
    elif stop is not None:
        batches = batches[:stop]
    for i, j in batches:
        def closure():
            (guard or fallback).zero_grad()
            loss = F.cross_entropy(model(D.x[i]), D.y[i])
            loss.backward()
            return loss

        if guard is None:
            closure()
            fallback.step()
            continue
        guard.step(closure, lambda: F.cross_entropy(model(D.x[j]), D.y[j], reduction="none"),
                   audit_fn if audit else None)
        if on_step is not None:
            on_step(model, guard)
    return model, guard, len(calls)


def test_an_overconfident_proposal_offered_at_every_step_costs_the_audited_guard_little():
    fallback_alone = _full_loss(_run(proposal=None)[0])
    unaudited, u, _ = _run(audit=False)
    audited, a, _ = _run()
    # the small comparison alone takes the proposal and the run ends far above the fallback's
    assert u.proposals_taken > 0 and _full_loss(unaudited) > 5 * fallback_alone
    # audited: every such acceptance rolled back; within 1.5x of the fallback alone
    assert a.proposals_taken > 0 and a.rollbacks == a.audits > 0
    assert _full_loss(audited) < 1.5 * fallback_alone


def test_a_failed_audit_returns_to_the_audit_point_and_benches_the_proposal_for_doubling_spells():
    start = _trained_model()  # the first audit point: the parameters before the first step
    seen = {"point": [p.detach().clone() for p in start.parameters()], "point_loss": _audit_loss(start),
            "rollbacks": 0, "audits": 0, "step": 0, "bench_from": None, "spells": []}

    def check(model, guard):
        s = seen
        s["step"] += 1
        params = [p.detach().clone() for p in model.parameters()]
        if s["bench_from"] is not None and guard.took_proposal:
            s["spells"].append(s["step"] - s["bench_from"])
            s["bench_from"] = None
        if s["step"] % 16:
            return
        if guard.rollbacks > s["rollbacks"]:  # rolled back: exactly the parameters of the audit point
            assert all(torch.equal(a, b) for a, b in zip(params, s["point"]))
            s["rollbacks"], s["bench_from"] = guard.rollbacks, s["step"]
        else:  # passed, or a window without the proposal: the audit loss never rose past an audit
            if guard.audits > s["audits"]:
                assert _audit_loss(model) <= s["point_loss"]
            s["point"], s["point_loss"] = params, _audit_loss(model)
        s["audits"] = guard.audits

    _, guard, _ = _run(steps=400, on_step=check, audit_every=16)
    assert guard.rollbacks >= 3
    # the proposal was next taken only after 16, 32, 64, ... fallback-only steps
    assert seen["spells"] and all(s > 16 * 2 ** k for k, s in enumerate(seen["spells"]))


def test_a_proposal_the_small_comparison_always_refuses_costs_no_audit():
    audited, guard, calls = _run(proposal="catastrophic")
    fallback_alone, _, _ = _run(proposal=None)
    assert guard.proposals_taken == 0 and calls == 0 and guard.audits == 0
    assert all(torch.equal(a, b) for a, b in zip(audited.parameters(), fallback_alone.parameters()))


@pytest.mark.parametrize("stop", [40, 57])  # mid-bench after a rollback, and mid-window
def test_an_audited_run_resumes_bit_for_bit_with_its_window_and_counters(stop):
    whole, whole_guard, _ = _run(steps=120, audit_every=16)
    first, first_guard, _ = _run(steps=120, stop=stop, audit_every=16)
    resumed, resumed_guard, _ = _run(steps=120, saved=saved_state(stop, model=first, guard=first_guard), audit_every=16)
    assert all(torch.equal(a, b) for a, b in zip(whole.parameters(), resumed.parameters()))
    keys = ("steps", "proposals_taken", "audits", "rollbacks")
    assert [getattr(resumed_guard, k) for k in keys] == [getattr(whole_guard, k) for k in keys]
    assert whole_guard.rollbacks >= 2


def _taking_guard(audit):
    """One audited step whose comparison always favours the proposal, so the window (of one step) ends
    with an audit; returns the step's error."""
    model = _trained_model()
    w = list(model.parameters())
    guard = LossGuard(w, torch.optim.SGD(w, lr=0.1), torch.optim.SGD(w, lr=0.2), audit_every=1, z=0.0)
    x, y = D.x[:64], D.y[:64]

    def closure():
        guard.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        return loss

    calls = iter([-1.0, 0.0])  # the proposal's comparison, then the fallback's
    with pytest.raises(ValueError) as e:
        guard.step(closure, lambda: torch.full((8,), next(calls)), audit)
    return str(e.value)


def test_an_audit_set_below_min_examples_or_changing_between_calls_is_refused_by_name():
    assert "audit gave 100 per-example losses, fewer than min_examples=1024" in _taking_guard(lambda: torch.zeros(100))
    sizes = iter([1100, 1050])
    message = _taking_guard(lambda: torch.zeros(next(sizes)))
    assert "audit gave 1100 losses now and 1050 at the last audit point" in message
    assert "same examples on every call" in message


@pytest.mark.parametrize("every", [0, 2.5, None])
def test_a_bad_audit_interval_is_refused_by_name(every):
    w = [nn.Parameter(torch.zeros(3))]
    with pytest.raises(ValueError, match=f"audit_every must be an integer >= 1, got {every}"):
        LossGuard(w, torch.optim.SGD(w, lr=0.1), torch.optim.SGD(w, lr=0.1), audit_every=every)
