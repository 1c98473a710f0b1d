import gzip
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from lgl2o.problems import data
from lgl2o.core.paths import ROOT

MNIST_TRAIN = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(dtype):
    a = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    b = data.parse_idx(data.encode_idx(a))
    assert b.shape == (2, 3, 5)
    np.testing.assert_array_equal(b, a)


def test_idx_bad_magic():
    raw = data.encode_idx(np.zeros((2, 2), np.uint8))
    with pytest.raises(data.DataError, match="wrong IDX magic"):
        data.parse_idx(b"\x1f\x8b" + raw[2:], "f.idx")


@pytest.mark.parametrize("cut", [1, 10])
def test_idx_truncated_and_trailing(cut):
    raw = data.encode_idx(np.zeros((4, 4), np.uint8))
    with pytest.raises(data.DataError, match="f.idx: .*truncated"):
        data.parse_idx(raw[:-cut], "f.idx")
    with pytest.raises(data.DataError, match="trailing bytes"):
        data.parse_idx(raw + b"\0" * cut, "f.idx")


def test_idx_random_bytes_never_crash():
    rng = np.random.default_rng(0)
    good = data.encode_idx(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    for i in range(300):
        raw = rng.integers(0, 256, int(rng.integers(0, 64)), dtype=np.uint8).tobytes()
        if i % 2:  # mostly-valid headers with a random tail
            raw = good[: int(rng.integers(0, len(good)))] + raw[:3]
        try:
            data.parse_idx(raw)
        except data.DataError:
            pass


def test_unknown_dataset_lists_known():
    with pytest.raises(data.DataError, match="unknown dataset 'cifar'.*mnist, fashion_mnist, digits"):
        data.fetch("cifar")
    with pytest.raises(data.DataError, match="unknown dataset"):
        data.load("cifar")
    with pytest.raises(data.DataError, match="unknown split"):
        data.load("mnist", "validation")


def _fake_dataset(monkeypatch, tmp_path, payloads: dict[str, bytes]):
    """Register a one-file dataset whose only source is a mirror (the URL is unreachable)."""
    raw = data.encode_idx(np.arange(12, dtype=np.uint8).reshape(3, 4))
    ds = data.Dataset("toy", "toy", ("http://127.0.0.1:9/",), (data.IdxFile("f-idx", data.sha256(raw)),))
    monkeypatch.setitem(data.DATASETS, "toy", ds)
    mirror = tmp_path / "mirror"
    (mirror / "toy").mkdir(parents=True)
    for name, payload in payloads.items():
        (mirror / "toy" / name).write_bytes(payload)
    return raw, mirror, tmp_path / "root"


def test_fetch_from_mirror_verifies_and_skips(monkeypatch, tmp_path):
    raw = data.encode_idx(np.arange(12, dtype=np.uint8).reshape(3, 4))
    _, mirror, root = _fake_dataset(monkeypatch, tmp_path, {"f-idx.gz": gzip.compress(raw)})
    logs = []
    out = data.fetch("toy", root, mirror, timeout=1, log=logs.append)
    assert (out / "f-idx").read_bytes() == raw
    assert len(logs) == 1
    data.fetch("toy", root, mirror, timeout=1, log=logs.append)  # verified file: nothing fetched
    assert len(logs) == 1


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"this is not gzip at all", "not a valid gzip file"),
        (None, "truncated or corrupt gzip"),  # a truncated gzip stream
        (gzip.compress(b"\0\0\x08\x01\0\0\0\x02ab"), "SHA-256 of the decompressed bytes"),
    ],
)
def test_fetch_bad_mirror_file_is_never_used(monkeypatch, tmp_path, payload, message):
    raw = data.encode_idx(np.arange(12, dtype=np.uint8).reshape(3, 4))
    if payload is None:
        payload = gzip.compress(raw)[:-12]
    _, mirror, root = _fake_dataset(monkeypatch, tmp_path, {"f-idx.gz": payload})
    with pytest.raises(data.DataError, match=message) as e:
        data.fetch("toy", root, mirror, timeout=1, log=lambda *_: None)
    assert "could not fetch toy/f-idx" in str(e.value)
    assert not any(p.is_file() for p in root.rglob("*")), "a failed fetch left a file behind"


