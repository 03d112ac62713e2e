"""Voltage profiles (capacity against voltage per half cycle) and the slope/plateau
capacity split of hard carbon."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from nasurf.analysis.cycling._shared import (
    SECONDS_PER_HOUR,
    CycleMode,
    ElectrodeRole,
    _frame,
    _positive_or_none,
    _source_name,
    _time_series,
)
from nasurf.analysis.cycling.halfcycles import _assign_cycles, _prepare, _process_names
from nasurf.analysis.cycling.integration import _interval_sums
from nasurf.errors import ValidationError
from nasurf.io.table import (
    EchemData,
)


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
