"""Differential capacity dQ/dV per half cycle (methods.md §7).

Owns the chain: one half cycle, rests dropped -> bin-average Q onto a uniform voltage grid
(removes non-monotonic noise) -> Savitzky-Golay first derivative -> integral check
(∫ dQ/dV dV must reproduce the half cycle's charge within 1 %, else a warning).

Sign: Q is the charge passed in the half cycle (positive, growing with time). During
sodiation the potential falls, so dQ/dV < 0 on the ``sodiation`` (cathodic) branch and
> 0 on the ``desodiation`` (anodic) branch; every curve carries its branch label.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import savgol_filter

from nasurf.analysis.cycling._shared import (
    DESODIATION,
    SODIATION,
    CycleMode,
    _frame,
    _positive_or_none,
    _source_name,
    _time_series,
)
from nasurf.analysis.cycling.halfcycles import _assign_cycles, _prepare
from nasurf.analysis.cycling.profiles import voltage_profiles
from nasurf.errors import ValidationError
from nasurf.io.table import EchemData

INTEGRAL_TOLERANCE = 0.01


@dataclass(frozen=True)
class DqdvCurve:
    """dQ/dV of one half cycle on a uniform voltage grid."""

    voltage_V: np.ndarray
    capacity: np.ndarray            # bin-averaged Q on the grid
    dqdv: np.ndarray                # capacity unit per V (signed, see module docstring)
    branch: str | None
    step_V: float
    window: int
    order: int
    integral: float                 # ∫ dQ/dV dV over the grid
    expected: float                 # Q(V_end) - Q(V_start) of the binned data
    integral_relative_error: float
    warnings: tuple[str, ...] = ()

    @property
    def peak(self) -> tuple[float, float]:
        """(voltage, dQ/dV) of the largest |dQ/dV|."""
        k = int(np.nanargmax(np.abs(self.dqdv)))
        return float(self.voltage_V[k]), float(self.dqdv[k])


def dqdv_curve(voltage: np.ndarray, capacity: np.ndarray, *, step_V: float = 0.001,
               window: int = 21, order: int = 3, branch: str | None = None) -> DqdvCurve:
    """dQ/dV of one half cycle given its voltage and cumulative capacity arrays.

    Q is bin-averaged on a grid of ``step_V`` (1-5 mV recommended), empty bins are filled
    by linear interpolation in V, and ``savgol_filter(Q, window, order, deriv=1,
    delta=step_V)`` gives the derivative. ``window`` must be odd and >= 2·order + 1.
    """
    v = np.asarray(voltage, float)
    q = np.asarray(capacity, float)
    if v.shape != q.shape or v.ndim != 1:
        raise ValidationError("voltage and capacity must be 1-D arrays of the same length")
    ok = np.isfinite(v) & np.isfinite(q)
    v, q = v[ok], q[ok]
    step = float(step_V)
    if not (math.isfinite(step) and step > 0):
        raise ValidationError(f"voltage step must be > 0 V, got {step_V!r}", field="step_V")
    if window % 2 == 0 or window < 2 * order + 1:
        raise ValidationError(f"Savitzky-Golay window must be odd and >= 2*order+1 "
                              f"({2 * order + 1}), got {window}", field="window")
    if v.size < 2:
        raise ValidationError("a dQ/dV curve needs at least 2 points", field="voltage")
    v0 = math.floor(v.min() / step + 0.5)
    idx = np.rint(v / step).astype(np.int64) - v0
    nbins = int(idx.max()) + 1
    if nbins < window:
        raise ValidationError(
            f"the half cycle spans {nbins} voltage bins of {step * 1e3:g} mV, fewer than "
            f"the Savitzky-Golay window ({window}); use a smaller step or window",
            field="window")
    counts = np.bincount(idx, minlength=nbins)
    sums = np.bincount(idx, weights=q, minlength=nbins)
    grid = (np.arange(nbins) + v0) * step
    have = counts > 0
    qbin = np.interp(grid, grid[have], sums[have] / counts[have])
    d = savgol_filter(qbin, window, order, deriv=1, delta=step)
    integral = float(np.trapezoid(d, grid))
    expected = float(qbin[-1] - qbin[0])
    rel = abs(integral - expected) / max(abs(expected), 1e-300)
    warnings: list[str] = []
    if rel > INTEGRAL_TOLERANCE:
        warnings.append(f"integral of dQ/dV ({integral:.4g}) differs from the charge "
                        f"({expected:.4g}) by {rel:.1%} (> 1 %): smoothing too strong or "
                        "grid too coarse for this curve")
    return DqdvCurve(grid, qbin, d, branch, step, window, order, integral, expected, rel,
                     tuple(warnings))


@dataclass(frozen=True)
class DqdvResult:
    """dQ/dV curves of several half cycles in one long table."""

    table: pd.DataFrame                      # cycle, half_cycle, branch, voltage_V, dqdv
    checks: pd.DataFrame                     # per curve: integral, expected, rel. error, peak
    capacity_unit: str
    settings: dict[str, Any]
    warnings: tuple[str, ...] = ()
    curves: dict[tuple[int, str], DqdvCurve] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"checks": self.checks, "capacity_unit": self.capacity_unit,
                "dqdv_unit": f"{self.capacity_unit}/V", "settings": self.settings,
                "warnings": list(self.warnings)}


def dqdv(data: EchemData | pd.DataFrame, *, cycles: list[int] | None = None,
         branches: tuple[str, ...] = (SODIATION, DESODIATION), active_mass_g: float | None = None,
         step_V: float = 0.001, window: int = 21, order: int = 3,
         rest_threshold_A: float | None = None, min_duration_s: float = 5.0,
         cycle_mode: CycleMode = "sodiation_desodiation",
         electrode: str = "auto") -> DqdvResult:
    """dQ/dV of the requested cycles (default all) and branches of a measurement, over
    constant-current rows only (holds are counted in a warning)."""
    source = _source_name(data)
    meta = data.metadata if isinstance(data, EchemData) else None
    mass = _positive_or_none(active_mass_g if active_mass_g is not None
                             else (meta.active_mass_g if meta else None), "active_mass_g", source)
    for b in branches:
        if b not in (SODIATION, DESODIATION):
            raise ValidationError(f"unknown branch '{b}'; expected sodiation or desodiation",
                                  field="branches")
    if cycles is not None:
        t, v, i = _time_series(data)
        seg = _prepare(data, t, v, i, rest_threshold_A, min_duration_s, electrode).seg
        known = set(_assign_cycles(_frame(data), seg, seg.half_cycle_first_row, cycle_mode,
                                   source, []).tolist())
        missing = sorted(set(int(c) for c in cycles) - known)
        if missing:
            raise ValidationError(f"cycle(s) {missing} not in the file (it has cycles "
                                  f"{min(known)}..{max(known)})", file=source, field="cycles")
    prof = voltage_profiles(data, cycles=cycles, active_mass_g=mass,
                            rest_threshold_A=rest_threshold_A, min_duration_s=min_duration_s,
                            cycle_mode=cycle_mode, electrode=electrode)  # type: ignore[arg-type]
    rows: list[pd.DataFrame] = []
    checks: list[dict[str, Any]] = []
    curves: dict[tuple[int, str], DqdvCurve] = {}
    warnings: list[str] = []
    n_hold = int((~prof["constant_current"].astype(bool)).sum()) if len(prof) else 0
    if n_hold:
        # a hold's charge at one voltage is a step, not a derivative: dQ/dV is a
        # constant-current quantity
        prof = prof[prof["constant_current"].astype(bool)]
        warnings_hold = [f"{n_hold} row(s) of constant-voltage holds left out of dQ/dV "
                         "(constant-current rows only)"]
    else:
        warnings_hold = []
    warnings.extend(warnings_hold)
    for (cyc, hc, branch), part in prof.groupby(["cycle", "half_cycle", "process"], sort=True):
        if branch not in branches:
            continue
        try:
            curve = dqdv_curve(part["voltage_V"].to_numpy(), part["capacity"].to_numpy(),
                               step_V=step_V, window=window, order=order, branch=branch)
        except ValidationError as exc:
            warnings.append(f"cycle {cyc} {branch}: skipped ({exc.reason})")
            continue
        curves[(int(cyc), str(branch))] = curve
        rows.append(pd.DataFrame({"cycle": cyc, "half_cycle": hc, "branch": branch,
                                  "voltage_V": curve.voltage_V, "capacity": curve.capacity,
                                  "dqdv": curve.dqdv}))
        pv, pd_ = curve.peak
        checks.append({"cycle": int(cyc), "half_cycle": int(hc), "branch": branch,
                       "integral": curve.integral, "expected": curve.expected,
                       "integral_relative_error": curve.integral_relative_error,
                       "peak_voltage_V": pv, "peak_dqdv": pd_})
        warnings.extend(f"cycle {cyc} {branch}: {w}" for w in curve.warnings)
    table = (pd.concat(rows, ignore_index=True) if rows else
             pd.DataFrame(columns=["cycle", "half_cycle", "branch", "voltage_V", "capacity",
                                   "dqdv"]))
    unit = "mAh/g" if mass else "mAh"
    return DqdvResult(table, pd.DataFrame(checks), unit,
                      {"step_V": step_V, "window": window, "order": order,
                       "method": "bin-average on uniform V grid + Savitzky-Golay derivative"},
                      tuple(warnings), curves)
