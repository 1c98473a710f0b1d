import math
from dataclasses import asdict

import pytest
import torch

from lgl2o.l2o import checkpoint, meta, model
from lgl2o.problems import seeds, tasks
from lgl2o import L2O
from lgl2o.problems.oracle import Oracle

QUAD = {"kind": "quadratic", "dim": 10, "mu": 0.5, "L": 2.0, "f_star": 0.0}


def _cfg(**kw):
    base = dict(task=QUAD, episodes=2, episode_steps=20, unroll=10, optimizees=4, validate_every=2,
                validate_seeds=3, validate_steps=20, heldout=0, meta_lr=3e-3)
    base.update(kw)
    return meta.MetaConfig(**base)


def test_every_lstm_parameter_receives_a_meta_gradient():
    task = tasks.MLP("digits", hidden=(20,))
    net = model.LSTMOptimizer()
    params = task.init_params([0, 1])
    loss, _, _ = meta.unroll_loss(net, task, params, net.init_state(params.shape), seeds.run_generators([0, 1], 1), 5)
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_log_objective_sums_the_log_of_each_optimizees_mean_loss():
    task = tasks.MLP("digits", hidden=(20,))
    net = model.LSTMOptimizer()
    params = task.init_params([0, 1])
    out = {}
    for objective in meta.OBJECTIVES:
        out[objective] = meta.unroll_loss(net, task, params, net.init_state(params.shape),
                                          seeds.run_generators([0, 1], 1), 3, objective=objective)
    torch.testing.assert_close(out["log"][1], out["sum"][1], rtol=0, atol=0)  # same trajectory
    gens = seeds.run_generators([0, 1], 1)  # replay the minibatches: the loss of each of the 3 iterates
    x, hidden, expect = params, net.init_state(params.shape), 0.0
    with torch.no_grad():
        for _ in range(3):
            losses, cache = task.forward(x, task.sample_batch(gens))
            expect += float(losses.mean(1).log().mean())
            update, hidden = net(task.backward(x, cache), hidden)
            x = x + update
    assert float(out["log"][0].detach()) == pytest.approx(expect, rel=1e-6)


def _loss_at(net, task, seeds, steps=100):
    opt, oracle = L2O(net), Oracle(task, seeds)
    x = task.init_params(seeds)
    st = opt.init(x)
    with torch.no_grad():
        for _ in range(steps):
            oracle.advance()
            _, g = oracle.grad(x)
            x, st, _ = opt.step(x, st, g, oracle)
        return task.full_loss(x)


def test_short_meta_training_on_quadratics_beats_the_untrained_l2o(tmp_path):
    """After 40 episodes the L2O reaches, at step 100 on 8 unseen starting points, a loss under a tenth
    of the untrained one's: the untrained LSTM's steps (output x 0.1, no sense of direction) leave the
    loss near its start, so a factor of 10 means it learned to descend, not noise."""
    cfg = _cfg(episodes=40, episode_steps=100, unroll=20, validate_every=10)
    meta.meta_train(cfg, tmp_path, progress=False, log=lambda *_: None)
    trained, _ = checkpoint.load(tmp_path / "l2o")
    untrained = model.LSTMOptimizer()
    untrained.reset_parameters(torch.Generator().manual_seed(cfg.seed))
    task = tasks.make_task(**QUAD)
    seeds = list(range(500, 508))
    lt, lu = _loss_at(trained, task, seeds), _loss_at(untrained, task, seeds)
    assert torch.isfinite(lt).all()
    assert (lt < 0.1 * lu).all(), (lt, lu)


def test_resumed_meta_training_ends_where_an_uninterrupted_one_ends(tmp_path):
    full = meta.meta_train(_cfg(episodes=3), tmp_path / "a", progress=False)
    meta.meta_train(_cfg(episodes=1), tmp_path / "b", progress=False)
    resumed = meta.meta_train(_cfg(episodes=3), tmp_path / "b", progress=False, log=lambda *_: None)
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["net"]
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["net"]
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert full.drop(columns="wall_s").equals(resumed.drop(columns="wall_s"))
    with pytest.raises(ValueError, match="another meta-training config"):
        meta.meta_train(_cfg(episodes=3, meta_lr=1e-2), tmp_path / "b", progress=False)
    last = tmp_path / "b" / "last.pt"
    last.write_bytes(last.read_bytes()[:100])  # a truncated file, as a full disk would leave
    with pytest.raises(ValueError, match="unreadable meta-training checkpoint"):
        meta.meta_train(_cfg(episodes=4), tmp_path / "b", progress=False)


@pytest.mark.parametrize("chunk", [0, 2])
def test_a_nan_meta_step_is_skipped_and_leaves_the_weights_unchanged(tmp_path, chunk):
    cfg = _cfg(task={**QUAD, "f_star": math.nan}, episodes=1, chunk=chunk)
    torch.manual_seed(0)
    before = model.LSTMOptimizer()
    before.reset_parameters(torch.Generator().manual_seed(cfg.seed))
    log = meta.meta_train(cfg, tmp_path, progress=False)
    assert log.skipped.all() and len(log) == 1
    after = torch.load(tmp_path / "last.pt", weights_only=True)["net"]
    for k, v in before.state_dict().items():
        assert torch.equal(v, after[k]), k


