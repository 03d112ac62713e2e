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

Rows with a finite, positive ``Frequency / Hz`` are impedance whatever the other columns
say. A ``constant_voltage`` step whose voltage spans more than 50 mV while moving by more than
0.1 mV a row (median) is a ``sweep``; the technique name decides where the file names one
(CV/CVA/LSV: sweeps; CA/COV/CHRONOA: holds). A ``pulse`` is a CC step followed by a rest at
least 3x as long, where such steps repeat (>= 3) and make at least half the CC steps.

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
#: kind codes of the per-row array ``Steps.row_kind`` (index into this tuple)
KINDS = (REST, OCV, CONSTANT_CURRENT, CONSTANT_VOLTAGE, CONSTANT_POWER, IMPEDANCE, SWEEP,
         PULSE)
_K = {k: n for n, k in enumerate(KINDS)}
#: kinds whose charge belongs to a half cycle of a galvanostatic test
ACTIVE_KINDS = (CONSTANT_CURRENT, CONSTANT_VOLTAGE, CONSTANT_POWER, PULSE)
#: kinds that never form or join a half cycle
PASSIVE_KINDS = (REST, OCV, IMPEDANCE)

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

    ``columns`` holds one array per step: ``step`` (1-based), ``first_row``, ``last_row``
    (inclusive, 0-based data rows), ``kind``, ``process`` (sodiation/desodiation/"" for
    no current), ``set_point`` and ``set_point_unit`` (A for current steps, V for holds
    and rests: the step's mean; Hz for impedance: the median; V/s for sweeps: the median
    |dV/dt|; W for constant power: the mean of I·V),
    ``charge_Ah`` (integral, positive), ``counter_charge_Ah`` (NaN without a counter),
    ``duration_s``, ``entry_credited``.
    Per row: ``row_step`` (0-based step index) and ``row_kind`` (index into
    :data:`KINDS`); ``entry_credited`` per row is True where the interval leading into
    the row counts toward the row's step.
    """

    columns: dict[str, np.ndarray] = field(repr=False)
    row_step: np.ndarray = field(repr=False)
    row_kind: np.ndarray = field(repr=False)
    entry_credited: np.ndarray = field(repr=False)
    threshold_A: float
    known_from: str                       # "instrument: ..." or "signal"
    counter: str | None                   # the charge counter used for the cross-check
    warnings: tuple[str, ...] = ()

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.columns)

    def __len__(self) -> int:
        return len(self.columns["step"])

    def rows_of(self, *kinds: str) -> np.ndarray:
        """Boolean row mask of the rows whose step kind is one of ``kinds``."""
        codes = np.array([_K[k] for k in kinds], dtype=np.int8)
        return np.isin(self.row_kind, codes)

    def counts(self) -> dict[str, int]:
        """Number of steps of each kind present."""
        kinds, n = np.unique(self.columns["kind"], return_counts=True)
        return {str(k): int(c) for k, c in zip(kinds, n, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        return {"known_from": self.known_from, "counter": self.counter,
                "threshold_A": self.threshold_A, "counts": self.counts(),
                "steps": self.table, "warnings": list(self.warnings)}


# --------------------------------------------------------------------------- helpers
def auto_threshold(current: np.ndarray) -> float:
    """Rest threshold: 0.1 % of the 99th-percentile |I| (cycler offsets lie below it, CV
    tails down to C/1000 stay above it)."""
    sample = np.abs(current[:: max(1, len(current) // 20_000)])
    if sample.size == 0:
        return 1e-12
    hi = float(np.partition(sample, int(0.99 * (sample.size - 1)))[int(0.99 * (sample.size - 1))])
    return max(1e-3 * hi, 1e-12)


def _src(data: EchemData | pd.DataFrame) -> str | None:
    return data.metadata.source if isinstance(data, EchemData) else None


def _runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = key.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    change = np.flatnonzero(key[1:] != key[:-1]) + 1
    return (np.concatenate(([0], change)).astype(np.int64),
            np.concatenate((change, [n])).astype(np.int64))


def _num(df: pd.DataFrame, name: str) -> np.ndarray | None:
    if name not in df.columns:
        return None
    try:
        arr = pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr


def _whole_hold(absi: np.ndarray, v: np.ndarray, a: int, b: int) -> bool:
    """A counted step that is a hold throughout: >= 3 rows, voltage within 5 mV, current
    decaying by at least x1.5 from its first to its last row."""
    if b - a < 3:
        return False
    span = float(v[a:b].max() - v[a:b].min())
    return span <= _CV_VOLTAGE_TOL_V and absi[a] >= 1.5 * absi[b - 1] > 0


def _cv_tail(absi: np.ndarray, v: np.ndarray, a: int, b: int) -> int:
    """Rows of [a, b) that form a trailing constant-voltage hold (0 when none)."""
    n = b - a
    if n < 6:
        return 0
    level = float(np.median(absi[a:a + max(n // 2, 3)]))
    if level <= 0:
        return 0
    cond = (absi[a:b] < _CV_CURRENT_FRACTION * level) & (np.abs(v[a:b] - v[b - 1])
                                                          <= _CV_VOLTAGE_TOL_V)
    # length of the all-True suffix
    bad = np.flatnonzero(~cond)
    tail = n - 1 - int(bad[-1]) if bad.size else n
    if tail < 3 or tail >= n:
        return 0
    # a hold: the current decays while the voltage is held
    if absi[b - 1] > 0.9 * absi[b - tail]:
        return 0
    return tail


# --------------------------------------------------------------------------- row kinds
def _instrument_kinds(df: pd.DataFrame, technique: str | None
                      ) -> tuple[np.ndarray | None, np.ndarray | None, str | None]:
    """Row kinds from the instrument's own columns, an extra boundary key, and a label."""
    n = len(df)
    tech = (technique or "").upper()
    mode = _num(df, "mode")
    if (mode is not None and n and np.isfinite(mode).all()
            and np.isin(mode, (1, 2, 3)).mean() > 0.5):
        kind = np.full(n, -1, np.int8)
        kind[mode == 1] = _K[CONSTANT_CURRENT]
        kind[mode == 2] = _K[CONSTANT_VOLTAGE]
        kind[mode == 3] = _K[OCV] if tech == "OCV" else _K[REST]
        extra = np.zeros(n, np.int64)
        for col in ("Ns changes",):
            flag = _num(df, col)
            if flag is not None:
                extra = extra + np.cumsum(np.nan_to_num(flag) > 0)
        return kind, extra, "instrument: EC-Lab mode/Ns"
    if "step_type" in df.columns:
        st = df["step_type"].astype(str).str.lower().to_numpy()
        kind = np.full(n, -1, np.int8)
        kind[np.char.find(st.astype(str), "rest") >= 0] = _K[REST]
        kind[np.char.find(st.astype(str), "ocv") >= 0] = _K[OCV]
        kind[np.char.find(st.astype(str), "cp") >= 0] = _K[CONSTANT_POWER]
        is_cv = (np.char.find(st.astype(str), "cv") >= 0) & (
            np.char.find(st.astype(str), "cccv") < 0)
        kind[is_cv] = _K[CONSTANT_VOLTAGE]
        kind[np.char.find(st.astype(str), "pulse") >= 0] = _K[PULSE]
        # CC and CCCV steps: current steps, their holds found from the signal
        return kind, None, "instrument: Neware step_type"
    for col in ("State", "MD", "Md"):
        if col in df.columns and df[col].dtype == object:
            st = df[col].astype(str).str.strip().str.upper().to_numpy().astype(str)
            kind = np.full(n, -1, np.int8)
            kind[st == "R"] = _K[REST]
            kind[st == "O"] = _K[OCV]
            kind[st == "FRA"] = _K[IMPEDANCE]
            return kind, None, f"instrument: Maccor {col}"
    return None, None, None


