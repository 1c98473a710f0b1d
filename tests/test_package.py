"""The installed package is complete: a wheel built from the repo, installed apart from it, loads the
meta-trained L2O from any folder, runs the README's guard example, and compiles its native step into a
writable cache outside the install."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from lgl2o.core.paths import ROOT
from lgl2o.l2o.checkpoint import pretrained_path


@pytest.mark.parametrize("suffix", [".pt", ".json"])
def test_the_packaged_l2o_is_the_dvc_artifact_byte_for_byte(suffix):
    packaged, artifact = pretrained_path().with_suffix(suffix), ROOT / "models" / f"l2o{suffix}"
    assert packaged.read_bytes() == artifact.read_bytes(), (
        f"{packaged} differs from {artifact}: stage 02_meta_train writes both (params.yaml meta_train.pretrained_dir)")


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel, installed with ``pip --target`` into a folder that is not the repo."""
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"),
                    str(ROOT)], check=True, capture_output=True)
    (wheel,) = (tmp / "dist").glob("lgl2o-*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp / "site"), str(wheel)],
                   check=True, capture_output=True)
    return tmp / "site"


def _run_installed(site: Path, code: str, cwd: Path, **env) -> subprocess.CompletedProcess:
    """``code`` run by this interpreter with the installed copy first on the path, from ``cwd``, with none of
    the repo's settings in the environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LGL2O_")}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          env={**base, "PYTHONPATH": str(site), **env})


def test_the_wheel_carries_the_l2o_and_the_c_sources(installed):
    files = {p.relative_to(installed).as_posix() for p in installed.rglob("*") if p.is_file()}
    for f in ("lgl2o/l2o/pretrained/l2o.pt", "lgl2o/l2o/pretrained/l2o.json", "lgl2o/l2o/backends/csrc/lstm_cell.c",
              "lgl2o/optim/csrc/select_rows.c"):
        assert f in files


def test_the_readme_guard_example_runs_from_an_empty_folder_with_the_installed_package(installed, tmp_path):
    block = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)[0]
    empty = tmp_path / "empty"
    empty.mkdir()
    code = f"import lgl2o; assert lgl2o.__file__.startswith({str(installed)!r}), lgl2o.__file__\n{block}"
    r = _run_installed(installed, code, empty, XDG_CACHE_HOME=str(tmp_path / "cache"))
    assert r.returncode == 0, r.stderr
    assert float(re.search(r"loss (\d+\.\d+)", r.stdout).group(1)) < 1.0
    assert list(empty.iterdir()) == []  # nothing written where it ran


def test_the_installed_native_step_compiles_into_the_user_cache(installed, tmp_path):
    code = ("from lgl2o.l2o.backends.native import load; lib = load(); import lgl2o.core.clib as c; "
            "print(c.build_root())")
    r = _run_installed(installed, code, tmp_path, XDG_CACHE_HOME=str(tmp_path / "cache"))
    if "needs a C compiler" in r.stderr:
        pytest.skip("no C compiler here")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "cache" / "lgl2o" / "native")
    assert list((tmp_path / "cache" / "lgl2o" / "native").glob("*/liblstm_cell.so"))
    assert not [p for p in installed.rglob("*.so")], "a build went into the installed package"
