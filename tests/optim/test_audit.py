"""LGL2O's audit (``optim.audit``), on runs x parameters: small comparisons checked afterwards on a fixed
audit set, rolled back where the audit loss rose; the same rule as LossGuard's (tests/optim/test_guard_audit.py)."""
import pytest
import torch

import lgl2o as O
from lgl2o.engine.loop import run_one
from lgl2o.experiments.guard_safety import overconfident
from lgl2o.l2o.model import LSTMOptimizer
from lgl2o.problems import tasks
from lgl2o.problems.oracle import Oracle

SEEDS = [0, 1, 2]


class Overconfident(O.SGD):
    """An SGD step, then the output layer scaled by 3: better on the examples classified right, far worse
    on the few that are not."""

    def __init__(self, task, lr):
        super().__init__(lr)
        self.task = task

    def step(self, params, state, grad, oracle):
        y, state, info = super().step(params, state, grad, oracle)
        return overconfident(self.task, y, 3.0), state, info


def _run(guard, task, steps=160, pretrain=300):
    """SGD for ``pretrain`` steps (2-3% of the digits misclassified), then ``guard``; returns the final
    iterate, the iterates after every step and the infos."""
    oracle, x = Oracle(task, SEEDS), task.init_params(SEEDS)
    for _ in range(pretrain):
        oracle.advance()
        x = x - 0.5 * oracle.grad(x)[1]
    st, xs, infos = guard.init(x), [x], []
    for _ in range(steps):
        oracle.advance()
        _, g = oracle.grad(x)
        x, st, info = guard.step(x, st, g, oracle)
        xs.append(x)
        infos.append(info)
    return x, xs, infos, oracle


def test_an_overconfident_proposal_at_every_step_is_rolled_back_and_the_run_stays_near_its_fallback():
    task = tasks.MLP("digits", hidden=(32,), activation="tanh")
    sgd_alone = task.full_loss(_run(O.LGL2O(O.SGD(1e4), O.SGD(0.5), compare_batch=16), task)[0])
    plain = task.full_loss(_run(O.LGL2O(Overconfident(task, 0.5), O.SGD(0.5), compare_batch=16), task)[0])
    x, xs, infos, _ = _run(O.LGL2O(Overconfident(task, 0.5), O.SGD(0.5), compare_batch=16, audit_every=8,
                                   audit_batch=1024), task)
    audited = task.full_loss(x)
    assert (plain > 5 * sgd_alone).all()  # the small comparison alone lets the proposal ruin every run
    assert (audited < 1.5 * sgd_alone).all()
    took = torch.stack([i["took_proposal"] for i in infos])
    rolled = torch.stack([i["rolled_back"] for i in infos])
    assert took.any(0).all() and rolled.any(0).all()
    # audits only at a window's end; a rollback puts the run exactly at its audit point (its iterate where
    # the last window that did not fail ended)
    assert not rolled[[t for t in range(len(infos)) if (t + 1) % 8]].any()
    point = xs[0].clone()
    for t in range(7, len(infos), 8):
        back = rolled[t]
        assert torch.equal(xs[t + 1][back], point[back])
        point[~back] = xs[t + 1][~back]
    # after the k-th failed audit in a row, 8 * 2**(k-1) steps of the fallback alone
    for run in range(len(SEEDS)):
        fails = rolled[:, run].nonzero().flatten().tolist()
        for k, t in enumerate(fails[:2]):
            assert not took[t + 1 : t + 1 + 8 * 2**k, run].any()


def test_a_proposal_the_comparison_always_refuses_costs_no_audit_pass():
    task = tasks.MLP("digits", hidden=(32,), activation="tanh")
    counts = []
    for kw in ({}, {"audit_every": 8, "audit_batch": 1024}):
        _, _, infos, oracle = _run(O.LGL2O(O.SGD(1e4), O.SGD(0.5), compare_batch=16, **kw), task, pretrain=0)
        assert not torch.stack([i["took_proposal"] for i in infos]).any()
        counts.append(oracle.counts)
    assert counts[0] == counts[1]


def test_an_audited_guard_resumes_from_its_checkpoint_bit_for_bit(tmp_path):
    task = tasks.MLP("digits", hidden=(16,))

    def guard():
        return O.LGL2O(O.SGD(3.0), O.SGD(0.5), compare_batch=16, audit_every=4, audit_batch=256)

    whole = run_one(task, "g", guard(), steps=30, seeds=SEEDS, log_every=10, progress=False)
    ck = tmp_path / "g.pt"
    run_one(task, "g", guard(), steps=13, seeds=SEEDS, log_every=10, progress=False, checkpoint=ck,
            checkpoint_every=10)  # leaves its checkpoint of step 10, mid-window
    resumed = run_one(task, "g", guard(), steps=30, seeds=SEEDS, log_every=10, progress=False, checkpoint=ck,
                      checkpoint_every=10)
    cols = ["step", "batch_loss", "full_loss", "proposal_share", "fwd", "examples"]
    assert whole[cols].equals(resumed[cols])


def test_with_exact_losses_the_audit_never_fires_and_the_guard_keeps_the_linear_rate():
    """The convex case: exact gradients and losses (the quadratic), GD as the fallback. Each step keeps a
    candidate no worse than GD's, which lowers the loss, so no audit can fail: the audited guard is the
    unaudited one, step for step, and stays under GD's linear-rate bound."""
    mu, L, steps = 0.1, 10.0, 200
    task = tasks.Quadratic(dim=20, mu=mu, L=L, f_star=1.0)
    runs = []
    for kw in ({}, {"audit_every": 5}):
        torch.manual_seed(0)  # the same (untrained) LSTM for both
        guard = O.LGL2O(O.L2O(LSTMOptimizer()), O.SGD(1 / L), compare="full", **kw)
        oracle, x = Oracle(task, SEEDS), task.init_params(SEEDS)
        st, gaps, rolled, took = guard.init(x), [task.full_loss(x) - task.f_star], [], []
        for _ in range(steps):
            oracle.advance()
            _, g = oracle.grad(x)
            x, st, info = guard.step(x, st, g, oracle)
            gaps.append(task.full_loss(x) - task.f_star)
            rolled.append(info.get("rolled_back", torch.zeros(len(SEEDS), dtype=torch.bool)))
            took.append(info["took_proposal"])
        runs.append((torch.stack(gaps), torch.stack(rolled), torch.stack(took)))
    (plain, _, _), (audited, rolled, took) = runs
    assert took.any()  # windows with the L2O's steps were audited
    assert torch.equal(plain, audited) and not rolled.any()
    bound = (1 - mu / L) ** torch.arange(steps + 1).unsqueeze(1) * audited[0]
    assert (audited <= bound * (1 + 1e-5) + 1e-6).all()


@pytest.mark.parametrize("kw, message", [({"audit_every": 0}, "audit_every must be a positive number"),
                                         ({"audit_every": 2.5}, "audit_every must be None or a positive integer"),
                                         ({"audit_every": 4, "audit_batch": 0}, "audit_batch must be a positive number")])
def test_bad_audit_settings_are_refused_by_name(kw, message):
    with pytest.raises(ValueError, match=message):
        O.LGL2O(O.SGD(1.0), O.SGD(1.0), **kw)
