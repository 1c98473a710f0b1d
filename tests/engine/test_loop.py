import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import torch

import lgl2o as O
from lgl2o.engine import loop as run
from lgl2o.problems import tasks
from lgl2o.l2o.model import LSTMOptimizer

from lgl2o.optim.adversarial import Fixed


def _optimizers():
    net = LSTMOptimizer()
    net.reset_parameters(torch.Generator().manual_seed(0))
    return {
        "sgd": O.SGD(0.5),
        "adam": O.Adam(0.01),
        "gl2o": O.GL2O(O.L2O(net), lr=0.5),
        "lgl2o": O.LGL2O(O.L2O(net), O.SGD(0.5)),
        "lgl2o-next": O.LGL2O(O.L2O(net), O.Adam(0.01), compare="next"),
    }


def _eval(seeds, steps=40, **kw):
    task = tasks.MLP("digits", hidden=(20,))
    return run.evaluate(task, _optimizers(), steps=steps, seeds=seeds, log_every=10, progress=False, **kw)


NUMERIC = ["batch_loss", "full_loss", "proposal_share", "fwd", "bwd", "examples", "test_acc"]


def test_table_shape_and_columns():
    df = _eval([0, 1])
    assert list(df.columns) == run.COLUMNS
    floats32 = [c for c in df.columns if df[c].dtype == np.float32]
    assert floats32 == list(run.FLOAT32_COLUMNS)  # what a reader of the CSV restores (runs.kept_rows)
    steps = sorted(df.step.unique())
    assert steps[0] == 0 and steps[-1] == 40 and {10, 20, 30} <= set(steps)
    assert len(df) == 5 * 2 * len(steps)
    last = df[df.step == 40]
    assert last.test_acc.between(0, 1).all() and df[df.step < 40].test_acc.isna().all()
    assert df[df.optimizer == "sgd"].proposal_share.isna().all()
    assert df[(df.optimizer == "lgl2o") & (df.step > 0)].proposal_share.between(0, 1).all()
    first, last = df[df.step == 0], df[df.step == 40]
    assert (last.set_index(["optimizer", "seed"]).full_loss < first.set_index(["optimizer", "seed"]).full_loss).all()


def test_batched_seeds_equal_the_same_seeds_one_by_one():
    batched = _eval([0, 1, 2])
    single = pd.concat([_eval([s]) for s in (0, 1, 2)])
    key = ["optimizer", "seed", "step"]
    a = batched.sort_values(key).reset_index(drop=True)
    b = single.sort_values(key).reset_index(drop=True)
    assert (a[key].values == b[key].values).all()
    np.testing.assert_allclose(a[NUMERIC].to_numpy(float), b[NUMERIC].to_numpy(float), rtol=1e-4, atol=1e-6)


def test_same_seed_twice_is_identical():
    a, b = _eval([3, 4]), _eval([3, 4])
    pd.testing.assert_frame_equal(a.drop(columns="wall_s"), b.drop(columns="wall_s"))


def test_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    task = tasks.MLP("digits", hidden=(20,))
    opts = _optimizers()
    full = run.evaluate(task, opts, steps=40, seeds=[0, 1], log_every=10, progress=False)
    # a run stopped after 25 steps (checkpoints every 5), then resumed to the end
    part = run.evaluate(task, opts, steps=25, seeds=[0, 1], log_every=10, progress=False,
                        resume=tmp_path, checkpoint_every=5)
    assert (tmp_path / "lgl2o.pt").exists()
    resumed = run.evaluate(task, opts, steps=40, seeds=[0, 1], log_every=10, progress=False,
                           resume=tmp_path, checkpoint_every=5)
    cols = ["optimizer", "seed", "step", "batch_loss", "full_loss", "proposal_share", "fwd", "bwd", "examples",
            "test_acc"]
    # the pass counters carry on too; compare="next" keeps a forward pass for the next gradient, which a
    # checkpoint does not hold: the resumed run computes it once more (one pass, one batch, after step 25)
    again = (resumed.optimizer == "lgl2o-next") & (resumed.step > 25)
    assert again.any()
    resumed.loc[again, "fwd"] -= 1
    resumed.loc[again, "examples"] -= task.batch_size
    pd.testing.assert_frame_equal(full[cols], resumed[cols])
    assert len(part) < len(full)


