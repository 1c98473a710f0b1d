import re

import pytest
import yaml

from lgl2o.core.paths import ROOT
from lgl2o.experiments.config import ConfigError
from lgl2o.pipeline import stage

from lgl2o.pipeline.deps import stage_notebook

# the notebook stages (a stage run in pieces has one notebook stage and one stage per piece)
DVC = {name: st for name, st in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].items() if stage_notebook(st)}
STAGES = [(name, v) for name, st in DVC.items() for v in st.get("foreach", [None])]


def test_sections_are_named_after_their_stages_with_identifier_safe_names():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert {stage.section_name(name) for name in DVC} == set(params) - {stage.SHARED} == set(stage.KINDS)
    for name in params:
        assert re.fullmatch(r"[A-Za-z_]\w*", name), name


@pytest.mark.parametrize("name, variant", STAGES)
def test_every_stage_of_params_yaml_builds_its_typed_config(name, variant):
    figure, cfg = stage.stage_config(name, variant)
    assert figure.startswith("figures/") and isinstance(cfg, stage.KINDS[stage.section_name(name)])
    # the configuration survives the trip through papermill's parameters
    assert type(cfg).from_dict(cfg.to_dict()) == cfg


def test_a_variant_is_its_base_with_its_own_keys_and_unknown_names_are_refused():
    p = stage.stage_section("05_ood_optimizee", "conv")
    assert p["task"]["kind"] == "conv" and p["figure"].endswith("conv.png") and p["steps"] == 10000
    with pytest.raises(ConfigError, match="no variant 'gru'; variants: relu, wide_deep, conv"):
        stage.stage_section("05_ood_optimizee", "gru")
    with pytest.raises(ConfigError, match="params.yaml has no section 'nothing'"):
        stage.stage_section("99_nothing")


def _section(name, variant=None):
    s = stage.stage_section(name, variant)
    s.pop("figure")
    return s


_LONG_RUN = _section("06_long_horizon")["run"]


@pytest.mark.parametrize("name, change, message", [
    ("03_in_distribution", {"steps": 0}, "in_distribution.steps=0: a positive number"),
    ("03_in_distribution", {"steps": 2.5}, "in_distribution.steps=2.5: an integer"),
    ("03_in_distribution", {"stepz": 2000}, "unknown parameter(s) stepz (a misspelling?)"),
    ("03_in_distribution", {"seeds": []}, "seeds=[]: a non-empty list"),
    ("03_in_distribution", {"seeds": [0, -1]}, "seeds=[0, -1]"),
    ("03_in_distribution", {"task": {"kind": "mlp", "dataset": "cifar", "batch_size": 128}}, "task.dataset='cifar': one of"),
    ("03_in_distribution", {"task": {"kind": "mlp", "dataset": "mnist", "activation": "gelu"}}, "task.activation='gelu'"),
    ("03_in_distribution", {"task": {"kind": "rnn"}}, "task.kind='rnn'"),
    ("03_in_distribution", {"task": {"kind": "mlp", "channels": [8]}}, "channels do(es) not apply to a mlp task"),
    ("03_in_distribution", {"task": {"kind": "mlp", "batch_size": -5}}, "task.batch_size=-5: a positive number"),
    ("03_in_distribution", {"guard": {"compare": "average"}}, "unknown compare 'average'; allowed: fresh, full, same, next"),
    ("03_in_distribution", {"guard": {"compare": "fresh", "temperature": 1}}, "unknown parameter(s) temperature"),
    ("03_in_distribution", {"guard": {"fallback": "adam"}}, "fallback belong(s) to an ablation variant"),
    ("03_in_distribution", {"readings": ["fresh", "nxt"]}, "readings=['fresh', 'nxt']: a list of distinct items of fresh, same, next"),
    ("03_in_distribution", {"readings": ["same", "same"]}, "readings=['same', 'same']: a list of distinct"),
    ("03_in_distribution", {"l2o_checkpoint": "models/nothing"}, "models/nothing.pt does not exist"),
    ("03_in_distribution", {"rates": "results/none.json"}, "tuned rates come from stage 01"),
    ("03_in_distribution", {"device": "tpu"}, "device='tpu'"),
    ("03_in_distribution", {"l2o_step": "jit"}, "l2o_step='jit': one of plain, compile, fast, native"),
    ("02_meta_train", {"phases": [{"unrol": 50}]}, "meta_train.phases[0]: MetaConfig.__init__() got an unexpected"),
    ("08_cost", {"seeds": "1"}, "cost.seeds='1': an integer"),
    ("07_convex_guarantee", {"quadratic": {"dim": 10, "mu": 2.0, "L": 1.0, "f_star": 0.0}}, "need mu <= L"),
    ("06_long_horizon", {"steps": {"sgd": 10, "rmsprop": 5}}, "long_horizon.steps: unknown optimizer(s) rmsprop"),
    ("06_long_horizon", {"steps": {"sgd": 0}}, "long_horizon.steps.sgd=0: a positive number"),
    ("06_long_horizon", {"steps": {"sgd": 1e6}}, "long_horizon.steps.sgd=1000000.0: an integer"),
    ("06_long_horizon", {"steps": {}}, "long_horizon.steps={}: a mapping of optimizer names"),
    ("06_long_horizon", {"checkpoint_every": 10}, "unknown parameter(s) checkpoint_every (a misspelling?)"),
    ("06_long_horizon", {"run": {**_LONG_RUN, "guard": {"compare": "fresh"}}, "steps": {"sgd": 10, "lgl2o-paper": 10}},
     "lgl2o-paper runs only beside a guard"),
    ("06_long_horizon", {"run": {**_LONG_RUN, "guard": {"compare": "same"}}, "steps": {"lgl2o-paper-same": 10}},
     "lgl2o-paper-same runs only beside a guard configured otherwise"),
    ("06_long_horizon", {"run": {**_LONG_RUN, "checkpoint_every": 0}}, "long_horizon.run.checkpoint_every=0"),
])
def test_a_bad_parameter_fails_naming_it(name, change, message):
    section = {**_section(name), **change}
    with pytest.raises(ConfigError, match=re.escape(message)):
        stage.KINDS[stage.section_name(name)].from_dict(section, stage.section_name(name))


