import pytest

from lgl2o import stage
from lgl2o.paths import ROOT


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
