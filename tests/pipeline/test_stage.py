import re

import pytest

from lgl2o.pipeline import stage
from lgl2o.core.paths import ROOT


def test_stage_params_merge_a_variant_and_refuse_unknown_names():
    p = stage.stage_params("05_ood_optimizee", "conv")
    assert p["task"]["kind"] == "conv" and p["figure"].endswith("conv.png") and "variants" not in p
    with pytest.raises(SystemExit, match="no variant 'gru'; variants: relu, wide_deep, conv"):
        stage.stage_params("05_ood_optimizee", "gru")
    with pytest.raises(SystemExit, match="params.yaml has no section '99_nothing'"):
        stage.stage_params("99_nothing")


def test_executed_notebooks_name_no_machine_paths(tmp_path):
    nb = tmp_path / "nb.ipynb"
    nb.write_text(f'{{"input_path": "{ROOT}/notebooks/x.ipynb", "cwd": "{ROOT}"}}')
    stage.relativize(nb)
    assert nb.read_text() == '{"input_path": "notebooks/x.ipynb", "cwd": "."}'
    for committed in (ROOT / "results").rglob("notebook.ipynb"):
        assert str(ROOT) not in committed.read_text(), committed


def test_every_stage_of_params_yaml_passes_the_checks():
    import yaml

    sections = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name, section in sections.items():
        for variant in section.get("variants") or [None]:
            stage.check_params(stage.stage_params(name, variant))


@pytest.mark.parametrize("stage_name, change, message", [
    ("03_in_distribution", {"steps": 0}, "steps=0: a positive integer"),
    ("03_in_distribution", {"seeds": []}, "seeds=[]: a non-empty list"),
    ("03_in_distribution", {"seeds": [0, -1]}, "seeds=[0, -1]"),
    ("03_in_distribution", {"task": {"kind": "mlp", "dataset": "cifar", "batch_size": 128}}, "task.dataset='cifar': one of"),
    ("03_in_distribution", {"task": {"kind": "mlp", "dataset": "mnist", "activation": "gelu"}}, "task.activation='gelu'"),
    ("03_in_distribution", {"task": {"kind": "rnn"}}, "task.kind='rnn'"),
    ("03_in_distribution", {"task": {"kind": "mlp", "batch_size": -5}}, "task.batch_size=-5: a positive number"),
    ("03_in_distribution", {"guard": {"compare": "average"}}, "guard.compare='average': one of fresh, full, same, next"),
    ("03_in_distribution", {"guard": {"compare": "fresh", "temperature": 1}}, "unknown: temperature"),
    ("03_in_distribution", {"l2o_checkpoint": "models/nothing"}, "models/nothing.pt does not exist"),
    ("03_in_distribution", {"rates": "results/none.json"}, "tuned rates come from stage 01"),
    ("03_in_distribution", {"device": "tpu"}, "device='tpu'"),
    ("02_meta_train", {"config": {"meta_lr": 0.0}}, "config.meta_lr=0.0: a positive number"),
    ("09_guard_ablation", {"guards": {"x": {"fallback": "rmsprop"}}}, "guards.x.fallback='rmsprop': one of sgd, adam"),
    ("09_guard_ablation", {"guards": {"x": {"z": -1.0}}}, "guards.x.z=-1.0: a positive number (or 0)"),
    ("09_guard_ablation", {"guards": {"x": {"test": "t"}}}, "guards.x.test='t': one of mean, sign"),
    ("08_cost", {"l2o_step": "jit"}, "l2o_step='jit': one of plain, compile, fast"),
    ("09_guard_ablation", {"guards": {"x": {"max_fallback_increase": -1}}},
     "guards.x.max_fallback_increase=-1: a positive number (or 0)"),
])
def test_a_bad_parameter_fails_fast_naming_it(stage_name, change, message):
    params = {**stage.stage_params(stage_name, "mnist" if stage_name.startswith("09") else None), **change}
    with pytest.raises(SystemExit, match=re.escape(message)):
        stage.check_params(params)


def test_a_cuda_device_where_there_is_none_is_refused(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="device='cuda': CUDA is not available on this machine"):
        stage.check_params({**stage.stage_params("03_in_distribution"), "device": "cuda"})
