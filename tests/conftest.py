import os
from pathlib import Path

import pytest

from lgl2o.problems import data
from lgl2o.core.paths import ROOT

# The offline mirror: $LGL2O_DATA_MIRROR, else ../shared/datasets beside the repo (dev and CI machines).
_default_mirror = ROOT.parent / "shared" / "datasets"
MIRROR = Path(os.environ.get(data.MIRROR_ENV) or _default_mirror)


@pytest.fixture(scope="session")
def mirror() -> Path:
    if not (MIRROR / "mnist").is_dir():
        pytest.fail(f"dataset mirror {MIRROR} not found; set {data.MIRROR_ENV}")
    return MIRROR


@pytest.fixture(scope="session")
def data_root(mirror) -> Path:
    """The repo's data/ folder, fetched (a no-op when already verified)."""
    for name in data.DATASETS:
        data.fetch(name, mirror=mirror, log=lambda *_: None)
    return data.DATA
