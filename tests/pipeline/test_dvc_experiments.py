"""The README's ways to run experiments work as written, from a plain shell that activates the environment
(``source .venv/bin/activate``), in a copy of the repository (its own git history and data) whose venv's
editable install points at this repo, not at the copy: ``dvc exp run -S`` re-runs only what a change
affects; ``--temp`` and ``--queue`` experiments read and write only in their own workspace; an interrupted
stage leaves its previous outputs; experiments move between machines through a git and a DVC remote."""
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lgl2o.core.paths import ROOT
from lgl2o.pipeline.outputs import declared_outputs

README = (ROOT / "README.md").read_text()
VENV = Path(sys.prefix)


def _plain_env() -> dict:
    """This environment as a new shell has it: no venv on PATH, no root or import path set by hand."""
    env = {k: v for k, v in os.environ.items() if k not in ("LGL2O_ROOT", "PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if Path(p) != VENV / "bin")
    return {**env, "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost",
            "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@localhost"}


def _sh(cmd: str, cwd, check=True, timeout=600) -> subprocess.CompletedProcess:
    """``cmd`` in a new bash that first activates the environment, as the README says."""
    r = subprocess.run(["bash", "-c", f"source .venv/bin/activate && {cmd}"], cwd=cwd, env=_plain_env(),
                       capture_output=True, text=True, timeout=timeout)
    if check and r.returncode:
        pytest.fail(f"{cmd} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def _tracked(root: Path) -> dict[str, str]:
    """Every git-tracked file of ``root`` and the SHA-256 of its bytes."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout.decode()
    return {f: hashlib.sha256((root / f).read_bytes()).hexdigest() for f in filter(None, files.split("\0"))
            if (root / f).is_file()}


def _copy(dst: Path) -> None:
    """The working tree (tracked and untracked, not ignored) and the verified data into ``dst``, as one
    commit, with the same venv (``.venv`` links to it)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        if (ROOT / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    shutil.copytree(ROOT / "data", dst / "data")  # copies: dvc may relink its files
    (dst / ".venv").symlink_to(VENV)
    _sh("git init -q -b main && git add -A && git commit -q -m copy", dst)
    _sh("dvc commit -f -q data.dvc", dst)  # as scripts/setup.sh does: the data into the cache


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A copy of the working tree as one commit, up to date with its dvc.lock."""
    dst = tmp_path_factory.mktemp("repo")
    _copy(dst)
    status = _sh("dvc status", dst).stdout
    if "up to date" not in status:
        pytest.fail(f"the pipeline is not up to date (a changed dep without a re-run or a dvc commit):\n{status}")
    return dst


@pytest.fixture()
def clean(repo):
    """The copy's workspace, reset after the test; this repo's tracked files checked untouched by it."""
    ours = _tracked(ROOT)
    yield repo
    assert _tracked(ROOT) == ours, "an experiment in the copy wrote into this repository"
    _sh("git checkout -q -- . && git clean -fdq -e .venv -e data", repo)


def _ran(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def test_readme_examples_change_a_parameter_and_rerun_only_its_stage(clean):
    dst = clean
    block = re.search(r"<!-- exp-example -->\n```bash\n(.*?)```", README, re.S)
    assert block, "README.md lacks its ```bash block after <!-- exp-example -->"
    commands = [c.split("  #")[0].strip() for c in block.group(1).splitlines() if c.strip() and not c.startswith("#")]
    assert commands[0] == "source .venv/bin/activate", "the README's example starts by activating the environment"
    commands = commands[1:]
    assert commands[0].startswith("dvc exp run -S ") and any(c.startswith("dvc exp show") for c in commands)
    out = _sh(" && ".join(commands), dst).stdout
    assert _ran(out) == ["07_convex_guarantee"], out
    section, key, value = re.match(r"dvc exp run -S (\w+)\.(\w+)=(\S+)", commands[0]).groups()
    assert section == "convex_guarantee" and key == "steps"
    curves = (dst / "results/07_convex_guarantee/curves.csv").read_text().splitlines()
    step = curves[0].split(",").index("step")
    assert max(int(line.split(",")[step]) for line in curves[1:]) == int(value)
    assert value in out  # dvc exp show --only-changed lists the changed parameter


def test_a_dry_run_names_what_a_change_would_rerun_and_runs_nothing(clean):
    dst = clean
    line = re.search(r"`(dvc exp run --dry -C data -S (\w+)\.(\w+)=(\d+))`", README)
    assert line, "the README shows no dry run"
    before = _tracked(dst)
    out = _sh(line.group(1), dst).stdout
    assert _ran(out) == [f"03_{line.group(2)}"], out
    assert _tracked(dst) == before


def _wait_for_queue(dst, timeout=900) -> dict[str, str]:
    """Each queued experiment's final status, once none is queued or running."""
    t0 = time.monotonic()
    while True:
        out = _sh("dvc queue status", dst).stdout
        if not re.search(r"\b(Queued|Running)\b", out):
            return dict(re.findall(r"^\w+\s+(\S+)\s+.*?\b(Success|Failed)\s*$", out, re.M))
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"the queue did not finish in {timeout} s:\n{out}")
        time.sleep(3)


def _curve_steps(path: Path) -> int:
    lines = path.read_text().splitlines()
    i = lines[0].split(",").index("step")
    return max(int(line.split(",")[i]) for line in lines[1:])


@pytest.fixture(scope="module")
def queued(repo):
    """Three queued experiments run by one worker: stage 07 at 300 steps, the data-reading stage 08 at a tiny
    scale, and one with a misspelt key; the tracked files of the copy and of this repo before and after."""
    before = {"copy": _tracked(repo), "ours": _tracked(ROOT)}
    _sh("dvc exp run --queue -n conv300 -S convex_guarantee.steps=300", repo)
    _sh("dvc exp run --queue -n cost2 -S cost.steps=2 -S cost.repeats=1", repo)
    # DVC refuses a key params.yaml lacks unless told to add it (+key=value): then the stage refuses it
    _sh("dvc exp run --queue -n typo -S +convex_guarantee.stepz=300", repo)
    _sh("dvc queue start -j 1", repo)
    status = _wait_for_queue(repo)
    after = {"copy": _tracked(repo), "ours": _tracked(ROOT)}
    return status, before, after


def test_queued_experiments_run_and_write_only_in_their_own_workspaces(repo, queued):
    status, before, after = queued
    assert status == {"conv300": "Success", "cost2": "Success", "typo": "Failed"}, status
    assert after["copy"] == before["copy"], "a queued experiment wrote into the workspace it was queued from"
    assert after["ours"] == before["ours"], "a queued experiment wrote into the repo of the editable install"
    shown = json.loads(_sh("dvc exp show --json", repo).stdout)
    exps = {e["name"]: e for b in shown for e in (b.get("experiments") or []) if e.get("name")}
    assert {"conv300", "cost2"} <= set(exps)
    metrics = {name: exps[name]["revs"][0]["data"]["metrics"] for name in ("conv300", "cost2")}
    assert "results/07_convex_guarantee/metrics.json" in metrics["conv300"]
    assert "results/08_cost/metrics.json" in metrics["cost2"]


def test_a_misspelt_key_fails_in_its_own_workspace_naming_the_key(repo, queued):
    logs = _sh("dvc queue logs typo", repo, check=False)
    assert "convex_guarantee: unknown parameter(s) stepz (a misspelling?)" in logs.stdout + logs.stderr
    refused = _sh("dvc exp run --queue -S convex_guarantee.stepz=300", repo, check=False)
    assert refused.returncode != 0 and "convex_guarantee.stepz" in refused.stderr


def test_an_experiment_is_brought_back_by_apply(clean, queued):
    dst = clean
    assert _curve_steps(dst / "results/07_convex_guarantee/curves.csv") == 2000
    _sh("dvc exp apply conv300", dst)
    assert _curve_steps(dst / "results/07_convex_guarantee/curves.csv") == 300
    assert "steps: 300" in (dst / "params.yaml").read_text()


def test_a_temp_experiment_of_a_data_reading_stage_runs_in_its_own_workspace(clean):
    dst = clean
    before = _tracked(dst)
    out = _sh("dvc exp run --temp -n cost3 -S cost.steps=3 -S cost.repeats=1", dst).stdout
    assert _ran(out) == ["08_cost"], out
    assert _tracked(dst) == before
    assert "cost3" in _sh("dvc exp show --csv", dst).stdout


def test_experiments_move_between_machines_through_a_git_and_a_dvc_remote(clean, queued, tmp_path):
    dst = clean
    _sh(f"git init -q --bare -b main {tmp_path / 'origin.git'} && git remote add origin {tmp_path / 'origin.git'} && "
        f"dvc remote add -d store {tmp_path / 'store'} && git commit -q -m 'a DVC remote' .dvc/config && "
        "git push -q origin main && dvc push -q", dst)
    _sh("dvc exp push origin conv300", dst)
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(tmp_path / "origin.git"), str(other)], check=True, env=_plain_env())
    (other / ".venv").symlink_to(VENV)
    _sh("dvc pull -q && dvc exp pull origin conv300 && dvc exp apply conv300", other)
    assert _curve_steps(other / "results/07_convex_guarantee/curves.csv") == 300
    assert (other / "data/mnist/train-images-idx3-ubyte").is_file()


def _outputs(root: Path, stage: str) -> dict[str, bytes]:
    return {f: (root / f).read_bytes() for f in declared_outputs(stage)}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_stage_leaves_its_previous_outputs(clean, sig):
    dst = clean
    before = _outputs(dst, "07_convex_guarantee")
    proc = subprocess.Popen(["bash", "-c", "source .venv/bin/activate && exec dvc exp run -S convex_guarantee.steps=200000"],
                            cwd=dst, env=_plain_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    seen = ""
    for line in proc.stdout:  # until the notebook is stepping
        seen += line
        if "gd steps:" in line:
            break
    else:
        pytest.fail(f"the stage ended before it could be interrupted:\n{seen}")
    time.sleep(2)
    os.killpg(proc.pid, sig)  # as Ctrl-C does (the whole foreground group), or a kill -9 of it
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert _outputs(dst, "07_convex_guarantee") == before, f"{sig.name} changed or removed the previous outputs"
    # and a run after it completes
    _sh("git checkout -q -- params.yaml", dst)
    out = _sh("dvc exp run -S convex_guarantee.steps=300", dst).stdout
    assert _ran(out) == ["07_convex_guarantee"], out
    assert _curve_steps(dst / "results/07_convex_guarantee/curves.csv") == 300
    assert not (dst / ".staging/07_convex_guarantee").exists()


def _changed(dst, edit) -> list[str]:
    """The stages ``dvc status`` calls changed after ``edit(params)`` of the copy's params.yaml (then undone)."""
    from dvc.utils.serialize import modify_yaml

    before = (dst / "params.yaml").read_text()
    with modify_yaml(dst / "params.yaml") as params:  # as `dvc exp run -S` edits it
        edit(params)
    try:
        out = _sh("dvc status", dst).stdout
    finally:
        (dst / "params.yaml").write_text(before)
    return sorted(re.findall(r"^(\S+):\s*$", out, re.M))


def test_changing_one_variant_reruns_only_that_variant(repo):
    def relu_batch(p):
        p["ood_optimizee"]["relu"]["task"]["batch_size"] = 64

    def base_steps(p):
        p["ood_optimizee"]["base"]["steps"] = 20

    assert _changed(repo, relu_batch) == ["05_ood_optimizee@relu"]
    assert _changed(repo, base_steps) == [f"05_ood_optimizee@{v}" for v in ("conv", "relu", "wide_deep")]


def test_a_shared_setting_reruns_exactly_the_stages_that_take_it(repo):
    """params.yaml states what stages share once (``shared``); a stage that states a setting itself
    does not take the shared one."""
    def task(p):
        p["shared"]["task"]["batch_size"] = 64

    def checkpoint(p):
        p["shared"]["l2o_checkpoint"] = "models/other"

    pieces = [f"06_long_horizon_run@{o}-{s}" for o in ("adam", "gl2o", "l2o", "lgl2o-adam", "lgl2o-paper",
                                                     "lgl2o-paper-next", "lgl2o-paper-same", "lgl2o-sgd", "sgd")
              for s in (0, 1)]
    assert _changed(repo, task) == sorted(["01_tune_baselines", "03_in_distribution", "06_long_horizon", *pieces])
    assert _changed(repo, checkpoint) == sorted(
        ["03_in_distribution", "04_ood_data", "06_long_horizon", *pieces, "07_convex_guarantee",
         *[f"05_ood_optimizee@{v}" for v in ("conv", "relu", "wide_deep")],
         *[f"09_guard_ablation@{v}" for v in ("fashion_mnist", "mnist")]])
