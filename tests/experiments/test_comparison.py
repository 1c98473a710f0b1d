import json

import numpy as np
import pandas as pd
import pytest
import torch

from lgl2o.core import paths
from lgl2o.experiments.comparison import ComparisonConfig
from lgl2o.experiments.config import ConfigError
from lgl2o.experiments import artifacts, comparison, convex_guarantee, runs, summary
from lgl2o.l2o import checkpoint
from lgl2o.problems import tasks
from lgl2o.l2o.model import LSTMOptimizer


def _table():
    rows = []
    for seed, (loss_end, div) in enumerate([(0.5, -1), (0.7, -1), (np.nan, 40)]):
        for step, share in [(0, np.nan), (10, 1.0), (100, 0.0)]:
            rows.append({"optimizer": "lgl2o-sgd", "seed": seed, "step": step,
                         "full_loss": 2.3 if step == 0 else (1.0 if step == 10 else loss_end),
                         "proposal_share": share, "test_acc": 0.9 if step == 100 else np.nan,
                         "diverged_at": div})
    return pd.DataFrame(rows)


def test_summary_counts_diverged_seeds_instead_of_averaging_nans():
    s = summary.summarize(_table(), steps=[10])["lgl2o-sgd"]
    assert s["seeds"] == 3 and s["diverged_seeds"] == 1
    assert s["full_loss@100"]["mean"] == pytest.approx(0.6)  # the two finite seeds
    lo, hi = s["full_loss@100"]["ci95"]
    assert lo < 0.6 < hi
    assert s["full_loss@10"]["mean"] == 1.0 and s["full_loss@10"]["ci95"] == [1.0, 1.0]
    json.dumps(s)  # plain JSON for DVC metrics


def test_proposal_share_is_weighted_by_interval_length():
    # 10 steps at share 1.0, then 90 steps at share 0.0: 10% of all steps
    assert summary.proposal_share(_table()) == pytest.approx(0.1)


def test_each_reading_of_the_paper_rule_is_added_only_when_the_main_guard_differs():
    net, lrs = LSTMOptimizer(), {"sgd": 3.0, "adam": 0.01}
    main = set(runs.ORDER) - set(runs.READINGS.values())
    assert set(runs.comparison_optimizers(net, lrs)) == main
    opts = runs.comparison_optimizers(net, lrs, guard={"compare": "next"})
    assert opts["lgl2o-paper"].compare == "fresh" and opts["lgl2o-sgd"].compare == "next"
    opts = runs.comparison_optimizers(net, lrs, guard={"compare": "next"}, readings=runs.READINGS)
    assert set(opts) == main | {"lgl2o-paper", "lgl2o-paper-same"}  # next is the main guard's own reading
    same = opts["lgl2o-paper-same"]
    assert (same.compare, same.z, same.compare_batch, type(same.fallback).__name__) == ("same", 0.0, None, "SGD")
    assert same.fallback.lr == 3.0
    with pytest.raises(ValueError, match="unknown reading 'nxt'; allowed: fresh, same, next"):
        runs.comparison_optimizers(net, lrs, readings=["nxt"])


def test_tuned_rates_from_stage_01_file(tmp_path):
    f = tmp_path / "best.json"
    f.write_text(json.dumps({"best_lr": {"100": {"sgd": 3.0, "adam": 0.03}}}))
    assert artifacts.tuned_rates(str(f), 100) == {"sgd": 3.0, "adam": 0.03}
    with pytest.raises(ValueError, match="no rates for horizon 5"):
        artifacts.tuned_rates(str(f), 5)


def test_linear_rate_bound_columns():
    q = tasks.Quadratic(dim=5, mu=0.5, L=1.0, f_star=1.0)
    t = pd.DataFrame({"optimizer": "gd", "seed": [0, 0, 1, 1], "step": [0, 2, 0, 2],
                      "full_loss": [3.0, 1.5, 5.0, 2.0]})
    t = convex_guarantee.with_linear_rate_bound(t, q)
    assert t.gap.tolist() == [2.0, 0.5, 4.0, 1.0]
    assert t.bound.tolist() == [2.0, 0.5, 4.0, 1.0]  # (1 - 0.5)^2 = 1/4
    assert convex_guarantee.bound_violations(t) == 0
    t.loc[1, "gap"] = 0.51
    assert convex_guarantee.bound_violations(t) == 1


