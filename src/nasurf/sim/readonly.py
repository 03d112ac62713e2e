"""Read-only arrays: how a built model (and what is derived from it) is shared, not copied.

A :class:`~nasurf.sim.model.Model` is never changed after it is built, so
:func:`~nasurf.sim.model.build_model` and every per-model cache derived from it (the exact
engine's constants, the compiled march's inputs, the equilibrium start) mark their arrays
read-only with :func:`read_only`. The model cache can then hand every caller the same
arrays instead of copies (:mod:`nasurf.sim.model_cache`): a write raises ``ValueError``
instead of corrupting a model another run uses. The compiled kernels see the same flag on
every call, so numba compiles each of them once (it types a read-only array apart).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

T = TypeVar("T")


def read_only(v: T) -> T:
    """``v`` itself, with every array in it (an array, or tuples/lists/dicts of them)
    marked read-only in place."""
    if isinstance(v, np.ndarray):
        v.flags.writeable = False
    elif type(v) in (tuple, list):
        for x in v:  # type: ignore[attr-defined]
            read_only(x)
    elif type(v) is dict:
        for x in v.values():  # type: ignore[attr-defined]
            read_only(x)
    return v


__all__ = ["read_only"]
