"""Scripts cannot rot unseen: every ``scripts/*.py`` answers ``--help`` (its imports resolve), and the GPU
check script runs its steps on the CPU in its dry mode."""
import json
import os
import subprocess
import sys

import pytest

from lgl2o.core.paths import ROOT

SCRIPTS = sorted(p.name for p in (ROOT / "scripts").glob("*.py"))


def test_there_are_scripts_to_check():
    assert "reference_outputs.py" in SCRIPTS and "guard_cost.py" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_answers_help(script):
    r = subprocess.run([sys.executable, f"scripts/{script}", "--help"], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"scripts/{script} --help failed:\n{r.stderr}"
    assert r.stdout.startswith("usage:"), r.stdout


@pytest.mark.parametrize("script", ["main.sh", "test.sh", "setup.sh", "device/check.sh"])
def test_every_shell_script_is_valid_bash(script):
    assert subprocess.run(["bash", "-n", f"scripts/{script}"], cwd=ROOT).returncode == 0


def test_the_gpu_check_answers_help_and_refuses_an_unknown_argument():
    r = subprocess.run(["bash", "scripts/device/check.sh", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "--dry" in r.stdout
    r = subprocess.run(["bash", "scripts/device/check.sh", "--gpu"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "usage:" in r.stderr


def test_the_gpu_check_runs_its_steps_on_the_cpu_in_its_dry_mode(tmp_path):
    """As on the GPU machine: from the repo root, the package not installed (PYTHONPATH), results in $OUT."""
    env = {k: v for k, v in os.environ.items() if k not in ("LGL2O_ROOT", "PYTHONPATH")}
    r = subprocess.run(["bash", "scripts/device/check.sh", "--dry"], cwd=ROOT, capture_output=True, text=True,
                       env={**env, "OUT": str(tmp_path), "PYTHON": sys.executable}, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "the CUDA-only tests and --graph are skipped" in r.stdout and "!! failed" not in r.stdout
    assert " passed" in r.stdout and " failed" not in r.stdout.split("short test summary")[-1]
    bench = json.loads((tmp_path / "bench_cpu.json").read_text())
    assert bench["per_step"] and bench["device"] == "cpu", "the benchmark wrote no figures"
    assert (tmp_path / "tests.xml").read_text().count("<testcase") > 100
