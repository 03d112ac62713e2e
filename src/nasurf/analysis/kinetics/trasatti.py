"""Trasatti's extrapolations of the voltammetric charge q*(v) (methods.md §3): q_outer, q_total."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from nasurf.analysis.kinetics._tables import _write_tables
from nasurf.analysis.kinetics.branches import PreparedBranches, _prepared
from nasurf.analysis.kinetics.cvset import CVSet
from nasurf.analysis.kinetics.regression import _ols
from nasurf.analysis.kinetics.sweeps import BRANCHES, Branch
from nasurf.errors import ValidationError
from nasurf.options import choose

#: what the Trasatti charge is taken from: one branch, or the mean of both
_TRASATTI_BRANCHES: tuple[Branch | Literal["mean"], ...] = ("mean", *BRANCHES)

@dataclass(frozen=True, eq=False)
class TrasattiResult:
    """Outer (q_outer) and total (q_total) charge from the two Trasatti extrapolations."""

    q_outer: float
    q_outer_se: float
    q_total: float
    q_total_se: float
    q_inner: float
    inner_fraction: float
    r2_high_rate: float
    r2_low_rate: float
    high_rates_V_s: tuple[float, ...]
    low_rates_V_s: tuple[float, ...]
    charge_unit: str
    table: pd.DataFrame  # scan_rate_V_s, q, v^-1/2, 1/q, v^1/2, used_high, used_low
    warnings: tuple[str, ...]
    conventions: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "q_outer": self.q_outer,
            "q_outer_se": self.q_outer_se,
            "q_total": self.q_total,
            "q_total_se": self.q_total_se,
            "q_inner": self.q_inner,
            "inner_fraction": self.inner_fraction,
            "r2_high_rate": self.r2_high_rate,
            "r2_low_rate": self.r2_low_rate,
            "high_rates_mV_s": [v * 1e3 for v in self.high_rates_V_s],
            "low_rates_mV_s": [v * 1e3 for v in self.low_rates_V_s],
            "charge_unit": self.charge_unit,
            "table": self.table,
            "conventions": self.conventions,
            "warnings": list(self.warnings),
        }

    def to_csv(self, directory: str | Path, prefix: str = "trasatti") -> list[Path]:
        return _write_tables(directory, {f"{prefix}.csv": self.table})


def trasatti(
    scan_rates_V_s: Sequence[float],
    charges: Sequence[float],
    *,
    high_rates_V_s: Sequence[float] | None = None,
    low_rates_V_s: Sequence[float] | None = None,
    charge_unit: str = "C",
) -> TrasattiResult:
    """Trasatti extrapolations of the voltammetric charge q*(v).

    q* = q_outer + c1·v^-½ over the high-rate subset (intercept q_outer) and
    1/q* = 1/q_total + c2·v^½ over the low-rate subset (intercept 1/q_total). Subsets
    default to the top and bottom halves of the rates (each ≥ 3 points). The intercepts
    do not depend on the unit of v.
    """
    v = np.asarray(scan_rates_V_s, dtype=float)
    q = np.asarray(charges, dtype=float)
    if v.shape != q.shape or v.ndim != 1:
        raise ValidationError("scan rates and charges must be 1-D of equal length", field="charges")
    if np.any(~np.isfinite(v) | (v <= 0)) or np.any(~np.isfinite(q) | (q <= 0)):
        raise ValidationError("scan rates and charges must be positive and finite", field="charges")
    order = np.argsort(v)
    v, q = v[order], q[order]
    half = v.size // 2

    def subset(given: Sequence[float] | None, default: np.ndarray, name: str) -> np.ndarray:
        if given is None:
            sel = default
        else:
            g = np.asarray(given, dtype=float)
            sel = np.zeros(v.size, bool)
            for x in g:
                hit = np.isclose(v, x, rtol=1e-6)
                if not hit.any():
                    raise ValidationError(
                        f"rate {x * 1e3:g} mV/s of the {name} subset is not among the data",
                        field=name,
                    )
                sel |= hit
        if sel.sum() < 3:
            raise ValidationError(
                f"the {name} subset needs at least 3 scan rates, got {int(sel.sum())}",
                field=name,
            )
        return sel

    default_high = np.arange(v.size) >= v.size - max(half, 3)
    default_low = np.arange(v.size) < max(half, 3)
    hi = subset(high_rates_V_s, default_high, "high-rate")
    lo = subset(low_rates_V_s, default_low, "low-rate")
    fit_hi = _ols(v[hi] ** -0.5, q[hi])
    fit_lo = _ols(v[lo] ** 0.5, 1.0 / q[lo])
    q_outer = float(fit_hi.intercept)
    inv_total = float(fit_lo.intercept)
    q_total = 1.0 / inv_total if inv_total != 0 else math.nan
    q_total_se = float(fit_lo.intercept_se) / inv_total**2 if inv_total != 0 else math.nan
    warnings = []
    if q_outer < 0:
        warnings.append(f"negative q_outer intercept ({q_outer:.4g} {charge_unit})")
    if inv_total <= 0:
        warnings.append("1/q_total intercept is not positive: q_total is undefined")
    if np.isfinite(q_total) and q_total > 0 and q_outer > q_total:
        warnings.append("q_outer exceeds q_total: the two extrapolations are inconsistent")
    for name, f in (("high-rate", fit_hi), ("low-rate", fit_lo)):
        if np.isfinite(f.r2) and f.r2 < 0.95:
            warnings.append(f"{name} Trasatti fit R² = {float(f.r2):.3f} < 0.95")
    warnings.append(
        "Trasatti intercepts assume semi-infinite diffusion and depend strongly on the "
        "rate ranges used; report them with the ranges"
    )
    table = pd.DataFrame(
        {
            "scan_rate_V_s": v,
            "q": q,
            "v_pow_minus_half": v**-0.5,
            "inverse_q": 1.0 / q,
            "v_pow_half": v**0.5,
            "used_high_rate_fit": hi,
            "used_low_rate_fit": lo,
        }
    )
    q_inner = q_total - q_outer
    return TrasattiResult(
        q_outer=q_outer,
        q_outer_se=float(fit_hi.intercept_se),
        q_total=q_total,
        q_total_se=q_total_se,
        q_inner=q_inner,
        inner_fraction=q_inner / q_total if q_total else math.nan,
        r2_high_rate=float(fit_hi.r2),
        r2_low_rate=float(fit_lo.r2),
        high_rates_V_s=tuple(v[hi].tolist()),
        low_rates_V_s=tuple(v[lo].tolist()),
        charge_unit=charge_unit,
        table=table,
        warnings=tuple(warnings),
        conventions={"scan_rate_unit": "V/s", "charge_unit": charge_unit},
    )


def voltammetric_charge(
    prep: PreparedBranches, branch: Branch | Literal["mean"] = "mean", mass_g: float | None = None
) -> np.ndarray:
    """q*(v) = (1/v)∫|i|dE on the prepared grid (C, or mAh/g with ``mass_g``)."""
    branch = choose("branch", branch, _TRASATTI_BRANCHES,
                    where="voltammetric_charge")
    v = prep.scan_rates_V_s
    names = list(prep.grids) if branch == "mean" else [branch]
    qs = [np.trapezoid(np.abs(prep.currents[b]), prep.grids[b], axis=1) / v for b in names]
    q = np.mean(qs, axis=0)
    return q / (3.6 * mass_g) if mass_g else q


def trasatti_from_cvs(
    cvset: CVSet | PreparedBranches,
    *,
    mass_g: float | None = None,
    branch: Branch | Literal["mean"] = "mean",
    high_rates_V_s: Sequence[float] | None = None,
    low_rates_V_s: Sequence[float] | None = None,
    **prepare_kwargs: Any,
) -> TrasattiResult:
    """Trasatti analysis of q*(v) computed from CVs (same cycle and window as Dunn)."""
    branch = choose("branch", branch, _TRASATTI_BRANCHES,
                    where="trasatti_from_cvs")
    prep = _prepared(cvset, prepare_kwargs)
    if prep.scan_rates_V_s.size < 6 and high_rates_V_s is None and low_rates_V_s is None:
        # with fewer than 6 rates the default halves overlap; say so
        note = "fewer than 6 scan rates: the high- and low-rate subsets overlap"
    else:
        note = None
    q = voltammetric_charge(prep, branch, mass_g)
    res = trasatti(
        prep.scan_rates_V_s,
        q,
        high_rates_V_s=high_rates_V_s,
        low_rates_V_s=low_rates_V_s,
        charge_unit="mAh/g" if mass_g else "C",
    )
    conv = dict(prep.conventions)
    conv.update(res.conventions, branch=branch)
    warn = (*prep.warnings, *res.warnings, *((note,) if note else ()))
    return replace(res, conventions=conv, warnings=tuple(dict.fromkeys(warn)))
