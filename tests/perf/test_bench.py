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
    assert r["l2o_step"] == "native"  # the stages' step
    assert set(r["per_step"]) == {"sgd", "adam", "l2o", "gl2o", "lgl2o-sgd", "lgl2o-adam", "lgl2o-paper",
                                  "lgl2o-paper-same", "lgl2o-paper-next"}
    assert r["per_step"]["sgd"]["ratio_to_sgd"] == 1.0
    assert all(v["ms"] > 0 for v in r["per_step"].values())
    assert (r["per_step"]["gl2o"]["fwd"], r["per_step"]["gl2o"]["bwd"]) == (2, 2)
    assert (r["per_step"]["lgl2o-sgd"]["fwd"], r["per_step"]["lgl2o-sgd"]["bwd"]) == (3, 1)
    passes = {name: (r["per_step"][name]["fwd"], r["per_step"][name]["bwd"]) for name in r["per_step"]}
    assert passes["lgl2o-paper"] == passes["lgl2o-paper-same"] == (3, 1)
    assert passes["lgl2o-paper-next"] == (2, 1)  # one forward pass reused by the next gradient
    assert set(r["lgl2o_throughput"]) == {"1", "2"} and r["meta_train"]["plain_optimizee_steps_per_s"] > 0
    assert set(r["backends"]) == set(backends.NAMES)  # every backend, timed in the same run
    assert r["backends"]["plain"]["l2o_vs_plain"] == 1.0
    for b in r["backends"].values():
        # one round: the paired ratios are the ratios of the medians
        assert b["l2o_ms"] > 0 and b["l2o_vs_sgd"] == pytest.approx(b["l2o_ms"] / b["sgd_ms"])
        assert b["lgl2o_sgd_vs_l2o"] == pytest.approx(b["lgl2o_sgd_ms"] / b["l2o_ms"])
    printed = capsys.readouterr().out
    assert "ms/step" in printed and "every L2O step backend" in printed


def test_bench_times_the_fast_step_on_request(tmp_path):
    out = tmp_path / "bench.json"
    bench.main(["--dataset", "digits", "--steps", "2", "--repeats", "1", "--batched", "1",
                "--meta-optimizees", "1", "--meta-steps", "plain", "--l2o-step", "fast", "--no-backends",
                "--json", str(out)])
    r = json.loads(out.read_text())
    assert r["l2o_step"] == "fast" and r["per_step"]["l2o"]["ms"] > 0 and "backends" not in r


def test_interleaved_timing_steps_every_optimizer_in_every_round():
    from lgl2o.experiments.cost import time_interleaved
    from lgl2o.optim.baselines import SGD
    from lgl2o.problems.tasks import MLP

    calls = []

    class Counted(SGD):
        def step(self, params, state, grad, oracle):
            calls.append(self.lr)
            return super().step(params, state, grad, oracle)

    t = time_interleaved(MLP("digits"), {"a": Counted(1.0), "b": Counted(2.0)}, [0], steps=3, repeats=4, warmup=2)
    assert set(t) == {"a", "b"} and all(len(v) == 4 and min(v) > 0 for v in t.values())
    # the warm-ups, then rounds of a block of each in turn
    assert calls == [1.0] * 2 + [2.0] * 2 + ([1.0] * 3 + [2.0] * 3) * 4


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
