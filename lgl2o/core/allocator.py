"""Keep freed memory in the process instead of handing it back to the OS at every step.

Every step of an L2O allocates and frees buffers of a few MB (the LSTM's gates and state over all
coordinates). glibc's malloc serves blocks that large with fresh pages from the kernel (mmap, or the top
of a heap it trims), so each step pays a page fault per 4 KiB touched (docs/performance.md has the
cost). Raising malloc's mmap and trim thresholds keeps the memory once freed for the next step; results
do not change (allocation does not touch the arithmetic), and the process holds on to its peak memory.
"""
from __future__ import annotations

import ctypes
import ctypes.util

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
_LIMIT = 1 << 30  # 1 GiB: blocks below it come from the heap, and a heap is trimmed above it


def keep_freed_memory() -> bool:
    """Set glibc malloc's mmap and trim thresholds to 1 GiB for this process. Returns whether it did
    (False where the C library is not glibc: nothing changes there)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _LIMIT)) and bool(mallopt(_M_TRIM_THRESHOLD, _LIMIT))
