"""The runnable examples run, and say what the guard did."""
import importlib.util
import math
import re

from lgl2o.core.paths import ROOT
from lgl2o.optim.torch_guard import AUDIT_EVERY


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_guarding_a_foreign_optimizer_trains_and_reports_the_decisions(data_root, capsys):
    out = _load("guard_a_foreign_optimizer").main(["--steps", "30", "--report-every", "10"])
    printed = capsys.readouterr().out
    assert len(re.findall(r"^step +\d+: NAdam kept on", printed, flags=re.M)) == 3
    assert out["steps"] == 30 and 0 <= out["proposal_share"] <= 1
    assert math.isfinite(out["test_acc"]) and out["test_acc"] > 0.3  # 0.1 is chance; 30 steps are enough for 0.3
    assert 0 <= out["rollbacks"] <= out["audits"] <= 30 // AUDIT_EVERY
    price = re.search(r"^price: ([\d.]+) ms per guarded step against ([\d.]+) ms .* \(([\d.]+)x", printed, flags=re.M)
    assert price and abs(float(price[3]) - out["price"]) <= 0.005 and float(price[1]) > float(price[2])
