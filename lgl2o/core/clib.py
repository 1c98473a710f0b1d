"""The package's C libraries, compiled on first use and loaded with ctypes.

``load(source)`` compiles one C file with the system C compiler (``$CC``, default ``cc``: GCC or Clang on
x86-64 Linux with glibc's libmvec) into ``<key>/`` of the user's cache (``$XDG_CACHE_HOME/lgl2o/native``,
default ``~/.cache/lgl2o/native``; ``LGL2O_NATIVE_BUILD`` names another folder), keyed by the source, the
compiler's command, flags and version, and the CPU, since ``-march=native`` builds for the machine it runs
on. The key makes one cache safe to share between workspaces and installs (never inside site-packages). Where that fails it raises
``NativeUnavailable`` saying why. The callers set the functions' ctypes signatures.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shlex
import subprocess
from pathlib import Path

from .io import atomic

# no -ffast-math: NaN and infinity must propagate (lstm_cell.c says how libmvec is reached without it)
# -mprefer-vector-width=512: GCC's default of 256 bits leaves half of an AVX-512 register unused
FLAGS = ["-O3", "-march=native", "-mprefer-vector-width=512", "-fno-math-errno", "-fopenmp", "-shared", "-fPIC"]
LIBS = ["-lmvec", "-lm"]


class NativeUnavailable(RuntimeError):
    """A C library could not be built or loaded on this machine."""


def _cpu_signature() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return os.uname().machine
    lines = [ln for ln in info.splitlines() if ln.startswith(("model name", "flags", "Features"))]
    return "\n".join(sorted(set(lines)))


def build_root() -> Path:
    """Where compiled libraries are cached (see the module's docstring)."""
    if os.environ.get("LGL2O_NATIVE_BUILD"):
        return Path(os.environ["LGL2O_NATIVE_BUILD"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lgl2o" / "native"


def load(source: Path, what: str, cc: tuple[str, ...] | None = None) -> ctypes.CDLL:
    """``source`` compiled (once per key, see the module's docstring) and loaded; ``what`` names the
    library's use in the errors ("the native L2O step")."""
    cc = list(cc or shlex.split(os.environ.get("CC", "cc")))
    try:
        version = subprocess.run([*cc, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise NativeUnavailable(f"{what} needs a C compiler; {' '.join(cc)!r} failed: {e}") from e
    key = hashlib.sha256("\0".join([source.read_text(), *cc, *FLAGS, *LIBS, version, _cpu_signature()]).encode())
    folder = build_root() / key.hexdigest()[:12]
    lib = folder / f"lib{source.stem}.so"
    if not lib.exists():
        with atomic(lib) as tmp:  # concurrent builds are safe: each renames a whole library into place
            done = subprocess.run([*cc, *FLAGS, "-o", str(tmp), str(source), *LIBS], capture_output=True, text=True)
            if done.returncode:
                raise NativeUnavailable(f"compiling {source.name} failed ({' '.join(cc)}):\n{done.stderr.strip()}")
    try:
        return ctypes.CDLL(str(lib))
    except OSError as e:
        raise NativeUnavailable(f"loading {lib} failed: {e}") from e
