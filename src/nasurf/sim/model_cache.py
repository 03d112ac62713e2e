"""Built models memoised for an identical parameter set: PyBaMM's "built model" for nasurf.

A model's mesh, operators, eigenbasis and engine constants depend only on the parameter
set, the mesh, the batch overrides and the batch size, not on the currents of the
protocol. A rate sweep, a fit's repeated solve or a web request that re-simulates the same
material would otherwise rebuild them every call (~0.15 ms, a third of a 7-rate sweep on
the exact engine). :func:`cached_model` builds a model once and hands every caller a
model of its own that shares the master's read-only arrays.

Why it cannot go stale or be corrupted:

* the key holds the parameter set by *identity* (the entry keeps a reference to it, so its
  ``id`` cannot be reused while the entry lives, and a hit checks ``is``): a parameter set
  made by ``dataclasses.replace``/``with_changes`` is a new object, hence a new model.
  ``ParameterSet`` is frozen and holds only scalars, tuples and frozen tables;
* the mesh (a frozen dataclass) and the batch size are part of the key, and so are the
  overrides, by their exact float bytes, names and order;
* the cached master's arrays are read-only (:func:`~nasurf.sim.model.build_model` and
  every derived cache mark them so, :mod:`nasurf.sim.readonly`), so every call gets a new
  :class:`Model` sharing them rather than copies of them: a caller that writes into
  ``result.model``'s arrays gets a ``ValueError``, and one that replaces an attribute (or an
  item of its ``overrides`` or of a derived cache's dict) changes its own model only.
  Derived caches a run computed on its model are shared with the master by
  :func:`remember_derived`.

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
from nasurf.sim.readonly import read_only

#: models kept (LRU): enough for every packaged material of a session's sweep table
CACHE_SIZE = 32
#: a model with more array bytes than this is built on every call and never kept
MAX_CACHED_BYTES = 4 * 2 ** 20

# key -> (the parameter set itself, the master model, the entry's serial number, the keys
# of the master's __dict__ that hold a dict or list, which each model gets rebuilt)
_CACHE: OrderedDict[tuple[Any, ...], tuple[ParameterSet, Model, int, list[str]]] = \
    OrderedDict()
_serial = itertools.count()
_bypass = 0      # > 0 inside uncached(): build every model, keep none
# one lock for every read and write of the cache and of a master's __dict__: threads (a
# web server, Dask's threaded workers) must not copy a master while another run's
# derived caches are added to it, nor evict an entry between lookup and use
_LOCK = threading.Lock()
# a handed-out copy's (key, serial, master's __dict__) of its master: the serial tells an
# entry rebuilt under the same key (an evicted parameter set whose id was reused) from the
# copy's own master; the master's __dict__ lets remember_derived see at once (without the
# lock and the lookup) that a run added nothing
_MASTER_OF = "_model_cache_entry"


_CONTAINERS = (dict, list, tuple)
_ndarray = np.ndarray
_DEFAULT_MESH = MeshSpec()     # frozen: equal to (and hashed as) every MeshSpec()


def _unshared(v: Any) -> Any:
    """v with every dict and list in it rebuilt (a caller may change its own); the
    read-only arrays, and tuples without a dict or list inside, are shared."""
    t = type(v)
    if t is dict:
        return {k: x if type(x) is _ndarray else _unshared(x) for k, x in v.items()}
    if t is list:
        return [_unshared(x) for x in v]
    if t is tuple:
        for x in v:
            if type(x) in _CONTAINERS:
                return tuple(_unshared(x) for x in v)
    return v


def _mutable(v: Any) -> bool:
    """Whether v holds a dict or list (what :func:`_unshared` rebuilds)."""
    t = type(v)
    return t is dict or t is list or (t is tuple and any(_mutable(x) for x in v))


def _copy_of(master: Model, mutable_keys: list[str], entry: tuple[tuple[Any, ...], int]
             ) -> Model:
    clone = Model.__new__(Model)
    d = clone.__dict__
    d.update(master.__dict__)
    for k in mutable_keys:             # the overrides, a derived cache's dict
        d[k] = _unshared(d[k])
    d[_MASTER_OF] = (*entry, master.__dict__)
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
               ((k, np.asarray(v, dtype=float)) for k, v in overrides.items())) \
        if overrides else ()
    return (id(params), mesh or _DEFAULT_MESH, ov, batch_size)


def cached_model(params: ParameterSet, *, mesh: MeshSpec | None = None,
                 overrides: Mapping[str, Sequence[float] | np.ndarray | float] | None = None,
                 batch_size: int | None = None) -> Model:
    """:func:`~nasurf.sim.model.build_model` memoised for an identical parameter set,
    mesh, overrides and batch size. Its arrays are read-only and shared with the cache."""
    if _bypass:
        return build_model(params, mesh=mesh, overrides=overrides, batch_size=batch_size)
    key = model_key(params, mesh, overrides, batch_size)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is params:
            _CACHE.move_to_end(key)
            return _copy_of(hit[1], hit[3], (key, hit[2]))
    model = build_model(params, mesh=mesh, overrides=overrides, batch_size=batch_size)
    if sum(_nbytes(v) for v in model.__dict__.values()) > MAX_CACHED_BYTES:
        return model
    with _LOCK:
        serial = next(_serial)
        mutable = [k for k, v in model.__dict__.items() if _mutable(v)]
        _CACHE[key] = (params, model, serial, mutable)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        return _copy_of(model, mutable, (key, serial))


def remember_derived(model: Model) -> None:
    """Share with the cache the derived caches (cached properties, engine inputs) a run
    computed on ``model``, a model from :func:`cached_model`, so that the next one
    starts with them. They are functions of the model alone, and read-only (marked so
    here too, should a derived cache not have done it)."""
    entry = model.__dict__.get(_MASTER_OF)
    # nothing new: derived caches are only ever added (a key another thread added
    # meanwhile can hide one of ours: it is then recomputed, never wrong)
    if entry is None or len(entry[2]) + 1 == len(model.__dict__):
        return
    with _LOCK:
        hit = _CACHE.get(entry[0])
        if hit is None or hit[2] != entry[1]:
            return
        master = hit[1].__dict__
        for k, v in model.__dict__.items():
            if k not in master and k != _MASTER_OF:
                master[k] = _unshared(read_only(v))
                if _mutable(v):
                    hit[3].append(k)


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
