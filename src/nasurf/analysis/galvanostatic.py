"""Galvanostatic cycling metrics of an anode half cell (methods.md §0 and §7).

Owns: half-cycle segmentation from the sign of the current, capacities by integrating
|I| dt (never the maximum of an instrument capacity column, which resets at every step
on many cyclers and so under-reports CC-CV half cycles), ICE, CE, cumulative irreversible
capacity, retention with an explicit reference convention, energy, average voltage and
hysteresis, rate-capability steps with recovery, and the slope/plateau capacity split.

Conventions (stored in every result):

- anodic current (desodiation of the anode) is positive, cathodic (sodiation) negative;
- a cycle is a sodiation followed by the desodiation after it (``cycle_mode=
  "sodiation_desodiation"``), or the instrument's own cycle counter (``"instrument"``);
- capacities are positive magnitudes, in mAh g⁻¹ of active material when the mass is known,
  otherwise in mAh (with a warning);
- integration rule: trapezoid inside each block of rows with the same current sign, and
  the interval that leads into a block is credited with the block's first current
  (cyclers log a value at the end of the interval it describes);
- efficiencies and retentions are fractions (0.98 = 98 %).

All row-level work is vectorised (``np.add.reduceat`` over run boundaries); Python loops
run only over half cycles or cycles, never over rows.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

try:  # pandas >= 3.0
    from pandas.api.internals import create_dataframe_from_blocks
except ImportError:  # pragma: no cover - pandas 2.x: the plain constructor
    create_dataframe_from_blocks = None

from nasurf.errors import ValidationError
from nasurf.io.table import (
    CHARGE_CAPACITY,
    CURRENT,
    CYCLE,
    DISCHARGE_CAPACITY,
    NET_CAPACITY,
    TIME,
    VOLTAGE,
    EchemData,
)

SODIATION = "sodiation"
DESODIATION = "desodiation"
SECONDS_PER_HOUR = 3600.0
# Rows are processed in blocks of this size where a temporary would otherwise be as
# large as a whole column: keeps peak memory near the table itself on 10 M-row files.
_CHUNK = 1 << 20

CycleMode = Literal["sodiation_desodiation", "instrument"]
#: relative resolution of a coulombic efficiency: two capacities, each integrated from a
#: current known to ~0.1 % of range on research cyclers, with margin; an ICE or CE above
#: 1 + this is flagged as physically impossible for a single electrode
CE_RESOLUTION = 0.005
#: a CE below this after the formation cycles is not a working cell (or not cycling data)
CE_FLOOR_AFTER_FORMATION = 0.2
REFERENCE_CONVENTIONS = ("first", "second", "max", "after_formation", "first_at_current")


# --------------------------------------------------------------------------- inputs
def _source_name(data: EchemData | pd.DataFrame) -> str:
    if isinstance(data, EchemData) and data.metadata.source:
        return str(data.metadata.source)
    return "<table>"


def _frame(data: EchemData | pd.DataFrame) -> pd.DataFrame:
    if isinstance(data, EchemData):
        return data.data
    if isinstance(data, pd.DataFrame):
        return data
    raise ValidationError(
        f"expected an EchemData or a pandas DataFrame, got {type(data).__name__}"
    )


def _values(df: pd.DataFrame, name: str, dtype: np.dtype | type | None = None) -> np.ndarray:
    """``df[name].to_numpy(dtype=dtype, copy=False)``, read-only as pandas returns it.

    When the column is stored as a plain numpy array of that dtype, it is taken from the
    frame's block directly (``DataFrame._get_column_array``, in pandas since 1.3): building
    the intermediate Series costs ~8 µs a column, a noticeable share of a summary of a
    short test. Anything else (extension arrays, conversions, duplicate names, a pandas
    without that method) goes through the public path.
    """
    get = getattr(df, "_get_column_array", None)
    if get is not None:
        loc = df.columns.get_loc(name)
        if isinstance(loc, int):
            arr = get(loc)
            if isinstance(arr, np.ndarray) and arr.ndim == 1 and (
                    dtype is None or arr.dtype == dtype):
                arr = arr.view()
                arr.flags.writeable = False
                return arr
    return df[name].to_numpy(dtype=dtype, copy=False)


def _column(df: pd.DataFrame, name: str, source: str) -> np.ndarray:
    if name not in df.columns:
        raise ValidationError(
            f"missing column '{name}'; galvanostatic analysis needs "
            f"'{TIME}', '{VOLTAGE}' and '{CURRENT}' (have: {', '.join(map(str, df.columns))})",
            file=source, field=name,
        )
    try:
        arr = _values(df, name, np.float64)
    except (TypeError, ValueError):
        raise ValidationError("column is not numeric", file=source, field=name) from None
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"non-finite value ({arr[row]!r}) at data row {row}; expected a finite number",
            file=source, field=name,
        )
    return arr


def _time_series(data: EchemData | pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    df = _frame(data)
    source = _source_name(data)
    if len(df) < 2:
        raise ValidationError(
            f"{len(df)} data row(s); galvanostatic analysis needs at least 2", file=source
        )
    t = _column(df, TIME, source)
    v = _column(df, VOLTAGE, source)
    i = _column(df, CURRENT, source)
    back = np.flatnonzero(t[1:] < t[:-1])
    if back.size:
        row = int(back[0]) + 1
        raise ValidationError(
            f"time goes backwards at data row {row} ({t[row - 1]} s -> {t[row]} s); "
            "expected non-decreasing test time (concatenate files in time order)",
            file=source, field=TIME,
        )
    return t, v, i


def _positive_or_none(value: float | None, name: str, source: str) -> float | None:
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"expected a number, got {value!r}",
                              file=source, field=name) from None
    if not math.isfinite(x) or x <= 0:
        raise ValidationError(f"expected a positive finite number, got {value!r}",
                              file=source, field=name)
    return x


# --------------------------------------------------------------------------- small helpers
# A summary of a short test handles a few half cycles: there numpy's and pandas' fixed
# per-call costs, not the rows, set the time. These helpers give the same values as the
# library calls they replace (bit for bit) at a fraction of that fixed cost.
def _median(x: np.ndarray) -> float:
    """``float(np.median(x))`` of a 1-D float array: sort, then the middle element or the
    half-sum of the middle two (the same floating-point operations as np.median); NaN if
    ``x`` holds a NaN or is empty."""
    s = np.sort(x)
    n = s.size
    if n == 0 or math.isnan(s[-1]):         # NaN sorts last
        return math.nan
    k = (n - 1) // 2
    return float(s[k]) if n % 2 else float((s[k] + s[k + 1]) / 2)


@functools.lru_cache(maxsize=64)
def _column_index(names: tuple[str, ...]) -> pd.Index:
    return pd.Index(list(names))


def _frame_from_columns(cols: dict[str, Any]) -> pd.DataFrame:
    """``pd.DataFrame(cols)`` for equal-length 1-D numeric/boolean numpy columns, built
    from one stacked 2-D block per dtype (the layout the constructor consolidates to) via
    ``pandas.api.internals``, which skips the per-column inference that dominates on short
    tables. Any other kind of column (or a pandas < 3.0) goes through the constructor."""
    if create_dataframe_from_blocks is None:
        return pd.DataFrame(cols)
    arrays = list(cols.values())
    n = len(arrays[0]) if arrays else 0
    groups: dict[np.dtype, list[int]] = {}
    for k, a in enumerate(arrays):
        if not (isinstance(a, np.ndarray) and a.ndim == 1 and a.size == n
                and a.dtype.kind in "biuf" and a.dtype.isnative):
            return pd.DataFrame(cols)
        groups.setdefault(a.dtype, []).append(k)
    blocks = [(np.array([arrays[k] for k in ks]), np.asarray(ks, dtype=np.intp))
              for ks in groups.values()]
    # a view: the frame owns its own Index object (a caller may set columns.name)
    return create_dataframe_from_blocks(blocks, pd.RangeIndex(n),
                                        _column_index(tuple(cols)).view())


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
    return entry.entry_at(starts[starts > 0])


def _interval_terms(t: np.ndarray, y: np.ndarray, starts: np.ndarray,
                    entry_mask: np.ndarray | None) -> np.ndarray:
    """Per interval k (rows k -> k+1) its term of :func:`_interval_sums` before
    ``weight``: the trapezoid inside a block, y[k+1]·dt (or 0, see ``entry_mask``) into
    a block. A weighted sum is then ``q * weight`` of the same terms."""
    n = len(t)
    q = np.empty(n - 1)
    np.add(y[:-1], y[1:], out=q)
    q *= 0.5
    inner = starts[starts > 0]
    q[inner - 1] = y[inner] if entry_mask is None else np.where(entry_mask, y[inner], 0.0)
    for a in range(0, n - 1, _CHUNK):
        b = min(a + _CHUNK, n - 1)
        q[a:b] *= t[a + 1:b + 1] - t[a:b]
    return q


def _block_sums(q: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Sum of the interval terms credited to each block (see :func:`_interval_sums`)."""
    n = q.size + 1
    first = np.maximum(starts - 1, 0)
    count = stops - 1 - first          # number of intervals credited to the block
    out = np.add.reduceat(q, np.minimum(first, n - 2)) if len(starts) else np.zeros(0)
    out[count <= 0] = 0.0
    return out


def _counter_increments(col: np.ndarray) -> np.ndarray:
    """Per-row increase of an instrument capacity counter that may reset to 0 at steps."""
    inc = np.empty_like(col)
    inc[0] = 0.0
    np.subtract(col[1:], col[:-1], out=inc[1:])
    reset = inc < 0
    inc[reset] = col[reset]
    return inc


# --------------------------------------------------------------------------- segmentation
@dataclass(frozen=True)
class Segmentation:
    """Half cycles found from the sign of the current.

    ``run_*`` arrays describe maximal blocks of consecutive rows with the same current
    sign (+1 desodiation, -1 sodiation, 0 rest or below threshold); a half cycle is a
    maximal sequence of active runs of one sign, rests in between ignored.
    """

    run_start: np.ndarray
    run_stop: np.ndarray
    run_sign: np.ndarray
    run_half_cycle: np.ndarray          # 1-based; 0 for rests and discarded blips
    half_cycle_sign: np.ndarray         # sign of half cycle h at index h-1
    half_cycle_first_row: np.ndarray
    half_cycle_last_row: np.ndarray
    threshold_A: float
    blip_runs: int
    blip_rows: int


def _auto_threshold(i: np.ndarray) -> float:
    from nasurf.io.steps import auto_threshold

    return auto_threshold(i)


def segment_half_cycles(data: EchemData | pd.DataFrame, *, rest_threshold_A: float | None = None,
                        min_duration_s: float = 5.0) -> Segmentation:
    """Split a time series into half cycles by the sign of the current.

    Rows with |I| <= ``rest_threshold_A`` (default: 0.1 % of the 99th-percentile |I|) are
    rests and excluded. A run of opposite sign shorter than ``min_duration_s`` between two
    runs of the same sign is noise (an overshoot, a relay blip): it is discarded so it
    does not split a half cycle, and counted in the warnings of the summary. Rest, OCV
    and impedance steps of :func:`nasurf.io.steps.find_steps` never join a half cycle.
    """
    t, v, i = _time_series(data)
    return _prepare(data, t, v, i, rest_threshold_A, min_duration_s, "anode").seg


