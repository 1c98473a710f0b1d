import json

import pytest
import torch

from lgl2o.l2o import backends
from lgl2o.perf import bench


def test_bench_reports_every_optimizer_and_the_passes_they_spend(tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench.main(["--dataset", "digits", "--steps", "2", "--repeats", "1", "--batched", "1,2",
                "--meta-optimizees", "1", "--meta-steps", "plain", "--json", str(out)])
    r = json.loads(out.read_text())
    assert r["l2o_step"] == "fast"
    assert set(r["per_step"]) == {"sgd", "adam", "l2o", "gl2o", "lgl2o-sgd", "lgl2o-adam", "lgl2o-next"}
    assert r["per_step"]["sgd"]["ratio_to_sgd"] == 1.0
    assert all(v["ms"] > 0 for v in r["per_step"].values())
    assert (r["per_step"]["gl2o"]["fwd"], r["per_step"]["gl2o"]["bwd"]) == (2, 2)
    assert (r["per_step"]["lgl2o-sgd"]["fwd"], r["per_step"]["lgl2o-sgd"]["bwd"]) == (3, 1)
    assert (r["per_step"]["lgl2o-next"]["fwd"], r["per_step"]["lgl2o-next"]["bwd"]) == (2, 1)  # one reused
    assert set(r["lgl2o_throughput"]) == {"1", "2"} and r["meta_train"]["plain_optimizee_steps_per_s"] > 0
    assert set(r["backends"]) == set(backends.NAMES)  # every backend, timed in the same run
    assert r["backends"]["plain"]["l2o_vs_plain"] == 1.0
    for b in r["backends"].values():
        assert b["l2o_ms"] > 0 and b["l2o_vs_sgd"] == pytest.approx(b["l2o_ms"] / r["per_step"]["sgd"]["ms"])
        assert b["lgl2o_sgd_vs_l2o"] == pytest.approx(b["lgl2o_sgd_ms"] / b["l2o_ms"])
    printed = capsys.readouterr().out
    assert "ms/step" in printed and "every L2O step backend" in printed


def test_bench_times_the_native_step(tmp_path):
    out = tmp_path / "bench.json"
    bench.main(["--dataset", "digits", "--steps", "2", "--repeats", "1", "--batched", "1",
                "--meta-optimizees", "1", "--meta-steps", "plain", "--l2o-step", "native", "--no-backends",
                "--json", str(out)])
    r = json.loads(out.read_text())
    assert r["l2o_step"] == "native" and r["per_step"]["l2o"]["ms"] > 0 and "backends" not in r


def test_bench_refuses_bad_arguments():
    with pytest.raises(SystemExit):
        bench.main(["--steps", "0"])
    for bad in (["--l2o-step", "jit"], ["--meta-steps", "fast"], ["--meta-steps", ","],
                ["--device", "meta", "--l2o-step", "native"]):
        with pytest.raises(SystemExit):
            bench.main(bad)
    with pytest.raises(ValueError, match="unknown L2O step"):
        backends.make_step(None, "jit")
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            bench.main(["--device", "cuda"])
