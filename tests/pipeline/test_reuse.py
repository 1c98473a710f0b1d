"""A comparison keeps its earlier optimizers only where dvc.lock shows that nothing but the readings changed."""
import hashlib

import pytest
import yaml

from lgl2o.experiments.config import ConfigError
from lgl2o.pipeline import stage
from lgl2o.pipeline.reuse import reusable_curves

CMD = "python -m lgl2o.pipeline.stage 05_ood_optimizee --variant ${item}"
OUT = "results/05_ood_optimizee/relu"


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def repo(tmp_path):
    """A repository whose dvc.lock records one run of 05_ood_optimizee@relu under ``shared.readings: [fresh]``."""
    (tmp_path / "lgl2o").mkdir()
    (tmp_path / "lgl2o/loop.py").write_text("steps = 1\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data.dvc").write_text(yaml.safe_dump({"outs": [{"md5": "abc.dir", "path": "data"}]}))
    (tmp_path / OUT).mkdir(parents=True)
    (tmp_path / OUT / "curves.csv").write_text("optimizer,seed,step\nsgd,0,0\n")
    params = {"shared": {"readings": ["fresh"], "guard": {"z": 2.0}},
              "ood_optimizee": {"base": {"steps": 100}, "relu": {"task": {"kind": "mlp"}}}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    spec = {"foreach": ["relu"], "do": {"cmd": CMD, "deps": ["lgl2o/loop.py", "data"],
                                        "params": ["ood_optimizee.base", "ood_optimizee.${item}", "shared.guard",
                                                   "shared.readings"],
                                        "outs": [{f"results/05_ood_optimizee/${{item}}/curves.csv": {"cache": False}}]}}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"05_ood_optimizee": spec}}))
    lock = {"cmd": CMD.replace("${item}", "relu"),
            "deps": [{"path": "lgl2o/loop.py", "md5": _md5(tmp_path / "lgl2o/loop.py")},
                     {"path": "data", "md5": "abc.dir"}],
            "params": {"params.yaml": {"ood_optimizee.base": params["ood_optimizee"]["base"],
                                       "ood_optimizee.relu": params["ood_optimizee"]["relu"],
                                       "shared.guard": params["shared"]["guard"],
                                       "shared.readings": ["fresh"]}},
            "outs": [{"path": f"{OUT}/curves.csv", "md5": _md5(tmp_path / OUT / "curves.csv")}]}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {"05_ood_optimizee@relu": lock}}))
    params["shared"]["readings"] = ["fresh", "same", "next"]
    return tmp_path, params


def _reusable(root, params):
    return reusable_curves("05_ood_optimizee", "relu", OUT, params=params, root=root)


def test_curves_are_kept_when_only_the_readings_changed(repo):
    root, params = repo
    assert _reusable(root, params) == (f"{OUT}/curves.csv",
                                       "dvc.lock shows the same code, data and settings but the readings")
    # a variant's own readings count as the readings too
    params["shared"]["readings"] = ["fresh"]
    params["ood_optimizee"]["relu"]["readings"] = ["fresh", "same"]
    assert _reusable(root, params)[0] == f"{OUT}/curves.csv"


def test_curves_are_run_again_when_anything_else_changed(repo):
    root, params = repo
    same = {**params, "shared": {**params["shared"], "readings": ["fresh"]}}
    assert _reusable(root, same) == (None, "the readings did not change")  # dvc repro -f: everything runs
    steps = {**params, "ood_optimizee": {**params["ood_optimizee"], "base": {"steps": 200}}}
    assert _reusable(root, steps) == (None, "params.yaml ood_optimizee.base changed")
    guard = {**params, "shared": {**params["shared"], "guard": {"z": 0.0}}}
    assert _reusable(root, guard) == (None, "params.yaml shared.guard changed")


def test_curves_are_run_again_when_code_data_or_the_curves_differ_from_the_lock(repo):
    root, params = repo
    (root / "lgl2o/loop.py").write_text("steps = 2\n")
    assert _reusable(root, params) == (None, "lgl2o/loop.py changed")
    (root / "lgl2o/loop.py").write_text("steps = 1\n")
    (root / "data.dvc").write_text(yaml.safe_dump({"outs": [{"md5": "def.dir", "path": "data"}]}))
    assert _reusable(root, params) == (None, "data changed")
    (root / "data.dvc").write_text(yaml.safe_dump({"outs": [{"md5": "abc.dir", "path": "data"}]}))
    (root / OUT / "curves.csv").write_text("optimizer,seed,step\nsgd,0,1\n")
    assert _reusable(root, params) == (None, f"{OUT}/curves.csv is not the one dvc.lock records")


def test_curves_are_run_again_when_the_stage_reads_other_code_or_settings(repo):
    root, params = repo
    spec = yaml.safe_load((root / "dvc.yaml").read_text())
    spec["stages"]["05_ood_optimizee"]["do"]["deps"].append("lgl2o/other.py")
    (root / "lgl2o/other.py").write_text("")
    (root / "dvc.yaml").write_text(yaml.safe_dump(spec))
    assert _reusable(root, params) == (None, "the stage's dependencies changed")
    spec["stages"]["05_ood_optimizee"]["do"]["deps"].pop()
    spec["stages"]["05_ood_optimizee"]["do"]["params"].append("shared.device")
    (root / "dvc.yaml").write_text(yaml.safe_dump(spec))
    assert _reusable(root, params) == (None, "the stage's parameters changed")
    assert reusable_curves("05_ood_optimizee", "conv", "results/05_ood_optimizee/conv", params=params,
                           root=root)[0] is None  # no curves, no lock entry


def test_params_yaml_cannot_set_what_the_runner_keeps():
    params = yaml.safe_load((stage.ROOT / "params.yaml").read_text())
    params["in_distribution"]["reuse"] = "results/03_in_distribution/curves.csv"
    with pytest.raises(ConfigError, match="in_distribution: reuse is the stage runner's to set"):
        stage.stage_config("03_in_distribution", params=params)
