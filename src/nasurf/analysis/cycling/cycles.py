"""The per-cycle table: capacities, hold shares, energies, average voltages and hysteresis
summed from the half cycles of each process, and the plausibility flags on them."""

from __future__ import annotations

from typing import Any

import numpy as np

from nasurf.analysis.cycling._shared import (
    CE_FLOOR_AFTER_FORMATION,
    DESODIATION,
    SODIATION,
    _quiet_division,
)


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
    for k in (ok & (ce > 1 + res)).nonzero()[0]:
        c = int(number[k])
        name = "ice_above_one" if c == 1 else "ce_above_one"
        flags.append({"flag": name, "cycle": c, "half_cycle": None, "value": float(ce[k]),
                      "message": f"cycle {c}: {'ICE' if c == 1 else 'CE'} {ce[k]:.4g} > 1 + "
                                 f"{res:g} ({ratio}): more charge back than in; wrong "
                                 "electrode role (--electrode), a partial half cycle or a "
                                 "mis-segmented file"})
    low = ok & (number > max(k_form, 1)) & (ce < CE_FLOOR_AFTER_FORMATION)
    for k in low.nonzero()[0]:
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
    if cycle.size and np.count_nonzero(cycle[1:] < cycle[:-1]) == 0:
        # sorted (always in sodiation_desodiation mode): np.unique without its sort
        new = np.empty(cycle.size, bool)
        new[0] = True
        np.not_equal(cycle[1:], cycle[:-1], out=new[1:])
        number = cycle[new]
        idx = np.add.accumulate(new, dtype=np.int64)
        idx -= 1
    else:
        number, idx = np.unique(cycle, return_inverse=True)
    n = number.size
    # one bincount for the 4 quantities x 2 processes: bin (quantity, process, cycle);
    # each bin adds its half cycles in the same order as a bincount per column would
    slot = (sign > 0) * n                          # half-cycle signs are +-1, never 0
    slot += idx
    count = np.bincount(slot, minlength=2 * n).reshape(2, n)
    quantities = (cap, energy, cv, current) if set_current is None else (
        cap, energy, cv, current, set_current)
    nq = len(quantities)
    values = np.array(quantities, dtype=np.float64)
    bins = (slot + np.arange(0, 2 * nq * n, 2 * n)[:, None]).ravel()
    sums = np.bincount(bins, weights=values.ravel(), minlength=2 * nq * n).reshape(nq, 2, n)
    if np.count_nonzero(count) < count.size:
        sums[:, count == 0] = np.nan
    out: dict[str, np.ndarray] = {"cycle": number}
    # both processes divided at once (rows of the (process, cycle) planes)
    # one half cycle per process and cycle in sodiation_desodiation mode; with
    # several (instrument mode) the mean of their median currents (a count of 0 meets a
    # NaN sum: NaN, no floating-point warning)
    mean_cur = sums[3:] / count
    with _quiet_division(sums[0]):          # no charge: no average voltage (NaN)
        avg_v = sums[1] / sums[0]
    for k, proc in enumerate((SODIATION, DESODIATION)):
        out[f"{proc}_mAh"] = sums[0, k]
        out[f"{proc}_energy_mWh"] = sums[1, k]
        out[f"{proc}_cv_mAh"] = sums[2, k]
        out[f"{proc}_current_A"] = mean_cur[0, k]
        if set_current is not None:
            out[f"{proc}_set_current_A"] = mean_cur[1, k]
        out[f"{proc}_average_voltage_V"] = avg_v[k]
    out["complete"] = np.isfinite(out["sodiation_mAh"]) & np.isfinite(out["desodiation_mAh"])
    if np.count_nonzero(complete) < complete.size:       # a cycle with an incomplete half
        out["complete"] &= np.bincount(idx, weights=~complete, minlength=n) == 0
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