def find_steps(data: EchemData | pd.DataFrame, *, threshold_A: float | None = None,
               technique: str | None = None) -> Steps:
    """The step table of a time series (see the module docstring for the rules)."""
    df = data.data if isinstance(data, EchemData) else data
    if technique is None and isinstance(data, EchemData):
        technique = data.metadata.technique
    n = len(df)
    if n == 0:
        from nasurf.errors import ValidationError

        raise ValidationError("no data rows: no steps", file=_src(data))
    t = df[tb.TIME].to_numpy(dtype=np.float64)
    v = df[tb.VOLTAGE].to_numpy(dtype=np.float64)
    i = df[tb.CURRENT].to_numpy(dtype=np.float64)
    warnings: list[str] = []
    thr = auto_threshold(i) if threshold_A is None else float(threshold_A)
    absi = np.abs(i)
    sign = np.zeros(n, np.int8)
    sign[i > thr] = 1
    sign[i < -thr] = -1

    kind, extra, known = _instrument_kinds(df, technique)
    step_id = None
    for col in (tb.STEP_COUNT, tb.STEP_INDEX):
        if col in df.columns:
            step_id = df[col].to_numpy(dtype=np.int64)
            if known is None:
                known = f"instrument: {col} (kinds from the signal)"
            break
    if kind is None:
        kind = np.full(n, -1, np.int8)
    if known is None:
        known = "signal"
    freq = _num(df, tb.FREQUENCY)
    if freq is not None:
        kind[np.isfinite(freq) & (freq > 0)] = _K[IMPEDANCE]
    undecided = kind < 0
    kind[undecided & (sign == 0)] = _K[REST]
    kind[undecided & (sign != 0)] = _K[CONSTANT_CURRENT]
    # a rest or OCV row carrying current above the threshold is still a rest by the
    # instrument's word; but a "CC" row with no current is a rest
    cc_no_current = (kind == _K[CONSTANT_CURRENT]) & (sign == 0)
    kind[cc_no_current] = _K[REST]

    # boundaries: kind, direction of current (active kinds), instrument step id, extra key
    active = np.isin(kind, [_K[k] for k in ACTIVE_KINDS])
    direction = np.where(active, sign, 0).astype(np.int64)
    if extra is not None:
        # an EC-Lab hold (mode 2) is one step from its mode change to the next, even where
        # its decaying current dips into the noise (its ox/red flag lags by a row, so the
        # current's sign, not the flag, splits CC rows)
        direction[kind == _K[CONSTANT_VOLTAGE]] = 0
    # a CV hold's current may decay to below the threshold: keep its direction
    key = kind.astype(np.int64) * 3 + (direction + 1)
    if step_id is not None:
        key = key + 64 * (step_id - step_id.min())
    if extra is not None:
        key = key + (1 << 40) * (extra - extra.min())
    starts, stops = _runs(key)

    # split counted/signal CC blocks at a trailing hold (Neware CCCV, Arbin, text files)
    if "EC-Lab" not in known and starts.size:
        new_starts = []
        # only blocks whose current has decayed by their last row can hold a hold: a
        # vectorised screen, so long tests pay nothing per block
        quarter = starts + (stops - starts) // 4
        cand = (kind[starts] == _K[CONSTANT_CURRENT]) & (stops - starts >= 3) & (
            absi[stops - 1] < 0.9 * absi[quarter]) & (
            np.abs(v[stops - 1] - v[np.maximum(stops - 2, starts)]) <= _CV_VOLTAGE_TOL_V)
        for a, b in zip(starts[cand], stops[cand], strict=True):
            if step_id is not None and _whole_hold(absi, v, int(a), int(b)):
                kind[a:b] = _K[CONSTANT_VOLTAGE]
                continue
            tail = _cv_tail(absi, v, int(a), int(b))
            if tail:
                kind[b - tail:b] = _K[CONSTANT_VOLTAGE]
                new_starts.append(b - tail)
        if new_starts:
            starts = np.sort(np.concatenate((starts, np.asarray(new_starts, np.int64))))
            stops = np.concatenate((starts[1:], [n])).astype(np.int64)

    n_steps = starts.size
    k_step = kind[starts].copy()
    # potentiostatic steps whose voltage moves steadily are sweeps (CV, LSV); a
    # chronoamperometry's potential levels are holds
    if n_steps:
        vspan = np.fmax.reduceat(v, starts) - np.fmin.reduceat(v, starts)
        dv = np.abs(np.diff(v, prepend=v[0]))
        cand = np.flatnonzero((k_step == _K[CONSTANT_VOLTAGE]) & (vspan > _SWEEP_SPAN_V))
        moving = np.zeros(n_steps, bool)
        for s_ in cand:
            a, b = starts[s_], stops[s_]
            moving[s_] = b - a > 2 and float(np.median(dv[a + 1:b])) > _SWEEP_DV_PER_ROW_V
        tech_up = (technique or "").upper()
        if tech_up in SWEEP_TECHNIQUES:
            moving[:] = True
        elif tech_up in HOLD_TECHNIQUES:
            moving[:] = False
        sweep = (k_step == _K[CONSTANT_VOLTAGE]) & (vspan > _SWEEP_SPAN_V) & moving
        k_step[sweep] = _K[SWEEP]
    t_before = t[np.maximum(starts - 1, 0)]
    duration = t[stops - 1] - np.where(starts > 0, t_before, t[0])
    # pulses: a CC step followed by a rest at least 3x as long, itself short (GITT/ICI)
    if n_steps >= 2:
        nxt = np.append(k_step[1:], -1)
        nxt_dur = np.append(duration[1:], 0.0)
        pulse = (k_step == _K[CONSTANT_CURRENT]) & np.isin(nxt, (_K[REST], _K[OCV])) & (
            nxt_dur >= 3 * duration) & (duration > 0) & (stops - starts >= 3)
        # only when pulses repeat and make most current steps (a titration), not a few
        # CC steps before long rests
        cc_like = int((k_step == _K[CONSTANT_CURRENT]).sum())
        if int(pulse.sum()) >= 3 and pulse.sum() >= 0.5 * cc_like:
            k_step[pulse] = _K[PULSE]
    row_step = np.repeat(np.arange(n_steps), stops - starts)
    row_kind = k_step[row_step]

    # charge within a step: trapezoid over its rows, plus the entry interval by the rule
    dt = np.diff(t)
    entry = np.zeros(n, bool)
    inc, counter_name = _counter_rows(df)
    if n > 1:
        inner = np.ones(n, bool)
        inner[starts] = False
        entry[inner] = True
        gap = t[starts] - t[np.maximum(starts - 1, 0)]
        if inc is not None:
            # the counter says what the instrument counted up to the step's first row:
            # about |I| x gap when it logs at the end of each interval, ~0 when it logs a
            # row at the start of each step
            ok = (starts > 0) & (inc[starts] >= 0.5 * absi[starts] * gap / 3600.0)
        else:
            rows = stops - starts
            mean_dt = np.where(rows >= 2, (t[stops - 1] - t[starts])
                               / np.maximum(rows - 1, 1), math.inf)
            ok = (starts > 0) & (gap <= 2 * mean_dt)
        entry[starts[ok]] = True
    q = np.zeros(n)
    if n > 1:
        trap = 0.5 * (absi[1:] + absi[:-1]) * dt
        lead = absi[1:] * dt
        first_row = np.zeros(n, bool)
        first_row[starts] = True
        q[1:] = np.where(first_row[1:], lead, trap) * entry[1:]
    charge_As = np.add.reduceat(q, starts) if n_steps else np.zeros(0)

    set_point = np.full(n_steps, np.nan)
    unit = np.full(n_steps, "", dtype=object)
    # set points: the mean over the step's rows (a CC step's current is constant; a
    # hold's or a rest's voltage barely moves)
    n_rows = (stops - starts).astype(np.float64)
    med_i = np.add.reduceat(i, starts) / n_rows if n_steps else np.zeros(0)
    med_v = np.add.reduceat(v, starts) / n_rows if n_steps else np.zeros(0)
    cur_like = np.isin(k_step, (_K[CONSTANT_CURRENT], _K[PULSE]))
    set_point[cur_like] = med_i[cur_like]
    unit[cur_like] = "A"
    volt_like = np.isin(k_step, (_K[CONSTANT_VOLTAGE], _K[REST], _K[OCV]))
    set_point[volt_like] = med_v[volt_like]
    unit[volt_like] = "V"
    if freq is not None:
        imp = k_step == _K[IMPEDANCE]
        for s in np.flatnonzero(imp):
            fv = freq[starts[s]:stops[s]]
            set_point[s] = float(np.nanmedian(fv))
        unit[imp] = "Hz"
    sweep = k_step == _K[SWEEP]
    if sweep.any():
        # scan rate: the median |dV/dt| between rows (a CV goes up and down in one step)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.abs(np.diff(v)) / np.diff(t)
        for s_ in np.flatnonzero(sweep):
            part = slope[starts[s_]:stops[s_] - 1]
            part = part[np.isfinite(part)]
            set_point[s_] = float(np.median(part)) if part.size else math.nan
        unit[sweep] = "V/s"
    pw = k_step == _K[CONSTANT_POWER]
    if pw.any():
        p = np.add.reduceat(i * v, starts) / n_rows
        set_point[pw] = p[pw]
        unit[pw] = "W"

    # process of each step: the sign of the charge it passed (signed integral)
    signed = np.add.reduceat(np.concatenate(([0.0], np.sign(i[1:]) * q[1:])), starts) \
        if n_steps else np.zeros(0)
    step_active = np.isin(k_step, [_K[k] for k in ACTIVE_KINDS])
    direction_s = np.where(signed != 0, np.sign(signed), np.sign(med_i))
    process = np.where(~step_active | (direction_s == 0), "",
                       np.where(direction_s < 0, SODIATION, DESODIATION)).astype(object)

    counter_Ah = np.add.reduceat(inc, starts) if inc is not None and n_steps else None
    if counter_Ah is not None:
        # the trapezoid's own uncertainty: half the spread between left and right sums
        # (a sparsely logged decaying hold is known only that well)
        spread = np.zeros(n)
        if n > 1:
            spread[1:] = 0.5 * np.abs(np.diff(absi)) * dt * entry[1:]
        slack = np.add.reduceat(spread, starts) / 3600.0
        bad = _disagree(charge_As / 3600.0, counter_Ah, step_active, slack, stops - starts)
        if bad.size:
            s = int(bad[0])
            warnings.append(
                f"step {s + 1} ({KINDS[k_step[s]]}, rows {starts[s]}-{stops[s] - 1}): "
                f"integral of |I| dt {charge_As[s] / 3.6:.6g} mAh vs the instrument's "
                f"counter '{counter_name}' {counter_Ah[s] * 1e3:.6g} mAh; "
                f"{bad.size} step(s) disagree beyond the counter's resolution")
    columns: dict[str, np.ndarray] = {
        "step": np.arange(1, n_steps + 1),
        "first_row": starts,
        "last_row": stops - 1,
        "kind": np.array(KINDS, dtype=object)[k_step],
        "process": process,
        "set_point": set_point,
        "set_point_unit": unit,
        "charge_Ah": charge_As / 3600.0,
        "counter_charge_Ah": (counter_Ah if counter_Ah is not None
                              else np.full(n_steps, np.nan)),
        "duration_s": duration,
        "entry_credited": entry[starts] if n_steps else np.zeros(0, bool),
    }
    return Steps(columns, row_step, row_kind, entry, thr, known, counter_name,
                 tuple(warnings))


