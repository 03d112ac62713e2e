"""Randles–Sevcik (methods.md §4): the apparent D from the slope of |ip| against v^½."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from nasurf.analysis.kinetics.bvalue import PeakKinetics
from nasurf.analysis.kinetics.regression import _ols, _ols_origin
from nasurf.constants import FARADAY_C_PER_MOL as FARADAY
from nasurf.constants import GAS_CONSTANT_J_PER_MOL_K as GAS_CONSTANT
from nasurf.constants import ROOM_TEMPERATURE_K as T_REF
from nasurf.errors import ValidationError
from nasurf.options import choose

# Dimensionless peak-current functions (Bard & Faulkner): reversible π^½·χ(σt)max and
# irreversible π^½·χ(bt)max.
RS_REVERSIBLE_FACTOR = 0.4463
RS_IRREVERSIBLE_FACTOR = 0.4958
RSForm = Literal["reversible", "irreversible"]
RS_FORMS: tuple[RSForm, ...] = ("reversible", "irreversible")


def randles_sevcik_constant(
    temperature_K: float = T_REF, *, form: Literal["reversible", "irreversible"] = "reversible"
) -> float:
    """Prefactor in ip = K·n^(3/2)·A·C·D^½·v^½ (reversible) or ip = K·n·(α·n_a)^½·A·C·D^½·v^½
    (irreversible), SI-electrochemical units (A, cm², mol/cm³, cm²/s, V/s).

    Reversible: 0.4463·F·(F/(R·T))^½ = 2.6865e5 at 298.15 K; irreversible: 0.4958·F·(F/(RT))^½
    (2.99e5 at 25 °C).
    """
    form = choose("form", form, RS_FORMS, where="Randles–Sevcik")
    if not temperature_K > 0:
        raise ValidationError(f"temperature must be > 0 K, got {temperature_K}",
                              field="temperature")
    factor = RS_REVERSIBLE_FACTOR if form == "reversible" else RS_IRREVERSIBLE_FACTOR
    return factor * FARADAY * math.sqrt(FARADAY / (GAS_CONSTANT * temperature_K))


def randles_sevcik_peak_current(
    D_cm2_s: float | np.ndarray,
    scan_rate_V_s: float | np.ndarray,
    *,
    n: float = 1.0,
    area_cm2: float,
    concentration_mol_cm3: float,
    temperature_K: float = T_REF,
    form: Literal["reversible", "irreversible"] = "reversible",
    alpha_na: float | None = None,
) -> float | np.ndarray:
    """Forward Randles–Sevcik peak current (A)."""
    k = randles_sevcik_constant(temperature_K, form=form)
    pref = _rs_prefactor(k, n, area_cm2, concentration_mol_cm3, form, alpha_na)
    return pref * np.sqrt(D_cm2_s) * np.sqrt(scan_rate_V_s)


def _rs_prefactor(
    k: float, n: float, area: float, conc: float, form: str, alpha_na: float | None
) -> float:
    for name, val in (("n", n), ("area_cm2", area), ("concentration_mol_cm3", conc)):
        if not (np.isfinite(val) and val > 0):
            raise ValidationError(f"{name} must be > 0, got {val}", field=name)
    if form == "reversible":
        return k * n**1.5 * area * conc
    if form == "irreversible":
        if alpha_na is None or not alpha_na > 0:
            raise ValidationError(
                "the irreversible form needs alpha_na = α·n_a > 0", field="alpha_na"
            )
        return k * n * math.sqrt(alpha_na) * area * conc
    raise ValidationError(f"form must be reversible or irreversible, got {form!r}", field="form")


@dataclass(frozen=True, eq=False)
class RandlesSevcikResult:
    """Apparent D from the slope of |ip| against v^½ (through the origin and with intercept)."""

    D_cm2_s: float  # through-origin fit (the textbook form)
    D_with_intercept_cm2_s: float
    slope_A_per_sqrt_V_s: float
    slope_se: float
    r2_through_origin: float
    slope_with_intercept: float
    slope_with_intercept_se: float
    intercept_A: float
    intercept_se_A: float
    r2_with_intercept: float
    n_points: int
    constant: float
    inputs: dict[str, Any]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__} | {
            "warnings": list(self.warnings),
            "D_definition": "apparent D (semi-infinite planar diffusion assumed)",
        }


def randles_sevcik_D(
    scan_rates_V_s: Sequence[float],
    peak_currents_A: Sequence[float],
    *,
    n: float = 1.0,
    area_cm2: float,
    concentration_mol_cm3: float,
    temperature_K: float = T_REF,
    form: Literal["reversible", "irreversible"] = "reversible",
    alpha_na: float | None = None,
    b_value: float | None = None,
    baseline: str = "unspecified",
) -> RandlesSevcikResult:
    """Apparent D from Randles–Sevcik: D = (S/(K·n^1.5·A·C))² with S the slope of |ip| vs √v.

    Fits both through the origin (reported as ``D_cm2_s``) and with an intercept (a large
    intercept signals non-diffusive current). Warns when R² < 0.98 or the b-value (given
    or computed from the same points) lies outside 0.5 ± 0.1: Randles–Sevcik then does not
    apply. State ``area_cm2`` and ``concentration_mol_cm3`` conventions: D ∝ 1/(A·C)².
    """
    v = np.asarray(scan_rates_V_s, dtype=float)
    ip = np.abs(np.asarray(peak_currents_A, dtype=float))
    if v.shape != ip.shape or v.size < 2:
        raise ValidationError(
            "need at least 2 (scan rate, peak current) pairs of equal length", field="peak_currents"
        )
    if np.any(~np.isfinite(v) | (v <= 0)) or np.any(~np.isfinite(ip) | (ip <= 0)):
        raise ValidationError("scan rates and peak currents must be non-zero and finite",
                              field="peak_currents")
    k = randles_sevcik_constant(temperature_K, form=form)
    pref = _rs_prefactor(k, n, area_cm2, concentration_mol_cm3, form, alpha_na)
    x = np.sqrt(v)
    s0, s0_se, r2_0 = _ols_origin(x, ip)
    warnings = []
    if v.size >= 3:
        fit = _ols(x, ip)
        s1, s1_se, c1, c1_se, r2_1 = (
            float(fit.slope), float(fit.slope_se), float(fit.intercept),
            float(fit.intercept_se), float(fit.r2),
        )
    else:
        s1 = s1_se = c1 = c1_se = r2_1 = math.nan
        warnings.append("only 2 points: no fit with intercept")
    if b_value is None and v.size >= 2:
        b_value = float(_ols(np.log10(v), np.log10(ip)).slope)
    r2_check = r2_1 if np.isfinite(r2_1) else r2_0
    if np.isfinite(r2_check) and r2_check < 0.98:
        warnings.append(f"|ip| vs v^½ is not linear (R² = {r2_check:.3f} < 0.98): "
                        "Randles–Sevcik does not apply")
    if b_value is not None and abs(b_value - 0.5) > 0.1:
        warnings.append(f"b = {b_value:.3f} is outside 0.5 ± 0.1: the current is not "
                        "diffusion-controlled and the Randles–Sevcik D is not meaningful")
    if np.isfinite(c1) and np.isfinite(c1_se) and abs(c1) > 2 * c1_se and abs(c1) > 0.05 * ip.max():
        warnings.append(f"significant intercept {c1:.3g} A in |ip| vs v^½: non-diffusive "
                        "current (capacitive or baseline) in the peak heights")
    D0 = (s0 / pref) ** 2
    D1 = (s1 / pref) ** 2 if np.isfinite(s1) and s1 > 0 else math.nan
    return RandlesSevcikResult(
        D_cm2_s=D0,
        D_with_intercept_cm2_s=D1,
        slope_A_per_sqrt_V_s=s0,
        slope_se=s0_se,
        r2_through_origin=r2_0,
        slope_with_intercept=s1,
        slope_with_intercept_se=s1_se,
        intercept_A=c1,
        intercept_se_A=c1_se,
        r2_with_intercept=r2_1,
        n_points=int(v.size),
        constant=k,
        inputs={
            "n": n,
            "area_cm2": area_cm2,
            "concentration_mol_cm3": concentration_mol_cm3,
            "temperature_K": temperature_K,
            "form": form,
            "alpha_na": alpha_na,
            "b_value": b_value,
            "baseline": baseline,
        },
        warnings=tuple(warnings),
    )


def randles_sevcik_from_peaks(
    kinetics: PeakKinetics,
    *,
    n: float = 1.0,
    area_cm2: float,
    concentration_mol_cm3: float,
    temperature_K: float = T_REF,
    form: Literal["reversible", "irreversible"] = "reversible",
    alpha_na: float | None = None,
) -> dict[str, RandlesSevcikResult]:
    """Apparent D per tracked peak (keyed by peak_id), from the baseline-corrected heights."""
    out = {}
    for _, f in kinetics.fits.iterrows():
        rows = kinetics.peaks[kinetics.peaks["peak_id"] == f["peak_id"]]
        if not np.isfinite(f["b"]):
            continue
        out[f["peak_id"]] = randles_sevcik_D(
            rows["scan_rate_V_s"].to_numpy(),
            rows["height_A"].to_numpy(),
            n=n,
            area_cm2=area_cm2,
            concentration_mol_cm3=concentration_mol_cm3,
            temperature_K=temperature_K,
            form=form,
            alpha_na=alpha_na,
            b_value=float(f["b"]),
            baseline=kinetics.baseline,
        )
    return out