def _segment(t: np.ndarray, i: np.ndarray, rest_threshold_A: float | None,
             min_duration_s: float, sign: np.ndarray | None = None) -> Segmentation:
    """``sign``: the per-row sign of ``i`` at this threshold when already known."""
    thr = _auto_threshold(i) if rest_threshold_A is None else float(rest_threshold_A)
    if not math.isfinite(thr) or thr < 0:
        raise ValidationError(f"rest threshold must be >= 0 A, got {rest_threshold_A!r}",
                              field="rest_threshold_A")
    n = len(i)
    if sign is None:
        sign = np.zeros(n, np.int8)
        sign[i > thr] = 1
        sign[i < -thr] = -1
    change = np.flatnonzero(sign[1:] != sign[:-1]) + 1
    run_start = np.concatenate(([0], change)).astype(np.int64)
    run_stop = np.concatenate((change, [n])).astype(np.int64)
    run_sign = sign[run_start].astype(np.int8)

    # duration of a run includes the interval that leads into it
    t_before = t[np.maximum(run_start - 1, 0)]
    duration = t[run_stop - 1] - t_before
    active = np.flatnonzero(run_sign != 0)
    blip_runs = blip_rows = 0
    if active.size >= 3:
        s = run_sign[active]
        is_blip = np.zeros(active.size, bool)
        is_blip[1:-1] = (s[1:-1] != s[:-2]) & (s[1:-1] != s[2:]) & (
            duration[active[1:-1]] < min_duration_s)
        if is_blip.any():
            run_sign = run_sign.copy()
            blips = active[is_blip]
            run_sign[blips] = 0
            blip_runs = int(blips.size)
            blip_rows = int((run_stop[blips] - run_start[blips]).sum())
            active = active[~is_blip]
    run_hc = np.zeros(len(run_start), np.int64)
    if active.size:
        s = run_sign[active]
        new = np.ones(active.size, bool)
        new[1:] = s[1:] != s[:-1]
        hc_of_active = np.cumsum(new)
        run_hc[active] = hc_of_active
        firsts = active[new]
        lasts = active[np.concatenate((np.flatnonzero(new)[1:] - 1, [active.size - 1]))]
        hc_sign = run_sign[firsts]
        hc_first = run_start[firsts]
        hc_last = run_stop[lasts] - 1
    else:
        hc_sign = np.zeros(0, np.int8)
        hc_first = hc_last = np.zeros(0, np.int64)
    return Segmentation(run_start, run_stop, run_sign, run_hc, hc_sign, hc_first, hc_last,
                        thr, blip_runs, blip_rows)


ElectrodeRole = Literal["auto", "anode", "cathode", "full"]


@dataclass(frozen=True)
class _Prepared:
    """What every half-cycle analysis shares: the step model, the current it segments
    (passive rows zeroed; sign flipped when the cycle starts with a desodiation) and the
    half cycles found in it."""

    steps: Any
    i_seg: np.ndarray
    seg: Segmentation
    role: str
    role_how: str
    flip: bool                          # True: the first process of a cycle is desodiation


def _prepare(data: EchemData | pd.DataFrame, t: np.ndarray, v: np.ndarray, i: np.ndarray,
             rest_threshold_A: float | None, min_duration_s: float,
             electrode: str = "auto") -> _Prepared:
    from nasurf.io.steps import (
        HPPC_PULSE,
        IMPEDANCE,
        PASSIVE_KINDS,
        electrode_role,
        find_steps,
    )

    df = _frame(data)
    technique = data.metadata.technique if isinstance(data, EchemData) else None
    steps = find_steps(df, threshold_A=rest_threshold_A, technique=technique,
                       arrays=(t, v, i))
    i_seg = i
    sign: np.ndarray | None = steps.row_sign
    from_signal = (steps.known_from == "signal"
                   or steps.known_from.endswith("(kinds from the signal)"))
    if steps.has(IMPEDANCE, HPPC_PULSE) or (not from_signal and steps.has(*PASSIVE_KINDS)):
        # (with kinds from the signal a rest is already below the threshold; impedance
        # rows, known from their frequency, carry the AC current and HPPC pulses a
        # resistance test's: both must be zeroed)
        passive = steps.rows_of(*PASSIVE_KINDS)
        i_seg = np.where(passive, 0.0, i)
        # the sign of i_seg at the same threshold: the steps' row sign with the passive
        # rows zeroed (saves re-comparing every row)
        sign = sign.copy()
        sign[passive] = 0
    role, how = electrode_role(v, steps, electrode)
    flip = role != "anode"
    if flip:
        i_seg = -i_seg
        sign = -sign if sign is not None else None
    thr = steps.threshold_A if rest_threshold_A is None else rest_threshold_A
    seg = _segment(t, i_seg, thr, min_duration_s, sign)
    return _Prepared(steps, i_seg, seg, role, how, flip)


def _process_names(sign: np.ndarray, flip: bool) -> np.ndarray:
    """Half-cycle sign (segmentation frame) -> sodiation/desodiation of the electrode."""
    first, second = (DESODIATION, SODIATION) if flip else (SODIATION, DESODIATION)
    return np.where(sign < 0, first, second)


def _sampled_median_abs(i: np.ndarray, seg: Segmentation, k: int = 255,
                        select: np.ndarray | None = None) -> np.ndarray:
    """Median |I| of each half cycle's active rows (exact up to ``k`` rows, else over ``k``
    evenly spaced rows: the same current to within the cycler's noise, at O(k) cost);
    ``select``: only these half cycles (0-based), in that order."""
    first, last = seg.half_cycle_first_row, seg.half_cycle_last_row
    sign, thr = seg.half_cycle_sign, seg.threshold_A
    if select is not None:
        first, last, sign = first[select], last[select], sign[select]
    if first.size == 0:
        return np.zeros(0)
    length = last - first + 1
    width = min(k, int(length.max()))
    short = length <= _SHORT_HALF_CYCLE
    if width > _SHORT_HALF_CYCLE and int(np.count_nonzero(short)) >= 8:
        # many short half cycles (CC-CV files, pulses) next to long ones: a narrow matrix
        # for the short ones instead of padding each to k columns (rows are independent:
        # the same values, the same medians)
        out = np.empty(first.size)
        for sel, w in ((short, _SHORT_HALF_CYCLE), (~short, width)):
            out[sel] = _median_abs_rows(i, first[sel], length[sel], sign[sel], thr, k, w)
        return out
    return _median_abs_rows(i, first, length, sign, thr, k, width)


#: half cycles up to this many rows get their own narrow matrix in _sampled_median_abs
_SHORT_HALF_CYCLE = 32


