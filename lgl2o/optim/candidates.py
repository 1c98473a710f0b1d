"""The guard's choice applied: per run, the proposal's candidate, the fallback's, or the current iterate.

``pick`` is what LGL2O and GL2O do once their test has spoken: decide which candidates are finite, apply
``decision.choose`` and gather the chosen rows. On float32 CPU tensors it runs ``csrc/select_rows.c``,
one pass over the rows instead of some fifteen eager kernels (the guard's fixed cost is mostly such small
ops: docs/performance.md); elsewhere (CUDA, other dtypes, no C compiler) the same PyTorch ops as before.
Both paths copy rows and compare bits, so they give the same result in every bit
(``tests/optim/test_candidates.py``).
"""
from __future__ import annotations

import ctypes
from functools import lru_cache
from pathlib import Path

import torch

from ..core.clib import NativeUnavailable, load
from .decision import choose
from .protocol import finite_rows, where_runs

SOURCE = Path(__file__).parent / "csrc" / "select_rows.c"


@lru_cache(maxsize=None)
def _native():
    """The compiled ``lgl2o_select_rows``, or None where it cannot be built (the PyTorch ops serve)."""
    try:
        f = load(SOURCE, "the guards' native row selection").lgl2o_select_rows
    except NativeUnavailable:
        return None
    L, ptr = ctypes.c_long, ctypes.c_void_p
    f.argtypes = [L, L, ptr, ptr, L, ptr, ptr, L, ptr, ptr, L, ptr, ptr]
    f.restype = None
    return f


def native_available() -> bool:
    return _native() is not None


def _rows_ok(x: torch.Tensor, S: int, P: int) -> bool:
    return x.dtype == torch.float32 and x.is_cpu and x.shape == (S, P) and x.stride(1) == 1


def _vector_ok(v, S: int, dtype) -> bool:
    return v is None or (v.dtype == dtype and v.is_cpu and v.shape == (S,) and v.is_contiguous())


def pick(confident, proposal, fallback, current, proposal_est=None, fallback_est=None, native=True):
    """(new iterate (S, P), take the proposal (S,), keep the current iterate (S,)).

    ``native``: make the choice in C where it can be (float32 CPU rows, a C compiler); False: always the
    PyTorch ops (the same bits; for timing and testing one against the other).

    A candidate counts as finite where its row of parameters is, and its estimate ``proposal_est`` /
    ``fallback_est`` ((S,) or None: LGL2O's loss estimates, GL2O's residual at the proposal) is too;
    ``decision.choose`` turns that and ``confident`` (S,) into take and keep; the new iterate is the
    proposal where take, the current iterate where keep, else the fallback.
    """
    S, P = proposal.shape
    f = _native() if native else None
    if (f is not None and _rows_ok(proposal, S, P) and _rows_ok(fallback, S, P) and _rows_ok(current, S, P)
            and _vector_ok(confident, S, torch.bool) and _vector_ok(proposal_est, S, torch.float32)
            and _vector_ok(fallback_est, S, torch.float32)):
        out, flags = torch.empty(S, P, dtype=torch.float32), torch.empty(2, S, dtype=torch.bool)
        f(S, P, confident.data_ptr(), proposal.data_ptr(), proposal.stride(0),
          None if proposal_est is None else proposal_est.data_ptr(), fallback.data_ptr(), fallback.stride(0),
          None if fallback_est is None else fallback_est.data_ptr(), current.data_ptr(), current.stride(0),
          out.data_ptr(), flags.data_ptr())
        take, keep = flags.unbind()
        return out, take, keep
    proposal_ok, fallback_ok = finite_rows(proposal), finite_rows(fallback)
    if proposal_est is not None:
        proposal_ok = torch.isfinite(proposal_est) & proposal_ok
    if fallback_est is not None:
        fallback_ok = torch.isfinite(fallback_est) & fallback_ok
    take, keep = choose(confident, proposal_ok, fallback_ok)
    return where_runs(take, proposal, where_runs(keep, current, fallback)), take, keep
