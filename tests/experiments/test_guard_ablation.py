"""The guard ablation's building blocks: variants built as specified, bad specs refused, the default
chosen by the stated rule, and a tiny real run whose summary has every variant and reference."""
import pandas as pd
import pytest

import lgl2o as O
from lgl2o.experiments import guard_ablation
from lgl2o.experiments.guard_ablation import AblationConfig, GL2OConfig
from lgl2o.experiments.runs import GuardConfig
from lgl2o.experiments.config import ConfigError
from lgl2o.l2o.model import LSTMOptimizer

LRS = {"sgd": 3.0, "adam": 0.03}


def test_a_variant_is_the_lgl2o_it_names():
    net = LSTMOptimizer()
    opt = guard_ablation.variant_optimizer(net, LRS, GuardConfig.from_dict({"compare": "fresh", "compare_batch": 1024, "z": 2.0,
                                                                     "fallback": "sgd", "fallback_lr": 0.3}))
    assert isinstance(opt, O.LGL2O) and isinstance(opt.fallback, O.SGD)
    assert (opt.compare, opt.compare_batch, opt.z, opt.fallback.lr) == ("fresh", 1024, 2.0, 0.3)
    adam = guard_ablation.variant_optimizer(net, LRS, GuardConfig.from_dict({"compare": "next", "fallback": "adam"}))
    assert isinstance(adam.fallback, O.Adam) and adam.fallback.lr == 0.03 and adam.compare == "next"
    assert guard_ablation.variant_optimizer(net, LRS, GuardConfig.from_dict({})).fallback.lr == 3.0  # the tuned SGD rate


@pytest.mark.parametrize("spec, message", [
    ({"compare": "fresh", "temperature": 1.0}, "unknown parameter"),
    ({"fallback": "rmsprop"}, "fallback='rmsprop': one of sgd, adam"),
    ({"compare": "mean"}, "unknown compare 'mean'"),
    ({"fallback_lr": -1.0}, "fallback_lr=-1.0: a positive number"),
    ({"z": -1.0}, "z must be a finite number >= 0"),
])
def test_a_bad_variant_is_refused_before_anything_runs(spec, message):
    with pytest.raises(ConfigError, match=message):
        GuardConfig.from_dict(spec)


def test_a_gl2o_setting_is_the_gl2o_it_names_with_the_tuned_sgd_rate():
    net = LSTMOptimizer()
    gl2o = {"recent_max": GL2OConfig.from_dict({"mu_rule": "recent_max", "window": 20}),
            "strict": GL2OConfig.from_dict({"delta": 0.5})}
    opts = guard_ablation.ablation_optimizers(net, LRS, {}, gl2o=gl2o)
    assert list(opts) == ["sgd", "adam", "l2o", "gl2o", "gl2o[recent_max]", "gl2o[strict]"]
    rm, strict, ref = opts["gl2o[recent_max]"], opts["gl2o[strict]"], opts["gl2o"]
    assert (rm.mu_rule, rm.window, rm.delta, rm.theta, rm.lr) == ("recent_max", 20, 0.1, 0.1, 3.0)
    assert (strict.mu_rule, strict.delta, ref.mu_rule, ref.delta) == ("ema", 0.5, "ema", 0.1)
    assert [guard_ablation.kind(n) for n in opts] == ["reference"] * 4 + ["gl2o"] * 2


@pytest.mark.parametrize("spec, message", [
    ({"delta": 1.5}, r"x: delta must be in \(0, 1\), got 1.5"),
    ({"mu_rule": "median"}, "unknown mu_rule 'median'; allowed: "),
    ({"lr": 0.1}, "unknown parameter"),  # GL2O's rate is the tuned SGD rate, as the reference's
])
def test_a_bad_gl2o_setting_is_refused_naming_it(spec, message):
    with pytest.raises(ConfigError, match=message):
        GL2OConfig.from_dict(spec, "x")


def _tidy(rows):
    return pd.DataFrame([{"optimizer": o, "kind": "reference" if o in guard_ablation.REFERENCES else "variant",
                          "step": s, "mean": m} for o, s, m in rows])


def test_recommend_takes_the_best_late_loss_among_variants_that_keep_the_fast_start():
    tidy = _tidy([("l2o", 20, 0.60), ("sgd", 20, 1.05), ("l2o", 2000, 0.50), ("sgd", 2000, 0.12),
                  ("lgl2o[a]", 20, 0.62), ("lgl2o[a]", 2000, 0.30),   # fast start, poor end
                  ("lgl2o[b]", 20, 0.65), ("lgl2o[b]", 2000, 0.15),   # fast start (within 10%), best end
                  ("lgl2o[c]", 20, 0.90), ("lgl2o[c]", 2000, 0.10)])  # best end, but lost the start
    name, reason = guard_ablation.recommend(tidy, early=20, late=2000)
    assert name == "lgl2o[b]" and "2 of 3 variants kept the fast start" in reason
    name, reason = guard_ablation.recommend(tidy, early=20, late=2000, keep=0.01)
    assert name is None and "no variant" in reason


def test_a_small_ablation_run_reports_every_variant_and_reference(tmp_path):
    guards = {"paper": {"compare": "fresh"}, "z1": {"compare": "fresh", "z": 1.0}, "adam": {"fallback": "adam"}}
    task = {"kind": "mlp", "dataset": "digits", "hidden": [8], "activation": "sigmoid", "batch_size": 32}
    cfg = AblationConfig.from_dict({"task": task, "l2o_checkpoint": None, "rates": LRS, "rates_horizon": 1,
                                    "guards": guards, "gl2o": {"recent_max": {"mu_rule": "recent_max"}},
                                    "steps": 12, "seeds": [0, 1], "log_every": 6,
                                    "report_steps": [3], "l2o_step": "plain"})
    table, summary, _ = guard_ablation.run_ablation(cfg, out_dir=tmp_path, progress=False)
    tidy = guard_ablation.tidy_summary(table, summary)
    names = {"sgd", "adam", "l2o", "gl2o", "gl2o[recent_max]", "lgl2o[paper]", "lgl2o[z1]", "lgl2o[adam]"}
    assert set(tidy.optimizer) == names and set(tidy.step) == {3, 12}
    assert (tidy[tidy.kind == "variant"].share.between(0, 1)).all()
    assert set(tidy[tidy.kind == "gl2o"].optimizer) == {"gl2o[recent_max]"}
    # GL2O at another setting: the same passes as the reference's (two gradients per step)
    per_step = tidy.drop_duplicates("optimizer").set_index("optimizer")
    assert per_step.bwd_per_step["gl2o[recent_max]"] == per_step.bwd_per_step["gl2o"] == 2
    assert (tidy[tidy.optimizer == "lgl2o[paper]"].fwd_per_step == 3).all()  # gradient + two candidates
    assert (tmp_path / "curves.csv").exists() and (tmp_path / "metrics.json").exists()
