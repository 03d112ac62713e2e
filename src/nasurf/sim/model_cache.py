"""Built models memoised for an identical parameter set: PyBaMM's "built model" for nasurf.

A model's mesh, operators, eigenbasis and engine constants depend only on the parameter
set, the mesh, the batch overrides and the batch size, not on the currents of the
protocol. A rate sweep, a fit's repeated solve or a web request that re-simulates the same
material would otherwise rebuild them every call (~0.15 ms, a third of a 7-rate sweep on
the exact engine). :func:`cached_model` builds a model once and hands every caller its own
copy.

Why it cannot go stale or be corrupted:

* the key holds the parameter set by *identity* (the entry keeps a reference to it, so its
  ``id`` cannot be reused while the entry lives, and a hit checks ``is``): a parameter set
  made by ``dataclasses.replace``/``with_changes`` is a new object, hence a new model.
  ``ParameterSet`` is frozen and holds only scalars, tuples and frozen tables;
* the mesh (a frozen dataclass) and the batch size are part of the key, and so are the
  overrides, by their exact float bytes, names and order;
* the cached master never leaves the cache: every call gets a copy of every array (and of
  the arrays inside the derived caches: the exact engine's constants, the compiled march's
  inputs), so a caller that writes into ``result.model`` changes its own copy only.
  Derived caches a run computed on its copy are copied back by :func:`remember_derived`.

Bounded: at most :data:`CACHE_SIZE` models, none larger than :data:`MAX_CACHED_BYTES`
(a 10 000-member sweep builds its model every time, as before); the oldest goes first.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from nasurf.sim.model import MeshSpec, Model, build_model
from nasurf.sim.parameters import ParameterSet

#: models kept (LRU): enough for every packaged material of a session's sweep table
CACHE_SIZE = 32
#: a model with more array bytes than this is built on every call and never kept
MAX_CACHED_BYTES = 4 * 2 ** 20

# key -> (the parameter set itself, the master model, the entry's serial number)
_CACHE: OrderedDict[tuple[Any, ...], tuple[ParameterSet, Model, int]] = OrderedDict()
_serial = itertools.count()
_bypass = 0      # > 0 inside uncached(): build every model, keep none
# one lock for every read and write of the cache and of a master's __dict__: threads (a
# web server, Dask's threaded workers) must not copy a master while another run's
# derived caches are added to it, nor evict an entry between lookup and use
_LOCK = threading.Lock()
# a handed-out copy's (key, serial) of its master: the serial tells an entry rebuilt under
# the same key (an evicted parameter set whose id was reused) from the copy's own master
_MASTER_OF = "_model_cache_entry"


_CONTAINERS = (tuple, list, dict)


def _detached(v: Any) -> Any:
    """A copy of every array in v (arrays, and tuples/lists/dicts of them)."""
    if isinstance(v, np.ndarray):
        return v.copy()
    t = type(v)
    if t is tuple or t is list:
        return t(_detached(x) for x in v)
    if t is dict:
        return {k: _detached(x) for k, x in v.items()}
    return v


def _copy_of(master: Model, entry: tuple[tuple[Any, ...], int]) -> Model:
    clone = Model.__new__(Model)
    d = clone.__dict__
    ndarray = np.ndarray
    for k, v in master.__dict__.items():
        # inline for the ~40 top-level arrays: a call per item is a fifth of the copy
        t = type(v)
        d[k] = v.copy() if t is ndarray else _detached(v) if t in _CONTAINERS else v
    d[_MASTER_OF] = entry
    return clone


def _nbytes(v: Any) -> int:
    if isinstance(v, np.ndarray):
        return v.nbytes
    if type(v) in (tuple, list):
        return sum(_nbytes(x) for x in v)
    if type(v) is dict:
        return sum(_nbytes(x) for x in v.values())
    return 0


def model_key(params: ParameterSet, mesh: MeshSpec | None,
              overrides: Mapping[str, Sequence[float] | np.ndarray | float] | None,
              batch_size: int | None) -> tuple[Any, ...]:
    """The cache key: identity of ``params``, the mesh, the overrides' exact bytes (names
    in order) and the batch size."""
    ov = tuple((k, a.shape, a.tobytes()) for k, a in
               ((k, np.asarray(v, dtype=float)) for k, v in (overrides or {}).items()))
    return (id(params), mesh or MeshSpec(), ov, batch_size)


def cached_model(params: ParameterSet, *, mesh: MeshSpec | None = None,
                 overrides: Mapping[str, Sequence[float] | np.ndarray | float] | None = None,
                 batch_size: int | None = None) -> Model:
    """:func:`~nasurf.sim.model.build_model` memoised for an identical parameter set,
    mesh, overrides and batch size; the caller owns every array of what it gets."""
    if _bypass:
        return build_model(params, mesh=mesh, overrides=overrides, batch_size=batch_size)
    key = model_key(params, mesh, overrides, batch_size)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is params:
            _CACHE.move_to_end(key)
            return _copy_of(hit[1], (key, hit[2]))
    model = build_model(params, mesh=mesh, overrides=overrides, batch_size=batch_size)
    if sum(_nbytes(v) for v in model.__dict__.values()) > MAX_CACHED_BYTES:
        return model
    with _LOCK:
        serial = next(_serial)
        _CACHE[key] = (params, model, serial)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        return _copy_of(model, (key, serial))


def remember_derived(model: Model) -> None:
    """Copy into the cache the derived caches (cached properties, engine inputs) a run
    computed on ``model``, a copy from :func:`cached_model`, so that the next copy
    starts with them. They are functions of the model alone; the cache keeps its own
    copy of their arrays."""
    entry = model.__dict__.get(_MASTER_OF)
    if entry is None:
        return
    with _LOCK:
        hit = _CACHE.get(entry[0])
        if hit is None or hit[2] != entry[1]:
            return
        master = hit[1].__dict__
        if len(master) + 1 == len(model.__dict__):
            # nothing new: derived caches are only ever added (a key another thread
            # added meanwhile can hide one of ours: it is then recomputed, never wrong)
            return
        for k, v in model.__dict__.items():
            if k not in master and k != _MASTER_OF:
                master[k] = _detached(v)


@contextlib.contextmanager
def uncached() -> Iterator[None]:
    """Inside: every model is built for its call and none is kept or reused (to time a
    build, as PyBaMM's build + solve; or as the truth a cached run is tested against).
    Process-wide: other threads bypass the cache meanwhile too (slower, never wrong)."""
    global _bypass
    _bypass += 1
    try:
        yield
    finally:
        _bypass -= 1


def clear_model_cache() -> None:
    """Forget every cached model."""
    with _LOCK:
        _CACHE.clear()


__all__ = ["CACHE_SIZE", "MAX_CACHED_BYTES", "cached_model", "clear_model_cache",
           "model_key", "remember_derived", "uncached"]
