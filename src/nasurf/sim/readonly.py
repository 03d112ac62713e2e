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

from collections.abc import Callable, MutableMapping
from typing import Any, TypeVar

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


def remember_first(store: MutableMapping[str, Any], name: str, key: Any,
                   compute: Callable[[], tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """``compute()``, remembered for the first ``key`` only: a per-model value of the
    protocol's start (every protocol starts from the model's equilibrium state, and a rate
    sweep repeats its currents). The first call keeps read-only copies in ``store[name]``
    (a model's ``__dict__``, as a cached property: written once, so it needs no lock); a
    later call whose ``key`` equals it (exact bytes) gets writable copies of them, any
    other key is computed afresh."""
    hit = store.get(name)
    if hit is not None and hit[0] == key:
        return tuple(v.copy() for v in hit[1])
    out = compute()
    if hit is None:
        store[name] = read_only((key, tuple(v.copy() for v in out)))
    return out


__all__ = ["read_only", "remember_first"]
