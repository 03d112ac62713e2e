"""Shared pieces of the cycling analyses: the conventions' names and constants, the table's
columns read and validated once, and small helpers that give numpy's and pandas' results
bit for bit at a fraction of their fixed cost on short tests."""

from __future__ import annotations

import functools
import math
from contextlib import AbstractContextManager, nullcontext
from typing import Any, Literal

import numpy as np
import pandas as pd

try:  # pandas >= 3.0
    from pandas.api.internals import create_dataframe_from_blocks
except ImportError:  # pragma: no cover - pandas 2.x: the plain constructor
    create_dataframe_from_blocks = None

from nasurf.errors import ValidationError
from nasurf.io.cycles import CYCLE_MODES, CycleMode  # noqa: F401 (the one definition)
from nasurf.io.table import (
    CURRENT,
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
_NO_ROWS = np.zeros(0, np.int64)

#: where a half cycle's capacity comes from: integrated current, or the file's counters
CapacitySource = Literal["current", "instrument"]
CAPACITY_SOURCES: tuple[CapacitySource, ...] = ("current", "instrument")
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


def _all_finite(arr: np.ndarray) -> bool:
    """``bool(np.isfinite(arr).all())`` of a 1-D float array. A finite sum means every
    value is finite (NaN and inf propagate): one pass, no boolean temporary; only a sum
    that is not (a bad value, or an overflow) needs the element-wise look."""
    return math.isfinite(np.add.reduce(arr)) or bool(np.isfinite(arr).all())


def _column(df: pd.DataFrame, name: str, source: str, finite: bool = True) -> np.ndarray:
    """The float column ``name``; ``finite``: checked finite here (else the caller checks,
    with :func:`_check_finite`)."""
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
    if finite and not _all_finite(arr):
        _check_finite(arr, name, source)
    return arr


def _check_finite(arr: np.ndarray, name: str, source: str) -> None:
    """Raise naming the first non-finite value of column ``name``, if any."""
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        row = int(bad[0])
        raise ValidationError(
            f"non-finite value ({arr[row]!r}) at data row {row}; expected a finite "
            "number", file=source, field=name)


def _time_series(data: EchemData | pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t, v, i, _ = _time_series_dt(data, keep_dt=False)
    return t, v, i


def _time_series_dt(data: EchemData | pd.DataFrame, keep_dt: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`_time_series` and, for a table up to ``_CHUNK`` rows with ``keep_dt``, its
    time steps ``np.diff(t)`` (for the integrals): the same differences settle the order
    check by one minimum (a difference of finite floats is negative exactly when they
    are in the wrong order)."""
    df = _frame(data)
    source = _source_name(data)
    if len(df) < 2:
        raise ValidationError(
            f"{len(df)} data row(s); galvanostatic analysis needs at least 2", file=source
        )
    keep_dt = keep_dt and len(df) <= _CHUNK
    t = _column(df, TIME, source, finite=not keep_dt)
    dt = None
    if keep_dt:
        dt = t[1:] - t[:-1]
        lowest = np.minimum.reduce(dt)
        # the time is finite when its ends and its steps are (a NaN or an infinity inside
        # makes a step NaN or infinite, and the minimum keeps a NaN): no pass of its own
        if not (math.isfinite(lowest) and math.isfinite(t[0]) and math.isfinite(t[-1])):
            _check_finite(t, TIME, source)
    v = _column(df, VOLTAGE, source)
    i = _column(df, CURRENT, source)
    if dt is not None:
        back = (dt < 0).nonzero()[0] if lowest < 0 else _NO_ROWS
    else:
        back = (t[1:] < t[:-1]).nonzero()[0]
    if back.size:
        row = int(back[0]) + 1
        raise ValidationError(
            f"time goes backwards at data row {row} ({t[row - 1]} s -> {t[row]} s); "
            "expected non-decreasing test time (concatenate files in time order)",
            file=source, field=TIME,
        )
    return t, v, i, dt


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
    n = x.size
    if n == 0:
        return math.nan
    if n <= _SMALL:
        # a few values: Python's sort of the same floats (the same order: no signed
        # zeros among currents and capacities) at a fraction of numpy's call cost
        s = x.tolist()
        if any(map(math.isnan, s)):
            return math.nan
        s.sort()
        return _middle(s)
    s = np.sort(x)
    if math.isnan(s[-1]):                   # NaN sorts last
        return math.nan
    return _middle(s)


def _median_finite(x: np.ndarray) -> float:
    """:func:`_median` of the finite values of ``x`` (NaN for none)."""
    if x.size <= _SMALL:
        s = [v for v in x.tolist() if math.isfinite(v)]
        if not s:
            return math.nan
        s.sort()
        return _middle(s)
    x = x[np.isfinite(x)]
    return _median(x) if x.size else math.nan


#: up to this many values a median sorts a Python list
_SMALL = 16


def _middle(s: Any) -> float:
    """The middle element, or the half-sum of the middle two, of a sorted non-empty
    sequence (np.median's arithmetic)."""
    n = len(s)
    k = (n - 1) // 2
    return float(s[k]) if n % 2 else float((s[k] + s[k + 1]) / 2)


#: column dtypes stacked into blocks by _frame_from_columns: native numbers and booleans
_BLOCK_DTYPES = frozenset(np.dtype(c) for c in "?bhilqBHILQefdg")


@functools.lru_cache(maxsize=64)
def _row_index(n: int) -> pd.RangeIndex:
    return pd.RangeIndex(n)


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
    # (plain 1-D arrays of one length only: the shape of the first, compared as a tuple)
    shape = arrays[0].shape if arrays and type(arrays[0]) is np.ndarray else (0,)
    groups: dict[np.dtype, list[int]] = {}
    for k, a in enumerate(arrays):
        if not (type(a) is np.ndarray and a.shape == shape and len(shape) == 1
                and a.dtype in _BLOCK_DTYPES):
            return pd.DataFrame(cols)
        groups.setdefault(a.dtype, []).append(k)
    n = shape[0]
    blocks = [(np.array([arrays[k] for k in ks]), np.asarray(ks, dtype=np.intp))
              for ks in groups.values()]
    # views: the frame owns its own Index objects (a caller may set columns.name); a
    # view of a kept RangeIndex costs half of building one
    return create_dataframe_from_blocks(blocks, _row_index(n).view(),
                                        _column_index(tuple(cols)).view())


def _quiet_division(denominator: np.ndarray) -> AbstractContextManager[Any]:
    """Context for dividing by ``denominator``: ``np.errstate`` silencing 0/0 and x/0 when
    it holds a zero, else nothing (entering np.errstate costs as much as dividing a few
    values, and a NaN or non-zero denominator raises no floating-point warning)."""
    if np.count_nonzero(denominator) == denominator.size:
        return nullcontext()
    return np.errstate(invalid="ignore", divide="ignore")


ElectrodeRole = Literal["auto", "anode", "cathode", "full"]
ELECTRODE_ROLES: tuple[ElectrodeRole, ...] = ("auto", "anode", "cathode", "full")


