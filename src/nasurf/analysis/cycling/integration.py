"""Charge and energy of row blocks: ∫|I| dt and ∫V|I| dt by the documented rule, and the
instrument's own capacity counters summed per half cycle.

Integration rule: trapezoid inside each block of rows with the same current sign; the
interval that leads into a block is credited with the block's first current (cyclers log
a value at the end of the interval it describes) unless the step model says the row was
logged at the start of its step (a rest logged as one row). All row-level work is
vectorised (``np.add.reduceat`` over block boundaries)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from nasurf.analysis.cycling._shared import _CHUNK, _all_finite, _values
from nasurf.io.table import (
    CHARGE_CAPACITY,
    DISCHARGE_CAPACITY,
    NET_CAPACITY,
)


# --------------------------------------------------------------------------- integration
def _interval_sums(t: np.ndarray, y: np.ndarray, starts: np.ndarray, stops: np.ndarray,
                   weight: np.ndarray | None = None,
                   entry: Any = None) -> np.ndarray:
    """∫ y dt over each row block [starts[r], stops[r]) with the documented rule.

    Interval k (rows k -> k+1) belongs to row k+1. Inside a block it is a trapezoid;
    the interval leading into a block (k+1 = block start) is y[k+1]·dt (right end point),
    because the previous row belongs to another block (rest or opposite current).
    ``weight`` (length n-1, 0/1) optionally masks intervals (e.g. only below a voltage).
    ``entry`` (the :class:`nasurf.io.steps.Steps` of the table) says whether the interval
    leading into a row belongs to it: False at the first row of an instrument step, whose
    gap is time spent in the step before (a rest logged as one row).
    """
    q = _interval_terms(t, y, starts, _entry_mask(starts, entry))
    if weight is not None:
        q *= weight
    return _block_sums(q, starts, stops)


def _entry_mask(starts: np.ndarray, entry: Any) -> np.ndarray | None:
    """Per inner block start (``starts[starts > 0]``): whether its entry interval counts
    (None: all do). Computed once per summary and shared by its integrals."""
    if entry is None:
        return None
    return entry.entry_at(_inner(starts))


def _inner(starts: np.ndarray) -> np.ndarray:
    """The block starts after row 0 (``starts[starts > 0]``); blocks found in a table
    start at row 0, in increasing order: all but the first, without a pass."""
    return starts[1:] if starts.size and starts[0] == 0 else starts[starts > 0]


def _interval_terms(t: np.ndarray, y: np.ndarray, starts: np.ndarray,
                    entry_mask: np.ndarray | None, dt: np.ndarray | None = None) -> np.ndarray:
    """Per interval k (rows k -> k+1) its term of :func:`_interval_sums` before
    ``weight``: the trapezoid inside a block, y[k+1]·dt (or 0, see ``entry_mask``) into
    a block. A weighted sum is then ``q * weight`` of the same terms. ``dt``: np.diff(t)
    when the caller keeps it for several integrals (else built block by block)."""
    n = len(t)
    q = np.empty(n - 1)
    np.add(y[:-1], y[1:], out=q)
    q *= 0.5
    inner = _inner(starts)
    q[inner - 1] = y[inner] if entry_mask is None else np.where(entry_mask, y[inner], 0.0)
    if dt is not None:
        q *= dt
        return q
    for a in range(0, n - 1, _CHUNK):
        b = min(a + _CHUNK, n - 1)
        q[a:b] *= t[a + 1:b + 1] - t[a:b]
    return q


def _block_index(starts: np.ndarray, stops: np.ndarray, n_rows: int
                 ) -> tuple[np.ndarray, np.ndarray | None]:
    """Where each block's credited intervals start (``np.add.reduceat`` offsets) and which
    blocks have none (None: every block has some), for :func:`_block_sums`; computed once
    when several integrals share the blocks."""
    first = np.maximum(starts - 1, 0)
    empty = stops - 1 - first <= 0          # number of intervals credited to the block
    return np.minimum(first, n_rows - 2), (empty if np.count_nonzero(empty) else None)


def _block_sums(q: np.ndarray, starts: np.ndarray, stops: np.ndarray,
                index: tuple[np.ndarray, np.ndarray | None] | None = None) -> np.ndarray:
    """Sum of the interval terms credited to each block (see :func:`_interval_sums`);
    ``index``: :func:`_block_index` of the blocks when already known."""
    if not len(starts):
        return np.zeros(0)
    at, empty = index if index is not None else _block_index(starts, stops, q.size + 1)
    out = np.add.reduceat(q, at)
    if empty is not None:
        out[empty] = 0.0
    return out


def _counter_increments(col: np.ndarray) -> np.ndarray:
    """Per-row increase of an instrument capacity counter that may reset to 0 at steps."""
    inc = np.empty_like(col)
    inc[0] = 0.0
    np.subtract(col[1:], col[:-1], out=inc[1:])
    np.copyto(inc, col, where=inc < 0)     # a reset at this row: the counter's value
    return inc


def _instrument_capacity(df: pd.DataFrame, starts: np.ndarray, per_hc,
                         v: np.ndarray | None = None
                         ) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Per-half-cycle charge (Ah) from the instrument's capacity counters, resets handled,
    and with ``v`` also the energy (Wh) as the sum of increment x mean interval voltage."""
    cols = [c for c in (CHARGE_CAPACITY, DISCHARGE_CAPACITY) if c in df.columns]
    if cols:
        arrays = [_values(df, c, np.float64) for c in cols]
        inc = _counter_increments(np.abs(arrays[0]))
        for arr in arrays[1:]:
            inc += _counter_increments(np.abs(arr))
    elif NET_CAPACITY in df.columns:
        arrays = [_values(df, NET_CAPACITY, np.float64)]
        inc = np.empty_like(arrays[0])
        inc[0] = 0.0
        np.subtract(arrays[0][1:], arrays[0][:-1], out=inc[1:])
        np.abs(inc, out=inc)
    else:
        return None
    # increment at row k is the change over the interval (k-1, k]: same ownership rule
    # as the integral (the entry interval belongs to the block the row starts)
    blocks = np.add.reduceat(inc, starts)
    # the blocks cover every row (starts[0] is 0) and a NaN or infinite counter value
    # after the first row makes its increment, so its block's sum, non-finite: finite
    # sums and first values settle that the counters are finite without a pass of their own
    finite = (math.isfinite(np.add.reduce(blocks))
              and all(math.isfinite(a[0]) for a in arrays))
    if not (finite or all(map(_all_finite, arrays))):
        return None
    charge = per_hc(blocks)
    energy = None
    if v is not None:
        vmid = np.empty_like(v)
        vmid[0] = v[0]
        np.add(v[1:], v[:-1], out=vmid[1:])
        vmid[1:] *= 0.5
        vmid *= inc
        energy = per_hc(np.add.reduceat(vmid, starts))
    return charge, energy


def _check_instrument(ours: np.ndarray, inst: np.ndarray, warnings: list[str]) -> None:
    big = (np.abs(ours - inst) > 0.02 * np.maximum(np.abs(inst), 1e-300)) & (inst > 0)
    if np.count_nonzero(big):
        k = int(np.flatnonzero(big)[0])
        warnings.append(
            f"integral of |I| dt differs from the instrument's capacity column by "
            f"{(ours[k] / inst[k] - 1):+.1%} in half cycle {k + 1} ({int(big.sum())} half "
            "cycle(s) beyond 2 %): the logged current may be rounded or the capacity counter "
            "coarse; compare the instrument_capacity_mAh column")
