"""Shared pieces of the simulator's numba kernels (:mod:`.exact_kernel`, :mod:`.kernels`).

Owns :func:`jit`, numba's ``njit`` with nasurf's on-disk cache, and :func:`table`, the
compiled twin of :class:`nasurf.sim.parameters.Table1D` (np.interp inside, the end
segments' slopes outside; :func:`table_near` starts from a guessed segment), and
:func:`site_coverage`, the compiled equilibrium Frumkin coverage of a batch (the physics
is :func:`nasurf.sim.physics.frumkin_coverage`).

The cache. numba's own (``cache=True``) keys a function on the bytes of the one file that
defines it, but a kernel compiles in the functions it calls from other modules and the
module constants it reads: after a checkout that changes only ``state.py``, numba would
load ``march_kernel``'s old machine code. nasurf's functions are therefore cached in a
folder named by :data:`SOURCE_DIGEST`, a digest of every module whose code or constants
can be compiled into a kernel (:data:`SOURCES`), computed at import (~1 ms): a change to
any of them starts a fresh folder, an unchanged tree (another process, another checkout
of the same commit) loads the machine code. The folder is
``<NUMBA_CACHE_DIR>/nasurf-<digest>`` when the user sets numba's cache directory, else
``platformdirs.user_cache_dir("nasurf")/numba/<digest>``; older digests' folders are left
in place (another checkout may be using them; deleting the cache folder is always safe).
Where that folder is not writable, the functions compile in memory in each process, with
a ``RuntimeWarning``.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import numba
import numpy as np
import platformdirs
from numba.core import caching

from nasurf.sim import physics

_PACKAGE = Path(__file__).resolve().parent.parent
#: The files whose bytes name the cache: every simulator module (the kernels and whatever
#: they compile in: state's rule owners, march_helpers, physics, engine_march, parameters'
#: constants) and nasurf.constants. Hashing all of sim (~0.5 MB) instead of a hand-kept
#: list of callees means a new callee cannot be forgotten.
SOURCES = (*sorted((_PACKAGE / "sim").glob("*.py")), _PACKAGE / "constants.py")


def _digest(paths) -> str:
    h = hashlib.sha256()   # hardware-accelerated on current CPUs: ~0.3 ms for the 0.5 MB
    for path in paths:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


SOURCE_DIGEST = _digest(SOURCES)


def cache_dir() -> str:
    """The folder nasurf's compiled functions are cached in (see the module docstring)."""
    user = numba.config.CACHE_DIR
    if user:
        return os.path.join(user, f"nasurf-{SOURCE_DIGEST}")
    return os.path.join(platformdirs.user_cache_dir("nasurf"), "numba", SOURCE_DIGEST)


class _SourceTreeLocator(caching._CacheLocator):
    """numba's cache locator for nasurf's functions: the folder and the source stamp are
    the whole tree's digest, not the defining file's (numba's file stamp would let a
    kernel outlive a change to its callees). No fallback to numba's other locators (the
    package's ``__pycache__``, numba's user folder): they key on the one file."""

    def __init__(self, py_func, py_file):
        self._lineno = py_func.__code__.co_firstlineno
        self._path = cache_dir()

    def get_cache_path(self):
        return self._path

    def get_source_stamp(self):
        return SOURCE_DIGEST

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        self = cls(py_func, py_file)
        try:
            self.ensure_cache_path()
        except OSError:
            return None
        return self


class _SourceTreeCacheImpl(caching.CompileResultCacheImpl):
    _locator_classes = (_SourceTreeLocator,)


class _SourceTreeCache(caching.FunctionCache):
    _impl_class = _SourceTreeCacheImpl


def _njit(fn, **options):
    disp = numba.njit(cache=False, fastmath=False, **options)(fn)
    try:
        # what Dispatcher.enable_caching does (njit(cache=True)), with nasurf's locator
        disp._cache = _SourceTreeCache(fn)
    except RuntimeError as exc:   # numba: "cannot cache function ...: no locator available"
        warnings.warn(f"numba cannot cache the simulator's compiled kernels ({exc}); "
                      "compiling in memory", RuntimeWarning, stacklevel=3)
    return disp


def jit(fn):
    """njit with nasurf's on-disk cache, or without one where it is not writable."""
    return _njit(fn)


def jit_ieee(fn):
    """:func:`jit` with IEEE float semantics: x/0 gives ±inf or NaN instead of raising.

    For kernels transcribed from vectorised numpy code that relies on it (a Newton step
    that divides by a vanishing derivative is then rejected by its finiteness test, as
    in numpy, instead of aborting the whole batch).
    """
    return _njit(fn, error_model="numpy")


def jit_ieee_borrowed(fn):
    """:func:`jit_ieee` without numba's reference counting (its NRT) inside ``fn``.

    For the march's inner functions, which take some forty arrays and allocate none: with
    the NRT each call increments and decrements the count of every array argument and of
    every view it takes (atomic operations, ~13 % of the march); without it the arrays are
    borrowed from the caller, which keeps them alive. ``fn`` must not allocate an array.
    """
    return _njit(fn, error_model="numpy", _nrt=False)


@jit
def segment(xs, x):
    """The table segment of x: the last knot <= x (numpy searchsorted side="right" − 1),
    clipped to the first and last segments."""
    n = xs.shape[0]
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if xs[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return min(max(lo - 1, 0), n - 2)


@jit
def table_on(xs, ys, x, i):
    """:func:`table` on the known segment i of x (see :func:`segment`)."""
    n = xs.shape[0]
    s = (ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i])
    if x < xs[0]:
        return ys[0] + s * (x - xs[0]), s
    if x > xs[n - 1]:
        return ys[n - 1] + s * (x - xs[n - 1]), s
    if x == xs[n - 1]:
        return ys[n - 1], s
    # np.interp's value inside the table
    return ys[i] + (ys[i + 1] - ys[i]) * (x - xs[i]) / (xs[i + 1] - xs[i]), s


@jit
def table(xs, ys, x):
    """Linear interpolation with linear extrapolation (Table1D): value and slope."""
    return table_on(xs, ys, x, segment(xs, x))


@jit
def table_near(xs, ys, x, i):
    """:func:`table` with a guess i of the segment (the last one looked up, say): value,
    slope and the segment. The guess is taken only where x lies inside it (where the search
    finds it too), so the result is :func:`table`'s bit for bit."""
    if not (0 <= i < xs.shape[0] - 1 and xs[i] <= x < xs[i + 1]):
        i = segment(xs, x)
    v, s = table_on(xs, ys, x, i)
    return v, s, i


_frumkin = jit(physics.frumkin_coverage)


@jit
def site_coverage(rhs, g):
    """:func:`nasurf.sim.physics.frumkin_coverage` of every (b, k): rhs (B, K), g (B,)."""
    out = np.empty_like(rhs)
    for b in range(rhs.shape[0]):
        for k in range(rhs.shape[1]):
            out[b, k] = _frumkin(rhs[b, k], g[b])
    return out