def test_resume_folder_is_keyed_by_the_configuration_and_the_l2o_bytes(tmp_path, monkeypatch):
    for seed in (0, 1):
        torch.manual_seed(seed)
        checkpoint.save(LSTMOptimizer(), tmp_path / f"net{seed}", {})
    cfg = {"task": {"kind": "mlp", "dataset": "digits"}, "lrs": {"sgd": 1.0}, "guard": {"z": 2.0}, "steps": 100,
           "seeds": [0, 1], "log_every": 10, "l2o": tmp_path / "net0"}
    a = runs.resume_folder(tmp_path / "resume", **cfg)
    assert a == runs.resume_folder(tmp_path / "resume", **cfg) and a.parent == tmp_path / "resume"
    monkeypatch.chdir(tmp_path)  # a notebook's working directory is notebooks/, not the repo root
    assert runs.resume_folder("results/x/resume", **cfg).parent == paths.ROOT / "results/x/resume"
    for change in ({"guard": {"z": 1.0}}, {"steps": 200}, {"seeds": [0]}, {"l2o": tmp_path / "net1"}, {"l2o": None}):
        assert runs.resume_folder(tmp_path / "resume", **{**cfg, **change}) != a, change


def _cfg(**change):
    base = {"task": {"kind": "mlp", "dataset": "digits", "hidden": [8], "batch_size": 32}, "l2o_checkpoint": None,
            "rates": {"sgd": 1.0, "adam": 0.01}, "rates_horizon": 1, "guard": {"z": 1.0}, "steps": 12,
            "seeds": [0, 1], "log_every": 4, "report_steps": [4], "l2o_step": "plain"}
    return ComparisonConfig.from_dict({**base, **change})


def test_a_resumable_comparison_matches_a_plain_one_and_cleans_up(tmp_path):
    torch.manual_seed(0)
    plain, _, _ = comparison.run_comparison(_cfg(), progress=False)
    torch.manual_seed(0)
    resumable, _, _ = comparison.run_comparison(_cfg(checkpoint_every=5), tmp_path, progress=False)
    pd.testing.assert_frame_equal(plain.drop(columns="wall_s"), resumable.drop(columns="wall_s"))
    assert not any((tmp_path / "resume").iterdir())  # the finished run's checkpoints are gone
    assert (tmp_path / "curves.csv").exists() and (tmp_path / "metrics.json").exists()


def test_a_comparison_with_the_fast_l2o_step_resumes_and_tracks_the_plain_one(tmp_path):
    runs = {}
    for name, cfg, out in (("plain", _cfg(), None), ("fast", _cfg(l2o_step="fast"), None),
                           ("fast-resumed", _cfg(l2o_step="fast", checkpoint_every=5), tmp_path)):
        torch.manual_seed(0)  # the untrained LSTM's weights
        runs[name], _, _ = comparison.run_comparison(cfg, out, progress=False)
    cols = ["optimizer", "seed", "step"]
    pd.testing.assert_frame_equal(runs["fast"].drop(columns="wall_s"), runs["fast-resumed"].drop(columns="wall_s"))
    pd.testing.assert_frame_equal(runs["fast"][cols], runs["plain"][cols])
    # the same runs to float32 rounding (12 steps: before rounding differences grow along the L2O's path)
    for col in ("batch_loss", "full_loss", "proposal_share"):
        np.testing.assert_allclose(runs["fast"][col], runs["plain"][col], rtol=1e-5)
    with pytest.raises(ConfigError, match="l2o_step='jit': one of plain, compile, fast, native"):
        _cfg(l2o_step="jit")


def test_a_comparison_keeping_earlier_optimizers_writes_what_a_full_run_writes(tmp_path):
    readings = list(runs.READINGS)
    for out, change in (("full", {"readings": readings}), ("earlier", {}), ("kept", {"readings": readings})):
        if out == "kept":
            change["reuse"] = str(tmp_path / "earlier" / "curves.csv")
        torch.manual_seed(0)  # the untrained LSTM's weights
        comparison.run_comparison(_cfg(**change), tmp_path / out, progress=False)
    full, earlier, kept = (pd.read_csv(tmp_path / out / "curves.csv") for out in ("full", "earlier", "kept"))
    assert kept.optimizer.unique().tolist() == full.optimizer.unique().tolist() == runs.ORDER
    pd.testing.assert_frame_equal(kept.drop(columns="wall_s"), full.drop(columns="wall_s"))
    # the earlier optimizers were not run again: their rows, timings included, are the earlier run's
    pd.testing.assert_frame_equal(kept[kept.optimizer.isin(earlier.optimizer)], earlier)
    for name in ("summary.json", "metrics.json"):
        assert (tmp_path / "kept" / name).read_text() == (tmp_path / "full" / name).read_text()


def test_earlier_curves_of_other_steps_or_seeds_are_refused(tmp_path):
    torch.manual_seed(0)
    comparison.run_comparison(_cfg(), tmp_path, progress=False)
    curves = str(tmp_path / "curves.csv")
    with pytest.raises(ValueError, match=r"sgd ran seeds \[0, 1\] to step 12, not seeds \[0, 1, 2\] to step 12"):
        comparison.run_comparison(_cfg(seeds=[0, 1, 2], reuse=curves), progress=False)
    with pytest.raises(ValueError, match=r"sgd ran seeds \[0, 1\] to step 12, not seeds \[0, 1\] to step 16"):
        comparison.run_comparison(_cfg(steps=16, reuse=curves), progress=False)
