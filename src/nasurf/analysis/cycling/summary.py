"""Galvanostatic cycling summary of one measurement (docs/methods.md, cycling).

Conventions (stored in every result):

- anodic current (desodiation of the anode) is positive, cathodic (sodiation) negative;
- a cycle is a sodiation followed by the desodiation after it (``cycle_mode=
  "sodiation_desodiation"``), or the instrument's own cycle counter (``"instrument"``);
  for a cathode or full cell a desodiation followed by a sodiation;
- capacities are positive magnitudes, in mAh g⁻¹ of active material when the mass is
  known, otherwise in mAh (with a warning), by integrating |I| dt (never the maximum of an
  instrument capacity column, which resets at every step on many cyclers);
- efficiencies and retentions are fractions (0.98 = 98 %)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from nasurf.analysis.cycling._shared import (
    CAPACITY_SOURCES,
    CE_RESOLUTION,
    CYCLE_MODES,
    DESODIATION,
    SECONDS_PER_HOUR,
    SODIATION,
    CapacitySource,
    CycleMode,
    ElectrodeRole,
    _frame,
    _positive_or_none,
    _quiet_division,
    _source_name,
    _time_series_dt,
)
from nasurf.analysis.cycling.cycles import (
    _cycle_arrays,
    _cycle_columns,
    _plausibility,
    _swap_processes,
)
from nasurf.analysis.cycling.halfcycles import (
    _assign_cycles,
    _complete_half_cycles,
    _median_abs_rows,
    _prepare,
    _process_names,
    _sampled_median_abs,
)
from nasurf.analysis.cycling.integration import (
    _block_index,
    _block_sums,
    _check_instrument,
    _entry_mask,
    _instrument_capacity,
    _interval_terms,
)
from nasurf.analysis.cycling.rate import _rate_steps
from nasurf.analysis.cycling.results import _MIN_CC_SHARE, CyclingResult
from nasurf.analysis.cycling.retention import _retention, parse_reference
from nasurf.errors import ValidationError
from nasurf.io.steps import CONSTANT_VOLTAGE, HPPC_PULSE, _lut, classify_steps
from nasurf.io.table import (
    CHARGE_CAPACITY,
    CURRENT,
    DISCHARGE_CAPACITY,
    NET_CAPACITY,
    EchemData,
)
from nasurf.options import choose


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
    capacity_source: CapacitySource = "current",
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
    capacity_source = choose("capacity_source", capacity_source, CAPACITY_SOURCES,
                             where="cycling_summary")
    cycle_mode = choose("cycle_mode", cycle_mode, CYCLE_MODES, where="cycling_summary")
    warnings: list[str] = []

    theo = _positive_or_none(theoretical_capacity_mAh_g, "theoretical_capacity_mAh_g", source)
    res = float(ce_resolution)
    if not (math.isfinite(res) and res >= 0):
        raise ValidationError(f"CE resolution must be >= 0, got {ce_resolution!r}",
                              field="ce_resolution")
    t, v, i, dt = _time_series_dt(data)
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
    blocks = _block_index(starts, stops, len(t))
    # the time steps (kept by _time_series_dt) are shared by the charge and energy
    # integrals where they are small next to the table (a long file has none: the
    # integrals build them block by block, for memory)
    q = _interval_terms(t, absi, starts, entry, dt)
    cap_As = per_hc(_block_sums(q, starts, stops, blocks))
    median_i = _sampled_median_abs(prep.i_seg, seg)

    cv_mask = steps.rows_of(CONSTANT_VOLTAGE) if steps.has(CONSTANT_VOLTAGE) else None
    cv_As = np.zeros(n_hc)
    if cv_mask is not None:
        q *= cv_mask[1:]
        cv_As = per_hc(_block_sums(q, starts, stops, blocks))
    del q
    # the current each half cycle was set to: the median |I| of its constant-current rows
    # (a hold's decaying current would pull a CC-CV half cycle's median far below its
    # set point, and cycle-to-cycle changes of that tail would read as rate steps)
    set_i = None
    held = (cv_As > 0).nonzero()[0] if cv_mask is not None else np.zeros(0, np.int64)
    if held.size:
        set_i = median_i.copy()
        set_i[held] = _set_current(prep.i_seg, cv_mask, seg, held)
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
    q = _interval_terms(t, p, starts, entry, dt)
    en_Ws = per_hc(_block_sums(q, starts, stops, blocks))
    cv_Ws = np.zeros(n_hc)
    if cv_mask is not None:
        q *= cv_mask[1:]
        cv_Ws = per_hc(_block_sums(q, starts, stops, blocks))
    del p, absi, q
    integral_As, integral_mAh = cap_As, cap_As / SECONDS_PER_HOUR * 1e3
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
    # (the integral's own mAh unless the counters or the hold exclusion replaced it)
    cap_mAh = (integral_mAh if cap_As is integral_As
               else cap_As / SECONDS_PER_HOUR * 1e3)
    en_mWh = en_Ws / SECONDS_PER_HOUR * 1e3
    with _quiet_division(cap_As):
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
        inst_mAh = hc_cols["instrument_capacity_mAh"] = inst_Ah * 1e3
        if capacity_source == "instrument":
            hc_cols["current_integral_mAh"] = integral_mAh
        _check_instrument(integral_mAh, inst_mAh, warnings)
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
    with _quiet_division(cyc["sodiation_mAh"]):
        ce = cyc["desodiation_mAh"] / cyc["sodiation_mAh"]
    ok = (number >= 1) & np.isfinite(q_sod) & np.isfinite(q_des) & cyc["complete"]
    one = (ok & (number == 1)).nonzero()[0]
    later = ok & (number >= 2)
    n_later = int(np.count_nonzero(later))

    def first_and_mean(col: np.ndarray) -> tuple[float | None, float | None]:
        # the mean as ndarray.mean computes it (pairwise sum / count), without its overhead
        return (float(col[one[0]]) if one.size else None,
                float(np.add.reduce(col[later]) / n_later) if n_later else None)

    ice, mean_ce = first_and_mean(ce)
    if ice is None:
        warnings.append("no complete first cycle (sodiation then desodiation): ICE undefined")
    irr_each = np.where(ok, q_sod - q_des, 0.0)
    irr = float(np.add.reduce(irr_each)) if np.count_nonzero(ok) else None
    cum_irr = np.where(ok, np.add.accumulate(irr_each), np.nan)

    # with and without holds: the default (include_cv_steps) is stated in conventions
    cv_first, cv_second = cyc["sodiation_cv_mAh"], cyc["desodiation_cv_mAh"]
    sign_cv = -1.0 if include_cv_steps else 1.0
    first_other = cyc["sodiation_mAh"] + sign_cv * cv_first
    with _quiet_division(first_other):
        ce_other = (cyc["desodiation_mAh"] + sign_cv * cv_second) / first_other
    ce_with, ce_without = (ce, ce_other) if include_cv_steps else (ce_other, ce)
    ice_other, mean_other = first_and_mean(ce_other)
    (ice_with, mean_with), (ice_without, mean_without) = (
        ((ice, mean_ce), (ice_other, mean_other)) if include_cv_steps
        else ((ice_other, mean_other), (ice, mean_ce)))
    flags.extend(_plausibility(number, ce, ok, k_form, res, cap_mAh, process, cycle, mass,
                               theo, first_proc, second_proc))
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


def _set_current(i: np.ndarray, cv_mask: np.ndarray, seg: Any, held: np.ndarray,
                 k: int = 31) -> np.ndarray:
    """The constant-current set point of each half cycle in ``held`` (those with a
    hold): the median |I| of up to ``k`` evenly spaced rows of its constant-current part,
    from its first row to the start of its first hold (NaN when it starts with the hold)."""
    first = seg.half_cycle_first_row[held]
    hold_starts = np.flatnonzero(cv_mask[1:] & ~cv_mask[:-1]) + 1
    if cv_mask[0]:
        hold_starts = np.concatenate(([0], hold_starts))
    # a held half cycle's first hold starts at or after its first row, inside it
    nxt = hold_starts[np.minimum(np.searchsorted(hold_starts, first), hold_starts.size - 1)]
    last = seg.half_cycle_last_row[held]
    length = np.where((nxt >= first) & (nxt <= last), nxt - first, last - first + 1)
    out = np.full(held.size, np.nan)
    some = length > 0
    if some.any():
        out[some] = _median_abs_rows(i, first[some], length[some],
                                     seg.half_cycle_sign[held][some], seg.threshold_A, k,
                                     min(k, int(length[some].max())))
    return out


def _hppc_note(steps: Any) -> str | None:
    """What the summary says about the HPPC pulses it left out, or None without any."""
    if not steps.has(HPPC_PULSE):
        return None
    sel = _lut((HPPC_PULSE,))[steps.step_kind]
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
