"""The stage summaries and the headline numbers that `dvc metrics show` lists."""
import numpy as np
import pandas as pd
import pytest

from lgl2o.experiments.summary import headline, save_summary, summarize


def _table():
    rows = []
    for name, final, share in (("sgd", 0.5, np.nan), ("lgl2o-sgd", 0.25, 0.4)):
        for seed in (0, 1):
            for step, loss in ((10, 1.0), (20, final + 0.1 * seed)):
                rows.append({"optimizer": name, "seed": seed, "step": step, "full_loss": loss, "test_acc": 0.9,
                             "diverged_at": -1, "proposal_share": share})
    return pd.DataFrame(rows)


def test_the_headline_is_each_optimizers_final_loss_and_each_guards_share():
    doc = {"task": "t", "seeds": [0, 1], "steps": 20, "optimizers": summarize(_table(), [10])}
    h = headline(doc)
    assert h == {"loss": {"sgd": pytest.approx(0.55), "lgl2o-sgd": pytest.approx(0.30)},
                 "share": {"lgl2o-sgd": pytest.approx(0.4)}, "diverged_seeds": 0}


def test_an_ablation_headline_gives_its_references_and_the_best_of_each_family():
    ops = {"sgd": 0.14, "l2o": 0.31, "gl2o": 0.15, "gl2o[a]": 0.21, "gl2o[b]": 0.144,
           "lgl2o[z2]": 0.156, "lgl2o[paper]": 0.217}
    doc = {"variants": {"z2": {}, "paper": {}},
           "optimizers": {name: {"full_loss@2000": {"mean": v}, "diverged_seeds": 0, "proposal_share": 0.5}
                          for name, v in ops.items()}}
    assert headline(doc) == {"loss": {"sgd": 0.14, "l2o": 0.31, "gl2o": 0.15}, "diverged_seeds": 0,
                             "best_loss": {"gl2o_setting": 0.144, "lgl2o_variant": 0.156}}
    doc["optimizers"] = {k: v for k, v in doc["optimizers"].items() if not k.startswith("gl2o[")}
    assert headline(doc)["best_loss"] == {"lgl2o_variant": 0.156}  # no other GL2O setting: no such column


def test_the_cost_headline_is_the_two_ratios_the_claims_use():
    doc = {"per_step": {"sgd": {"ms": 0.5}, "l2o": {"ms": 3.0}, "lgl2o-sgd": {"ms": 3.6}, "adam": {"ms": 0.6}}}
    assert headline(doc) == {"l2o_vs_sgd": pytest.approx(6.0), "lgl2o_sgd_vs_l2o": pytest.approx(1.2)}


def test_a_summary_of_no_known_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="no headline.*'wall_s'"):
        headline({"wall_s": 1.0})


def test_save_summary_writes_the_document_and_its_headline(tmp_path):
    import json

    doc = {"bound_violations": 0, "final_gap": {"gd": 1e-12, "l2o": 1e-3, "lgl2o(l2o)": 2e-12}, "seeds": [0]}
    save_summary(doc, tmp_path)
    assert json.loads((tmp_path / "summary.json").read_text()) == doc
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"bound_violations": 0,
                                                                     "final_gap": {"l2o": 1e-3, "lgl2o(l2o)": 2e-12}}
