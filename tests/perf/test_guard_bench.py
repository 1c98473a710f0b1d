"""The guard's benchmark in a user's loop runs, times every variant on both models, and records the host."""
import json

from lgl2o.perf import guard_bench


def test_the_guard_benchmark_prints_and_writes_its_figures(tmp_path, capsys, data_root):
    out = tmp_path / "guard.json"
    assert guard_bench.main(["--rounds", "2", "--steps", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["models"]) == {"cnn", "mlp"} and result["host"]["cpu"]
    for model in result["models"].values():
        assert set(model) == {"plain", "guard", "audited"}
        assert model["plain"]["ratio"] == 1.0
        for variant in ("guard", "audited"):
            assert model[variant]["ms"] > 0
            assert model[variant]["ratio_min"] <= model[variant]["ratio"] <= model[variant]["ratio_max"]
    printed = capsys.readouterr().out
    assert "x plain" in printed and "cnn    guard" in printed and "mlp    audited" in printed
