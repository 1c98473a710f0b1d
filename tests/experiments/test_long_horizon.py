"""The long horizon in pieces: a piece is the batched comparison's run of that optimizer and seed, a raised
length continues the last checkpoint, and the join refuses what it cannot join."""
import json

import numpy as np
import pandas as pd
import pytest

from lgl2o.engine.loop import evaluate
from lgl2o.experiments import long_horizon as lh
from lgl2o.experiments.runs import comparison_optimizers, the_l2o
from lgl2o.experiments.summary import headline
from lgl2o.pipeline.stages.long_horizon import lengths
from lgl2o.problems.tasks import make_task

MNIST = {"kind": "mlp", "dataset": "mnist", "hidden": [20], "activation": "sigmoid", "batch_size": 128}
RATES = {"sgd": 3.0, "adam": 0.03}
GUARD = {"compare": "fresh", "z": 2.0}


def config(steps, seeds=(0, 1), log_every=5, checkpoint_every=5, l2o_step="native"):
    return lh.LongHorizonConfig.from_dict({
        "run": {"task": MNIST, "l2o_checkpoint": "models/l2o", "rates": RATES, "rates_horizon": 1, "guard": GUARD,
                "log_every": log_every, "checkpoint_every": checkpoint_every, "l2o_step": l2o_step, "device": "cpu"},
        "steps": steps, "seeds": list(seeds), "report_steps": [5]}, "long_horizon")


def _same(a: pd.DataFrame, b: pd.DataFrame):
    """Equal in every column but the wall time."""
    pd.testing.assert_frame_equal(a.drop(columns="wall_s").reset_index(drop=True),
                                  b.drop(columns="wall_s").reset_index(drop=True), check_exact=True)


@pytest.mark.parametrize("optimizer", ["lgl2o-sgd", "adam"])
def test_a_piece_is_the_batched_runs_seed(optimizer, data_root, tmp_path):
    cfg = config({optimizer: 12})
    pieces = [lh.run_piece(cfg, optimizer, s, runs_dir=tmp_path / "runs", resume_dir=tmp_path / "resume", progress=False)
              for s in (0, 1)]
    opt = comparison_optimizers(the_l2o("models/l2o", "native"), RATES, GUARD)[optimizer]
    batched = evaluate(make_task(**MNIST), {optimizer: opt}, steps=12, seeds=[0, 1], log_every=5, full_every=1,
                       progress=False)
    for seed, piece in zip((0, 1), pieces):
        b = batched[batched.seed == seed]
        assert np.array_equal(piece.step, b.step) and (piece.seed == seed).all()
        # the batched runs share matrix products across seeds, so agreement is to rounding, not to the bit
        np.testing.assert_allclose(piece.full_loss, b.full_loss, rtol=1e-5)
        np.testing.assert_allclose(piece.batch_loss, b.batch_loss, rtol=1e-5)
    record = json.loads((tmp_path / "runs" / f"{optimizer}-1.json").read_text())
    assert record["steps"] == 12 and record["seed"] == 1 and record["resumed_from"] == 0
    assert record["l2o_step"] == "native" and record["host"]["cpu"] and record["minutes"] > 0


def test_a_raised_length_continues_the_last_checkpoint_and_equals_one_run(data_root, tmp_path):
    runs, resume = tmp_path / "runs", tmp_path / "resume"
    lh.run_piece(config({"lgl2o-sgd": 10}), "lgl2o-sgd", 0, runs_dir=runs, resume_dir=resume, progress=False)
    extended = lh.run_piece(config({"lgl2o-sgd": 20}), "lgl2o-sgd", 0, runs_dir=runs, resume_dir=resume, progress=False)
    assert json.loads((runs / "lgl2o-sgd-0.json").read_text())["resumed_from"] == 10
    straight = lh.run_piece(config({"lgl2o-sgd": 20}), "lgl2o-sgd", 0, runs_dir=tmp_path / "r2", resume_dir=tmp_path / "c2",
                            progress=False)
    _same(extended, straight)
    # run again at its own length, it starts over (and comes to the same numbers)
    again = lh.run_piece(config({"lgl2o-sgd": 20}), "lgl2o-sgd", 0, runs_dir=runs, resume_dir=resume, progress=False)
    assert json.loads((runs / "lgl2o-sgd-0.json").read_text())["resumed_from"] == 0
    _same(again, straight)


def test_another_setting_never_resumes_a_pieces_checkpoint(data_root, tmp_path):
    runs, resume = tmp_path / "runs", tmp_path / "resume"
    lh.run_piece(config({"sgd": 10}), "sgd", 0, runs_dir=runs, resume_dir=resume, progress=False)
    lh.run_piece(config({"sgd": 20}, log_every=4), "sgd", 0, runs_dir=runs, resume_dir=resume, progress=False)
    assert json.loads((runs / "sgd-0.json").read_text())["resumed_from"] == 0
    assert len(list(resume.iterdir())) == 2  # one folder per configuration


def test_the_join_summarises_each_optimizer_at_its_own_length(data_root, tmp_path):
    cfg = config({"sgd": 12, "l2o": 6}, seeds=[0])
    assert lh.run_missing_pieces(cfg, tmp_path / "runs", tmp_path / "resume") == ["sgd-0", "l2o-0"]
    assert lh.run_missing_pieces(cfg, tmp_path / "runs", tmp_path / "resume") == []  # nothing left to run
    table, doc = lh.join_pieces(cfg, tmp_path / "runs", tmp_path / "out")
    assert list(table.optimizer.unique()) == ["sgd", "l2o"]  # comparison order
    ops = doc["optimizers"]
    assert set(ops["sgd"]) >= {"full_loss@5", "full_loss@12"} and "full_loss@12" not in ops["l2o"]
    assert headline(doc)["loss"] == {"sgd": ops["sgd"]["full_loss@12"]["mean"], "l2o": ops["l2o"]["full_loss@6"]["mean"]}
    assert doc["steps_by_optimizer"] == {"sgd": 12, "l2o": 6} and doc["task"] == make_task(**MNIST).name
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(headline(doc)))


def test_the_join_names_the_stage_that_makes_a_missing_or_stale_piece(data_root, tmp_path):
    runs = tmp_path / "runs"
    cfg = config({"sgd": 6}, seeds=[0])
    with pytest.raises(FileNotFoundError, match=r"sgd-0.csv is missing: run `dvc repro 06_long_horizon_run@sgd-0`"):
        lh.join_pieces(cfg, runs)
    lh.run_missing_pieces(cfg, runs, tmp_path / "resume")
    with pytest.raises(FileNotFoundError, match=r"holds 6 steps of seed 0, not 8 of seed 0: run `dvc repro "
                                                r"06_long_horizon_run@sgd-0`"):
        lh.join_pieces(config({"sgd": 8}, seeds=[0]), runs)


def test_a_piece_outside_the_configuration_is_refused(tmp_path):
    cfg = config({"sgd": 6}, seeds=[0])
    with pytest.raises(ValueError, match="no piece for 'adam'"):
        lh.run_piece(cfg, "adam", 0, runs_dir=tmp_path, resume_dir=tmp_path)
    with pytest.raises(ValueError, match="no piece for seed 3"):
        lh.run_piece(cfg, "sgd", 3, runs_dir=tmp_path, resume_dir=tmp_path)


def test_the_figure_says_which_optimizers_ran_shorter():
    assert lengths({"sgd": 1000000, "l2o": 200000, "lgl2o-paper": 200000}) == "1000000 (l2o, lgl2o-paper: 200000)"
    assert lengths({"sgd": 20, "adam": 20}) == "20"
