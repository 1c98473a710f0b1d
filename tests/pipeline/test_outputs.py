"""A stage's outputs are replaced only when it finishes (``pipeline.outputs``): declared in dvc.yaml, kept by
DVC (``persist``), written into a staging folder and moved into place, stale ones deleted."""
import pytest
import yaml

from lgl2o.core.paths import ROOT
from lgl2o.pipeline import outputs
from lgl2o.pipeline.outputs import Staging, declared_outputs

STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("name", list(STAGES))
def test_every_output_persists_so_dvc_does_not_delete_it_before_the_stage_runs(name):
    body = STAGES[name].get("do", STAGES[name])
    for kind in ("outs", "metrics", "plots"):
        for out in body.get(kind, []):
            path, spec = next(iter(out.items()))
            assert spec.get("persist") is True, f"{name}: {kind} {path} lacks persist: true"


def test_declared_outputs_fill_in_a_foreach_and_a_matrix_item():
    relu = declared_outputs("05_ood_optimizee", "relu")
    assert "results/05_ood_optimizee/relu/curves.csv" in relu and "figures/05_ood_optimizee_relu.png" in relu
    assert "results/05_ood_optimizee/relu/metrics.json" in relu  # metrics count too
    assert declared_outputs("06_long_horizon_run", {"optimizer": "gl2o", "seed": 1}) == [
        "results/06_long_horizon/runs/gl2o-1.csv", "results/06_long_horizon/runs/gl2o-1.json"]
    assert "lgl2o/l2o/pretrained/l2o.pt" in declared_outputs("02_meta_train")
    with pytest.raises(KeyError, match=r"\$\{item\}.*needs an item"):
        declared_outputs("05_ood_optimizee")
    with pytest.raises(KeyError, match="no stage '99_nothing'"):
        declared_outputs("99_nothing")


def test_publish_moves_what_was_written_and_deletes_what_was_not(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "ROOT", tmp_path)
    (tmp_path / "results/s").mkdir(parents=True)
    (tmp_path / "results/s/a.csv").write_text("old a")
    (tmp_path / "results/s/stale.json").write_text("old stale")
    (tmp_path / "results/s/other.txt").write_text("not an output")
    with Staging("s@v") as staging:
        assert staging.path("results/s/a.csv") == ".staging/s-v/results/s/a.csv"
        (tmp_path / ".staging/s-v/results/s").mkdir(parents=True)
        (tmp_path / ".staging/s-v/results/s/a.csv").write_text("new a")
        (tmp_path / ".staging/s-v/figures").mkdir()
        (tmp_path / ".staging/s-v/figures/s.png").write_text("new figure")
        # before publishing, the previous outputs are as they were
        assert (tmp_path / "results/s/a.csv").read_text() == "old a"
        missing = staging.publish(["results/s/a.csv", "figures/s.png", "results/s/stale.json"])
    assert missing == ["results/s/stale.json"]
    assert (tmp_path / "results/s/a.csv").read_text() == "new a"
    assert (tmp_path / "figures/s.png").read_text() == "new figure"
    assert not (tmp_path / "results/s/stale.json").exists()
    assert (tmp_path / "results/s/other.txt").read_text() == "not an output"  # not declared: not touched
    assert not (tmp_path / ".staging/s-v").exists()


def test_a_run_that_fails_publishes_nothing_and_the_next_starts_from_an_empty_staging_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "ROOT", tmp_path)
    (tmp_path / "results").mkdir()
    (tmp_path / "results/a.csv").write_text("old")
    with pytest.raises(KeyboardInterrupt):
        with Staging("s") as staging:
            (tmp_path / staging.path("results")).mkdir(parents=True)
            (tmp_path / staging.path("results/a.csv")).write_text("half")
            raise KeyboardInterrupt
    assert (tmp_path / "results/a.csv").read_text() == "old"
    (tmp_path / ".staging/s/results").mkdir(parents=True)  # as a SIGKILLed run leaves it
    (tmp_path / ".staging/s/results/a.csv").write_text("half")
    with Staging("s") as staging:
        assert list(staging.root.iterdir()) == []
        assert staging.publish(["results/a.csv"]) == ["results/a.csv"]
    assert not (tmp_path / "results/a.csv").exists()


def test_what_a_run_keeps_is_written_in_place_and_outlives_the_staging_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(outputs, "ROOT", tmp_path)
    with pytest.raises(KeyboardInterrupt):
        with Staging("s") as staging:
            staging.keep("results/s/resume")
            (tmp_path / staging.path("results/s/resume/key")).mkdir()
            (tmp_path / staging.path("results/s/resume/key/run.pt")).write_text("checkpoint")
            raise KeyboardInterrupt  # interrupted: the checkpoint must survive for the next run
    assert (tmp_path / "results/s/resume/key/run.pt").read_text() == "checkpoint"
    with Staging("s") as staging:
        staging.keep("results/s/resume")
        assert (tmp_path / staging.path("results/s/resume/key/run.pt")).read_text() == "checkpoint"
    assert (tmp_path / "results/s/resume/key/run.pt").exists() and not (tmp_path / ".staging/s").exists()


def test_the_executed_notebook_names_the_outputs_where_they_end_up():
    staging = Staging("03_in_distribution")
    text = '{"out_dir": ".staging/03_in_distribution/results/03_in_distribution", "f": ".staging/03_in_distribution/figures/x.png"}'
    assert staging.unstaged(text) == '{"out_dir": "results/03_in_distribution", "f": "figures/x.png"}'