@pytest.mark.parametrize("change, message", [
    ({"guards": {"x": {"fallback": "rmsprop"}}}, "guards.x.fallback='rmsprop': one of sgd, adam"),
    ({"guards": {"x": {"z": -1.0}}}, "z must be a finite number >= 0, got -1.0"),
    ({"guards": {"x": {"test": "t"}}}, "unknown test 't'; allowed: mean, sign"),
    ({"guards": {"x": {"max_fallback_increase": -1}}}, "max_fallback_increase must be None or a finite number >= 0"),
    ({"guards": {}}, "name at least one guard variant"),
])
def test_a_bad_ablation_variant_fails_naming_it(change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        stage.KINDS["guard_ablation"].from_dict({**_section("09_guard_ablation", "mnist"), **change})


def test_a_bad_meta_training_setting_fails_naming_it():
    section = _section("02_meta_train")
    section["config"] = {**section["config"], "meta_lr": 0.0}
    with pytest.raises(ConfigError, match=re.escape("meta_train.config: meta_lr must be a positive number, got 0.0")):
        stage.KINDS["meta_train"].from_dict(section, "meta_train")


def test_a_missing_key_is_refused():
    section = _section("07_convex_guarantee")
    del section["steps"]
    with pytest.raises(ConfigError, match=r"convex_guarantee: missing parameter\(s\) steps"):
        stage.KINDS["convex_guarantee"].from_dict(section, "convex_guarantee")


@pytest.mark.parametrize("edit", ["misspelt", "missing", "wrongly typed"])
def test_a_bad_section_fails_the_stage_before_papermill_starts_and_writes_nothing(edit, tmp_path, monkeypatch, capsys):
    import papermill

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    section = params["convex_guarantee"]
    if edit == "misspelt":
        section["stepz"] = section.pop("steps")
    elif edit == "missing":
        del section["seeds"]
    else:
        section["steps"] = "2000"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.setattr(stage, "ROOT", tmp_path)
    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("papermill started"))
    assert stage.main(["07_convex_guarantee"]) == 2
    err = capsys.readouterr().err
    assert {"misspelt": "stepz", "missing": "seeds", "wrongly typed": "steps='2000'"}[edit] in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # no results, no notebook


def test_a_cuda_device_where_there_is_none_is_refused(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="device='cuda': CUDA is not available on this machine"):
        stage.KINDS["in_distribution"].from_dict({**_section("03_in_distribution"), "device": "cuda"})


