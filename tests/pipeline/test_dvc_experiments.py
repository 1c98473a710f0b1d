"""`dvc exp run -S` addresses params.yaml's sections and re-runs only what a change affects, in a copy of
the repository (its own git history and data, the package imported from the copy)."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lgl2o.core.paths import ROOT

README = (ROOT / "README.md").read_text()


def _run(cmd, cwd, env, check=True):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, shell=isinstance(cmd, str))
    if check and r.returncode:
        pytest.fail(f"{cmd} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A copy of the working tree as one commit, up to date with its dvc.lock."""
    dst = tmp_path_factory.mktemp("repo")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        if (ROOT / f).is_file():
            (dst / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, dst / f)
    shutil.copytree(ROOT / "data", dst / "data")  # the verified datasets (copies: dvc may relink its files)
    env = {**os.environ, "LGL2O_ROOT": str(dst), "PYTHONPATH": str(dst),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@localhost"}
    _run("git init -q && git add -A && git commit -q -m copy", dst, env)
    _run(["dvc", "commit", "-f", "-q", "data.dvc"], dst, env)  # as scripts/setup.sh does: the data into the cache
    status = _run(["dvc", "status"], dst, env).stdout
    if "up to date" not in status:
        pytest.fail(f"the pipeline is not up to date (a changed dep without a re-run or a dvc commit):\n{status}")
    return dst, env


def _ran(output: str) -> list[str]:
    return re.findall(r"Running stage '([^']+)'", output)


def test_readme_examples_change_a_parameter_and_rerun_only_its_stage(repo):
    dst, env = repo
    block = re.search(r"<!-- exp-example -->\n```bash\n(.*?)```", README, re.S)
    assert block, "README.md lacks its ```bash block after <!-- exp-example -->"
    commands = [c for c in block.group(1).splitlines() if c.strip() and not c.startswith("#")]
    assert commands[0].startswith("dvc exp run -S ") and any(c.startswith("dvc exp show") for c in commands)
    out = ""
    for c in commands:
        out += _run(c, dst, env).stdout
    assert _ran(out) == ["07_convex_guarantee"], out
    section, key, value = re.match(r"dvc exp run -S (\w+)\.(\w+)=(\S+)", commands[0]).groups()
    assert section == "convex_guarantee" and key == "steps"
    curves = (dst / "results/07_convex_guarantee/curves.csv").read_text().splitlines()
    step = curves[0].split(",").index("step")
    assert max(int(line.split(",")[step]) for line in curves[1:]) == int(value)
    assert value in out  # dvc exp show --only-changed lists the changed parameter


def _changed(dst, env, edit) -> list[str]:
    """The stages ``dvc status`` calls changed after ``edit(params)`` of the copy's params.yaml (then undone)."""
    from dvc.utils.serialize import modify_yaml

    before = (dst / "params.yaml").read_text()
    with modify_yaml(dst / "params.yaml") as params:  # as `dvc exp run -S` edits it
        edit(params)
    try:
        out = _run(["dvc", "status"], dst, env).stdout
    finally:
        (dst / "params.yaml").write_text(before)
    return sorted(re.findall(r"^(\S+):\s*$", out, re.M))


def test_changing_one_variant_reruns_only_that_variant(repo):
    dst, env = repo

    def relu_batch(p):
        p["ood_optimizee"]["relu"]["task"]["batch_size"] = 64

    def base_steps(p):
        p["ood_optimizee"]["base"]["steps"] = 20

    assert _changed(dst, env, relu_batch) == ["05_ood_optimizee@relu"]
    assert _changed(dst, env, base_steps) == [f"05_ood_optimizee@{v}" for v in ("conv", "relu", "wide_deep")]