def test_a_meta_step_in_chunks_of_optimizees_computes_the_same_meta_gradient(tmp_path):
    """Accumulating over chunks of 1 or 2 optimizees gives the whole batch's meta-loss and gradient norm at
    every meta-step, and the same L2O after two episodes (Adam steps, clipping and all), to rounding."""
    runs = {chunk: meta.meta_train(_cfg(chunk=chunk), tmp_path / str(chunk), progress=False) for chunk in (0, 1, 2)}
    nets = {chunk: torch.load(tmp_path / str(chunk) / "last.pt", weights_only=True)["net"] for chunk in runs}
    for chunk in (1, 2):
        for col in ("meta_loss", "grad_norm", "val_loss"):
            a, b = runs[0][col].to_numpy(), runs[chunk][col].to_numpy()
            assert a == pytest.approx(b, rel=1e-5, nan_ok=True), (chunk, col)
        for k, v in nets[0].items():
            torch.testing.assert_close(nets[chunk][k], v, rtol=1e-5, atol=1e-6)
    assert runs[0].grad_norm.gt(0).all() and not runs[0].skipped.any()


def test_meta_training_can_start_from_a_checkpoint(tmp_path):
    start = model.LSTMOptimizer()
    start.reset_parameters(torch.Generator().manual_seed(7))
    checkpoint.save(start, tmp_path / "start")
    meta.meta_train(_cfg(episodes=1, meta_lr=1e-9, init=str(tmp_path / "start")), tmp_path / "run", progress=False)
    ended = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["net"]
    fresh = model.LSTMOptimizer()
    fresh.reset_parameters(torch.Generator().manual_seed(0))  # what the run would start from without init
    for k, v in start.state_dict().items():
        torch.testing.assert_close(ended[k], v, rtol=0, atol=1e-7)  # 2 meta-steps of Adam at lr 1e-9
    assert max(float((ended[k] - v).abs().max()) for k, v in fresh.state_dict().items()) > 0.1
    with pytest.raises(checkpoint.CheckpointError, match="missing"):
        meta.meta_train(_cfg(init=str(tmp_path / "nowhere")), tmp_path / "bad", progress=False)


def test_bad_meta_config():
    with pytest.raises(ValueError, match="objective must be one of"):
        _cfg(objective="mean")
    with pytest.raises(ValueError, match="must be a multiple of unroll"):
        _cfg(episode_steps=25, unroll=10)
    with pytest.raises(ValueError, match="optimizees must be a positive integer"):
        _cfg(optimizees=0)
    with pytest.raises(ValueError, match="chunk must be 0 or a divisor of optimizees"):
        _cfg(optimizees=4, chunk=3)
    with pytest.raises(ValueError, match="meta_lr must be a positive number"):
        _cfg(meta_lr=-1)


def test_a_curriculum_starts_each_phase_from_the_previous_phases_best(tmp_path):
    phases = [{}, {"unroll": 20, "meta_lr": 1e-9, "validate_every": 1}]
    log = meta.meta_train_phases(_cfg(), phases, tmp_path, progress=False, log=lambda *_: None)
    assert sorted(log.phase.unique()) == [1, 2] and log.meta_step.is_monotonic_increasing
    assert log.meta_step.is_unique and log.wall_s.max() > 0
    first, _ = checkpoint.load(tmp_path / "phase1" / "l2o")
    final, info = checkpoint.load(tmp_path / "l2o")
    for k, v in first.state_dict().items():  # phase 2 moved its start by at most a few steps of lr 1e-9
        torch.testing.assert_close(final.state_dict()[k], v, rtol=0, atol=1e-7)
    assert info["phases"] == phases and info["phase"] == 2
    assert info["meta"] == asdict(_cfg())  # the base config, with its own init (None): no working folder named
    assert info["meta_step"] >= log[log.phase == 2].meta_step.min()  # counted across phases
    with pytest.raises(ValueError, match=r"phase 2: unknown or not overridable .*'init'"):
        meta.meta_train_phases(_cfg(), [{}, {"init": "x"}], tmp_path / "bad", progress=False)
    with pytest.raises(ValueError, match=r"phase 1: unknown or not overridable .*'unrol'"):
        meta.meta_train_phases(_cfg(), [{"unrol": 5}], tmp_path / "bad", progress=False)


def test_meta_training_never_uses_an_evaluation_seed():
    import yaml

    from lgl2o.core.paths import ROOT

    params = yaml.safe_load((ROOT / "params.yaml").read_text())

    def seeds_in(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("seeds", "eval_seeds") and isinstance(v, list):
                    yield from v
                else:
                    yield from seeds_in(v)

    evaluation = set(seeds_in(params))
    assert evaluation and max(evaluation) < seeds.VALIDATION_SEED_BASE
    p = params["meta_train"]
    cfgs = [meta.MetaConfig(**{**p["config"], **ph}) for ph in p["phases"]]
    used = {s for c in cfgs for e in range(c.episodes) for s in meta.episode_seeds(c, e)}
    assert len(used) >= max(c.episodes for c in cfgs) * p["config"]["optimizees"]
    assert not used & evaluation and min(used) >= seeds.TRAIN_SEED_BASE
    assert seeds.TRAIN_SEED_BASE >= seeds.VALIDATION_SEED_BASE + p["config"]["validate_seeds"]


def test_repo_relative_paths():
    from lgl2o.core.paths import ROOT, repo_relative

    assert repo_relative(ROOT / "models" / "l2o") == "models/l2o"
    assert repo_relative("/elsewhere/l2o") == "/elsewhere/l2o"


def test_a_curriculum_keeps_its_folder_when_a_phase_grows():
    phases = [{}, {"unroll": 20, "episodes": 3}]
    assert meta.config_hash(_cfg(), phases) == meta.config_hash(_cfg(episodes=5), [{}, {"unroll": 20, "episodes": 9}])
    assert meta.config_hash(_cfg(), phases) != meta.config_hash(_cfg(), [{}, {"unroll": 10, "episodes": 3}])
    assert meta.config_hash(_cfg(), phases) != meta.config_hash(_cfg())
