"""b-values (methods.md §1): peak b from log|ip| = log a + b·log v, and b(E) on the grid.

A b near 0.5 is a diffusion-limited current, near 1 a surface (capacitive) one; both are
reported with their standard error, R², range and flags (curvature, low R², peak shift).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.analysis.kinetics._tables import _write_tables
from nasurf.analysis.kinetics.branches import PreparedBranches, _prepared
from nasurf.analysis.kinetics.cvset import CVSet
from nasurf.analysis.kinetics.peaks import (
    BASELINES,
    BaselineMode,
    _baseline_at,
    _find_branch_peaks,
    _pair_couples,
    _track_peaks,
)
from nasurf.analysis.kinetics.regression import _noise_level, _ols
from nasurf.options import choose


@dataclass(frozen=True, eq=False)
class PeakKinetics:
    """Peaks tracked across scan rates and their power-law fits log|ip| = log a + b·log v.

    ``peaks``: one row per peak and scan rate (peak_id, branch, scan_rate_V_s, potential_V,
    current_A (raw), baseline_A, height_A (current − baseline), shift_V from the lowest
    rate). ``fits``: one row per peak (b, b_stderr, a in A/(V/s)^b, r2, n, v range, flags).
    ``local_slopes``: b from consecutive rate pairs. ``couples``: ΔEp(v) = Ep,anodic −
    Ep,cathodic for paired peaks.
    """

    peaks: pd.DataFrame
    fits: pd.DataFrame
    local_slopes: pd.DataFrame
    couples: pd.DataFrame
    scan_rates_V_s: np.ndarray
    baseline: str
    conventions: dict[str, Any]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        out = []
        for _, f in self.fits.iterrows():
            rows = self.peaks[self.peaks["peak_id"] == f["peak_id"]].sort_values(
                "scan_rate_V_s"
            )
            loc = self.local_slopes[self.local_slopes["peak_id"] == f["peak_id"]]
            out.append(
                {
                    "peak_id": f["peak_id"],
                    "branch": f["branch"],
                    "scan_rate_mV_s": (rows["scan_rate_V_s"] * 1e3).tolist(),
                    "potential_V": rows["potential_V"].tolist(),
                    "current_A": rows["current_A"].tolist(),
                    "height_A": rows["height_A"].tolist(),
                    "b": f["b"],
                    "b_stderr": f["b_stderr"],
                    "a_A_per_V_s_pow_b": f["a"],
                    "r2": f["r2"],
                    "n": int(f["n"]),
                    "scan_rate_range_mV_s": [f["v_min_V_s"] * 1e3, f["v_max_V_s"] * 1e3],
                    "b_local": loc["b_local"].tolist(),
                    "curvature_flag": bool(f["curvature_flag"]),
                    "low_r2_flag": bool(f["low_r2_flag"]),
                }
            )
        return {
            "baseline": self.baseline,
            "peaks": out,
            "couples": self.couples,
            "conventions": self.conventions,
            "warnings": list(self.warnings),
        }

    def to_csv(self, directory: str | Path, prefix: str = "cv_peaks") -> list[Path]:
        return _write_tables(
            directory,
            {
                f"{prefix}.csv": self.peaks,
                f"{prefix}_fits.csv": self.fits,
                f"{prefix}_local_slopes.csv": self.local_slopes,
                f"{prefix}_couples.csv": self.couples,
            },
        )


def b_value_peaks(
    cvset: CVSet | PreparedBranches,
    *,
    baseline: BaselineMode = "none",
    baseline_points_V: Mapping[str, tuple[float, float]] | None = None,
    capacitive_window_V: tuple[float, float] | None = None,
    tracking_window_V: float = 0.1,
    prominence_fraction: float = 0.05,
    smooth_window_V: float = 0.02,
    smooth_order: int = 3,
    min_rates: int = 3,
    **prepare_kwargs: Any,
) -> PeakKinetics:
    """Peak currents across scan rates and b from log10|ip| = log10 a + b·log10 v.

    Peaks are located on Savitzky–Golay-smoothed branches (``smooth_window_V`` ≈ 20 mV)
    with ``find_peaks`` at a prominence of ``prominence_fraction`` of the branch's |i|max;
    heights are read from the unsmoothed data. A peak is tracked from the lowest rate
    upwards by the nearest potential within ``tracking_window_V`` of its position at the
    previous rate (peaks shift with v). Peaks found at fewer than ``min_rates`` rates are
    dropped with a warning. ``baseline``: ``none`` (raw current, the literature default),
    ``linear`` (tangent through two pre-peak points: ``baseline_points_V[branch]`` or
    auto-detected) or ``capacitive`` (mean current in ``capacitive_window_V``).
    """
    baseline = choose("baseline", baseline, BASELINES, where="b_value_peaks")
    prep = _prepared(cvset, prepare_kwargs)
    rates = prep.scan_rates_V_s
    warnings = list(prep.warnings)
    _rate_count_warning(rates, warnings)
    peak_rows = []
    fit_rows = []
    local_rows = []
    for b in prep.grids:
        grid = prep.grids[b]
        found = []
        for r, i in enumerate(prep.currents[b]):
            idx, props = _find_branch_peaks(
                grid,
                i,
                b,
                smooth_window_V=smooth_window_V,
                smooth_order=smooth_order,
                prominence_fraction=prominence_fraction,
            )
            bases = props.get("left_bases" if b == "anodic" else "right_bases", np.zeros(0, int))
            # pre-peak side: on the cathodic branch the sweep runs to lower E, i.e. the
            # pre-peak points are at higher E (right base on an ascending grid)
            found.append((r, idx, bases))
        tracks = _track_peaks(grid, found, tracking_window_V)
        pid_base = "A" if b == "anodic" else "C"
        for t_no, track in enumerate(tracks, start=1):
            pid = f"{pid_base}{t_no}"
            if len(track) < min_rates:
                e0 = grid[track[0][1]]
                warnings.append(
                    f"{b} peak near {e0:.3f} V found at only {len(track)} scan rate(s) "
                    f"(< {min_rates}); not fitted"
                )
                continue
            e_first = None
            rows = []
            for r, k, base in track:
                i = prep.currents[b][r]
                pts = None if baseline_points_V is None else baseline_points_V.get(b)
                bl = _baseline_at(grid, i, k, base, b, baseline, pts, capacitive_window_V)
                e_first = grid[k] if e_first is None else e_first
                rows.append(
                    {
                        "peak_id": pid,
                        "branch": b,
                        "scan_rate_V_s": rates[r],
                        "potential_V": float(grid[k]),
                        "current_A": float(i[k]),
                        "baseline_A": bl,
                        "height_A": float(i[k]) - bl,
                        "shift_V": float(grid[k]) - e_first,
                    }
                )
            peak_rows.extend(rows)
            v = np.array([row["scan_rate_V_s"] for row in rows])
            h = np.array([row["height_A"] for row in rows])
            sign = 1.0 if b == "anodic" else -1.0
            if np.any(sign * h <= 0):
                warnings.append(
                    f"peak {pid} ({b}): the {baseline}-baseline-corrected height has the "
                    "wrong sign at some rate; b not fitted"
                )
                fit_rows.append(_empty_fit(pid, b, v))
                continue
            fit = _ols(np.log10(v), np.log10(np.abs(h)))
            b_loc = np.diff(np.log10(np.abs(h))) / np.diff(np.log10(v))
            for (v1, v2, bl_) in zip(v[:-1], v[1:], b_loc, strict=True):
                local_rows.append(
                    {
                        "peak_id": pid,
                        "branch": b,
                        "v_low_V_s": v1,
                        "v_high_V_s": v2,
                        "b_local": float(bl_),
                    }
                )
            curvature = bool(b_loc.size > 1 and np.ptp(b_loc) > 0.1)
            low_r2 = bool(np.isfinite(fit.r2) and fit.r2 < 0.98)
            if curvature:
                warnings.append(
                    f"peak {pid} ({b}): local b varies by {np.ptp(b_loc):.2f} (> 0.1) across "
                    "the rates; log|ip| vs log v is curved (mixed control, iR or peak "
                    "shift); fit only its linear part"
                )
            if low_r2:
                warnings.append(f"peak {pid} ({b}): R² = {float(fit.r2):.3f} < 0.98")
            fit_rows.append(
                {
                    "peak_id": pid,
                    "branch": b,
                    "b": float(fit.slope),
                    "b_stderr": float(fit.slope_se),
                    "log10_a": float(fit.intercept),
                    "a": float(10 ** fit.intercept),
                    "r2": float(fit.r2),
                    "n": fit.n,
                    "v_min_V_s": float(v.min()),
                    "v_max_V_s": float(v.max()),
                    "potential_low_rate_V": float(rows[0]["potential_V"]),
                    "max_shift_V": float(max(abs(r_["shift_V"]) for r_ in rows)),
                    "curvature_flag": curvature,
                    "low_r2_flag": low_r2,
                    "baseline": baseline,
                }
            )
    peaks = pd.DataFrame(peak_rows, columns=list(_PEAK_COLUMNS))
    fits = pd.DataFrame(fit_rows, columns=list(_FIT_COLUMNS))
    local = pd.DataFrame(
        local_rows, columns=["peak_id", "branch", "v_low_V_s", "v_high_V_s", "b_local"]
    )
    couples = _pair_couples(peaks, fits)
    if not fit_rows:
        warnings.append("no peak was found at enough scan rates; no b-value computed")
    big_shift = fits[fits["max_shift_V"] > 0.02] if len(fits) else fits
    for _, f in big_shift.iterrows():
        warnings.append(
            f"peak {f['peak_id']} ({f['branch']}) shifts by {f['max_shift_V'] * 1e3:.0f} mV "
            "across the rates: ohmic drop or slow kinetics lower the apparent b; "
            "iR-correct (Ru) or restrict to the rates where ΔEp is small"
        )
    conventions = dict(prep.conventions)
    conventions.update(
        baseline=baseline,
        prominence_fraction=prominence_fraction,
        smooth_window_V=smooth_window_V,
        tracking_window_V=tracking_window_V,
        b_definition="OLS slope of log10|ip| on log10 v (unit-invariant)",
        a_units="A/(V/s)^b",
    )
    return PeakKinetics(
        peaks, fits, local, couples, rates, baseline, conventions, tuple(dict.fromkeys(warnings))
    )


_PEAK_COLUMNS = (
    "peak_id",
    "branch",
    "scan_rate_V_s",
    "potential_V",
    "current_A",
    "baseline_A",
    "height_A",
    "shift_V",
)
_FIT_COLUMNS = (
    "peak_id",
    "branch",
    "b",
    "b_stderr",
    "log10_a",
    "a",
    "r2",
    "n",
    "v_min_V_s",
    "v_max_V_s",
    "potential_low_rate_V",
    "max_shift_V",
    "curvature_flag",
    "low_r2_flag",
    "baseline",
)


def _empty_fit(pid: str, branch: str, v: np.ndarray) -> dict[str, Any]:
    return {
        "peak_id": pid,
        "branch": branch,
        "b": math.nan,
        "b_stderr": math.nan,
        "log10_a": math.nan,
        "a": math.nan,
        "r2": math.nan,
        "n": int(v.size),
        "v_min_V_s": float(v.min()),
        "v_max_V_s": float(v.max()),
        "potential_low_rate_V": math.nan,
        "max_shift_V": 0.0,
        "curvature_flag": False,
        "low_r2_flag": False,
        "baseline": "",
    }


def _rate_count_warning(rates: np.ndarray, warnings: list[str]) -> None:
    if rates.size < 5:
        warnings.append(
            f"only {rates.size} scan rates: at least 5 spanning 10x are recommended"
        )
    elif rates.max() / rates.min() < 10:
        warnings.append(
            f"scan rates span only {rates.max() / rates.min():.1f}x (10x recommended)"
        )


@dataclass(frozen=True, eq=False)
class BValueMap:
    """b at each grid potential per branch (NaN where masked)."""

    table: pd.DataFrame  # branch, potential_V, b, b_stderr, r2, masked
    conventions: dict[str, Any]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "conventions": self.conventions,
            "warnings": list(self.warnings),
        }

    def to_csv(self, directory: str | Path, prefix: str = "cv_b_map") -> list[Path]:
        return _write_tables(directory, {f"{prefix}.csv": self.table})


def b_value_map(
    cvset: CVSet | PreparedBranches,
    *,
    noise_factor: float = 3.0,
    **prepare_kwargs: Any,
) -> BValueMap:
    """b(E): regress log10|i(E)| on log10 v at each grid potential, per branch.

    A potential is masked when the current changes sign across the rates or when |i| at
    any rate is below ``noise_factor`` × the noise of that CV (estimated from second
    differences of the gridded current).
    """
    prep = _prepared(cvset, prepare_kwargs)
    logv = np.log10(prep.scan_rates_V_s)
    frames = []
    masked_share = {}
    for b in prep.grids:
        cur = prep.currents[b]
        noise = np.array([_noise_level(row) for row in cur])[:, None]
        same_sign = np.all(cur > 0, axis=0) | np.all(cur < 0, axis=0)
        above = np.all(np.abs(cur) > noise_factor * noise, axis=0)
        ok = same_sign & above
        with np.errstate(divide="ignore", invalid="ignore"):
            fit = _ols(logv, np.log10(np.where(ok, np.abs(cur), 1.0)))
        frames.append(
            pd.DataFrame(
                {
                    "branch": b,
                    "potential_V": prep.grids[b],
                    "b": np.where(ok, fit.slope, np.nan),
                    "b_stderr": np.where(ok, fit.slope_se, np.nan),
                    "r2": np.where(ok, fit.r2, np.nan),
                    "masked": ~ok,
                }
            )
        )
        masked_share[b] = float(np.mean(~ok))
    conv = dict(prep.conventions)
    conv.update(noise_factor=noise_factor, masked_fraction=masked_share)
    return BValueMap(pd.concat(frames, ignore_index=True), conv, prep.warnings)