def _median_abs_rows(i: np.ndarray, first: np.ndarray, length: np.ndarray,
                     sign: np.ndarray, thr: float, k: int, width: int) -> np.ndarray:
    """:func:`_sampled_median_abs` of half cycles no longer than ``width`` rows unless
    ``width == k`` (longer ones are sampled at k evenly spaced rows)."""
    j = np.arange(width)
    step = np.where(length > k, (length - 1) / (k - 1), 1.0)
    idx = first[:, None] + np.floor(j[None, :] * step[:, None]).astype(np.int64)
    valid = j[None, :] < length[:, None]
    idx = np.where(valid, idx, first[:, None])
    vals = i[idx]
    same = np.sign(vals) == sign[:, None]
    absv = np.abs(vals)
    same &= absv > thr
    vals = np.where(valid & same, absv, np.nan)
    # row-wise median ignoring NaN: the middle element(s) of each row's finite values,
    # NaN ordered last. When many rows hold few distinct counts of finite values (long
    # half cycles: all k), a partition at those middle positions gives the same elements
    # as a full sort at a fraction of its cost (on a few rows the sort is cheaper).
    count = np.isfinite(vals).sum(axis=1)
    rows = np.arange(vals.shape[0])
    lo = np.maximum((count - 1) // 2, 0)
    hi = np.minimum(np.maximum(count // 2, 0), width - 1)
    kth = np.unique(np.concatenate((lo, hi)))
    if kth.size <= 4 and vals.shape[0] >= 16:
        vals.partition(kth, axis=1)
    else:
        vals.sort(axis=1)
    # finite values or NaN only: NaN arithmetic raises no floating-point warning
    med = 0.5 * (vals[rows, lo] + vals[rows, hi])
    return np.where(count > 0, med, np.nan)


# --------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Retention:
    """Capacity retention R_n = Q_desod,n / Q_ref and how Q_ref was chosen."""

    convention: str                  # e.g. "after_formation(1)", "second", "first_at_current"
    reference_cycle: int | None      # None for first_at_current (one reference per step)
    reference_capacity: float | None
    final_cycle: int | None
    final: float | None              # retention of the last complete cycle (fraction)
    unit: str

    def to_dict(self) -> dict[str, Any]:
        return {"convention": self.convention, "reference_cycle": self.reference_cycle,
                "reference_capacity": self.reference_capacity, "final_cycle": self.final_cycle,
                "final": self.final, "capacity_unit": self.unit, "unit": "1 (fraction)"}


# Consecutive rate steps whose currents differ by less than this factor are read as
# current wander, not as a change of rate (rate tests step by ×2 or more).
_DISTINCT_LEVEL_FACTOR = 1.25
#: below this share of its charge in constant current a half cycle has no set point
_MIN_CC_SHARE = 0.1


@dataclass(frozen=True)
class RateCapability:
    """Rate-capability steps detected from the per-cycle currents (methods.md §7).

    ``steps`` is a DataFrame built on first access from ``step_columns``.
    """

    step_columns: dict[str, Any] = field(repr=False)
    recovery_ratio: float | None
    recovery_step: int | None
    basis_mAh_g: float | None
    excluded_first_cycle: bool
    warnings: tuple[str, ...] = ()
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    @property
    def steps(self) -> pd.DataFrame:
        if "steps" not in self._frames:
            self._frames["steps"] = pd.DataFrame(self.step_columns)
        return self._frames["steps"]

    @property
    def rate_set_by(self) -> str | None:
        """The direction whose current changes between steps (sodiation, desodiation or
        both); None when neither does."""
        col = self.step_columns.get("rate_set_by")
        return (str(col[0]) or None) if col is not None and len(col) else None

    @property
    def n_steps(self) -> int:
        return len(self.step_columns.get("step", ()))

    @property
    def detected(self) -> bool:
        """A rate protocol: at least 2 steps, mostly held for 2 or more cycles, with at
        least two levels so held that differ by ×/÷ 1.25 or more; or, with one cycle per
        step, clearly distinct current levels (every change of step at least ×/÷ 1.25).

        Cycle-to-cycle current wander (e.g. CC-CV cells) gives many 1-cycle "steps" a few
        per cent apart; those are kept in ``steps`` but not reported as a rate test. A rate
        test with one cycle per current (common in simulations and quick screens) changes
        its current by a factor of 2 or more at each step, so it is reported.
        """
        if self.n_steps < 2:
            return False
        current = np.abs(np.asarray(self.step_columns["current_A"], float))
        n_cyc = np.asarray(self.step_columns["n_cycles"])
        if float(np.median(n_cyc)) >= 2:
            # sustained levels: at least two distinct currents each held >= 2 cycles (a
            # single check-up cycle at another current in a long test is not a rate test)
            held = current[(n_cyc >= 2) & np.isfinite(current) & (current > 0)]
            return bool(held.size >= 2
                        and held.max() / held.min() >= _DISTINCT_LEVEL_FACTOR)
        if not np.all(np.isfinite(current)) or np.any(current == 0):
            return False
        ratio = current[1:] / current[:-1]
        return bool(np.all(np.maximum(ratio, 1 / ratio) >= _DISTINCT_LEVEL_FACTOR))

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "recovery_ratio": self.recovery_ratio,
                "recovery_step": self.recovery_step, "c_rate_basis_mAh_g": self.basis_mAh_g,
                "excluded_first_cycle_of_each_step": self.excluded_first_cycle,
                "rate_set_by": self.rate_set_by,
                "warnings": list(self.warnings)}


@dataclass(frozen=True)
class CyclingResult:
    """Per-half-cycle and per-cycle galvanostatic metrics with their conventions.

    ``half_cycles`` and ``cycles`` are DataFrames built on first access from the column
    arrays (most callers need one of them, long tests have many half cycles).
    """

    half_cycle_columns: dict[str, np.ndarray] = field(repr=False)
    cycle_columns: dict[str, np.ndarray] = field(repr=False)
    initial_coulombic_efficiency: float | None
    mean_ce: float | None
    cumulative_irreversible: float | None
    retention: Retention
    rate: RateCapability
    capacity_unit: str                 # "mAh/g" with a mass, else "mAh"
    active_mass_g: float | None
    area_cm2: float | None
    units: dict[str, str]
    conventions: dict[str, Any]
    warnings: tuple[str, ...]
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # named plausibility flags: {"flag", "cycle", "half_cycle", "value", "message"}
    flags: tuple[dict[str, Any], ...] = ()
    _frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False, compare=False)

    @property
    def all_warnings(self) -> tuple[str, ...]:
        """``warnings`` plus the step model's (the step-by-step cross-check with the
        instrument's charge counter, computed on first use: the CLI, JSON and report
        show these)."""
        steps = self.extra.get("steps")
        return self.warnings + (tuple(steps.warnings) if steps is not None else ())

    @property
    def flagged_cycles(self) -> dict[int, list[str]]:
        """Cycle number -> names of the flags raised on it (for tables and figures)."""
        out: dict[int, list[str]] = {}
        for f in self.flags:
            if f.get("cycle") is not None:
                out.setdefault(int(f["cycle"]), []).append(str(f["flag"]))
        return out

    @property
    def half_cycles(self) -> pd.DataFrame:
        if "half_cycles" not in self._frames:
            self._frames["half_cycles"] = _frame_from_columns(self.half_cycle_columns)
        return self._frames["half_cycles"]

    @property
    def cycles(self) -> pd.DataFrame:
        if "cycles" not in self._frames:
            self._frames["cycles"] = _frame_from_columns(self.cycle_columns)
        return self._frames["cycles"]

    @property
    def rate_steps(self) -> pd.DataFrame:
        return self.rate.steps

    @property
    def cumulative_irreversible_mAh_g(self) -> float | None:
        return self.cumulative_irreversible if self.capacity_unit == "mAh/g" else None

    def to_dict(self) -> dict[str, Any]:
        cycles = self.cycles.copy()
        if self.active_mass_g is None:
            # the JSON contract always carries the specific keys; null + warning, not NaN
            for col in ("sodiation_mAh_g", "desodiation_mAh_g"):
                cycles[col] = None
        return {
            "source": self.source,
            "initial_coulombic_efficiency": self.initial_coulombic_efficiency,
            "mean_coulombic_efficiency": self.mean_ce,
            **{k: self.extra.get(k) for k in (
                "initial_coulombic_efficiency_with_holds",
                "initial_coulombic_efficiency_without_holds",
                "mean_coulombic_efficiency_with_holds",
                "mean_coulombic_efficiency_without_holds", "electrode")},
            "flags": list(self.flags),
            "cumulative_irreversible_capacity": self.cumulative_irreversible,
            "capacity_unit": self.capacity_unit,
            "active_mass_g": self.active_mass_g,
            "area_cm2": self.area_cm2,
            "loading_mg_cm2": self.extra.get("loading_mg_cm2"),
            "retention": self.retention.to_dict(),
            "cycles": cycles,
            "half_cycles": self.half_cycles,
            "rate_steps": self.rate.steps if self.rate.detected else [],
            "rate_capability": self.rate.to_dict() if self.rate.detected else None,
            "units": self.units,
            "conventions": self.conventions,
            "steps": (self.extra["steps"].to_dict() if "steps" in self.extra else None),
            "warnings": list(self.all_warnings),
        }

    def to_csv(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write cycles.csv, half_cycles.csv, rate_steps.csv and summary.json.

        Each file is written to a temporary name and renamed, so a failure never leaves
        a half-written file behind.
        """
        from nasurf.clikit import to_jsonable

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        payload = {
            "cycles.csv": self.cycles.to_csv(index=False),
            "half_cycles.csv": self.half_cycles.to_csv(index=False),
            "rate_steps.csv": self.rate.steps.to_csv(index=False),
            "summary.json": json.dumps(to_jsonable({k: v for k, v in self.to_dict().items()
                                                    if k not in ("cycles", "half_cycles")}),
                                       indent=2, allow_nan=False),
        }
        written = []
        for name, text in payload.items():
            written.append(_atomic_write(out / name, text))
        return written


def _atomic_write(path: Path, text: str) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------- reference
def parse_reference(reference: str, formation_cycles: int | None = None) -> tuple[str, int]:
    """``"after_formation"`` / ``"after_formation(3)"`` / ``"first"`` ... -> (name, k)."""
    text = str(reference).strip().lower().replace("-", "_")
    m = re.fullmatch(r"after_formation\s*(?:\(\s*(\d+)\s*\))?", text)
    if m:
        k = int(m.group(1)) if m.group(1) else (1 if formation_cycles is None else formation_cycles)
        if formation_cycles is not None and m.group(1) and int(m.group(1)) != formation_cycles:
            raise ValidationError(
                f"reference '{reference}' and formation_cycles={formation_cycles} disagree",
                field="reference")
        if k < 0:
            raise ValidationError("formation cycles must be >= 0", field="formation_cycles")
        return "after_formation", k
    if text in ("first", "second", "max", "first_at_current"):
        return text, 0
    raise ValidationError(
        f"unknown retention reference '{reference}'; expected one of first, second, max, "
        "after_formation, after_formation(k), first_at_current", field="reference")


# --------------------------------------------------------------------------- summary
def cycling_summary(
    data: EchemData | pd.DataFrame,
    *,
    active_mass_g: float | None = None,
    area_cm2: float | None = None,
    reference: str = "after_formation",
    formation_cycles: int | None = None,
    rest_threshold_A: float | None = None,
    min_duration_s: float = 5.0,
    include_cv_steps: bool = True,
    cycle_mode: CycleMode = "sodiation_desodiation",
    basis_mAh_g: float | None = None,
    exclude_first_cycle_of_step: bool = False,
    current_rel_tol: float = 0.02,
    current_abs_tol_A: float = 1e-6,
    capacity_source: Literal["current", "instrument"] = "current",
    electrode: ElectrodeRole = "auto",
    theoretical_capacity_mAh_g: float | None = None,
    ce_resolution: float = CE_RESOLUTION,
) -> CyclingResult:
    """Galvanostatic summary of one measurement (methods.md §7).

    ``active_mass_g`` and ``area_cm2`` default to the file's metadata. ``reference`` is the
    retention convention (first, second, max, after_formation[(k)], first_at_current);
    ``formation_cycles`` is k of after_formation (default 1). CV steps (detected from the
    step counter) are included unless ``include_cv_steps=False``; their share is always
    reported in ``cv_capacity`` columns. ``basis_mAh_g`` enables C-rates in rate steps.
    ``capacity_source="instrument"`` takes capacities from the file's capacity counters
    (summed over their per-step resets) instead of integrating the current: for exports
    whose current column is rounded (a warning says when the two disagree by > 2 %).

    Steps come from :func:`nasurf.io.steps.find_steps`: rest, OCV and impedance rows never
    form half cycles, holds are the steps the instrument (or the signal rule) marks as
    constant voltage, and no charge crosses a step boundary. ``electrode`` is the working
    electrode's role (``auto``: inferred, the inference stated in ``conventions``); for a
    cathode or full cell a cycle is a desodiation followed by a sodiation and ICE is
    Q_sod,1 / Q_desod,1. ``theoretical_capacity_mAh_g`` and ``ce_resolution`` feed the
    plausibility flags (``CyclingResult.flags``).
    """
    source = _source_name(data)
    df = _frame(data)
    meta = data.metadata if isinstance(data, EchemData) else None
    mass = _positive_or_none(active_mass_g if active_mass_g is not None
                             else (meta.active_mass_g if meta else None), "active_mass_g", source)
    area = _positive_or_none(area_cm2 if area_cm2 is not None
                             else (meta.electrode_area_cm2 if meta else None), "area_cm2", source)
    basis = _positive_or_none(basis_mAh_g, "basis_mAh_g", source)
    ref_name, k_form = parse_reference(reference, formation_cycles)
    if capacity_source not in ("current", "instrument"):
        raise ValidationError(f"unknown capacity source '{capacity_source}'; expected "
                              "current or instrument", field="capacity_source")
    if cycle_mode not in ("sodiation_desodiation", "instrument"):
        raise ValidationError(f"unknown cycle mode '{cycle_mode}'; expected "
                              "sodiation_desodiation or instrument", field="cycle_mode")
    warnings: list[str] = []

    theo = _positive_or_none(theoretical_capacity_mAh_g, "theoretical_capacity_mAh_g", source)
    res = float(ce_resolution)
    if not (math.isfinite(res) and res >= 0):
        raise ValidationError(f"CE resolution must be >= 0, got {ce_resolution!r}",
                              field="ce_resolution")
    t, v, i = _time_series(data)
    prep = _prepare(data, t, v, i, rest_threshold_A, min_duration_s, electrode)
    steps, seg, flip = prep.steps, prep.seg, prep.flip
    n_hc = len(seg.half_cycle_sign)
    if n_hc == 0:
        kinds = ", ".join(f"{n} {k}" for k, n in steps.counts().items())
        raise ValidationError(
            f"no current above the rest threshold ({seg.threshold_A:.3g} A) outside "
            f"rest/OCV/impedance steps (steps: {kinds}): nothing to integrate; is this a "
            "rest/OCV/EIS file?",
            file=source, field=CURRENT)
    flags: list[dict[str, Any]] = []
    hppc_msg = _hppc_note(steps)
    if hppc_msg:
        warnings.append(hppc_msg)
        flags.append({"flag": "hppc_pulses_excluded", "cycle": None, "half_cycle": None,
                      "value": int(steps.counts().get("hppc_pulse", 0)), "message": hppc_msg})
    if seg.blip_runs:
        warnings.append(f"{seg.blip_runs} short current reversal(s) (< {min_duration_s:g} s, "
                        f"{seg.blip_rows} rows) ignored as noise")

    starts, stops = seg.run_start, seg.run_stop
    act = seg.run_half_cycle > 0
    hc_idx = seg.run_half_cycle[act] - 1

    def per_hc(run_values: np.ndarray) -> np.ndarray:
        return np.bincount(hc_idx, weights=run_values[act], minlength=n_hc)

    absi = np.abs(i)
    # the interval terms of ∫|I| dt and ∫V|I| dt are built once; the hold shares are
    # the same terms masked to the hold rows
    entry = _entry_mask(starts, steps)
    q = _interval_terms(t, absi, starts, entry)
    cap_As = per_hc(_block_sums(q, starts, stops))
    median_i = _sampled_median_abs(prep.i_seg, seg)

    from nasurf.io.steps import CONSTANT_VOLTAGE

    cv_mask = steps.rows_of(CONSTANT_VOLTAGE) if steps.has(CONSTANT_VOLTAGE) else None
    cv_As = np.zeros(n_hc)
    if cv_mask is not None:
        q *= cv_mask[1:]
        cv_As = per_hc(_block_sums(q, starts, stops))
    del q
    # the current each half cycle was set to: the median |I| of its constant-current rows
    # (a hold's decaying current would pull a CC-CV half cycle's median far below its
    # set point, and cycle-to-cycle changes of that tail would read as rate steps)
    set_i = None
    held = np.flatnonzero(cv_As > 0) if cv_mask is not None else np.zeros(0, np.int64)
    if held.size:
        set_i = median_i.copy()
        set_i[held] = _sampled_median_abs(np.where(cv_mask, 0.0, prep.i_seg), seg,
                                          select=held)
        # a half cycle that is nearly all hold (its CC part a few rows of current ramp
        # before the voltage limit, e.g. an aged cell) shows no set point: unknown
        with np.errstate(invalid="ignore", divide="ignore"):
            cc_share = 1.0 - cv_As[held] / cap_As[held]
        set_i[held[cc_share < _MIN_CC_SHARE]] = np.nan

    inst = _instrument_capacity(df, starts, per_hc,
                                v if capacity_source == "instrument" else None)
    inst_Ah = inst[0] if inst is not None else None
    if capacity_source == "instrument" and inst is None:
        raise ValidationError(
            "capacity_source='instrument' needs finite capacity counters ('"
            f"{CHARGE_CAPACITY}' and/or '{DISCHARGE_CAPACITY}', or '{NET_CAPACITY}')",
            file=source, field=CHARGE_CAPACITY)

    # energy: reuse the |I| buffer for V·|I| (memory on long files)
    p = absi
    p *= v
    q = _interval_terms(t, p, starts, entry)
    en_Ws = per_hc(_block_sums(q, starts, stops))
    cv_Ws = np.zeros(n_hc)
    if cv_mask is not None:
        q *= cv_mask[1:]
        cv_Ws = per_hc(_block_sums(q, starts, stops))
    del p, absi, q
    integral_mAh = cap_As / SECONDS_PER_HOUR * 1e3
    if capacity_source == "instrument":
        # the counters replace the integral (e.g. a logged current rounded to the display
        # resolution); the CV share is still measured from the current
        cap_As = inst[0] * SECONDS_PER_HOUR
        en_Ws = inst[1] * SECONDS_PER_HOUR
        warnings.append("capacities and energies from the instrument's capacity counters "
                        "(capacity_source='instrument'), not from the integral of |I| dt")
    if cv_mask is not None and not include_cv_steps:
        cap_As = cap_As - cv_As
        en_Ws = en_Ws - cv_Ws

    first, last = seg.half_cycle_first_row, seg.half_cycle_last_row
    process = _process_names(seg.half_cycle_sign, flip)
    cap_mAh = cap_As / SECONDS_PER_HOUR * 1e3
    en_mWh = en_Ws / SECONDS_PER_HOUR * 1e3
    with np.errstate(invalid="ignore", divide="ignore"):
        avg_v = np.where(cap_As > 0, en_Ws / cap_As, np.nan)
    v_start, v_end = v[first], v[last]
    cycle = _assign_cycles(df, seg, first, cycle_mode, source, warnings)
    spec = mass is not None
    unit = "mAh/g" if spec else "mAh"
    per_g = 1.0 / mass if spec else 1.0
    cv_mAh = cv_As / SECONDS_PER_HOUR * 1e3
    complete_hc = _complete_half_cycles(cap_mAh, seg.half_cycle_sign, process, warnings,
                                        flags)
    hc_cols: dict[str, Any] = {
        "half_cycle": np.arange(1, n_hc + 1), "cycle": cycle, "process": process,
        "first_row": first, "last_row": last, "start_time_s": t[first], "end_time_s": t[last],
        "duration_s": t[last] - t[np.maximum(first - 1, 0)], "capacity_mAh": cap_mAh,
        "cv_capacity_mAh": cv_mAh, "energy_mWh": en_mWh, "average_voltage_V": avg_v,
        "start_voltage_V": v_start, "end_voltage_V": v_end, "median_current_A": median_i,
        "complete": complete_hc,
    }
    if inst_Ah is not None:
        hc_cols["instrument_capacity_mAh"] = inst_Ah * 1e3
        if capacity_source == "instrument":
            hc_cols["current_integral_mAh"] = integral_mAh
        _check_instrument(integral_mAh, inst_Ah * 1e3, warnings)
    if spec:
        hc_cols["capacity_mAh_g"] = cap_mAh * per_g
        hc_cols["cv_capacity_mAh_g"] = cv_mAh * per_g
        hc_cols["energy_mWh_g"] = en_mWh * per_g
        hc_cols["median_current_mA_g"] = median_i * 1e3 * per_g
    if area is not None:
        hc_cols["capacity_mAh_cm2"] = cap_mAh / area
        hc_cols["median_current_mA_cm2"] = median_i * 1e3 / area

    if not spec:
        warnings.append("no active mass given (or in the file): capacities are in mAh, not "
                        "mAh/g; pass active_mass_g (CLI: --mass-mg)")
    cyc = _cycle_arrays(cycle, seg.half_cycle_sign, cap_mAh, en_mWh, cv_mAh, median_i,
                        complete_hc, set_i)
    first_proc, second_proc = (DESODIATION, SODIATION) if flip else (SODIATION, DESODIATION)
    if cyc["cycle"][0] == 0:
        msg = (f"the file starts with a {second_proc} (the cell was part-way through a "
               f"cycle): it is reported as cycle 0 and excluded from ICE, CE and retention")
        warnings.append(msg)
        flags.append({"flag": "starts_mid_cycle", "cycle": 0, "half_cycle": 1,
                      "value": None, "message": msg})
    if cv_mask is not None:
        share = float(cv_mAh.sum() / max(cap_mAh.sum(), 1e-300))
        what = "included" if include_cv_steps else "excluded"
        warnings.append(f"constant-voltage steps detected ({share:.1%} of the charge); "
                        f"{what} in capacities (see cv_capacity columns)")

    number = cyc["cycle"]
    q_sod, q_des = cyc["sodiation_mAh"] * per_g, cyc["desodiation_mAh"] * per_g
    with np.errstate(invalid="ignore", divide="ignore"):
        ce = cyc["desodiation_mAh"] / cyc["sodiation_mAh"]
    ok = (number >= 1) & np.isfinite(q_sod) & np.isfinite(q_des) & cyc["complete"]
    ice = float(ce[ok & (number == 1)][0]) if (ok & (number == 1)).any() else None
    if ice is None:
        warnings.append("no complete first cycle (sodiation then desodiation): ICE undefined")
    later = ok & (number >= 2)
    mean_ce = float(ce[later].mean()) if later.any() else None
    irr_each = np.where(ok, q_sod - q_des, 0.0)
    irr = float(irr_each.sum()) if ok.any() else None
    cum_irr = np.where(ok, np.cumsum(irr_each), np.nan)

    # with and without holds: the default (include_cv_steps) is stated in conventions
    cv_first, cv_second = cyc["sodiation_cv_mAh"], cyc["desodiation_cv_mAh"]
    sign_cv = -1.0 if include_cv_steps else 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        ce_other = ((cyc["desodiation_mAh"] + sign_cv * cv_second)
                    / (cyc["sodiation_mAh"] + sign_cv * cv_first))
    ce_with, ce_without = (ce, ce_other) if include_cv_steps else (ce_other, ce)

    def first_and_mean(col: np.ndarray) -> tuple[float | None, float | None]:
        one = ok & (number == 1)
        return (float(col[one][0]) if one.any() else None,
                float(col[later].mean()) if later.any() else None)

    ice_with, mean_with = first_and_mean(ce_with)
    ice_without, mean_without = first_and_mean(ce_without)
    flags.extend(_plausibility(number, ce, ok, k_form, res, cap_mAh, process, cycle, mass,
                               theo, first_proc, second_proc))
    from nasurf.io.steps import classify_steps

    klass, why = classify_steps(steps)
    if klass != "cycling":
        flags.append({"flag": "not_cycling_data", "cycle": None, "half_cycle": None,
                      "value": None, "message": f"the file is {klass} data ({why}), not "
                      "galvanostatic cycling: ICE, CE and retention do not apply"})
    warnings.extend(f["message"] for f in flags if f["flag"] not in (
        "starts_mid_cycle", "partial_first_half_cycle", "hppc_pulses_excluded"))

    set_key = "set_current_A" if set_i is not None else "current_A"
    rate = _rate_steps(number, cyc[f"desodiation_{set_key}"], cyc[f"sodiation_{set_key}"],
                       q_des, unit, mass, basis, exclude_first_cycle_of_step,
                       current_rel_tol, current_abs_tol_A,
                       names=(second_proc, first_proc))
    retention, ret_col = _retention(number, q_des, ok, cyc["desodiation_current_A"],
                                    ref_name, k_form, rate, current_rel_tol,
                                    current_abs_tol_A, unit, warnings)
    if flip:
        cyc = _swap_processes(cyc)
    set_current = {p_: cyc[f"{p_}_{set_key}"] for p_ in (SODIATION, DESODIATION)}
    cycle_cols = _cycle_columns(cyc, ce, mass, area, unit, cum_irr, ret_col, flip)
    cycle_cols["coulombic_efficiency_with_holds"] = ce_with
    cycle_cols["coulombic_efficiency_without_holds"] = ce_without

    units = {
        "capacity": unit, "capacity_mAh": "mAh", "capacity_mAh_g": "mAh/g",
        "capacity_mAh_cm2": "mAh/cm2", "energy_mWh": "mWh", "energy_mWh_g": "mWh/g",
        "voltage": "V", "current_A": "A", "current_mA_g": "mA/g", "current_mA_cm2": "mA/cm2",
        "loading_mg_cm2": "mg/cm2", "time": "s", "coulombic_efficiency": "1 (fraction)",
        "retention": "1 (fraction)", "hysteresis_V": "V",
    }
    conventions = {
        "current_sign": "anodic (desodiation) positive, cathodic (sodiation) negative",
        "cycle_mode": cycle_mode,
        "cycle_definition": ("sodiation followed by the next desodiation"
                             if cycle_mode == "sodiation_desodiation"
                             else "instrument cycle counter"),
        "capacity": ("integral of |I| dt per half cycle (trapezoid; rests excluded)"
                     if capacity_source == "current" else
                     "instrument capacity counters summed per half cycle (resets handled)"),
        "electrode": prep.role,
        "electrode_role": prep.role_how,
        "steps_known_from": steps.known_from,
        "step_counts": steps.counts(),
        "ice": ("Q_sod,1 / Q_desod,1 (cycle = desodiation then sodiation)" if flip
                else "Q_desod,1 / Q_sod,1 (cycle = sodiation then desodiation)"),
        "ce": (("Q_sod,n / Q_desod,n" if flip else "Q_desod,n / Q_sod,n")
               + "; mean over cycles 2..N"),
        "ce_holds": ("constant-voltage holds included in ICE/CE (default); "
                     "*_without_holds: constant-current charge only"
                     if include_cv_steps else
                     "constant-voltage holds excluded from ICE/CE (--exclude-cv); "
                     "*_with_holds: holds included"),
        "ce_resolution": res,
        "irreversible": f"Q_{first_proc[:5]},n - Q_{second_proc[:5]},n",
        "retention_reference": retention.convention,
        "cv_steps": "included" if include_cv_steps else "excluded",
        "rest_threshold_A": seg.threshold_A,
        "min_reversal_duration_s": min_duration_s,
        "hysteresis": "mean desodiation voltage - mean sodiation voltage",
    }
    extra: dict[str, Any] = {
        "initial_coulombic_efficiency_with_holds": ice_with,
        "initial_coulombic_efficiency_without_holds": ice_without,
        "mean_coulombic_efficiency_with_holds": mean_with,
        "mean_coulombic_efficiency_without_holds": mean_without,
        "electrode": prep.role,
        "steps": steps,
        # per cycle, the constant-current set point of each process (rate steps)
        "set_current_A": set_current,
    }
    if mass is not None and area is not None:
        extra["loading_mg_cm2"] = mass * 1e3 / area
        conventions["loading_mg_cm2"] = mass * 1e3 / area
    return CyclingResult(
        half_cycle_columns=hc_cols, cycle_columns=cycle_cols,
        initial_coulombic_efficiency=ice, mean_ce=mean_ce,
        cumulative_irreversible=irr, retention=retention, rate=rate, capacity_unit=unit,
        active_mass_g=mass, area_cm2=area, units=units, conventions=conventions,
        warnings=tuple(warnings) + rate.warnings, source=source, extra=extra,
        flags=tuple(flags),
    )


def _hppc_note(steps: Any) -> str | None:
    """What the summary says about the HPPC pulses it left out, or None without any."""
    from nasurf.io.steps import HPPC_PULSE, _lut

    sel = _lut((HPPC_PULSE,))[steps.step_kind]
    if not sel.any():
        return None
    k = np.flatnonzero(sel)
    t, _, i = steps._signals[:3]
    absi = np.abs(i)
    # the pulses' own rows (their charge is small; the HPPC test reads resistance)
    charge = [float(np.sum(0.5 * (absi[a + 1:b] + absi[a:b - 1]) * np.diff(t[a:b])))
              for a, b in zip(steps.starts[k].tolist(), steps.stops[k].tolist(), strict=True)]
    return (f"{k.size} HPPC pulses (pairs of current pulses <= 30 s of both signs between "
            f"rests, rows {int(steps.starts[k[0]])}-{int(steps.stops[k[-1]]) - 1}; "
            f"{sum(charge) / 3.6:.4g} mAh over their own rows) are a pulse resistance test, "
            "not cycling: left out of the half cycles")


def capacity_table_summary(curve: Any, *, active_mass_g: float | None = None,
                           ce_resolution: float = CE_RESOLUTION) -> CyclingResult:
    """Cycling summary of a per-half-cycle capacity table with no time series (a Gamry
    PWR800 ``CAPACITYCURVE``, :func:`nasurf.io.gamry.read_capacity_curve`).

    Capacities are the file's own charge per half cycle (C / 3.6 = mAh), energies its
    |energy| (J / 3.6 = mWh), the current of a half cycle its charge / duration. Cycles are
    the file's: a charge (anodic current on the working electrode: a desodiation) then a
    discharge (a sodiation), so CE = Q_discharge / Q_charge of each cycle and ICE that of
    cycle 1; mean CE over cycles 2..N; retention relative to cycle 2 (after one formation
    cycle). Nothing is integrated; holds are not known (0).
    """
    hc = curve.half_cycles
    source = curve.source
    mass = _positive_or_none(active_mass_g, "active_mass_g", source)
    res = float(ce_resolution)
    warnings: list[str] = list(curve.warnings)
    flags: list[dict[str, Any]] = []
    n_hc = len(hc)
    if n_hc == 0:
        raise ValidationError("CAPACITYCURVE table without rows", file=source)
    cap_mAh = hc["charge_C"].to_numpy(float) / SECONDS_PER_HOUR * 1e3
    en_mWh = np.abs(hc["energy_J"].to_numpy(float)) / SECONDS_PER_HOUR * 1e3
    dur = hc["duration_s"].to_numpy(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        current = np.where(dur > 0, hc["charge_C"].to_numpy(float) / dur, np.nan)
        avg_v = np.where(cap_mAh > 0, en_mWh / cap_mAh, np.nan)
    cycle = hc["cycle"].to_numpy(np.int64)
    process = hc["process"].to_numpy(object)
    # segmentation frame of the summary: the cycle's first process (a charge here) is -1
    sign = np.where(hc["type"].to_numpy() == 0, -1, 1).astype(np.int8)
    complete_hc = _complete_half_cycles(cap_mAh, sign, process, warnings, flags)
    unit = "mAh/g" if mass is not None else "mAh"
    per_g = 1.0 / mass if mass is not None else 1.0
    if mass is None:
        warnings.append("no active mass given: capacities are in mAh, not mAh/g")
    hc_cols: dict[str, Any] = {
        "half_cycle": hc["half_cycle"].to_numpy(np.int64), "cycle": cycle, "process": process,
        "end_time_s": hc["time_s"].to_numpy(float), "duration_s": dur,
        "capacity_mAh": cap_mAh, "cv_capacity_mAh": np.zeros(n_hc), "energy_mWh": en_mWh,
        "average_voltage_V": avg_v, "start_voltage_V": hc["start_voltage_V"].to_numpy(float),
        "end_voltage_V": hc["end_voltage_V"].to_numpy(float), "mean_current_A": current,
        "complete": complete_hc}
    if mass is not None:
        hc_cols["capacity_mAh_g"] = cap_mAh * per_g
    cyc = _cycle_arrays(cycle, sign, cap_mAh, en_mWh, np.zeros(n_hc), current, complete_hc)
    number = cyc["cycle"]
    q_first, q_second = cyc["sodiation_mAh"] * per_g, cyc["desodiation_mAh"] * per_g
    with np.errstate(invalid="ignore", divide="ignore"):
        ce = cyc["desodiation_mAh"] / cyc["sodiation_mAh"]
    ok = (number >= 1) & np.isfinite(q_first) & np.isfinite(q_second) & cyc["complete"]
    one = ok & (number == 1)
    ice = float(ce[one][0]) if one.any() else None
    if ice is None:
        warnings.append("no complete first cycle (charge then discharge): ICE undefined")
    later = ok & (number >= 2)
    mean_ce = float(ce[later].mean()) if later.any() else None
    irr_each = np.where(ok, q_first - q_second, 0.0)
    irr = float(irr_each.sum()) if ok.any() else None
    flags.extend(_plausibility(number, ce, ok, 1, res, cap_mAh, process, cycle, mass, None,
                               DESODIATION, SODIATION))
    warnings.extend(f["message"] for f in flags if f["flag"] not in (
        "starts_mid_cycle", "partial_first_half_cycle"))
    rate = _rate_steps(number, cyc["desodiation_current_A"], cyc["sodiation_current_A"],
                       q_second, unit, mass, None, False, 0.02, 1e-6,
                       names=(SODIATION, DESODIATION))
    retention, ret_col = _retention(number, q_second, ok, cyc["desodiation_current_A"],
                                    "after_formation", 1, rate, 0.02, 1e-6, unit, warnings)
    cyc = _swap_processes(cyc)
    cycle_cols = _cycle_columns(cyc, ce, mass, None, unit,
                                np.where(ok, np.cumsum(irr_each), np.nan), ret_col, True)
    conventions = {
        "current_sign": "anodic (desodiation) positive, cathodic (sodiation) negative",
        "cycle_definition": "the file's Cycle: a charge (desodiation) then a discharge "
                            "(sodiation)",
        "capacity": "the file's Charge per half cycle (no time series to integrate)",
        "ice": "Q_sod,1 / Q_desod,1 (discharge / charge of cycle 1)",
        "ce": "Q_sod,n / Q_desod,n; mean over cycles 2..N",
        "ce_resolution": res, "retention_reference": retention.convention,
        "source_table": "Gamry CAPACITYCURVE",
    }
    units = {"capacity": unit, "capacity_mAh": "mAh", "energy_mWh": "mWh", "voltage": "V",
             "current_A": "A", "time": "s", "coulombic_efficiency": "1 (fraction)",
             "retention": "1 (fraction)"}
    return CyclingResult(
        half_cycle_columns=hc_cols, cycle_columns=cycle_cols,
        initial_coulombic_efficiency=ice, mean_ce=mean_ce, cumulative_irreversible=irr,
        retention=retention, rate=rate, capacity_unit=unit, active_mass_g=mass,
        area_cm2=None, units=units, conventions=conventions,
        warnings=tuple(warnings) + rate.warnings, source=source,
        extra={"electrode": "cathode"}, flags=tuple(flags))


def _instrument_capacity(df: pd.DataFrame, starts: np.ndarray, per_hc,
                         v: np.ndarray | None = None
                         ) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Per-half-cycle charge (Ah) from the instrument's capacity counters, resets handled,
    and with ``v`` also the energy (Wh) as the sum of increment x mean interval voltage."""
    cols = [c for c in (CHARGE_CAPACITY, DISCHARGE_CAPACITY) if c in df.columns]
    if cols:
        inc = None
        for c in cols:
            arr = _values(df, c, np.float64)
            if not np.isfinite(arr).all():
                return None
            part = _counter_increments(np.abs(arr))
            inc = part if inc is None else inc + part
    elif NET_CAPACITY in df.columns:
        arr = _values(df, NET_CAPACITY, np.float64)
        if not np.isfinite(arr).all():
            return None
        inc = np.zeros_like(arr)
        inc[1:] = np.abs(np.diff(arr))
    else:
        return None
    # increment at row k is the change over the interval (k-1, k]: same ownership rule
    # as the integral (the entry interval belongs to the block the row starts)
    charge = per_hc(np.add.reduceat(inc, starts))
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
    if big.any():
        k = int(np.flatnonzero(big)[0])
        warnings.append(
            f"integral of |I| dt differs from the instrument's capacity column by "
            f"{(ours[k] / inst[k] - 1):+.1%} in half cycle {k + 1} ({int(big.sum())} half "
            "cycle(s) beyond 2 %): the logged current may be rounded or the capacity counter "
            "coarse; compare the instrument_capacity_mAh column")


def _assign_cycles(df: pd.DataFrame, seg: Segmentation, first: np.ndarray, mode: str,
                   source: str, warnings: list[str]) -> np.ndarray:
    if mode == "sodiation_desodiation":
        return np.cumsum(seg.half_cycle_sign < 0).astype(np.int64)
    # the instrument's counter as nasurf.io defines it (Cycle Count, else EC-Lab's half
    # cycle counter paired two by two), renumbered from 1
    from nasurf.io.cycles import instrument_cycles

    try:
        per_row = instrument_cycles(df)
    except ValidationError as exc:
        raise ValidationError(f"cycle_mode 'instrument': {exc.reason}", file=source,
                              field=CYCLE) from None
    cyc = np.asarray(per_row[first], dtype=np.int64)
    key = pd.Series(list(zip(cyc, seg.half_cycle_sign, strict=True)))
    if key.duplicated().any():
        warnings.append("the instrument counts several half cycles of one process in one "
                        "cycle; their capacities are added")
    return cyc


def _complete_half_cycles(cap: np.ndarray, sign: np.ndarray, process: np.ndarray,
                          warnings: list[str],
                          flags: list[dict[str, Any]] | None = None) -> np.ndarray:
    """False for the file's last half cycle when it is much shorter than its peers, and
    for a first half cycle (of a cycle's first process) that is.

    A test stopped mid half cycle leaves a stub (e.g. 3 rows, 0.1 % of a full
    desodiation); a test started part-way through a half cycle (a cell taken over from
    another protocol) leaves one at the start; keeping either in CE means, ICE and
    retention references would be misleading. The start stub is flagged
    ``partial_first_half_cycle``.
    """
    done = np.ones(cap.size, bool)
    if cap.size >= 3 and sign[0] < 0:
        peers0 = cap[1:][sign[1:] == sign[0]]
        med0 = _median(peers0) if peers0.size else math.nan
        if peers0.size and cap[0] < 0.5 * med0:
            done[0] = False
            msg = (f"the first half cycle ({process[0]}, {cap[0]:.4g} mAh, "
                   f"{cap[0] / med0:.1%} of the median {process[0]}) starts part-way: "
                   "listed, but excluded from ICE, mean CE and retention")
            warnings.append(msg)
            if flags is not None:
                flags.append({"flag": "partial_first_half_cycle", "cycle": 1,
                              "half_cycle": 1, "value": float(cap[0] / med0),
                              "message": msg})
    peers = cap[:-1][sign[:-1] == sign[-1]]
    median = _median(peers) if peers.size else math.nan
    if peers.size and cap[-1] < 0.5 * median:
        done[-1] = False
        warnings.append(
            f"the last half cycle ({process[-1]}, {cap[-1]:.4g} mAh, "
            f"{cap[-1] / median:.1%} of the median {process[-1]}) looks cut "
            "short by the end of the test: listed, but excluded from ICE, mean CE, "
            "irreversible capacity and retention")
    return done


def _swap_processes(cyc: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-cycle arrays computed in the segmentation frame (first process named
    "sodiation") renamed for a cell whose cycle starts with a desodiation."""
    out = {}
    for k, val in cyc.items():
        if k.startswith(SODIATION + "_"):
            k = DESODIATION + k[len(SODIATION):]
        elif k.startswith(DESODIATION + "_"):
            k = SODIATION + k[len(DESODIATION):]
        out[k] = val
    return out


def _plausibility(number: np.ndarray, ce: np.ndarray, ok: np.ndarray, k_form: int,
                  res: float, cap_mAh: np.ndarray, process: np.ndarray, hc_cycle: np.ndarray,
                  mass: float | None, theo: float | None, first_proc: str,
                  second_proc: str) -> list[dict[str, Any]]:
    """Named flags where a number is outside what physics allows or a real cell gives."""
    flags: list[dict[str, Any]] = []
    ratio = f"Q_{second_proc} / Q_{first_proc}"
    for k in np.flatnonzero(ok & (ce > 1 + res)):
        c = int(number[k])
        name = "ice_above_one" if c == 1 else "ce_above_one"
        flags.append({"flag": name, "cycle": c, "half_cycle": None, "value": float(ce[k]),
                      "message": f"cycle {c}: {'ICE' if c == 1 else 'CE'} {ce[k]:.4g} > 1 + "
                                 f"{res:g} ({ratio}): more charge back than in; wrong "
                                 "electrode role (--electrode), a partial half cycle or a "
                                 "mis-segmented file"})
    low = ok & (number > max(k_form, 1)) & (ce < CE_FLOOR_AFTER_FORMATION)
    for k in np.flatnonzero(low):
        c = int(number[k])
        flags.append({"flag": "ce_below_floor", "cycle": c, "half_cycle": None,
                      "value": float(ce[k]),
                      "message": f"cycle {c}: CE {ce[k]:.3g} < {CE_FLOOR_AFTER_FORMATION} "
                                 "after formation: not a working cell, or not cycling data"})
    if theo is not None and mass is not None:
        spec = cap_mAh / mass
        for h in np.flatnonzero(spec > theo):
            flags.append({"flag": "capacity_above_theoretical", "cycle": int(hc_cycle[h]),
                          "half_cycle": int(h + 1), "value": float(spec[h]),
                          "message": f"half cycle {h + 1} ({process[h]}): "
                                     f"{spec[h]:.4g} mAh/g > theoretical {theo:g} mAh/g"})
    return flags


def _cycle_arrays(cycle: np.ndarray, sign: np.ndarray, cap: np.ndarray, energy: np.ndarray,
                  cv: np.ndarray, current: np.ndarray, complete: np.ndarray,
                  set_current: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-cycle sums of the half cycles of each process (NaN where a process is absent);
    with ``set_current`` also ``{process}_set_current_A`` like ``{process}_current_A``."""
    if cycle.size and bool((cycle[1:] >= cycle[:-1]).all()):
        # sorted (always in sodiation_desodiation mode): np.unique without its sort
        new = np.empty(cycle.size, bool)
        new[0] = True
        np.not_equal(cycle[1:], cycle[:-1], out=new[1:])
        number = cycle[new]
        idx = np.cumsum(new) - 1
    else:
        number, idx = np.unique(cycle, return_inverse=True)
    n = number.size
    # one bincount for the 4 quantities x 2 processes: bin (quantity, process, cycle);
    # each bin adds its half cycles in the same order as a bincount per column would
    slot = np.where(sign < 0, 0, n) + idx           # half-cycle signs are +-1, never 0
    count = np.bincount(slot, minlength=2 * n).reshape(2, n)
    quantities = (cap, energy, cv, current) if set_current is None else (
        cap, energy, cv, current, set_current)
    nq = len(quantities)
    values = np.array(quantities, dtype=np.float64)
    bins = (slot + np.arange(0, 2 * nq * n, 2 * n)[:, None]).ravel()
    sums = np.bincount(bins, weights=values.ravel(), minlength=2 * nq * n).reshape(nq, 2, n)
    sums[:, count == 0] = np.nan
    out: dict[str, np.ndarray] = {"cycle": number}
    for k, proc in enumerate((SODIATION, DESODIATION)):
        out[f"{proc}_mAh"] = sums[0, k]
        out[f"{proc}_energy_mWh"] = sums[1, k]
        out[f"{proc}_cv_mAh"] = sums[2, k]
        with np.errstate(invalid="ignore", divide="ignore"):
            # one half cycle per process and cycle in sodiation_desodiation mode; with
            # several (instrument mode) the mean of their median currents
            out[f"{proc}_current_A"] = sums[3, k] / count[k]
            if set_current is not None:
                out[f"{proc}_set_current_A"] = sums[4, k] / count[k]
            out[f"{proc}_average_voltage_V"] = sums[1, k] / sums[0, k]
    incomplete = np.bincount(idx, weights=~complete, minlength=n) > 0
    out["complete"] = ~incomplete & np.isfinite(out["sodiation_mAh"]) & np.isfinite(
        out["desodiation_mAh"])
    return out


def _cycle_columns(cyc: dict[str, np.ndarray], ce: np.ndarray, mass: float | None,
                   area: float | None, unit: str, cum_irr: np.ndarray,
                   retention: np.ndarray, flip: bool = False) -> dict[str, np.ndarray]:
    cols: dict[str, Any] = {"cycle": cyc["cycle"]}
    if mass is not None:
        cols["sodiation_mAh_g"] = cyc["sodiation_mAh"] / mass
        cols["desodiation_mAh_g"] = cyc["desodiation_mAh"] / mass
    cols["sodiation_mAh"] = cyc["sodiation_mAh"]
    cols["desodiation_mAh"] = cyc["desodiation_mAh"]
    cols["coulombic_efficiency"] = ce
    cols["retention"] = retention
    per = unit.replace("/", "_")
    # charge lost in the cycle: first process minus the second
    irr = cyc["sodiation_mAh"] - cyc["desodiation_mAh"]
    if flip:
        irr = -irr
    if mass is not None:
        cols["irreversible_mAh_g"] = irr / mass
    else:
        cols["irreversible_mAh"] = irr
    cols[f"cumulative_irreversible_{per}"] = cum_irr
    for proc in (SODIATION, DESODIATION):
        cols[f"{proc}_energy_mWh"] = cyc[f"{proc}_energy_mWh"]
        cols[f"{proc}_average_voltage_V"] = cyc[f"{proc}_average_voltage_V"]
        cols[f"{proc}_cv_mAh"] = cyc[f"{proc}_cv_mAh"]
        cols[f"{proc}_current_A"] = cyc[f"{proc}_current_A"]
        if mass is not None:
            cols[f"{proc}_energy_mWh_g"] = cyc[f"{proc}_energy_mWh"] / mass
            cols[f"{proc}_current_mA_g"] = cyc[f"{proc}_current_A"] * 1e3 / mass
        if area is not None:
            cols[f"{proc}_mAh_cm2"] = cyc[f"{proc}_mAh"] / area
    cols["hysteresis_V"] = (cyc["desodiation_average_voltage_V"]
                            - cyc["sodiation_average_voltage_V"])
    cols["complete"] = cyc["complete"]
    return cols


def _close(a: np.ndarray, b: np.ndarray, rel_tol: float, abs_tol_A: float) -> np.ndarray:
    """Element-wise "same current" (2 % or 1 µA); NaN equals NaN (process absent in both)."""
    with np.errstate(invalid="ignore"):
        same = np.abs(a - b) <= np.maximum(rel_tol * np.maximum(np.abs(a), np.abs(b)),
                                           abs_tol_A)
    return same | (np.isnan(a) & np.isnan(b))


def _retention(number: np.ndarray, q_des: np.ndarray, ok: np.ndarray, des_current: np.ndarray,
               ref_name: str, k_form: int, rate: RateCapability, rel_tol: float,
               abs_tol_A: float, unit: str, warnings: list[str]
               ) -> tuple[Retention, np.ndarray]:
    nan = np.full(number.size, np.nan)
    usable = np.flatnonzero(ok)
    final_cycle = int(number[usable[-1]]) if usable.size else None
    conv = f"after_formation({k_form})" if ref_name == "after_formation" else ref_name

    def done(ref_cycle: int | None, ref_cap: float | None,
             col: np.ndarray) -> tuple[Retention, np.ndarray]:
        fin = None
        if final_cycle is not None:
            val = col[number == final_cycle]
            fin = float(val[0]) if val.size and np.isfinite(val[0]) else None
        return Retention(conv, ref_cycle, ref_cap, final_cycle, fin, unit), col

    if not usable.size:
        warnings.append("no complete cycle: retention undefined")
        return done(None, None, nan)
    if ref_name == "first_at_current":
        col = nan.copy()
        sc = rate.step_columns
        for ref_c, a, b in zip(sc.get("reference_cycle", ()), sc.get("first_cycle", ()),
                               sc.get("last_cycle", ()), strict=True):
            ref_pos = np.flatnonzero((number == ref_c) & ok)
            if not ref_pos.size:
                continue
            m = (number >= a) & (number <= b)
            col[m] = q_des[m] / q_des[ref_pos[0]]
        return done(None, None, col)
    if ref_name == "first":
        ref = 1
    elif ref_name == "second":
        ref = 2
    elif ref_name == "max":
        ref = int(number[usable[np.argmax(q_des[usable])]])
    else:
        after = usable[number[usable] > k_form]
        if not after.size:
            warnings.append(f"no complete cycle after {k_form} formation cycle(s): "
                            "retention undefined")
            return done(None, None, nan)
        cur = des_current[after]
        finite_cur = cur[~np.isnan(cur)]
        modal = _median(finite_cur) if finite_cur.size else math.nan   # np.nanmedian
        match = np.flatnonzero(_close(cur, np.full_like(cur, modal), rel_tol, abs_tol_A))
        ref = int(number[after[match[0] if match.size else 0]])
    pos = np.flatnonzero((number == ref) & ok)
    if not pos.size:
        warnings.append(f"retention reference cycle {ref} ({conv}) is not a complete "
                        "cycle: retention undefined")
        return done(ref, None, nan)
    ref_cap = float(q_des[pos[0]])
    return done(ref, ref_cap, q_des / ref_cap)


# --------------------------------------------------------------------------- rate steps
def rate_capability(
    cycles: pd.DataFrame | CyclingResult,
    *,
    basis_mAh_g: float | None = None,
    exclude_first_cycle: bool = False,
    rel_tol: float = 0.02,
    abs_tol_A: float = 1e-6,
    active_mass_g: float | None = None,
) -> RateCapability:
    """Group consecutive cycles at the same current into rate steps (methods.md §7).

    The current of a cycle is the median |I| of its desodiation (of its constant-current
    rows, holds excluded, when given a :class:`CyclingResult`: the set point); a cycle joins the
    previous one's step when that current and the sodiation current both agree within
    ``rel_tol`` (2 %) or ``abs_tol_A`` (1 µA). Per step: current (mA/g with a mass),
    C-rate only with an explicit ``basis_mAh_g``, cycle range, mean and last desodiation
    capacity (the first cycle of each step optionally excluded, and said so). The
    recovery ratio is the mean capacity of the first later step back at the first step's
    current divided by the first step's mean capacity.
    """
    second, first = DESODIATION, SODIATION
    set_current = None
    if isinstance(cycles, CyclingResult):
        active_mass_g = cycles.active_mass_g
        if cycles.extra.get("electrode", "anode") != "anode":
            second, first = SODIATION, DESODIATION
        set_current = cycles.extra.get("set_current_A")
        cycles = cycles.cycles
    cap_col = f"{second}_mAh_g" if f"{second}_mAh_g" in cycles else f"{second}_mAh"
    unit = "mAh/g" if cap_col.endswith("_g") else "mAh"

    def current(proc: str) -> np.ndarray:
        if set_current is not None:
            return np.asarray(set_current[proc], dtype=float)
        return cycles[f"{proc}_current_A"].to_numpy(dtype=float)

    return _rate_steps(cycles["cycle"].to_numpy(), current(second), current(first),
                       cycles[cap_col].to_numpy(dtype=float), unit, active_mass_g,
                       _positive_or_none(basis_mAh_g, "basis_mAh_g", "<rate capability>"),
                       exclude_first_cycle, rel_tol, abs_tol_A, names=(second, first))


def _rate_set_by(des_A: np.ndarray, sod_A: np.ndarray, names: tuple[str, str]) -> str | None:
    """"desodiation"/"sodiation" (named by ``names``) when only that direction's current
    changes by at least ×/÷ 1.25 between consecutive steps, "both" when both do."""
    def varies(x: np.ndarray) -> bool:
        x = np.abs(x[np.isfinite(x)])
        if x.size < 2 or np.any(x == 0):
            return False
        r = x[1:] / x[:-1]
        return bool(np.any(np.maximum(r, 1 / r) >= _DISTINCT_LEVEL_FACTOR))
    a, b = varies(des_A), varies(sod_A)
    if a and b:
        return "both"
    return names[0] if a else (names[1] if b else None)


#: up to this many rate steps the per-step loop is cheaper than the grouped sort
_FEW_GROUPS = 8


def _groups(x: np.ndarray, starts: np.ndarray, stops: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The finite values of the row blocks [starts[g], stops[g]) of ``x`` (blocks may
    overlap nothing but need not cover ``x``), their block numbers, and each block's
    count of finite values."""
    lens = stops - starts
    grp = np.repeat(np.arange(starts.size), lens)
    rows = np.arange(grp.size) - np.repeat(np.cumsum(lens) - lens, lens) + np.repeat(
        starts, lens)
    vals = x[rows]
    fin = np.isfinite(vals)
    vals, grp = vals[fin], grp[fin]
    return vals, grp, np.bincount(grp, minlength=starts.size)


def _group_medians(x: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """:func:`_median` of the finite values of each block (NaN for none), in one sort:
    the same middle element(s) and the same half-sum, so bit-identical to a loop."""
    vals, grp, count = _groups(x, starts, stops)
    out = np.full(starts.size, np.nan)
    has = count > 0
    if not has.any():
        return out
    s = vals[np.lexsort((vals, grp))]
    off = np.cumsum(count) - count
    k = off + (count - 1) // 2
    odd = count % 2 == 1
    lo = s[np.minimum(k, s.size - 1)]
    hi = s[np.minimum(k + 1, s.size - 1)]
    out[has] = np.where(odd, lo, (lo + hi) / 2)[has]
    return out


def _group_means(x: np.ndarray, starts: np.ndarray, stops: np.ndarray
                 ) -> list[float | None]:
    """np.mean of the finite values of each block (None for none). Blocks of one or two
    values are summed vectorised (their pairwise sum is the plain sum); longer blocks use
    np.add.reduce itself, whose pairwise order a vectorised sum would not reproduce."""
    vals, _, count = _groups(x, starts, stops)
    off = np.cumsum(count) - count
    n = vals.size
    a = vals[np.minimum(off, max(n - 1, 0))] if n else np.zeros(starts.size)
    b = vals[np.minimum(off + 1, max(n - 1, 0))] if n else np.zeros(starts.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        short = np.where(count == 2, (a + b) / 2, a / 1)
    out: list[float | None] = []
    for g, (c, o) in enumerate(zip(count.tolist(), off.tolist(), strict=True)):
        if c == 0:
            out.append(None)
        elif c <= 2:
            out.append(float(short[g]))
        else:
            out.append(float(np.add.reduce(vals[o:o + c]) / c))
    return out


def _rate_steps(number: np.ndarray, des_i: np.ndarray, sod_i: np.ndarray, caps: np.ndarray,
                unit: str, mass: float | None, basis: float | None, exclude_first: bool,
                rel_tol: float, abs_tol_A: float,
                names: tuple[str, str] = (DESODIATION, SODIATION)) -> RateCapability:
    """``des_i``/``sod_i``: per-cycle currents of the second and first process of a
    cycle, named by ``names`` (second, first)."""
    warnings: list[str] = []
    keep = number >= 1
    number, des_i, sod_i, caps = number[keep], des_i[keep], sod_i[keep], caps[keep]
    key = np.where(np.isfinite(des_i), des_i, sod_i)
    if number.size == 0:
        return RateCapability({}, None, None, basis, exclude_first, ())
    new = np.ones(number.size, bool)
    new[1:] = ~(_close(key[1:], key[:-1], rel_tol, abs_tol_A)
                & (_close(sod_i[1:], sod_i[:-1], rel_tol, abs_tol_A)
                   | np.isnan(sod_i[1:]) | np.isnan(sod_i[:-1])))
    starts = np.flatnonzero(new)
    stops = np.append(starts[1:], number.size)
    if basis is not None and mass is None:
        warnings.append("C-rate needs the active mass as well as the capacity basis")
    use_a = np.where(exclude_first & (stops - starts > 1), starts + 1, starts)
    if starts.size <= _FEW_GROUPS:
        # a handful of steps: a plain loop costs less than the grouped sort's set-up
        def med(x: np.ndarray) -> float:
            x = x[np.isfinite(x)]
            return _median(x) if x.size else math.nan

        des_A = np.array([med(key[a:b]) for a, b in zip(starts, stops, strict=True)], float)
        sod_A = np.array([med(sod_i[a:b]) for a, b in zip(starts, stops, strict=True)],
                         float)
    else:
        des_A = _group_medians(key, starts, stops)
        sod_A = _group_medians(sod_i, starts, stops)
    # which direction set the rate: the one whose current changes between steps
    set_by = _rate_set_by(des_A, sod_A, names)
    cur_A = sod_A if set_by == names[1] else des_A
    if starts.size <= _FEW_GROUPS:
        mean_cap = []
        for a, b in zip(use_a, stops, strict=True):
            good = caps[a:b]
            good = good[np.isfinite(good)]
            # np.mean's own arithmetic (pairwise sum / count) without its call overhead
            mean_cap.append(float(np.add.reduce(good) / good.size) if good.size else None)
    else:
        mean_cap = _group_means(caps, use_a, stops)
    last = caps[stops - 1]
    last_cap = [float(x) if math.isfinite(x) else None for x in last.tolist()]
    cols: dict[str, Any] = {
        "step": np.arange(1, starts.size + 1), "first_cycle": number[starts].astype(int),
        "last_cycle": number[stops - 1].astype(int), "n_cycles": (stops - starts).astype(int),
        "reference_cycle": number[use_a].astype(int), "current_A": cur_A,
        f"{names[0]}_current_A": des_A, f"{names[1]}_current_A": sod_A,
        "rate_set_by": np.full(starts.size, set_by or "", dtype=object),
    }
    if mass is not None:
        cols["current_mA_g"] = cur_A * 1e3 / mass
        if basis is not None:
            cols["c_rate"] = cols["current_mA_g"] / basis
    cols["mean_capacity"] = mean_cap
    cols["last_capacity"] = last_cap
    recovery = np.zeros(starts.size, bool)
    rec_ratio = rec_step = None
    if starts.size >= 3:
        back = np.flatnonzero(_close(cur_A[2:], np.full(starts.size - 2, cur_A[0]), rel_tol,
                                     abs_tol_A))
        if back.size:
            j = int(back[0]) + 2
            recovery[j] = True
            rec_step = j + 1
            if mean_cap[j] is not None and mean_cap[0]:
                rec_ratio = mean_cap[j] / mean_cap[0]
    cols["is_recovery"] = recovery
    cols["capacity_unit"] = unit
    return RateCapability(cols, rec_ratio, rec_step, basis, exclude_first,
                          tuple(warnings))


# --------------------------------------------------------------------------- split, profiles
def capacity_split(
    data: EchemData | pd.DataFrame,
    *,
    split_V: float = 0.1,
    active_mass_g: float | None = None,
    rest_threshold_A: float | None = None,
    min_duration_s: float = 5.0,
    cycle_mode: CycleMode = "sodiation_desodiation",
    electrode: ElectrodeRole = "auto",
) -> pd.DataFrame:
    """Slope vs plateau capacity per half cycle, split at ``split_V`` (hard carbon: 0.1 V).

    ``slope`` is the charge passed above the split potential and ``plateau`` the charge
    below it (an interval is assigned by the mean voltage of its two rows), in mAh/g with
    a mass, else mAh.
    """
    source = _source_name(data)
    meta = data.metadata if isinstance(data, EchemData) else None
    mass = _positive_or_none(active_mass_g if active_mass_g is not None
                             else (meta.active_mass_g if meta else None), "active_mass_g", source)
    split = float(split_V)
    if not math.isfinite(split):
        raise ValidationError("split potential must be finite", field="split_V")
    t, v, i = _time_series(data)
    prep = _prepare(data, t, v, i, rest_threshold_A, min_duration_s, electrode)
    seg, entry = prep.seg, prep.steps
    n_hc = len(seg.half_cycle_sign)
    act = seg.run_half_cycle > 0
    hc_idx = seg.run_half_cycle[act] - 1
    absi = np.abs(i)
    mid = np.empty(len(v) - 1)
    np.add(v[:-1], v[1:], out=mid)
    mid *= 0.5
    below = (mid <= split).astype(np.float64)
    del mid
    total = _interval_sums(t, absi, seg.run_start, seg.run_stop, entry=entry)
    low = _interval_sums(t, absi, seg.run_start, seg.run_stop, weight=below, entry=entry)
    tot_hc = np.bincount(hc_idx, weights=total[act], minlength=n_hc)
    low_hc = np.bincount(hc_idx, weights=low[act], minlength=n_hc)
    scale = 1e3 / SECONDS_PER_HOUR / (mass if mass else 1.0)
    unit = "mAh_g" if mass else "mAh"
    cycle = _assign_cycles(_frame(data), seg, seg.half_cycle_first_row, cycle_mode, source, [])
    out = pd.DataFrame({
        "half_cycle": np.arange(1, n_hc + 1), "cycle": cycle,
        "process": _process_names(seg.half_cycle_sign, prep.flip),
        f"slope_{unit}": (tot_hc - low_hc) * scale,
        f"plateau_{unit}": low_hc * scale,
        f"total_{unit}": tot_hc * scale,
    })
    with np.errstate(invalid="ignore", divide="ignore"):
        out["plateau_fraction"] = low_hc / tot_hc
    out.attrs["split_V"] = split
    return out


def voltage_profiles(
    data: EchemData | pd.DataFrame,
    *,
    cycles: list[int] | None = None,
    active_mass_g: float | None = None,
    rest_threshold_A: float | None = None,
    min_duration_s: float = 5.0,
    cycle_mode: CycleMode = "sodiation_desodiation",
    electrode: ElectrodeRole = "auto",
) -> pd.DataFrame:
    """Voltage against the capacity passed so far in each half cycle (for profile plots).

    Returns long-format rows (cycle, half_cycle, process, capacity, voltage_V) for the
    requested cycles (default all), using the same integration rule as the summary, and
    ``constant_current`` (False on the rows of constant-voltage holds, which dQ/dV skips).
    """
    source = _source_name(data)
    meta = data.metadata if isinstance(data, EchemData) else None
    mass = _positive_or_none(active_mass_g if active_mass_g is not None
                             else (meta.active_mass_g if meta else None), "active_mass_g", source)
    t, v, i = _time_series(data)
    prep = _prepare(data, t, v, i, rest_threshold_A, min_duration_s, electrode)
    seg, steps = prep.seg, prep.steps
    from nasurf.io.steps import CONSTANT_VOLTAGE

    hold = steps.rows_of(CONSTANT_VOLTAGE)
    names = _process_names(seg.half_cycle_sign, prep.flip)
    cyc = _assign_cycles(_frame(data), seg, seg.half_cycle_first_row, cycle_mode, source, [])
    wanted = set(cyc.tolist()) if cycles is None else set(int(c) for c in cycles)
    scale = 1e3 / SECONDS_PER_HOUR / (mass if mass else 1.0)
    parts = []
    absi = np.abs(i)
    for h in np.flatnonzero(np.isin(cyc, list(wanted))):
        runs = np.flatnonzero(seg.run_half_cycle == h + 1)
        rows = np.concatenate([np.arange(seg.run_start[r], seg.run_stop[r]) for r in runs])
        prev = np.maximum(rows - 1, 0)
        dt = t[rows] - t[prev]
        contiguous = np.concatenate(([False], rows[1:] == rows[:-1] + 1))
        inc = np.where(contiguous, 0.5 * (absi[rows] + absi[prev]),
                       absi[rows] * steps.entry_at(rows)) * dt
        if rows[0] == 0:
            inc[0] = 0.0
        parts.append(pd.DataFrame({
            "cycle": cyc[h], "half_cycle": h + 1, "process": names[h],
            "capacity": np.cumsum(inc) * scale, "voltage_V": v[rows], "time_s": t[rows],
            "constant_current": ~hold[rows],
        }))
    out = (pd.concat(parts, ignore_index=True) if parts else
           pd.DataFrame(columns=["cycle", "half_cycle", "process", "capacity", "voltage_V",
                                 "time_s", "constant_current"]))
    out.attrs["capacity_unit"] = "mAh/g" if mass else "mAh"
    return out


# --------------------------------------------------------------------------- synthetic data
def hard_carbon_voltage(x: np.ndarray) -> np.ndarray:
    """Equilibrium-like voltage (V vs Na+/Na) of hard carbon at sodiation fraction x in [0, 1]:
    a sloping region from about 1.2 V, then the low-voltage plateau ending near 0.01 V."""
    x = np.clip(x, 0.0, 1.0)
    return 0.08 - 0.07 * x + 1.1 * np.exp(-x / 0.12) * (1.0 - x)


def synthetic_cycling(
    sodiation_mAh: np.ndarray | list[float],
    desodiation_mAh: np.ndarray | list[float],
    *,
    current_A: float | np.ndarray | list[float] = 3e-5,
    points_per_half_cycle: int = 200,
    rest_points: int = 10,
    rest_s: float = 600.0,
    overpotential_V: float = 0.01,
    voltage_noise_V: float = 0.0,
    current_noise: float = 0.0,
    active_mass_g: float | None = None,
    seed: int = 0,
) -> EchemData:
    """A hard-carbon-like half-cell test with exactly known capacities.

    After one OCV row at t = 0, every cycle is sodiation (I = -current), rest,
    desodiation (I = +current), rest. Each
    half cycle lasts Q/|I|, its first row one sampling interval after the previous rest
    row, so that the integral of |I| dt equals the requested capacity exactly (without
    current noise). ``current_A`` may be one value per cycle (rate tests). Vectorised:
    builds 10 M rows in well under a second.
    """
    q_sod = np.asarray(sodiation_mAh, float)
    q_des = np.asarray(desodiation_mAh, float)
    n_cyc = q_sod.size
    if q_des.size != n_cyc or n_cyc == 0:
        raise ValidationError("need one sodiation and one desodiation capacity per cycle")
    cur = np.broadcast_to(np.asarray(current_A, float), (n_cyc,)).copy()
    na, nr = int(points_per_half_cycle), int(rest_points)
    ppc = 2 * (na + nr)
    rng = np.random.default_rng(seed)
    dur_sod = q_sod / 1e3 * SECONDS_PER_HOUR / cur
    dur_des = q_des / 1e3 * SECONDS_PER_HOUR / cur
    frac = np.arange(1, na + 1) / na                      # end of each sampling interval
    rest_frac = np.arange(1, nr + 1) / max(nr, 1)
    # time increments of each block, then one cumulative sum over the whole test
    dt = np.empty((n_cyc, ppc))
    a, b, c = na, na + nr, 2 * na + nr
    dt[:, :a] = (dur_sod / na)[:, None]
    dt[:, a:b] = rest_s / max(nr, 1)
    dt[:, b:c] = (dur_des / na)[:, None]
    dt[:, c:] = rest_s / max(nr, 1)
    time = np.cumsum(dt.ravel())
    del dt
    current = np.zeros((n_cyc, ppc))
    current[:, :a] = -cur[:, None]
    current[:, b:c] = cur[:, None]
    if current_noise:
        current[:, :a] *= 1 + rng.normal(0, current_noise, (n_cyc, na))
        current[:, b:c] *= 1 + rng.normal(0, current_noise, (n_cyc, na))
    volt = np.empty((n_cyc, ppc))
    # both branches run over the reversible range; the irreversible (SEI) charge of a
    # sodiation is spread along it, so the sodiation curve is only stretched in time
    depth = (q_des / max(q_des.max(), 1e-300))[:, None]
    volt[:, :a] = hard_carbon_voltage(frac[None, :] * depth) - overpotential_V
    relax = overpotential_V * np.exp(-3 * rest_frac)[None, :]
    volt[:, a:b] = hard_carbon_voltage(depth) - relax
    volt[:, b:c] = hard_carbon_voltage((1 - frac[None, :]) * depth) + overpotential_V
    volt[:, c:] = hard_carbon_voltage(np.zeros_like(depth)) + relax
    if voltage_noise_V:
        volt += rng.normal(0, voltage_noise_V, volt.shape)
    # the test starts from OCV: one rest row at t = 0 before the first sodiation
    frame = pd.DataFrame({TIME: np.concatenate(([0.0], time)),
                          VOLTAGE: np.concatenate(([float(hard_carbon_voltage(np.zeros(1))[0])],
                                                   volt.ravel())),
                          CURRENT: np.concatenate(([0.0], current.ravel()))}, copy=False)
    from nasurf.io.table import Metadata

    meta = Metadata(source="synthetic", instrument="nasurf.synthetic_cycling",
                    technique="GCPL", active_mass_g=active_mass_g)
    return EchemData(frame, meta)