def test_killed_run_resumes_to_the_same_result(tmp_path):
    """A subprocess killed by SIGKILL mid-run, rerun, gives the uninterrupted result."""
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(f"""
        import sys, os, signal, torch
        import lgl2o as O
        from lgl2o.engine import loop as run
        from lgl2o.problems import tasks
        task = tasks.MLP("digits", hidden=(20,))
        kill_at = int(sys.argv[1])
        class Killer(O.SGD):
            n = 0
            def step(self, *a):
                Killer.n += 1
                if Killer.n == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
                return super().step(*a)
        df = run.evaluate(task, {{"sgd": Killer(0.5)}}, steps=60, seeds=[0, 1], log_every=10,
                          progress=False, resume={str(tmp_path / 'ck')!r}, checkpoint_every=7)
        df.to_csv({str(tmp_path / 'out.csv')!r}, index=False)
    """))
    r = subprocess.run([sys.executable, str(script), "33"], capture_output=True)
    assert r.returncode == -9 and not (tmp_path / "out.csv").exists()
    r = subprocess.run([sys.executable, str(script), "0"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    resumed = pd.read_csv(tmp_path / "out.csv")
    task = tasks.MLP("digits", hidden=(20,))
    ref = run.evaluate(task, {"sgd": O.SGD(0.5)}, steps=60, seeds=[0, 1], log_every=10, progress=False)
    np.testing.assert_allclose(resumed.full_loss.to_numpy(), ref.full_loss.to_numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(resumed.batch_loss.to_numpy(), ref.batch_loss.to_numpy(), rtol=1e-6)


def test_bad_run_parameters():
    task = tasks.MLP("digits", hidden=(20,))
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        run.evaluate(task, {"sgd": O.SGD(0.1)}, steps=0, seeds=[0], progress=False)
    with pytest.raises(ValueError, match="seeds must name at least one seed"):
        run.evaluate(task, {"sgd": O.SGD(0.1)}, steps=5, seeds=[], progress=False)
    with pytest.raises(ValueError, match="log_every must be a positive integer"):
        run.evaluate(task, {"sgd": O.SGD(0.1)}, steps=5, seeds=[0], log_every=0, progress=False)


def test_divergence_is_recorded_and_the_other_runs_carry_on():
    task = tasks.MLP("digits", hidden=(20,))
    # x <- 1000 x + 1 overflows float32 within ~13 steps; SGD at 0.5 does not
    df = run.evaluate(task, {"blowup": Fixed(lambda x: 1e3 * x + 1), "sgd": O.SGD(0.5)}, steps=30,
                      seeds=[0, 1], log_every=10, progress=False)
    sgd = df[df.optimizer == "sgd"]
    assert (sgd.diverged_at == -1).all() and not sgd.diverged.any() and np.isfinite(sgd.full_loss.dropna()).all()
    blow = df[df.optimizer == "blowup"]
    at = blow.groupby("seed").diverged_at.first()
    assert (at > 0).all()
    for seed, step in at.items():
        rows = blow[blow.seed == seed]
        assert rows[rows.step >= step].diverged.all() and not rows[rows.step < step].diverged.any()
        assert not np.isfinite(rows[rows.step >= step].batch_loss).any()


def test_a_truncated_or_random_resume_checkpoint_is_refused_clearly(tmp_path):
    task = tasks.MLP("digits", hidden=(8,))
    ck = tmp_path / "sgd.pt"
    run.evaluate(task, {"sgd": O.SGD(0.5)}, steps=20, seeds=[0], log_every=10, progress=False,
                 resume=tmp_path, checkpoint_every=10)
    raw = ck.read_bytes()
    gen = np.random.default_rng(0)
    for bad in (raw[: len(raw) // 2], raw[:10], b"", gen.integers(0, 256, 3000, dtype=np.uint8).tobytes()):
        ck.write_bytes(bad)
        with pytest.raises(ValueError, match="unreadable resume checkpoint.*delete it to start over"):
            run.evaluate(task, {"sgd": O.SGD(0.5)}, steps=20, seeds=[0], log_every=10, progress=False,
                         resume=tmp_path, checkpoint_every=10)
