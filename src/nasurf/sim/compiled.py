"""Shared pieces of the simulator's numba kernels (:mod:`.exact_kernel`, :mod:`.kernels`).

Owns :func:`jit`, numba's ``njit`` with an on-disk cache (one compilation per install;
where no cache location is writable, numba refuses to cache and the function is compiled
in memory in each process, with a ``RuntimeWarning``), and :func:`table`, the compiled
twin of :class:`nasurf.sim.parameters.Table1D` (np.interp inside, the end segments'
slopes outside; :func:`table_near` starts from a guessed segment), and
:func:`site_coverage`, the compiled equilibrium Frumkin coverage of a batch (the physics
is :func:`nasurf.sim.physics.frumkin_coverage`).
"""

from __future__ import annotations

import warnings

import numba
import numpy as np

from nasurf.sim import physics


def jit(fn):
    """njit with an on-disk cache, or without one where no cache location is writable."""
    try:
        return numba.njit(cache=True, fastmath=False)(fn)
    except RuntimeError as exc:   # numba: "cannot cache function ...: no locator available"
        warnings.warn(f"numba cannot cache the simulator's compiled kernels ({exc}); "
                      "compiling in memory", RuntimeWarning, stacklevel=2)
        return numba.njit(cache=False)(fn)


def jit_ieee(fn):
    """:func:`jit` with IEEE float semantics: x/0 gives ±inf or NaN instead of raising.

    For kernels transcribed from vectorised numpy code that relies on it (a Newton step
    that divides by a vanishing derivative is then rejected by its finiteness test, as
    in numpy, instead of aborting the whole batch).
    """
    try:
        return numba.njit(cache=True, fastmath=False, error_model="numpy")(fn)
    except RuntimeError as exc:
        warnings.warn(f"numba cannot cache the simulator's compiled kernels ({exc}); "
                      "compiling in memory", RuntimeWarning, stacklevel=2)
        return numba.njit(cache=False, error_model="numpy")(fn)


def jit_ieee_borrowed(fn):
    """:func:`jit_ieee` without numba's reference counting (its NRT) inside ``fn``.

    For the march's inner functions, which take some forty arrays and allocate none: with
    the NRT each call increments and decrements the count of every array argument and of
    every view it takes (atomic operations, ~13 % of the march); without it the arrays are
    borrowed from the caller, which keeps them alive. ``fn`` must not allocate an array.
    """
    try:
        return numba.njit(cache=True, fastmath=False, error_model="numpy", _nrt=False)(fn)
    except RuntimeError as exc:
        warnings.warn(f"numba cannot cache the simulator's compiled kernels ({exc}); "
                      "compiling in memory", RuntimeWarning, stacklevel=2)
        return numba.njit(cache=False, error_model="numpy", _nrt=False)(fn)


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
