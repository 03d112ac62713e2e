"""Cycling summary of a per-half-cycle capacity table that has no time series (a Gamry
PWR800 ``CAPACITYCURVE``): the same per-cycle table, CE and flags as
:func:`nasurf.analysis.cycling.cycling_summary`, from the file's own charges."""

from __future__ import annotations

from typing import Any

import numpy as np

from nasurf.analysis.cycling._shared import (
    CE_RESOLUTION,
    DESODIATION,
    SECONDS_PER_HOUR,
    SODIATION,
    _positive_or_none,
)
from nasurf.analysis.cycling.cycles import (
    _cycle_arrays,
    _cycle_columns,
    _plausibility,
    _swap_processes,
)
from nasurf.analysis.cycling.halfcycles import _complete_half_cycles
from nasurf.analysis.cycling.rate import _rate_steps
from nasurf.analysis.cycling.results import CyclingResult
from nasurf.analysis.cycling.retention import _retention
from nasurf.errors import ValidationError


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
