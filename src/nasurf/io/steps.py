"""The step model of a measurement: one table of the steps an instrument executed.

Every analysis that needs to know what the cell was doing (cycling, dQ/dV, GITT, the
fitter's measured capacities, batch classification) asks this module, so a CV hold, a
rest logged as a single row or an impedance scan between two current steps is read the
same way everywhere.

A step is a maximal block of consecutive rows with one kind and one direction of current:

=====================  ==========================================================
kind                   what the cell does
=====================  ==========================================================
``rest``               no current (open circuit inside a protocol)
``ocv``                open-circuit technique (EC-Lab OCV, a Neware/Maccor OCV step)
``constant_current``   galvanostatic step (CC)
``constant_voltage``   potentiostatic hold (CV hold after a CC step, CA)
``constant_power``     constant-power step
``impedance``          rows with an impedance frequency (PEIS/GEIS, Maccor FRA)
``sweep``              potential sweep (cyclic voltammetry, LSV)
``pulse``              a short CC step followed by a much longer rest (GITT/ICI)
``hppc_pulse``         a pulse of an HPPC test: a current step of <= 30 s, paired with
                       one of the opposite sign with only rests between (>= 3 pairs)
=====================  ==========================================================

How steps are known (``known_from``), in this order:

1. ``instrument``: the file's own columns. EC-Lab ``mode`` (1 CC, 2 CV, 3 rest) with its
   step number (``Step Index / 1`` = ``Ns``) and ``Ns changes``; Neware
   ``step_type``; Maccor ``State``/``MD`` (R rest, C/D current, O OCV, FRA impedance);
   a step counter (``Step Count / 1``, else ``Step Index / 1``: Arbin, BDF, Neware),
   whose steps are then classified from the signals (rule 2) but never merged or split
   across counter changes, except that a counted CC-CV step is split at its hold.
2. ``signal``: no step columns. Rows with ``|I| <= threshold`` (default 0.1 % of the
   99th-percentile ``|I|``) are rest; the remaining rows are split where the sign of the
   current changes; the trailing rows of such a block whose current has fallen below
   99 % of the block's set current while the voltage stays within 5 mV of its final
   value (at least 3 rows) are a constant-voltage hold; a counted step is a hold
   throughout when its voltage stays within 5 mV while its current decays by x1.5 or more.

Rows with a finite, positive ``Frequency / Hz`` are impedance whatever the other columns say, and so
is the one frequency-less row EC-Lab writes after each impedance loop. A file that names a
potentiostatic technique (CV/LSV, CA) but has no step-kind column has its current-carrying blocks
read as sweeps or holds. A ``constant_voltage`` step whose voltage spans more than 50 mV while
moving by more than 0.1 mV a row (median) is a ``sweep``; the technique name decides where the file
names one (CV/CVA/LSV: sweeps; CA/COV/CHRONOA: holds). A ``pulse`` is a CC step followed by a rest
at least 3x as long, where such steps repeat (>= 3) and make at least half the CC steps.

Charge (``charge_Ah``) is integrated within a step only: trapezoid over the step's own
rows. The interval that leads into a step from the previous row is credited to the step
(at the step's first current) only when the instrument logged that row at the *end* of
the interval: where the file has a charge counter, when the counter's increase at that
row is at least half of |I| x gap (EC-Lab and Neware log a row at the start of each step,
their counters then show ~0, and the gap, e.g. a rest logged as one row, is time spent
in the previous step); without a counter, when the gap is no longer than twice the step's
mean sampling interval (a cycler logging at a steady rate; a longer gap is a sparsely
logged step before). Where the file has a charge counter (EC-Lab
``Q charge/discharge/mA.h``, the canonical charging/discharging capacities, else the net
capacity), the counter's charge of each step is reported next to the integral; a
disagreement beyond the counter's resolution (0.1 % of the step charge, at least 1 nAh)
plus the trapezoid's own uncertainty (half the gap between the left and right sums, which
matters on sparsely logged holds) is a warning naming the step.

``process`` is named for the working electrode: cathodic current (I < 0) reduces it, a
sodiation; anodic current (I > 0) is a desodiation. The electrode's role (anode, cathode,
full cell) changes which process comes first in a cycle, not these names.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from nasurf.io import table as tb
from nasurf.io.table import EchemData

REST = "rest"
OCV = "ocv"
CONSTANT_CURRENT = "constant_current"
CONSTANT_VOLTAGE = "constant_voltage"
CONSTANT_POWER = "constant_power"
IMPEDANCE = "impedance"
SWEEP = "sweep"
PULSE = "pulse"
HPPC_PULSE = "hppc_pulse"
#: kind codes of the per-row array ``Steps.row_kind`` (index into this tuple; the order of
#: the first four is relied on by the EC-Lab ``mode`` arithmetic in _instrument_kinds)
KINDS = (REST, OCV, CONSTANT_CURRENT, CONSTANT_VOLTAGE, CONSTANT_POWER, IMPEDANCE, SWEEP,
         PULSE, HPPC_PULSE)
_K = {k: n for n, k in enumerate(KINDS)}
_KIND_NAMES = np.array(KINDS, dtype=object)


@functools.lru_cache(maxsize=64)
def _lut(kinds: tuple[str, ...]) -> np.ndarray:
    """Boolean lookup over kind codes: True for ``kinds``."""
    out = np.zeros(len(KINDS), bool)
    out[[_K[k] for k in kinds]] = True
    out.flags.writeable = False
    return out
#: kinds whose charge belongs to a half cycle of a galvanostatic test
ACTIVE_KINDS = (CONSTANT_CURRENT, CONSTANT_VOLTAGE, CONSTANT_POWER, PULSE)
#: kinds that never form or join a half cycle (an HPPC pulse is a resistance test: its
#: few seconds of current are not part of a sodiation or desodiation)
PASSIVE_KINDS = (REST, OCV, IMPEDANCE, HPPC_PULSE)
#: an HPPC pulse: a current step of at most this span (its own rows)
HPPC_PULSE_MAX_S = 30.0
#: ... in at least this many pulse pairs of opposite sign separated by rests only
HPPC_MIN_PAIRS = 3

SODIATION = "sodiation"
DESODIATION = "desodiation"

EC_LAB_Q = "Q charge/discharge/mA.h"
_CV_VOLTAGE_TOL_V = 0.005
_SWEEP_SPAN_V = 0.05
_CV_CURRENT_FRACTION = 0.99
_SWEEP_DV_PER_ROW_V = 1e-4
#: EC-Lab/Gamry technique names whose potentiostatic rows are sweeps, and holds
SWEEP_TECHNIQUES = ("CV", "CVA", "LSV", "CYCLIC VOLTAMMETRY")
HOLD_TECHNIQUES = ("CA", "COV", "CHRONOA", "CHRONOAMPEROMETRY")


@dataclass(frozen=True)
class Steps:
    """The steps of one measurement (see module docstring).

    Step-level arrays: ``starts``/``stops`` (row ranges [start, stop)), ``step_kind``
    (index into :data:`KINDS`) and ``step_entry`` (whether the interval leading into the
    step's first row counts toward it). Everything per row or per step beyond that is
    built on first use, so an analysis pays only for what it reads:

    ``columns`` holds one array per step: ``step`` (1-based), ``first_row``, ``last_row``
    (inclusive, 0-based data rows), ``kind``, ``process`` (sodiation/desodiation/"" for
    no current), ``set_point`` and ``set_point_unit`` (A for current steps, V for holds
    and rests: the step's mean; Hz for impedance: the median; V/s for sweeps: the median
    |dV/dt|; W for constant power: the mean of I·V), ``charge_Ah`` (integral, positive),
    ``counter_charge_Ah`` (NaN without a counter), ``duration_s``, ``entry_credited``.
    Per row: ``row_step`` (0-based step index), ``row_kind`` (index into :data:`KINDS`)
    and ``entry_credited`` (True where the interval leading into the row counts toward
    the row's step).
    """

    starts: np.ndarray = field(repr=False)
    stops: np.ndarray = field(repr=False)
    step_kind: np.ndarray = field(repr=False)
    step_entry: np.ndarray = field(repr=False)
    threshold_A: float
    known_from: str                       # "instrument: ..." or "signal"
    counter: str | None                   # the charge counter used for the cross-check
    _signals: tuple[Any, ...] = field(default=(), repr=False, compare=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    # ---- per step
    def __len__(self) -> int:
        return int(self.starts.size)

    @property
    def kinds(self) -> np.ndarray:
        """Kind name of each step."""
        return _KIND_NAMES[self.step_kind]

    @property
    def row_sign(self) -> np.ndarray:
        """Per row: +1 above the rest threshold, -1 below minus it, 0 in between."""
        return self._signals[6]

    @property
    def step_sign(self) -> np.ndarray:
        """Sign of the current in the middle row of each step (-1 sodiation, +1
        desodiation, 0 for passive steps): the step's direction without integrating."""
        if "sign" not in self._cache:
            i = self._signals[2]
            mid = (self.starts + self.stops - 1) // 2
            sgn = np.sign(i[mid]).astype(np.int8)
            sgn *= _ACTIVE_LUT[self.step_kind]          # 0 for passive steps
            self._cache["sign"] = sgn
        return self._cache["sign"]

    @property
    def columns(self) -> dict[str, np.ndarray]:
        if "columns" not in self._cache:
            self._cache["columns"] = _step_columns(self)
        return self._cache["columns"]

    @property
    def warnings(self) -> tuple[str, ...]:
        if "warnings" not in self._cache:
            self._cache["warnings"] = _cross_check(self)
        return self._cache["warnings"]

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.columns)

    def _kind_counts(self) -> list[int]:
        """Number of steps of each kind code (computed once: several consumers ask)."""
        if "nk" not in self._cache:
            self._cache["nk"] = np.bincount(self.step_kind, minlength=len(KINDS)).tolist()
        return self._cache["nk"]

    def counts(self) -> dict[str, int]:
        """Number of steps of each kind present."""
        return {KINDS[k]: c for k, c in enumerate(self._kind_counts()) if c}

    # ---- per row
    def _per_row(self, step_values: np.ndarray) -> np.ndarray:
        return np.repeat(step_values, self.stops - self.starts)

    @property
    def row_step(self) -> np.ndarray:
        return self._per_row(np.arange(self.starts.size))

    @property
    def row_kind(self) -> np.ndarray:
        return self._per_row(self.step_kind)

    @property
    def entry_credited(self) -> np.ndarray:
        n = int(self.stops[-1]) if self.stops.size else 0
        out = np.ones(n, bool)
        out[self.starts] = self.step_entry
        return out

    def has(self, *kinds: str) -> bool:
        nk = self._kind_counts()
        return any(nk[_K[k]] for k in kinds)

    def rows_of(self, *kinds: str) -> np.ndarray:
        """Boolean row mask of the rows whose step kind is one of ``kinds``."""
        return self._per_row(_lut(kinds)[self.step_kind])

    def entry_at(self, rows: np.ndarray) -> np.ndarray:
        """Whether the interval leading into each of ``rows`` counts toward its step
        (True inside a step; the step's ``entry_credited`` at a step's first row)."""
        k = np.searchsorted(self.starts, rows, side="right")
        k -= 1              # >= 0 for every row >= 0: the first step starts at row 0
        return np.where(self.starts[k] == rows, self.step_entry[k], True)

    def to_dict(self) -> dict[str, Any]:
        return {"known_from": self.known_from, "counter": self.counter,
                "threshold_A": self.threshold_A, "counts": self.counts(),
                "steps": self.table, "warnings": list(self.warnings)}


# --------------------------------------------------------------------------- helpers
def auto_threshold(current: np.ndarray) -> float:
    """Rest threshold: 0.1 % of the 99th-percentile |I| (cycler offsets lie below it, CV
    tails down to C/1000 stay above it)."""
    sample = np.abs(current[:: max(1, len(current) // 20_000)])   # ~20 k rows suffice
    if sample.size == 0:
        return 1e-12
    hi = _kth_smallest(sample, int(0.99 * (sample.size - 1)))
    return max(1e-3 * hi, 1e-12)


def _kth_smallest(x: np.ndarray, k: int) -> float:
    """``np.partition(x, k)[k]`` of a finite 1-D array, exactly, for k near its top.

    Cycler currents repeat a few values thousands of times, where numpy's introselect
    slows to ~10 ns a row. A bound L from a 1-in-16 subsample (a rank a little below k's
    quantile) settles it: x[k] is the (k - #(x <= L))-th smallest value above L (a ~3 %
    subset, and the usual case) or, when L's rank range holds k, L itself. If L turns
    out above the answer (a pathological sample) the whole array is partitioned.
    """
    n = x.size
    if n >= 1024:
        sub = x[::16].copy()
        j = max(int((k / (n - 1) - 0.03) * (sub.size - 1)), 0)
        sub.partition(j)
        bound = sub[j]
        upto = int(np.count_nonzero(x <= bound))
        if k >= upto:
            rest = x[x > bound]
            rest.partition(k - upto)
            return float(rest[k - upto])
        if int(np.count_nonzero(x < bound)) <= k:
            return float(bound)
    return float(np.partition(x, k)[k])


def _src(data: EchemData | pd.DataFrame) -> str | None:
    return data.metadata.source if isinstance(data, EchemData) else None


def _runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = key.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.flatnonzero(key[1:] != key[:-1]) + 1
    return (np.concatenate(([0], change)).astype(np.int64),
            np.concatenate((change, [n])).astype(np.int64))


class _Table:
    """Column access by name: the frame's block array where pandas has one (building a
    Series per lookup costs several µs; a summary of a short file does a dozen)."""

    __slots__ = ("_get", "columns", "df")

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        # the Index itself: its hash table answers ``in`` and get_loc in well under a µs
        # (a dict of the names would cost a pass over an Arrow-backed Index each call)
        self.columns = df.columns
        self._get = getattr(df, "_get_column_array", None)

    def __len__(self) -> int:
        return len(self.df)

    def array(self, name: str) -> Any:
        """The column's values (numpy or extension array); no copy where pandas has none.
        Of duplicate names, the last column."""
        k = self.columns.get_loc(name)
        if not isinstance(k, int):
            k = int(np.arange(len(self.columns))[k][-1])
        if self._get is not None:
            try:
                return self._get(k)
            except (TypeError, ValueError, IndexError):   # pragma: no cover - old pandas
                pass
        return self.df.iloc[:, k].array


def _num(df: _Table, name: str) -> np.ndarray | None:
    if name not in df.columns:
        return None
    col = df.array(name)
    try:
        return np.asarray(col, dtype=np.float64)    # numeric columns: no parsing
    except (TypeError, ValueError):
        pass
    try:
        return pd.to_numeric(pd.Series(col), errors="coerce").to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        return None


class _AbsView:
    """|x| read row by row or by slice without building |x| for the whole column."""

    __slots__ = ("x",)

    def __init__(self, x: np.ndarray) -> None:
        self.x = x

    def __getitem__(self, key: Any) -> Any:
        return np.abs(self.x[key])


def _whole_hold(absi: Any, v: np.ndarray, a: int, b: int) -> bool:
    """A counted step that is a hold throughout: >= 3 rows, voltage within 5 mV, current
    decaying by at least x1.5 from its first to its last row."""
    if b - a < 3:
        return False
    span = float(v[a:b].max() - v[a:b].min())
    return span <= _CV_VOLTAGE_TOL_V and absi[a] >= 1.5 * absi[b - 1] > 0


def _cv_tail(absi: Any, v: np.ndarray, a: int, b: int) -> int:
    """Rows of [a, b) that form a trailing constant-voltage hold (0 when none)."""
    n = b - a
    if n < 6:
        return 0
    seg = absi[a:b]
    level = float(np.median(seg[:max(n // 2, 3)]))
    if level <= 0:
        return 0
    cond = (seg < _CV_CURRENT_FRACTION * level) & (np.abs(v[a:b] - v[b - 1])
                                                          <= _CV_VOLTAGE_TOL_V)
    # length of the all-True suffix
    bad = np.flatnonzero(~cond)
    tail = n - 1 - int(bad[-1]) if bad.size else n
    if tail < 3 or tail >= n:
        return 0
    # a hold: the current decays while the voltage is held
    if seg[-1] > 0.9 * seg[n - tail]:
        return 0
    return tail


# --------------------------------------------------------------------------- row kinds
def _neware_kind(name: str) -> int:
    n = name.lower()
    if "rest" in n:
        return _K[REST]
    if "ocv" in n:
        return _K[OCV]
    if "pulse" in n:
        return _K[PULSE]
    if "cp" in n:
        return _K[CONSTANT_POWER]
    if "cv" in n and "cccv" not in n:
        return _K[CONSTANT_VOLTAGE]
    return -1           # CC and CCCV: current steps, their holds found from the signal


def _maccor_kind(name: str) -> int:
    return {"R": _K[REST], "O": _K[OCV], "FRA": _K[IMPEDANCE]}.get(name.strip().upper(), -1)


def _labels(col: Any, rule: Any, runs: np.ndarray | None) -> np.ndarray:
    """Kind of each row of a label column, each distinct label classified once; with
    ``runs`` (first rows of the step counter's runs, inside which a label is constant)
    the kind of each run, from those rows only."""
    pa_col = getattr(col, "_pa_array", None)
    if pa_col is not None:
        # Arrow-backed strings (Neware step_type): Arrow's own take and dictionary
        # encoding cost a fraction of pandas' on a few hundred step labels; nulls take
        # the -1 (unknown) code as with factorize
        if pa_col.num_chunks == 1:
            pa_col = pa_col.chunk(0)
        pa_values = pa_col.take(runs) if runs is not None else pa_col
        if hasattr(pa_values, "combine_chunks"):
            pa_values = pa_values.combine_chunks()
        enc = pa_values.dictionary_encode()
        uniques = enc.dictionary.to_pylist()
        codes = enc.indices
        if codes.null_count:
            codes = codes.fill_null(len(uniques))
        codes = codes.to_numpy(zero_copy_only=False)
    else:
        values = col.take(runs) if runs is not None else col
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
    lut = np.array([rule(str(u)) for u in uniques] + [-1], dtype=np.int8)
    return lut[codes]


class _RawKinds:
    """The instrument's kind of any row (-1: undecided, the signal decides), read where
    asked, and where between two rows it may change (besides the step counter's changes,
    which always end a step)."""

    __slots__ = ("at", "change", "extra", "known")

    def __init__(self, at: Any, change: np.ndarray | None, extra: np.ndarray | None,
                 known: str) -> None:
        self.at = at                # rows -> int8 kinds
        self.change = change        # per interval k -> k+1, or None: only at counter changes
        self.extra = extra          # per row: True where the instrument starts a step
        self.known = known


def _mode_kinds(tech: str) -> Any:
    def at(m: np.ndarray) -> np.ndarray:
        # mode 0 -> undecided (-1), 1 -> CC, 2 -> CV, 3 -> rest (OCV in an OCV technique)
        m8 = m.astype(np.int8)
        kind = (m8 + 1) & 3                    # 1, CC, CV, rest for modes 0..3
        kind -= 2 * (m8 == 0).view(np.int8)    # mode 0: 1 - 2 = -1
        if tech == "OCV":
            kind += (_K[OCV] - _K[REST]) * (m8 == 3).view(np.int8)
        return kind
    return at


def _instrument_kinds(df: _Table, technique: str | None,
                      runs: np.ndarray | None = None) -> _RawKinds | None:
    """Row kinds from the instrument's own columns (None without such columns). With
    ``runs`` (the step count's runs) a label column is read once per run."""
    n = len(df)
    tech = (technique or "").upper()
    if "mode" in df.columns and n:
        m = np.asarray(df.array("mode"))
        if m.dtype.kind not in "iu":
            mf = _num(df, "mode")
            m = np.where(np.isfinite(mf), mf, -1).astype(np.int64) if mf is not None else None
        # all modes in 0..3: one pass (a negative mode reads as a huge unsigned one)
        # (and mode 0, undecided, in a minority)
        if m is not None and int((m.view(f"u{m.dtype.itemsize}") if m.dtype.kind == "i"
                                  else m).max()) <= 3 and int(np.count_nonzero(m)) > n // 2:
            flag = (np.asarray(df.array("Ns changes")) if "Ns changes" in df.columns
                    else None)
            extra = None
            if flag is not None:
                extra = flag > 0 if flag.dtype.kind in "iub" else np.nan_to_num(
                    _num(df, "Ns changes")) > 0
            mode_at = _mode_kinds(tech)
            return _RawKinds(lambda rows: mode_at(m[rows]), m[1:] != m[:-1], extra,
                             "instrument: EC-Lab mode/Ns")
    cols = [("step_type", _neware_kind, "instrument: Neware step_type")]
    cols += [(c, _maccor_kind, f"instrument: Maccor {c}") for c in ("State", "MD", "Md")]
    for col, rule, known in cols:
        if col in df.columns and (col == "step_type" or df.array(col).dtype.kind in "OUT"):
            kinds = _labels(df.array(col), rule, runs)
            if runs is not None:
                def per_run(rows: np.ndarray, kinds: np.ndarray = kinds,
                            runs: np.ndarray = runs) -> np.ndarray:
                    return kinds[np.searchsorted(runs, rows, "right") - 1]
                return _RawKinds(per_run, None, None, known)
            return _RawKinds(kinds.__getitem__, kinds[1:] != kinds[:-1], None, known)
    return None


#: per kind code: whether the current's sign splits a step of that kind (the active kinds;
#: index 1 of the first axis: an EC-Lab hold is one step from its mode change to the next,
#: even where its decaying current dips into the noise)
_SPLITS = np.zeros((2, len(KINDS)), np.int8)
_SPLITS[:, [_K[CONSTANT_CURRENT], _K[CONSTANT_POWER], _K[PULSE]]] = 1
_SPLITS[0, _K[CONSTANT_VOLTAGE]] = 1


def _row_codes(rows: np.ndarray, raw: _RawKinds | None, sign: np.ndarray,
               imp: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Kind and step code of the given rows. The kind: impedance where the row has a
    frequency, else the instrument's, else (undecided) a current step or a rest by the
    sign; a current-step row without current is a rest. The code: the kind, and the
    current's direction where it splits a step of that kind; a step is a run of rows of
    one code (within one count of the instrument's step counter)."""
    s = sign[rows]
    kind = raw.at(rows) if raw is not None else np.full(rows.size, -1, np.int8)
    kind[kind < 0] = _K[CONSTANT_CURRENT]
    kind[(kind == _K[CONSTANT_CURRENT]) & (s == 0)] = _K[REST]
    if imp is not None:
        kind[imp[rows]] = _K[IMPEDANCE]
    code = _SPLITS[int(raw is not None and raw.extra is not None)][kind] * s
    code += kind * 4
    return kind, code


def _with_loop_separators(imp: np.ndarray, freq: np.ndarray) -> np.ndarray:
    """Impedance rows plus the one row without a frequency (0, or empty as read) that
    EC-Lab writes after each impedance loop (its Z columns are 0 too): a single such row
    right after impedance rows and followed by impedance rows or the end of the file
    belongs to the scan. Any longer run of such rows is another technique's (EC-Lab
    writes frequency 0 in a modulo bat file's current steps)."""
    sep = np.zeros(imp.size, bool)
    sep[1:] = ~imp[1:] & imp[:-1] & ((freq[1:] == 0) | ~np.isfinite(freq[1:]))
    sep[1:-1] &= imp[2:]
    if not sep.any():
        return imp
    return imp | sep


def _column(df: pd.DataFrame, name: str) -> np.ndarray:
    arr = df[name].to_numpy(dtype=np.float64)
    return arr


def find_steps(data: EchemData | pd.DataFrame, *, threshold_A: float | None = None,
               technique: str | None = None,
               arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> Steps:
    """The step table of a time series (see the module docstring for the rules).

    ``arrays``: (time, voltage, current) already taken from the table (saves a copy).
    """
    df = data.data if isinstance(data, EchemData) else data
    if technique is None and isinstance(data, EchemData):
        technique = data.metadata.technique
    n = len(df)
    if n == 0:
        from nasurf.errors import ValidationError

        raise ValidationError("no data rows: no steps", file=_src(data))
    if arrays is None:
        t, v, i = _column(df, tb.TIME), _column(df, tb.VOLTAGE), _column(df, tb.CURRENT)
    else:
        t, v, i = arrays
    table = _Table(df)
    freq = _num(table, tb.FREQUENCY)
    imp = (np.isfinite(freq) & (freq > 0)) if freq is not None else None
    if imp is not None and not imp.any():
        imp = None
    if imp is not None:
        imp = _with_loop_separators(imp, freq)
    if threshold_A is not None:
        thr = float(threshold_A)
    else:
        thr = auto_threshold(i if imp is None else i[~imp])
    sign = (i > thr).view(np.int8) - (i < -thr).view(np.int8)

    step_id = id_col = runs = id_change = None
    for col in (tb.STEP_COUNT, tb.STEP_INDEX):
        if col in table.columns:
            step_id, id_col = np.asarray(table.array(col)), col
            id_change = step_id[1:] != step_id[:-1]
            break
    if id_col == tb.STEP_COUNT:
        # a running step count changes at every step; a step index may repeat (loops), so
        # labels are read per run of it only when it is the count
        runs = id_change.nonzero()[0]
        runs += 1
        runs = np.concatenate((np.zeros(1, np.int64), runs))
    raw = _instrument_kinds(table, technique, runs)
    kinds_from_signal = raw is None
    known = raw.known if raw is not None else (
        f"instrument: {id_col} (kinds from the signal)" if id_col is not None else "signal")
    if raw is None and imp is None:
        # kinds from the signal: rows are rest (no current) or current steps split by
        # the current's sign, so a step starts where the sign (or the counter) changes
        cut = sign[1:] != sign[:-1]
        if id_change is not None:
            cut |= id_change
        at = cut.nonzero()[0]
        at += 1
        starts = np.concatenate((_ZERO, at))
        k_step = _SIGN_KIND[sign[starts]]
    else:
        # a step starts where the row code (_row_codes), the step counter or the
        # instrument's own step flag changes. The code is a function of the instrument's
        # kind, the sign and the frequency, so it can change only where one of them
        # does: the code is evaluated at those rows alone, not over the whole table
        cand = sign[1:] != sign[:-1]
        for c in (id_change, None if raw is None else raw.change,
                  None if raw is None or raw.extra is None else raw.extra[1:],
                  None if imp is None else imp[1:] != imp[:-1]):
            if c is not None:
                cand |= c
        at = cand.nonzero()[0]
        at += 1
        m = at.size
        kind, code = _row_codes(np.concatenate((at - 1, _ZERO, at)), raw, sign, imp)
        cut = code[:m] != code[m + 1:]
        if id_change is not None:
            cut |= id_change[at - 1]
        if raw is not None and raw.extra is not None:
            cut |= raw.extra[at]
        starts = np.concatenate((_ZERO, at[cut]))
        k_step = np.concatenate((kind[m:m + 1], kind[m + 1:][cut]))
    # the rows where the current's sign changes (the segmentation's runs start there)
    sign_at = at if raw is None and imp is None and id_change is None else at[
        sign[at] != sign[at - 1]]
    stops = _stops(starts, n)
    # |I| of whole columns is built only where needed (the step table): here the rules
    # read a few rows each
    absi = _AbsView(i)

    # split counted/signal CC blocks at a trailing hold (Neware CCCV, Arbin, text files)
    if "EC-Lab" not in known:
        rows = stops - starts
        last = stops - 1
        # only blocks whose current has decayed by their last row can end in a hold: a
        # vectorised screen, so long tests pay nothing per block
        cand = ((k_step == _K[CONSTANT_CURRENT]) & (rows >= 3) & (
            np.abs(i[last]) < 0.9 * np.abs(i[starts + rows // 4])) & (
            np.abs(v[last] - v[last - 1]) <= _CV_VOLTAGE_TOL_V)     # (rows >= 3: inside)
        ).nonzero()[0]
        new_starts = []
        for s_ in cand:
            a, b = int(starts[s_]), int(stops[s_])
            if step_id is not None and _whole_hold(absi, v, a, b):
                k_step[s_] = _K[CONSTANT_VOLTAGE]
                continue
            tail = _cv_tail(absi, v, a, b)
            if tail:
                new_starts.append((b - tail, s_))
        if new_starts:
            pos = np.array([x for x, _ in new_starts], np.int64)
            after = np.array([s_ + 1 for _, s_ in new_starts], np.int64)
            starts = np.insert(starts, after, pos)
            k_step = np.insert(k_step, after, np.int8(_K[CONSTANT_VOLTAGE]))
            stops = _stops(starts, n)

    n_steps = starts.size
    rows = stops - starts
    # potentiostatic steps whose voltage moves steadily are sweeps (CV, LSV); a
    # chronoamperometry's potential levels are holds
    tech_up = (technique or "").upper()
    if kinds_from_signal and (tech_up in SWEEP_TECHNIQUES or tech_up in HOLD_TECHNIQUES):
        # a file that names a potentiostatic technique but has no step-kind column
        # (Gamry DTA, PalmSens): its current is the response, not a set point, so the
        # current-carrying blocks the signal rule found are sweeps or holds
        cc = (k_step == _K[CONSTANT_CURRENT]) | (k_step == _K[CONSTANT_VOLTAGE])
        k_step[cc] = _K[SWEEP] if tech_up in SWEEP_TECHNIQUES else _K[CONSTANT_VOLTAGE]
    holds = (k_step == _K[CONSTANT_VOLTAGE]).nonzero()[0]
    if holds.size:
        vspan = np.fmax.reduceat(v, starts)[holds] - np.fmin.reduceat(v, starts)[holds]
        holds = holds[(vspan > _SWEEP_SPAN_V) & (rows[holds] > 2)]
    for s_ in holds:
        a, b = int(starts[s_]), int(stops[s_])
        seg = v[a:b]
        if tech_up in SWEEP_TECHNIQUES:
            moving = True
        elif tech_up in HOLD_TECHNIQUES:
            moving = False
        else:
            moving = float(np.median(np.abs(np.diff(seg)))) > _SWEEP_DV_PER_ROW_V
        if moving:
            k_step[s_] = _K[SWEEP]
    t_first = t[starts]
    prev = starts - 1
    prev[0] = 0                            # starts[0] is row 0
    t_prev = t[prev]
    t_last = t[stops - 1]
    duration = t_last - t_prev             # t_prev is t_first for the first step
    # pulses: a CC step followed by a rest at least 3x as long (GITT/ICI), where such
    # steps repeat and make most current steps
    cache: dict[str, Any] = {"sign_changes": sign_at}
    n_rest = 0
    if n_steps >= 2:
        nk = np.bincount(k_step, minlength=len(KINDS)).tolist()
        n_rest = nk[_K[REST]] + nk[_K[OCV]]
        if n_rest < 3:
            cache["nk"] = nk                # final: the rules below need rests
    # (each pulse is followed by a rest, each HPPC pair has one between its pulses: with
    # fewer than 3 rests there is neither)
    if n_rest >= 3:
        cc = k_step == _K[CONSTANT_CURRENT]
        pulse = cc & (duration > 0) & (rows >= 3)
        pulse[-1] = False                   # the last step has no rest after it
        pulse[:-1] &= ((k_step[1:] == _K[REST]) | (k_step[1:] == _K[OCV])) & (
            duration[1:] >= 3 * duration[:-1])
        n_pulse = int(np.count_nonzero(pulse))
        if n_pulse >= 3 and n_pulse >= 0.5 * int(np.count_nonzero(cc)):
            k_step[pulse] = _K[PULSE]
        hppc = _hppc_pulses(k_step, starts, stops, t, i)
        if hppc is not None:
            k_step[hppc] = _K[HPPC_PULSE]

    # the entry interval of each step (see the module docstring)
    counter = _counter_at(table)
    gap = t_first - t_prev
    if counter is not None:
        inc_first = counter[1](starts)
        entry = (starts > 0) & (inc_first >= 0.5 * absi[starts] * gap / 3600.0)
    else:
        mean_dt = np.where(rows >= 2, (t_last - t_first) / np.maximum(rows - 1, 1), math.inf)
        entry = (starts > 0) & (gap <= 2 * mean_dt)
    return Steps(starts, stops, k_step, entry, thr, known,
                 counter[0] if counter is not None else None,
                 (t, v, i, None, freq, counter, sign), cache)


_ZERO = np.zeros(1, np.int64)
_ZERO.flags.writeable = False
#: kind code of a step found from the signal, indexed by its current's sign (0, +1, -1):
#: a rest without current, a current step with
_SIGN_KIND = np.array([_K[REST], _K[CONSTANT_CURRENT], _K[CONSTANT_CURRENT]], np.int8)
_SIGN_KIND.flags.writeable = False


def _stops(starts: np.ndarray, n: int) -> np.ndarray:
    """Each step's end (exclusive): the next step's start, ``n`` for the last."""
    stops = np.empty_like(starts)
    stops[:-1] = starts[1:]
    stops[-1] = n
    return stops


_ACTIVE_LUT = np.zeros(len(KINDS) + 1, bool)        # index -1 (undecided) maps to False
_ACTIVE_LUT[[_K[k] for k in ACTIVE_KINDS]] = True


def _hppc_pulses(k_step: np.ndarray, starts: np.ndarray, stops: np.ndarray, t: np.ndarray,
                 i: np.ndarray) -> np.ndarray | None:
    """Steps that are pulses of a hybrid pulse power characterisation (HPPC), or None.

    An HPPC test probes the resistance at each state of charge with a pair of short current
    pulses of opposite sign (e.g. 10 s discharge, 40 s rest, 10 s charge) between long
    rests, the state of charge stepped down by a longer current step in between. Read as
    cycling, each pulse would be a half cycle and the CE of the "cycles" absurd. A pulse
    is a current step spanning at most :data:`HPPC_PULSE_MAX_S` over its own rows (a
    sparsely logged rest before it does not count) with no such step right before or
    after it (that is fast cycling); a pair is two such steps of opposite
    sign with only rest/OCV steps (at least one) between; at least :data:`HPPC_MIN_PAIRS`
    pairs make an HPPC test.
    """
    cc = (k_step == _K[CONSTANT_CURRENT]) | (k_step == _K[PULSE])
    is_short = cc & (t[stops - 1] - t[starts] <= HPPC_PULSE_MAX_S)
    if int(np.count_nonzero(is_short)) < 2 * HPPC_MIN_PAIRS:
        return None                     # too few short steps (the pulses are among them)
    # a pulse stands alone: a short step right next to another short current step is
    # fast cycling (10 s charge, 10 s discharge), not a pulse between rests
    alone = is_short.copy()
    alone[1:] &= ~is_short[:-1]
    alone[:-1] &= ~is_short[1:]
    short = alone.nonzero()[0]
    if short.size < 2 * HPPC_MIN_PAIRS:
        return None
    rest = (k_step == _K[REST]) | (k_step == _K[OCV])
    sign = np.sign(i[(starts + stops - 1) // 2])
    mark = np.zeros(k_step.size, bool)
    pairs = 0
    for a, b in zip(short[:-1].tolist(), short[1:].tolist(), strict=True):
        if b - a >= 2 and sign[a] != 0 and sign[a] == -sign[b] and rest[a + 1:b].all():
            mark[a] = mark[b] = True
            pairs += 1
    return mark if pairs >= HPPC_MIN_PAIRS else None


def _trapezoid_within(steps: Steps) -> np.ndarray:
    """∫|I| dt per step over its own rows, plus the entry interval where credited."""
    t, _, i = steps._signals[:3]
    absi = np.abs(i)
    starts, stops = steps.starts, steps.stops
    cum = np.zeros(t.size)
    if t.size > 1:
        np.cumsum(0.5 * (absi[1:] + absi[:-1]) * np.diff(t), out=cum[1:])
    inner = cum[stops - 1] - cum[starts]
    lead = np.where(steps.step_entry,
                    absi[starts] * (t[starts] - t[np.maximum(starts - 1, 0)]), 0.0)
    return inner + lead


def _step_columns(steps: Steps) -> dict[str, np.ndarray]:
    t, v, i, _, freq, counter = steps._signals[:6]
    starts, stops, k_step = steps.starts, steps.stops, steps.step_kind
    n_steps = starts.size
    n_rows = (stops - starts).astype(np.float64)
    charge_As = _trapezoid_within(steps)
    mean_i = np.add.reduceat(i, starts) / n_rows
    mean_v = np.add.reduceat(v, starts) / n_rows
    set_point = np.full(n_steps, np.nan)
    unit = np.full(n_steps, "", dtype=object)
    cur_like = np.isin(k_step, (_K[CONSTANT_CURRENT], _K[PULSE], _K[HPPC_PULSE]))
    set_point[cur_like] = mean_i[cur_like]
    unit[cur_like] = "A"
    volt_like = np.isin(k_step, (_K[CONSTANT_VOLTAGE], _K[REST], _K[OCV]))
    set_point[volt_like] = mean_v[volt_like]
    unit[volt_like] = "V"
    for s_ in np.flatnonzero(k_step == _K[IMPEDANCE]):
        if freq is not None:
            set_point[s_] = float(np.nanmedian(freq[starts[s_]:stops[s_]]))
        unit[s_] = "Hz"
    for s_ in np.flatnonzero(k_step == _K[SWEEP]):
        a, b = starts[s_], stops[s_]
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.abs(np.diff(v[a:b])) / np.diff(t[a:b])
        slope = slope[np.isfinite(slope)]
        set_point[s_] = float(np.median(slope)) if slope.size else math.nan
        unit[s_] = "V/s"
    pw = k_step == _K[CONSTANT_POWER]
    if pw.any():
        set_point[pw] = (np.add.reduceat(i * v, starts) / n_rows)[pw]
        unit[pw] = "W"
    step_active = _ACTIVE_LUT[k_step]
    process = np.where(~step_active | (mean_i == 0), "",
                       np.where(mean_i < 0, SODIATION, DESODIATION)).astype(object)
    duration = t[stops - 1] - np.where(starts > 0, t[np.maximum(starts - 1, 0)], t[starts])
    return {
        "step": np.arange(1, n_steps + 1),
        "first_row": starts,
        "last_row": stops - 1,
        "kind": steps.kinds,
        "process": process,
        "set_point": set_point,
        "set_point_unit": unit,
        "charge_Ah": charge_As / 3600.0,
        "counter_charge_Ah": (counter[2](starts, stops) if counter is not None
                              else np.full(n_steps, np.nan)),
        "duration_s": duration,
        "entry_credited": steps.step_entry,
    }


def _cross_check(steps: Steps) -> tuple[str, ...]:
    """Warnings for active steps whose integral and the instrument's counter disagree
    beyond the counter's resolution (0.1 % of the step, at least 1 nAh) plus the
    integral's own sampling uncertainty (half the gap between the left and right sums).
    A one-row step has no integral of its own (its counter spans the gap before it)."""
    if steps.counter is None or not len(steps):
        return ()
    t, _, i, _, _, counter_fns = steps._signals[:6]
    absi = np.abs(i)
    ours = _trapezoid_within(steps) / 3600.0
    counter = counter_fns[2](steps.starts, steps.stops)
    cum = np.zeros(t.size)
    if t.size > 1:
        np.cumsum(0.5 * np.abs(np.diff(absi)) * np.diff(t), out=cum[1:])
    slack = (cum[steps.stops - 1] - cum[steps.starts]) / 3600.0
    rows = steps.stops - steps.starts
    tol = np.maximum(1e-3 * np.abs(counter), 1e-9) + slack
    active = _ACTIVE_LUT[steps.step_kind]
    bad = np.flatnonzero(active & (rows >= 2) & np.isfinite(counter) & (counter > 0)
                         & (np.abs(ours - counter) > tol))
    if not bad.size:
        return ()
    s_ = int(bad[0])
    return (f"step {s_ + 1} ({KINDS[steps.step_kind[s_]]}, rows {steps.starts[s_]}-"
            f"{steps.stops[s_] - 1}): integral of |I| dt {ours[s_] * 1e3:.6g} mAh vs the "
            f"instrument's counter '{steps.counter}' {counter[s_] * 1e3:.6g} mAh; "
            f"{bad.size} step(s) disagree beyond the counter's resolution",)


def _counter_at(df: _Table) -> tuple[str, Any, Any] | None:
    """The instrument's charge counter as (name, increase at given rows, charge of given
    steps), in Ah, or None. EC-Lab ``Q charge/discharge/mA.h`` (resets each half cycle),
    else the canonical charging + discharging capacities (reset each step on
    Neware/Arbin), else the net capacity. A counter is monotone within a step, so a
    step's charge is its change from the first row to the last plus the increase at the
    first row (from the previous row, or from 0 after a reset): only the values at the
    step boundaries are read."""
    if EC_LAB_Q in df.columns:
        cols, scale, net = [EC_LAB_Q], 1e-3, False
    else:
        cols = [c for c in (tb.CHARGE_CAPACITY, tb.DISCHARGE_CAPACITY) if c in df.columns]
        scale, net = 1.0, False
        if not cols and tb.NET_CAPACITY in df.columns:
            cols, net = [tb.NET_CAPACITY], True
    if not cols:
        return None
    arrays = []
    for c in cols:
        arr = _num(df, c)
        if arr is None:
            return None
        arrays.append(arr)

    def at(arr: np.ndarray, rows: np.ndarray) -> np.ndarray:
        x = arr[rows]
        if net:
            return x
        np.abs(x, out=x)
        if scale != 1.0:
            x *= scale
        return x

    def inc(rows: np.ndarray) -> np.ndarray:
        out = None
        prev = np.maximum(rows - 1, 0)
        for arr in arrays:
            here, before = at(arr, rows), at(arr, prev)
            d = here - before
            if net:
                np.abs(d, out=d)
            else:
                np.copyto(d, here, where=d < 0)             # reset at this row
            out = d if out is None else out + d
        out[rows <= 0] = 0.0                # no increase into the first row
        return out

    def charge(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
        out = inc(starts)
        for arr in arrays:
            out = out + np.abs(at(arr, stops - 1) - at(arr, starts))
        return out

    return " + ".join(cols), inc, charge


# --------------------------------------------------------------------------- electrode role
ROLES = ("anode", "cathode", "full")
#: below this lowest working voltage a half cell's working electrode is an anode (hard
#: carbon, alloys, titanates vs Na+/Na all go below it; layered oxides, polyanions, Prussian
#: blue analogues and full cells stay above ~1 V)
ANODE_BELOW_V = 0.8


def electrode_role(voltage: np.ndarray, steps: Steps, given: str = "auto"
                   ) -> tuple[str, str]:
    """The working electrode's role and how it was known, as (role, statement).

    ``given`` other than ``"auto"`` is used as is. Otherwise: the lowest voltage at the last rows of
    the current-carrying steps (their cut-offs) below :data:`ANODE_BELOW_V` means an anode half
    cell, above it a cathode half cell or a full cell (both cycle desodiation first: charge, then
    discharge). A window that goes below 0 V (a symmetric or dummy cell) says nothing, and the first
    current step decides (sodiation first: anode).
    """
    if given != "auto":
        if given not in ROLES:
            from nasurf.errors import ValidationError

            raise ValidationError(f"unknown electrode role {given!r}; expected auto, "
                                  "anode, cathode or full", field="electrode")
        return given, f"{given} (given)"
    ends = steps.stops[_ACTIVE_LUT[steps.step_kind]]
    if ends.size:
        # a galvanostatic step's extremes are at its ends, and the protocol's cut-off at
        # its last row: its first row is where the cell was (a fresh full cell starts
        # near 0 V, below any cut-off of its window)
        vmin = float(np.minimum.reduce(voltage[ends - 1]))
    else:
        vmin = float(np.min(voltage)) if voltage.size else math.nan
    if math.isfinite(vmin) and vmin >= 0:
        if vmin < ANODE_BELOW_V:
            return "anode", (f"anode (inferred: lowest working voltage {vmin:.3g} V < "
                             f"{ANODE_BELOW_V} V)")
        return "cathode", (f"cathode or full cell (inferred: lowest working voltage "
                           f"{vmin:.3g} V >= {ANODE_BELOW_V} V); a cycle is a desodiation "
                           "(charge) followed by a sodiation (discharge)")
    sgn = steps.step_sign
    nz = sgn.nonzero()[0]
    if nz.size and sgn[nz[0]] > 0:          # the first current step is a desodiation
        return "cathode", ("cathode or full cell (inferred from the first step, a "
                           "desodiation; the voltage window is not a half cell's)")
    return "anode", ("anode (inferred from the first step, a sodiation; the voltage "
                     "window is not a half cell's)")


# --------------------------------------------------------------------------- technique
TECHNIQUE_CLASSES = ("cycling", "galvanostatic_one_direction", "gitt", "hppc", "cv", "ca",
                     "eis", "ocv", "empty")


def classify_technique(data: EchemData, steps: Steps | None = None) -> tuple[str, str]:
    """What kind of measurement a file holds, from its steps, as (class, reason).

    ``cycling``: constant-current (or CC-CV) steps in both directions; ``gitt``: repeated
    current pulses between long rests; ``cv``: potential sweeps make most of the working
    rows; ``ca``: holds but no current steps; ``galvanostatic_one_direction``: current
    steps of one sign only (a single charge, a CP); ``eis``: impedance only; ``ocv``: no
    working rows. Only ``cycling`` files get cycling metrics (ICE, CE, retention).
    """
    if not data.is_time_series:
        return ("eis", "impedance spectrum (no time series)") if data.is_impedance else (
            "empty", "no time series")
    if len(data.data) == 0:
        return "empty", "no data rows"
    if steps is None:
        steps = find_steps(data)
    return classify_steps(steps)


def classify_steps(steps: Steps) -> tuple[str, str]:
    """:func:`classify_technique` from a step table alone (see there)."""
    kinds = steps.step_kind
    nk = steps._kind_counts()
    # rows of each kind: integer sums, exact in float64 below 2**53 rows
    rows = np.bincount(kinds, weights=steps.stops - steps.starts,
                       minlength=len(KINDS)).tolist()

    def nrows(*ks: str) -> int:
        return int(sum(rows[_K[k]] for k in ks))

    working = nrows(*ACTIVE_KINDS, SWEEP, HPPC_PULSE)
    if working == 0:
        if nrows(IMPEDANCE):
            return "eis", "impedance rows only"
        return "ocv", "no current-carrying rows"
    if nrows(SWEEP) > 0.5 * working:
        return "cv", f"{nk[_K[SWEEP]]} potential sweep step(s)"
    n_pulse = nk[_K[PULSE]]
    if n_pulse:
        return "gitt", f"{n_pulse} current pulses between long rests"
    n_hppc = nk[_K[HPPC_PULSE]]
    hppc = f" and {n_hppc} HPPC pulses (left out of half cycles)" if n_hppc else ""
    n_cc = nk[_K[CONSTANT_CURRENT]] + nk[_K[CONSTANT_POWER]]
    if n_hppc and nrows(CONSTANT_CURRENT, CONSTANT_VOLTAGE, CONSTANT_POWER) < nrows(HPPC_PULSE):
        return "hppc", f"{n_hppc} HPPC pulses: pairs of short pulses of both signs between rests"
    if not n_cc:
        return "ca", "potential holds without current steps"
    sgn = steps.step_sign[_lut((CONSTANT_CURRENT, CONSTANT_POWER))[kinds]]
    procs = {SODIATION if x < 0 else DESODIATION for x in set(sgn.tolist()) - {0}}
    if procs == {SODIATION, DESODIATION}:
        return "cycling", (f"{n_cc} current steps in both directions{hppc}")
    return "galvanostatic_one_direction", (
        f"{n_cc} current step(s), all {next(iter(procs), 'without current')}")