def _counter_rows(df: pd.DataFrame) -> tuple[np.ndarray | None, str | None]:
    """Per-row increase (Ah) of the instrument's charge counter, resets handled, or None:
    EC-Lab ``Q charge/discharge/mA.h`` (resets each half cycle), else the canonical
    charging + discharging capacities (reset each step on Neware/Arbin), else the net
    capacity."""
    if EC_LAB_Q in df.columns:
        arr = _num(df, EC_LAB_Q)
        if arr is None or not np.isfinite(arr).all():
            return None, None
        return _increments(np.abs(arr) / 1e3), EC_LAB_Q
    cols = [c for c in (tb.CHARGE_CAPACITY, tb.DISCHARGE_CAPACITY) if c in df.columns]
    if cols:
        inc = None
        for c in cols:
            arr = df[c].to_numpy(dtype=np.float64)
            if not np.isfinite(arr).all():
                return None, None
            part = _increments(np.abs(arr))
            inc = part if inc is None else inc + part
        return inc, " + ".join(cols)
    if tb.NET_CAPACITY in df.columns:
        net = df[tb.NET_CAPACITY].to_numpy(dtype=np.float64)
        if not np.isfinite(net).all():
            return None, None
        inc = np.zeros_like(net)
        inc[1:] = np.abs(np.diff(net))
        return inc, tb.NET_CAPACITY
    return None, None


