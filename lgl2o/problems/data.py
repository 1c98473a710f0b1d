"""Datasets: hash-checked fetch (offline mirror first), IDX parsing, tensors on a device.

MNIST and Fashion-MNIST are stored under ``data/<folder>/`` as the *decompressed* IDX files, each
verified by the SHA-256 of its decompressed bytes (which does not depend on how a copy was gzipped).
A local mirror folder (``LGL2O_DATA_MIRROR``, laid out as ``<folder>/<file>.gz``) is tried before the
datasets' canonical sources. scikit-learn's bundled 8x8 ``digits`` needs no download at all.

    python -m lgl2o.problems.data fetch mnist fashion_mnist [--mirror DIR] [--root DIR]
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
import urllib.request
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from ..core.io import write_bytes
from ..core.paths import DATA

MIRROR_ENV = "LGL2O_DATA_MIRROR"


class DataError(RuntimeError):
    """Something is wrong with a dataset file or its source; the message says what to do."""


@dataclass(frozen=True)
class IdxFile:
    name: str  # decompressed file name, e.g. "train-images-idx3-ubyte"
    sha256: str  # of the decompressed bytes


@dataclass(frozen=True)
class Dataset:
    name: str
    folder: str  # folder under data/ and under the mirror
    urls: tuple[str, ...]  # canonical base URLs, tried in order; "<base><file>.gz"
    files: tuple[IdxFile, ...]


_IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)

DATASETS: dict[str, Dataset] = {
    "mnist": Dataset(
        "mnist",
        "mnist",
        (
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        tuple(
            IdxFile(n, h)
            for n, h in zip(
                _IDX_NAMES,
                (
                    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
                ),
            )
        ),
    ),
    "fashion_mnist": Dataset(
        "fashion_mnist",
        "fashion-mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        tuple(
            IdxFile(n, h)
            for n, h in zip(
                _IDX_NAMES,
                (
                    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
                ),
            )
        ),
    ),
}
BUNDLED = ("digits",)  # no download
KNOWN = tuple(DATASETS) + BUNDLED
SPLITS = ("train", "test")


def dataset(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(
            f"unknown dataset {name!r}; known datasets: {', '.join(KNOWN)}"
            + (" (digits is bundled with scikit-learn and needs no fetch)" if name == "digits" else "")
        ) from None


# --------------------------------------------------------------------------------------------
# IDX format


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes, validating the magic number, the dimensions and the payload length."""
    if len(raw) < 4:
        raise DataError(f"{source}: {len(raw)} bytes is too short for an IDX header (need >= 4)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(
            f"{source}: wrong IDX magic number {raw[:4].hex()} (expected 0000 followed by a type code "
            f"in {sorted(hex(c) for c in _IDX_DTYPES)} and the number of dimensions); "
            "is this a compressed or non-IDX file?"
        )
    ndim = raw[3]
    if ndim == 0:
        raise DataError(f"{source}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated IDX header ({len(raw)} bytes, need {header})")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{source}: IDX payload length mismatch: dimensions {dims} need {expected} bytes, "
            f"file has {len(raw)} ({'truncated' if len(raw) < expected else 'trailing bytes'})"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def encode_idx(array: np.ndarray) -> bytes:
    """IDX bytes for an array (used by tests and to write small fixtures)."""
    codes = {np.dtype(v).newbyteorder(">") if np.dtype(v).itemsize > 1 else np.dtype(v): k
             for k, v in _IDX_DTYPES.items()}
    dt = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    if dt not in codes:
        raise DataError(f"dtype {array.dtype} has no IDX type code")
    head = bytes([0, 0, codes[dt], array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return head + np.ascontiguousarray(array, dtype=dt).tobytes()


# --------------------------------------------------------------------------------------------
# fetch


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _gunzip(raw: bytes, source: str) -> bytes:
    try:
        return gzip.decompress(raw)
    except (gzip.BadGzipFile, OSError) as e:  # OSError: "Not a gzipped file"
        raise DataError(f"{source}: not a valid gzip file ({e}); delete it or re-download it") from e
    except (EOFError, zlib.error) as e:
        raise DataError(f"{source}: truncated or corrupt gzip stream ({e}); re-download it") from e


def _verified(path: Path, f: IdxFile) -> bool:
    return path.is_file() and sha256(path.read_bytes()) == f.sha256


def _download(url: str, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as r:  # noqa: S310 (fixed https/http URLs)
        return r.read()


def fetch(
    name: str,
    root: str | os.PathLike | None = None,
    mirror: str | os.PathLike | None = None,
    timeout: float = 30.0,
    log=print,
) -> Path:
    """Fill ``root/<folder>/`` with the verified, decompressed IDX files of dataset ``name``.

    Files already present and verified are left alone. A present file with the wrong hash is
    replaced (and said so). Sources: the mirror folder (argument, else ``$LGL2O_DATA_MIRROR``), then
    the canonical URLs. Every candidate is gunzipped and hash-checked before it is written, and it is
    written atomically, so a failed fetch leaves no half-written file.
    """
    ds = dataset(name)
    root = Path(root) if root is not None else DATA
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV) or None
    out = root / ds.folder
    for f in ds.files:
        dest = out / f.name
        if dest.exists():
            if _verified(dest, f):
                continue
            log(f"{dest}: SHA-256 mismatch, fetching it again")
        tried: list[str] = []
        sources: list[tuple[str, callable]] = []
        if mirror:
            mpath = Path(mirror) / ds.folder / f"{f.name}.gz"
            if not Path(mirror).is_dir():
                tried.append(f"mirror folder {mirror} does not exist")
            elif not mpath.is_file():
                tried.append(f"{mpath}: not in the mirror")
            else:
                sources.append((str(mpath), lambda p=mpath: p.read_bytes()))
        for base in ds.urls:
            url = f"{base}{f.name}.gz"
            sources.append((url, lambda u=url: _download(u, timeout)))
        for where, get in sources:
            try:
                raw = _gunzip(get(), where)
            except DataError as e:
                tried.append(str(e))
                continue
            except OSError as e:  # network errors (URLError is an OSError)
                tried.append(f"{where}: {e}")
                continue
            got = sha256(raw)
            if got != f.sha256:
                tried.append(f"{where}: SHA-256 of the decompressed bytes is {got}, expected {f.sha256}")
                continue
            write_bytes(raw, dest)
            log(f"{dest}: verified, from {where}")
            break
        else:
            raise DataError(
                f"could not fetch {ds.name}/{f.name}. Tried:\n  - "
                + "\n  - ".join(tried)
                + f"\nWith no network, point ${MIRROR_ENV} (or --mirror) at a folder holding "
                f"{ds.folder}/{f.name}.gz."
            )
    return out


# --------------------------------------------------------------------------------------------
# load


@dataclass(frozen=True)
class Split:
    x: torch.Tensor  # float32 (N, features) in [0, 1]
    y: torch.Tensor  # int64 (N,)
    image_shape: tuple[int, int]
    classes: int


@lru_cache(maxsize=8)
def _load_idx_verified(path: str, expected: str, mtime_ns: int) -> np.ndarray:
    p = Path(path)
    raw = p.read_bytes()
    if sha256(raw) != expected:
        raise DataError(
            f"{p}: SHA-256 mismatch (corrupt or modified file); it is not used. "
            "Run `python -m lgl2o.problems.data fetch` to replace it."
        )
    return parse_idx(raw, str(p))


def _read(ds: Dataset, fname: str, root: Path) -> np.ndarray:
    f = next(f for f in ds.files if f.name == fname)
    p = root / ds.folder / fname
    if not p.is_file():
        raise DataError(f"{p} is missing; run `python -m lgl2o.problems.data fetch {ds.name}` first")
    return _load_idx_verified(str(p), f.sha256, p.stat().st_mtime_ns)


def load(
    name: str,
    split: str = "train",
    device: str | torch.device = "cpu",
    root: str | os.PathLike | None = None,
) -> Split:
    """Images as float32 rows scaled to [0, 1] and int64 labels, on ``device``.

    ``digits`` (1797 8x8 images, scaled from 0..16) is split by a fixed permutation (seed 0) into
    1437 train and 360 test examples.
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; allowed: {', '.join(SPLITS)}")
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        perm = np.random.default_rng(0).permutation(len(d.target))
        idx = perm[:1437] if split == "train" else perm[1437:]
        x = torch.as_tensor(d.data[idx] / 16.0, dtype=torch.float32)
        y = torch.as_tensor(d.target[idx], dtype=torch.int64)
        return Split(x.to(device), y.to(device), (8, 8), 10)
    ds = dataset(name)
    root = Path(root) if root is not None else DATA
    prefix = "train" if split == "train" else "t10k"
    images = _read(ds, f"{prefix}-images-idx3-ubyte", root)
    labels = _read(ds, f"{prefix}-labels-idx1-ubyte", root)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{ds.name}/{split}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = torch.from_numpy(images.reshape(images.shape[0], -1).astype(np.float32) / 255.0)
    y = torch.from_numpy(labels.astype(np.int64))
    return Split(x.to(device), y.to(device), tuple(images.shape[1:]), 10)


# --------------------------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lgl2o.problems.data", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="fetch and verify datasets into data/")
    f.add_argument("names", nargs="*", default=list(DATASETS), help=f"default: {' '.join(DATASETS)}")
    f.add_argument("--root", default=None, help="target folder (default: data/ in the repo)")
    f.add_argument("--mirror", default=None, help=f"local mirror folder (default: ${MIRROR_ENV})")
    f.add_argument("--timeout", type=float, default=30.0, help="seconds per download")
    args = ap.parse_args(argv)
    try:
        for n in args.names:
            fetch(n, args.root, args.mirror, args.timeout)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
