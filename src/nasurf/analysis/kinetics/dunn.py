"""Dunn's decomposition i(E) = k1(E)·v + k2(E)·v^½ (methods.md §2) and capacitive fractions."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from nasurf.analysis.kinetics._tables import _write_tables
from nasurf.analysis.kinetics.branches import PreparedBranches, _prepared
from nasurf.analysis.kinetics.cvset import CVSet
from nasurf.analysis.kinetics.regression import _ols
from nasurf.analysis.kinetics.sweeps import Branch
from nasurf.errors import ValidationError
from nasurf.options import choose

DunnMode = Literal["linearised", "direct"]
DUNN_MODES: tuple[DunnMode, ...] = ("linearised", "direct")

@dataclass(frozen=True, eq=False)
class DunnResult:
    """Dunn decomposition i(E) = k1(E)·v + k2(E)·v^½ per branch.

    ``coefficients``: branch, potential_V, k1 (A·s/V = F, or F/g when normalised), k1_se,
    k2 (A·s^½/V^½, or per g), k2_se, r2. ``envelopes``: measured, capacitive (k1·v) and
    diffusive (k2·v^½) current at each rate. ``fractions``: per rate Q_tot, Q_cap and
    f_cap per branch and combined (charge-based), and the area-ratio variant.
    ``flags``: fractions of the grid flagged, per branch. ``clipped`` holds a
    clipped result when requested (never replaces this one).
    """

    coefficients: pd.DataFrame
    envelopes: pd.DataFrame
    fractions: pd.DataFrame
    flags: dict[str, dict[str, float]]
    scan_rates_V_s: np.ndarray
    mode: str
    mass_g: float | None
    units: dict[str, str]
    conventions: dict[str, Any]
    warnings: tuple[str, ...]
    clipped: DunnResult | None = None

    def k1(self, branch: Branch) -> np.ndarray:
        return self.coefficients.loc[self.coefficients["branch"] == branch, "k1"].to_numpy()

    def k2(self, branch: Branch) -> np.ndarray:
        return self.coefficients.loc[self.coefficients["branch"] == branch, "k2"].to_numpy()

    def potential(self, branch: Branch) -> np.ndarray:
        sel = self.coefficients["branch"] == branch
        return self.coefficients.loc[sel, "potential_V"].to_numpy()

    @property
    def capacitive_fraction(self) -> np.ndarray:
        return self.fractions["capacitive_fraction"].to_numpy()

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for _, r in self.fractions.iterrows():
            d = {"scan_rate_mV_s": r["scan_rate_V_s"] * 1e3}
            d.update({k: r[k] for k in self.fractions.columns if k != "scan_rate_V_s"})
            rows.append(d)
        out = {
            "dunn": rows,
            "mode": self.mode,
            "flags": self.flags,
            "units": self.units,
            "conventions": self.conventions,
            "warnings": list(self.warnings),
        }
        if self.clipped is not None:
            out["clipped"] = [
                {"scan_rate_mV_s": r["scan_rate_V_s"] * 1e3, **{
                    k: r[k] for k in self.clipped.fractions.columns if k != "scan_rate_V_s"
                }}
                for _, r in self.clipped.fractions.iterrows()
            ]
        return out

    def to_csv(self, directory: str | Path, prefix: str = "dunn") -> list[Path]:
        tables = {
            f"{prefix}_coefficients.csv": self.coefficients,
            f"{prefix}_envelopes.csv": self.envelopes,
            f"{prefix}_fractions.csv": self.fractions,
        }
        if self.clipped is not None:
            tables[f"{prefix}_fractions_clipped.csv"] = self.clipped.fractions
        return _write_tables(directory, tables)


def dunn_analysis(
    cvset: CVSet | PreparedBranches,
    mass_g: float | None = None,
    *,
    mode: Literal["linearised", "direct"] = "linearised",
    envelope_rates_V_s: Sequence[float] | None = None,
    allow_extrapolation: bool = False,
    clip: bool = False,
    peak_shift_warning_V: float = 0.02,
    **prepare_kwargs: Any,
) -> DunnResult:
    """Dunn's k1·v + k2·v^½ decomposition per branch and potential (methods.md §2).

    ``mode="linearised"`` (default) fits i/√v = k1·√v + k2 by OLS at each grid potential;
    ``"direct"`` fits i = k1·v + k2·√v without intercept. Needs ≥ 4 scan rates (warns
    under 5). Charges per branch at rate v: Q_tot = (1/v)∫|i|dE, Q_cap = ∫|k1|dE; the
    combined fraction is ΣQ_cap/ΣQ_tot; the area-ratio variant ∮i_cap dE/∮i dE is
    reported beside it. With ``mass_g`` currents are per gram (k1 in F/g) and charges are
    also given in mAh/g. Values are never clipped; ``clip=True`` adds a clipped result
    (k1 forced to the branch sign and |k1·v| ≤ |i|) in ``.clipped``.
    """
    mode = choose("mode", mode, DUNN_MODES, where="dunn_analysis")
    if mass_g is not None and not (np.isfinite(mass_g) and mass_g > 0):
        raise ValidationError(f"active mass must be > 0 g, got {mass_g}", field="mass")
    prep = _prepared(cvset, prepare_kwargs)
    v = prep.scan_rates_V_s
    if v.size < 4:
        raise ValidationError(
            f"Dunn analysis needs at least 4 scan rates (2 parameters per potential), got "
            f"{v.size}",
            field="scan_rates",
        )
    warnings = list(prep.warnings)
    if v.size < 5:
        warnings.append(f"only {v.size} scan rates: 5–7 are recommended for the Dunn fit")
    if envelope_rates_V_s is None:
        env_rates = v
    else:
        env_rates = np.asarray(envelope_rates_V_s, dtype=float)
        outside = (env_rates < v.min() * (1 - 1e-9)) | (env_rates > v.max() * (1 + 1e-9))
        if outside.any() and not allow_extrapolation:
            raise ValidationError(
                f"envelope rates {env_rates[outside] * 1e3} mV/s lie outside the fitted range "
                f"{v.min() * 1e3:g}–{v.max() * 1e3:g} mV/s; pass allow_extrapolation=True",
                field="envelope_rates",
            )
    scale = 1.0 / mass_g if mass_g else 1.0
    sqv = np.sqrt(v)
    coef_frames, env_frames = [], []
    flags: dict[str, dict[str, float]] = {}
    q_tot = {b: np.zeros(v.size) for b in prep.grids}
    q_cap = {b: 0.0 for b in prep.grids}
    loop_tot = np.zeros(v.size)
    loop_cap = np.zeros(v.size)
    for b in prep.grids:
        grid = prep.grids[b]
        cur = prep.currents[b] * scale  # (n_rates, n_grid)
        if mode == "linearised":
            fit = _ols(sqv, cur / sqv[:, None])
            k1, k2, r2 = fit.slope, fit.intercept, fit.r2
            k1_se, k2_se = fit.slope_se, fit.intercept_se
        else:
            k1, k2, k1_se, k2_se, r2 = _direct_fit(v, cur)
        sign = 1.0 if b == "anodic" else -1.0
        wrong_k1 = sign * k1 < 0
        wrong_k2 = sign * k2 < 0
        over = np.any(np.abs(np.multiply.outer(v, k1)) > np.abs(cur), axis=0)
        low_r2 = np.isfinite(r2) & (r2 < 0.9)
        big_se = np.isfinite(k2_se) & (k2_se > np.abs(k2))
        flags[b] = {
            "k1_wrong_sign": float(np.mean(wrong_k1)),
            "k2_wrong_sign": float(np.mean(wrong_k2)),
            "capacitive_exceeds_total": float(np.mean(over)),
            "r2_below_0.9": float(np.mean(low_r2)),
            "k2_se_exceeds_k2": float(np.mean(big_se)),
        }
        if flags[b]["k1_wrong_sign"] > 0:
            warnings.append(
                f"{b} branch: k1 has the wrong sign on {flags[b]['k1_wrong_sign']:.1%} of the "
                "grid (not clipped); typical of iR drop or peak shift between rates"
            )
        if flags[b]["capacitive_exceeds_total"] > 0:
            warnings.append(
                f"{b} branch: |k1·v| exceeds |i| on {flags[b]['capacitive_exceeds_total']:.1%} "
                "of the grid (locally more than 100 % capacitive; not clipped)"
            )
        if flags[b]["r2_below_0.9"] > 0.05:
            warnings.append(
                f"{b} branch: R² < 0.9 on {flags[b]['r2_below_0.9']:.1%} of the grid: "
                "i/√v is not linear in √v there"
            )
        coef_frames.append(
            pd.DataFrame(
                {
                    "branch": b,
                    "potential_V": grid,
                    "k1": k1,
                    "k1_se": k1_se,
                    "k2": k2,
                    "k2_se": k2_se,
                    "r2": r2,
                    "n_rates": v.size,
                }
            )
        )
        for rate in env_rates:
            measured = np.full(grid.size, np.nan)
            hit = np.isclose(v, rate, rtol=1e-9)
            if hit.any():
                measured = cur[int(np.argmax(hit))]
            env_frames.append(
                pd.DataFrame(
                    {
                        "branch": b,
                        "scan_rate_V_s": rate,
                        "potential_V": grid,
                        "current": measured,
                        "capacitive_current": k1 * rate,
                        "diffusive_current": k2 * math.sqrt(rate),
                    }
                )
            )
        q_tot[b] = np.trapezoid(np.abs(cur), grid, axis=1) / v
        q_cap[b] = float(np.trapezoid(np.abs(k1), grid))
        # loop integral ∮ i dE: the anodic sweep runs up (+∫), the cathodic sweep down
        loop_tot += sign * np.trapezoid(cur, grid, axis=1)
        loop_cap += sign * np.trapezoid(np.multiply.outer(v, k1), grid, axis=1)
    fr = pd.DataFrame({"scan_rate_V_s": v})
    unit_q = "C/g" if mass_g else "C"
    for b in prep.grids:
        fr[f"Q_tot_{b}_{unit_q}"] = q_tot[b]
        fr[f"Q_cap_{b}_{unit_q}"] = q_cap[b]
        fr[f"capacitive_fraction_{b}"] = q_cap[b] / q_tot[b]
    total = sum(q_tot.values())
    cap = sum(q_cap.values())
    fr[f"Q_tot_{unit_q}"] = total
    fr[f"Q_cap_{unit_q}"] = cap
    fr["capacitive_fraction"] = cap / total
    with np.errstate(divide="ignore", invalid="ignore"):
        fr["capacitive_fraction_area"] = loop_cap / loop_tot
    if mass_g:
        for b in prep.grids:
            fr[f"Q_tot_{b}_mAh_g"] = q_tot[b] / 3.6
            fr[f"Q_cap_{b}_mAh_g"] = q_cap[b] / 3.6
        fr["Q_tot_mAh_g"] = total / 3.6
        fr["Q_cap_mAh_g"] = cap / 3.6
    if np.any(fr["capacitive_fraction"] > 1):
        warnings.append("capacitive fraction above 1 at some rate (reported, not clipped)")
    _peak_shift_warning(prep, peak_shift_warning_V, warnings)
    units = {
        "k1": "F/g" if mass_g else "F (A s/V)",
        "k2": "A s^0.5 V^-0.5 g^-1" if mass_g else "A s^0.5 V^-0.5",
        "current": "A/g" if mass_g else "A",
        "charge": unit_q,
        "potential": "V",
        "scan_rate": "V/s",
    }
    conv = dict(prep.conventions)
    conv.update(
        mode=mode,
        mass_g=mass_g,
        clipping="none",
        fraction_definition="sum over branches of Q_cap / sum of Q_tot; Q_tot=(1/v)∫|i|dE, "
        "Q_cap=∫|k1|dE",
        area_fraction_definition="∮ k1·v dE / ∮ i dE over the loop",
    )
    result = DunnResult(
        pd.concat(coef_frames, ignore_index=True),
        pd.concat(env_frames, ignore_index=True),
        fr,
        flags,
        v,
        mode,
        mass_g,
        units,
        conv,
        tuple(dict.fromkeys(warnings)),
    )
    if clip:
        result = replace(result, clipped=_clipped(result, prep, scale))
    return result


def _direct_fit(v: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, ...]:
    """No-intercept least squares of i on [v, √v] at every potential."""
    X = np.column_stack([v, np.sqrt(v)])
    coef, *_ = np.linalg.lstsq(X, cur, rcond=None)
    resid = cur - X @ coef
    dof = max(v.size - 2, 1)
    s2 = np.sum(resid**2, axis=0) / dof
    cov = np.linalg.inv(X.T @ X)
    k1_se = np.sqrt(s2 * cov[0, 0])
    k2_se = np.sqrt(s2 * cov[1, 1])
    ss_tot = np.sum((cur - cur.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1 - np.sum(resid**2, axis=0) / ss_tot, np.nan)
    return coef[0], coef[1], k1_se, k2_se, r2


def _clipped(result: DunnResult, prep: PreparedBranches, scale: float) -> DunnResult:
    """k1 forced to the branch sign and to |k1·v| ≤ |i| at every rate; fractions redone."""
    v = prep.scan_rates_V_s
    coef = result.coefficients.copy()
    fr = pd.DataFrame({"scan_rate_V_s": v})
    total = np.zeros(v.size)
    cap = np.zeros(v.size)
    for b in prep.grids:
        sel = coef["branch"] == b
        sign = 1.0 if b == "anodic" else -1.0
        cur = prep.currents[b] * scale
        k1 = coef.loc[sel, "k1"].to_numpy()
        k1c = sign * np.clip(sign * k1, 0, None)
        q_tot = np.trapezoid(np.abs(cur), prep.grids[b], axis=1) / v
        # per rate: capacitive charge limited to the measured current at that rate
        cap_b = np.trapezoid(
            np.minimum(np.abs(np.multiply.outer(v, k1c)), np.abs(cur)), prep.grids[b], axis=1
        ) / v
        coef.loc[sel, "k1"] = k1c
        fr[f"capacitive_fraction_{b}"] = cap_b / q_tot
        total += q_tot
        cap += cap_b
    fr["capacitive_fraction"] = cap / total
    conv = dict(result.conventions)
    conv["clipping"] = "k1 to branch sign; |k1 v| <= |i| per rate"
    return replace(
        result,
        coefficients=coef,
        fractions=fr,
        conventions=conv,
        warnings=(*result.warnings, "clipped result: for comparison only"),
        clipped=None,
    )


def _peak_shift_warning(prep: PreparedBranches, limit_V: float, warnings: list[str]) -> None:
    """Warn when the main peak of a branch moves with v: at fixed applied E the rates then
    sample different true potentials (iR drop or slow kinetics) and k1 is distorted."""
    for b in prep.grids:
        sign = 1.0 if b == "anodic" else -1.0
        cur = prep.currents[b]
        pos = prep.grids[b][np.argmax(sign * cur, axis=1)]
        # only meaningful when the branch has a real peak at every rate, not a monotonic
        # background whose maximum sits at the window edge
        interior = np.all(
            (np.argmax(sign * cur, axis=1) > 0) & (np.argmax(sign * cur, axis=1) < cur.shape[1] - 1)
        )
        shift = float(np.ptp(pos))
        if interior and shift > limit_V:
            msg = (
                f"{b} branch: the main peak moves by {shift * 1e3:.0f} mV across the scan rates"
            )
            if prep.conventions.get("ir_corrected"):
                msg += " even after iR correction (slow kinetics?)"
            else:
                msg += (
                    "; iR drop or slow kinetics distort k1(E) and can inflate the capacitive "
                    "fraction: iR-correct with Ru (--ru-ohm) or use only rates with small ΔEp"
                )
            warnings.append(msg)