def _increments(col: np.ndarray) -> np.ndarray:
    """Per-row increase of a magnitude counter that resets to 0 (half cycle or step)."""
    inc = np.empty_like(col)
    inc[0] = 0.0
    np.subtract(col[1:], col[:-1], out=inc[1:])
    reset = inc < 0
    inc[reset] = col[reset]
    return inc


def _disagree(ours: np.ndarray, counter: np.ndarray, active: np.ndarray,
              slack: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Active steps whose integral and counter disagree beyond the counter's resolution
    (0.1 % of the step, at least 1e-9 Ah) plus the integral's own sampling uncertainty.
    A one-row step has no integral of its own (its counter spans the gap before it): not
    compared."""
    tol = np.maximum(1e-3 * np.abs(counter), 1e-9) + slack
    return np.flatnonzero(active & (rows >= 2) & np.isfinite(counter) & (counter > 0)
                          & (np.abs(ours - counter) > tol))


# --------------------------------------------------------------------------- electrode role
ROLES = ("anode", "cathode", "full")
#: below this lowest working voltage a half cell's working electrode is an anode (hard
#: carbon, alloys, titanates vs Na+/Na all go below it; layered oxides, polyanions, Prussian
#: blue analogues and full cells stay above ~1 V)
ANODE_BELOW_V = 0.8


def electrode_role(voltage: np.ndarray, steps: Steps, given: str = "auto"
                   ) -> tuple[str, str]:
    """The working electrode's role and how it was known, as (role, statement).

    ``given`` other than ``"auto"`` is used as is. Otherwise: the lowest voltage of the
    current-carrying rows below :data:`ANODE_BELOW_V` means an anode half cell, above it a
    cathode half cell or a full cell (both cycle desodiation first: charge, then
    discharge). A window that goes below 0 V (a symmetric or dummy cell) says nothing,
    and the first current step decides (sodiation first: anode).
    """
    if given != "auto":
        if given not in ROLES:
            from nasurf.errors import ValidationError

            raise ValidationError(f"unknown electrode role {given!r}; expected auto, "
                                  "anode, cathode or full", field="electrode")
        return given, f"{given} (given)"
    active = steps.rows_of(*ACTIVE_KINDS)
    vv = voltage[active] if active.any() else voltage
    procs = [p for p in steps.columns["process"] if p]
    first = procs[0] if procs else None
    vmin = float(np.min(vv)) if vv.size else math.nan
    if math.isfinite(vmin) and vmin >= 0:
        if vmin < ANODE_BELOW_V:
            return "anode", (f"anode (inferred: lowest working voltage {vmin:.3g} V < "
                             f"{ANODE_BELOW_V} V)")
        return "cathode", (f"cathode or full cell (inferred: lowest working voltage "
                           f"{vmin:.3g} V >= {ANODE_BELOW_V} V); a cycle is a desodiation "
                           "(charge) followed by a sodiation (discharge)")
    if first == DESODIATION:
        return "cathode", ("cathode or full cell (inferred from the first step, a "
                           "desodiation; the voltage window is not a half cell's)")
    return "anode", ("anode (inferred from the first step, a sodiation; the voltage "
                     "window is not a half cell's)")


# --------------------------------------------------------------------------- technique
TECHNIQUE_CLASSES = ("cycling", "galvanostatic_one_direction", "gitt", "cv", "ca", "eis",
                     "ocv", "empty")


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
    kinds = steps.columns["kind"]
    rows = steps.columns["last_row"] - steps.columns["first_row"] + 1

    def nrows(*ks: str) -> int:
        return int(rows[np.isin(kinds, ks)].sum())

    working = nrows(*ACTIVE_KINDS, SWEEP)
    if working == 0:
        if nrows(IMPEDANCE):
            return "eis", "impedance rows only"
        return "ocv", "no current-carrying rows"
    if nrows(SWEEP) > 0.5 * working:
        return "cv", f"{int(np.sum(kinds == SWEEP))} potential sweep step(s)"
    n_pulse = int(np.sum(kinds == PULSE))
    if n_pulse:
        return "gitt", f"{n_pulse} current pulses between long rests"
    cc = np.isin(kinds, (CONSTANT_CURRENT, CONSTANT_POWER))
    procs = set(steps.columns["process"][cc]) - {""}
    if not cc.any():
        return "ca", "potential holds without current steps"
    if procs == {SODIATION, DESODIATION}:
        return "cycling", (f"{int(cc.sum())} current steps in both directions")
    return "galvanostatic_one_direction", (
        f"{int(cc.sum())} current step(s), all {next(iter(procs), 'without current')}")
