"""Physical plausibility of a canonical table: values no electrochemical cell produces.

A damaged file can parse cleanly into numbers no cell can give (a flipped exponent byte
makes -3e28 V, a cut frequency 1e-38 Hz, a corrupted date a negative Unix time). Such
values are not removed: the table is returned as read, with one warning per quantity that
counts the rows outside the range and gives the extremes, so nothing passes silently and
nothing is hidden. :func:`nasurf.io.read` calls :func:`check` on every reader's output.

The limits (:data:`LIMITS`) are deliberately wide: they bound laboratory cells and
potentiostats from a microelectrode to a large pouch cell, not a particular chemistry;
``docs/robustness.md`` states them with their reasons.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from nasurf.io import table as tb
from nasurf.io.table import EchemData


@dataclass(frozen=True)
class Limit:
    """A closed range in the column's SI unit, and why it bounds a real cell."""

    low: float
    high: float
    unit: str
    why: str


#: canonical column -> plausible range
LIMITS: dict[str, Limit] = {
    tb.VOLTAGE: Limit(-100.0, 100.0, "V", "no cell or potentiostat channel exceeds ±100 V"),
    tb.CURRENT: Limit(-1.0e4, 1.0e4, "A", "cycler channels stay below 10 kA"),
    tb.TIME: Limit(0.0, 3.2e9, "s", "test time runs from 0 to at most a century"),
    tb.FREQUENCY: Limit(1.0e-7, 1.0e9, "Hz",
                        "impedance analysers span 10 µHz to 1 GHz at the extremes"),
    tb.Z_REAL: Limit(-1.0e13, 1.0e13, "ohm", "|Z| above 10 TΩ is beyond any analyser"),
    tb.Z_IMAG: Limit(-1.0e13, 1.0e13, "ohm", "|Z| above 10 TΩ is beyond any analyser"),
    tb.TEMPERATURE: Limit(-100.0, 300.0, "degC", "cells are tested between -100 and 300 °C"),
    tb.NET_CAPACITY: Limit(-1.0e5, 1.0e5, "A h", "no tested cell holds 100 kAh"),
    tb.CHARGE_CAPACITY: Limit(-1.0e5, 1.0e5, "A h", "no tested cell holds 100 kAh"),
    tb.DISCHARGE_CAPACITY: Limit(-1.0e5, 1.0e5, "A h", "no tested cell holds 100 kAh"),
}
#: Unix time: no battery file predates 1970 + 20 years of digital cyclers, none is from
#: the future (one day of clock skew allowed)
UNIX_TIME_LOW = 631_152_000.0   # 1990-01-01T00:00:00Z
UNIX_TIME_SKEW_S = 86_400.0
#: a capacity counter cannot exceed the charge the current could pass: max|I| · duration;
#: this factor leaves room for currents that changed between logged rows
CAPACITY_SLACK = 2.0
#: specific capacity above this (mAh/g of active mass) is beyond any electrode material
#: (Li metal holds 3 860 mAh/g, Na metal 1 166 mAh/g)
SPECIFIC_CAPACITY_MAX_MAH_G = 5000.0


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _range_warning(col: str, values: np.ndarray, low: float, high: float, unit: str,
                   why: str) -> str | None:
    finite = np.isfinite(values)
    bad = finite & ((values < low) | (values > high))
    n = int(bad.sum())
    if not n:
        return None
    v = values[bad]
    return (f"implausible values: {n} of {values.size} rows have '{col}' outside "
            f"[{_fmt(low)}, {_fmt(high)}] {unit} (min {_fmt(float(v.min()))}, max "
            f"{_fmt(float(v.max()))}; {why}); the rows are kept: check the file")


def findings(echem: EchemData, *, now: float | None = None) -> list[str]:
    """The plausibility warnings for a table (empty when every value is plausible)."""
    df = echem.data
    out: list[str] = []
    for col, lim in LIMITS.items():
        if col in df.columns:
            values = df[col].to_numpy(dtype=np.float64, na_value=np.nan)
            if col == tb.FREQUENCY:
                # EC-Lab writes f = 0 on the rows of a mixed file that are no impedance point
                values = np.where(values == 0.0, np.nan, values)
            w = _range_warning(col, values, lim.low, lim.high, lim.unit, lim.why)
            if w:
                out.append(w)
    if tb.UNIX_TIME in df.columns:
        high = (time.time() if now is None else now) + UNIX_TIME_SKEW_S
        w = _range_warning(tb.UNIX_TIME, df[tb.UNIX_TIME].to_numpy(dtype=np.float64,
                                                                    na_value=np.nan),
                           UNIX_TIME_LOW, high, "s",
                           "a timestamp before 1990 or in the future")
        if w:
            out.append(w)
    out.extend(_capacity_findings(echem))
    return out


def _capacity_findings(echem: EchemData) -> list[str]:
    df = echem.data
    caps = [c for c in (tb.NET_CAPACITY, tb.CHARGE_CAPACITY, tb.DISCHARGE_CAPACITY)
            if c in df.columns]
    if not caps or not echem.is_time_series or len(df) < 2:
        return []
    t = df[tb.TIME].to_numpy(dtype=np.float64)
    current = np.abs(df[tb.CURRENT].to_numpy(dtype=np.float64))
    if not (np.isfinite(t).all() and np.isfinite(current).all()):
        return []
    passable_ah = float(current.max()) * float(t[-1] - t[0]) / 3600.0
    mass = echem.metadata.active_mass_g
    out = []
    for col in caps:
        q = np.abs(df[col].to_numpy(dtype=np.float64, na_value=np.nan))
        q = q[np.isfinite(q)]
        if not q.size:
            continue
        qmax = float(q.max())
        bound = CAPACITY_SLACK * passable_ah + 1e-9
        if qmax > bound:
            n = int((q > bound).sum())
            out.append(f"implausible values: {n} rows have '{col}' up to {_fmt(qmax)} Ah, "
                       f"more than {CAPACITY_SLACK:g}× the {_fmt(passable_ah)} Ah the "
                       "largest current could pass over the whole test; check the file")
        elif mass and qmax / mass * 1000.0 > SPECIFIC_CAPACITY_MAX_MAH_G:
            out.append(f"implausible values: '{col}' reaches {_fmt(qmax / mass * 1000.0)} "
                       f"mAh/g of the {_fmt(mass)} g active mass, beyond any electrode "
                       f"material (> {SPECIFIC_CAPACITY_MAX_MAH_G:g} mAh/g); check the mass "
                       "or the file")
    return out


def check(echem: EchemData) -> EchemData:
    """The table with one warning per implausible quantity added to its metadata."""
    found = [w for w in findings(echem) if w not in echem.metadata.warnings]
    if not found:
        return echem
    return replace(echem, metadata=replace(echem.metadata,
                                           warnings=(*echem.metadata.warnings, *found)))
