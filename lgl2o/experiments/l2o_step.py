"""The ``l2o_step`` setting's check: a step backend of ``l2o.backends`` that can be built here. Apart from
``config`` so that a stage without an L2O (01's tuning) does not depend on the L2O's code (its DVC deps)."""
from __future__ import annotations

from ..l2o.backends import NAMES
from .config import fail


def l2o_step(where, v):
    """A step backend of ``l2o.backends`` that can be built here (``native`` needs a C compiler)."""
    if v not in NAMES:
        fail(where, v, f"one of {', '.join(NAMES)}")
    if v == "native":
        from ..l2o.backends.native import NativeUnavailable, load

        try:
            load()
        except NativeUnavailable as e:
            fail(where, v, f"the native step cannot be built here ({e}); set {where}: fast to use the fast step")