@pytest.mark.parametrize("name", ["03_in_distribution", "08_cost"])
def test_a_native_step_that_cannot_be_built_is_refused_naming_the_override(name, monkeypatch):
    from lgl2o.l2o.backends import native

    def no_compiler(cc=None):
        raise native.NativeUnavailable("the native L2O step needs a C compiler; 'cc' failed")

    monkeypatch.setattr(native, "load", no_compiler)
    where = stage.section_name(name)
    with pytest.raises(ConfigError, match=re.escape(f"needs a C compiler; 'cc' failed); set {where}.l2o_step: fast")):
        stage.KINDS[where].from_dict({**_section(name), "l2o_step": "native"}, where)
    stage.KINDS[where].from_dict({**_section(name), "l2o_step": "fast"}, where)  # the override works


def test_executed_notebooks_name_no_machine_paths(tmp_path):
    nb = tmp_path / "nb.ipynb"
    nb.write_text(f'{{"input_path": "{ROOT}/notebooks/x.ipynb", "cwd": "{ROOT}"}}')
    stage.relativize(nb)
    assert nb.read_text() == '{"input_path": "notebooks/x.ipynb", "cwd": "."}'
    for committed in (ROOT / "results").rglob("notebook.ipynb"):
        assert str(ROOT) not in committed.read_text(), committed


def test_the_executed_notebook_records_the_machine_and_the_l2o_step(tmp_path):
    import nbformat

    from lgl2o.core.host import host

    nb = tmp_path / "nb.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), str(nb))
    _, config = stage.stage_config("03_in_distribution")
    stage.record_run(nb, config)
    run = nbformat.read(str(nb), as_version=4).metadata["lgl2o"]
    assert run["l2o_step"] == config.l2o_step and run["host"] == host()
    assert run["host"]["threads"] >= 1 and run["host"]["cpu"]


def test_a_run_that_kept_an_earlier_ones_optimizers_counts_that_runs_minutes_too(tmp_path):
    import nbformat

    from lgl2o.pipeline import report

    earlier, nb = tmp_path / "earlier.ipynb", tmp_path / "nb.ipynb"
    old = nbformat.v4.new_notebook()
    old.metadata.update(papermill={"duration": 600.0}, lgl2o={"earlier_minutes": 5.0})  # itself a kept run
    nbformat.write(old, str(earlier))
    new = nbformat.v4.new_notebook()
    new.metadata["papermill"] = {"duration": 120.0}
    nbformat.write(new, str(nb))
    _, config = stage.stage_config("03_in_distribution")
    stage.record_run(nb, config, earlier=earlier)
    assert nbformat.read(str(nb), as_version=4).metadata["lgl2o"]["earlier_minutes"] == 15.0
    assert report.run_minutes(nb) == 17.0 and report.run_minutes(earlier) == 15.0


def test_a_piece_outside_params_yaml_is_refused_naming_what_there_is(capsys):
    from lgl2o.pipeline import piece

    assert piece.main(["06_long_horizon", "rmsprop", "0"]) == 2
    err = capsys.readouterr().err
    assert "06_long_horizon has no piece rmsprop on seed 0: its steps name sgd, adam" in err


def test_a_piece_keeps_freed_memory_before_it_steps_and_publishes_its_table_when_done(monkeypatch, tmp_path):
    """Without it every L2O step page-faults its buffers back in (docs/performance.md: ~25% of a piece). The
    piece writes into a staging folder, moved into place at the end (here under a stand-in root)."""
    import shutil

    import pandas as pd

    from lgl2o.pipeline import outputs, piece

    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    monkeypatch.setattr(outputs, "ROOT", tmp_path)
    monkeypatch.setattr(piece, "ROOT", tmp_path)
    calls = []
    monkeypatch.setattr(piece, "keep_freed_memory", lambda: calls.append("keep") or True)

    def run_piece(cfg, optimizer, seed, runs_dir, resume_dir):
        calls.append(f"run {optimizer}-{seed}")
        assert runs_dir.startswith(".staging/") and resume_dir == tmp_path / "results/06_long_horizon/resume"
        (tmp_path / runs_dir).mkdir(parents=True)
        for suffix in (".csv", ".json"):
            (tmp_path / runs_dir / f"{optimizer}-{seed}{suffix}").write_text(suffix)
        return pd.DataFrame({"full_loss": [0.5]})

    monkeypatch.setattr(piece, "run_piece", run_piece)
    assert piece.main(["06_long_horizon", "sgd", "1"]) == 0
    assert calls == ["keep", "run sgd-1"]
    assert (tmp_path / "results/06_long_horizon/runs/sgd-1.json").read_text() == ".json"
    assert not (tmp_path / ".staging").exists() or not any((tmp_path / ".staging").iterdir())