def test_fetch_missing_mirror_and_no_network(monkeypatch, tmp_path):
    _, _, root = _fake_dataset(monkeypatch, tmp_path, {})
    with pytest.raises(data.DataError, match=r"mirror folder .*nowhere does not exist(.|\n)*127\.0\.0\.1(.|\n)*LGL2O_DATA_MIRROR"):
        data.fetch("toy", root, tmp_path / "nowhere", timeout=1, log=lambda *_: None)


def test_corrupt_file_is_refused_on_load_and_replaced_on_fetch(mirror, tmp_path):
    root = tmp_path / "data"
    data.fetch("mnist", root, mirror, log=lambda *_: None)
    f = root / "mnist" / "t10k-labels-idx1-ubyte"
    good = f.read_bytes()
    f.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(data.DataError, match="t10k-labels-idx1-ubyte: SHA-256 mismatch.*fetch"):
        data.load("mnist", "test", root=root)
    data.fetch("mnist", root, mirror, log=lambda *_: None)
    assert f.read_bytes() == good
    (root / "mnist" / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(data.DataError, match="t10k-images-idx3-ubyte is missing; run `python -m lgl2o.problems.data fetch mnist`"):
        data.load("mnist", "test", root=root)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_load_shapes_and_label_counts(data_root, name):
    tr, te = data.load(name, "train"), data.load(name, "test")
    assert tr.x.shape == (60000, 784) and te.x.shape == (10000, 784)
    assert tr.x.dtype == torch.float32 and tr.y.dtype == torch.int64
    assert 0.0 <= float(tr.x.min()) and float(tr.x.max()) <= 1.0
    want_tr, want_te = (MNIST_TRAIN, MNIST_TEST) if name == "mnist" else ([6000] * 10, [1000] * 10)
    assert torch.bincount(tr.y).tolist() == want_tr
    assert torch.bincount(te.y).tolist() == want_te
    if name == "mnist":
        assert float(tr.x.mean()) * 255 == pytest.approx(33.318, abs=1e-3)


def test_digits_needs_no_network(monkeypatch):
    def no_network(*a, **k):
        raise AssertionError("digits touched the network")

    monkeypatch.setattr(data.urllib.request, "urlopen", no_network)
    tr, te = data.load("digits", "train"), data.load("digits", "test")
    assert tr.x.shape == (1437, 64) and te.x.shape == (360, 64)
    assert float(tr.x.max()) == 1.0 and tr.image_shape == (8, 8)


def test_fresh_fetch_leaves_data_dvc_unchanged(mirror, tmp_path):
    """A fetch into an empty DVC workspace hashes to exactly the committed data.dvc."""
    dvc = [sys.executable, "-m", "dvc"]
    work = tmp_path / "ws"
    work.mkdir()
    subprocess.run(dvc + ["init", "--no-scm", "-q"], cwd=work, check=True)
    subprocess.run(dvc + ["config", "cache.type", "hardlink,copy"], cwd=work, check=True)
    shutil.copy(ROOT / "data.dvc", work / "data.dvc")
    committed = (work / "data.dvc").read_text()
    for name in data.DATASETS:
        data.fetch(name, work / "data", mirror, log=lambda *_: None)
    subprocess.run(dvc + ["commit", "-f", "-q", "data.dvc"], cwd=work, check=True)
    assert (work / "data.dvc").read_text() == committed
    st = subprocess.run(dvc + ["status", "data.dvc"], cwd=work, capture_output=True, text=True, check=True)
    assert "up to date" in st.stdout, st.stdout
