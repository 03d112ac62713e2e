"""Peaks of a prepared branch: location, baseline and tracking across scan rates.

Peaks are located on a Savitzky–Golay-smoothed branch with ``find_peaks`` and their heights
read from the unsmoothed current; a baseline is none (raw current), a tangent through two
pre-peak points, or the mean current of a capacitive window; a peak is followed from the
lowest rate upwards by the nearest potential; anodic and cathodic peaks are paired into
couples (ΔEp, E½).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy.signal import find_peaks, savgol_filter

from nasurf.analysis.kinetics.sweeps import Branch
from nasurf.errors import ValidationError

BaselineMode = Literal["none", "linear", "capacitive"]
BASELINES: tuple[BaselineMode, ...] = ("none", "linear", "capacitive")


def _smooth_window_points(grid_step_V: float, n: int, window_V: float, order: int) -> int:
    w = round(window_V / grid_step_V)
    w = max(w, order + 2)
    if w % 2 == 0:
        w += 1
    return min(w, n - 1 if (n - 1) % 2 else n - 2)


def _find_branch_peaks(
    grid: np.ndarray,
    i: np.ndarray,
    branch: Branch,
    *,
    smooth_window_V: float,
    smooth_order: int,
    prominence_fraction: float,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Indices of peaks (anodic maxima / cathodic minima) and their find_peaks bases."""
    sign = 1.0 if branch == "anodic" else -1.0
    y = sign * i
    step = float(grid[1] - grid[0])
    w = _smooth_window_points(step, grid.size, smooth_window_V, smooth_order)
    ys = savgol_filter(y, w, smooth_order) if w > smooth_order + 1 else y
    prom = prominence_fraction * float(np.max(np.abs(i)))
    idx, props = find_peaks(ys, prominence=prom)
    # a cathodic peak is a reduction-current minimum: a dip in an oxidation current on the
    # cathodic sweep (or the reverse) is not a peak of that branch
    keep = y[idx] > 0
    idx = idx[keep]
    props = {k: np.asarray(val)[keep] for k, val in props.items()}
    # the smoothed curve locates; the height is read from the raw data at the raw maximum
    # within half a smoothing window of the located position
    half = w // 2
    refined = []
    for k in idx:
        lo, hi = max(0, k - half), min(grid.size, k + half + 1)
        refined.append(lo + int(np.argmax(y[lo:hi])))
    return np.asarray(refined, dtype=int), props


def _baseline_at(
    grid: np.ndarray,
    i: np.ndarray,
    k: int,
    left_base: int,
    branch: Branch,
    mode: str,
    points: tuple[float, float] | None,
    capacitive_window: tuple[float, float] | None,
) -> float:
    if mode == "none":
        return 0.0
    if mode == "capacitive":
        if capacitive_window is None:
            raise ValidationError(
                "baseline 'capacitive' needs a featureless potential window "
                "(capacitive_window_V=(Emin, Emax))",
                field="capacitive_window",
            )
        sel = (grid >= min(capacitive_window)) & (grid <= max(capacitive_window))
        if not sel.any():
            raise ValidationError(
                f"capacitive window {capacitive_window} V lies outside the {branch} grid "
                f"{grid[0]:.4g}–{grid[-1]:.4g} V",
                field="capacitive_window",
            )
        return float(np.mean(i[sel]))
    # linear: tangent through two pre-peak points. "Pre-peak" is before the peak in the
    # sweep direction: lower E on the anodic branch, higher E on the cathodic branch.
    if points is not None:
        e1, e2 = points
        i1, i2 = np.interp([e1, e2], grid, i)
    else:
        # auto: the peak's base on the pre-peak side (from find_peaks) and a second point
        # half-way from there back towards the start of the sweep window, limited to 50 mV
        # so the tangent is local
        step = float(grid[1] - grid[0])
        back = max(2, round(0.05 / step))
        if branch == "anodic":
            j1 = left_base
            j2 = max(0, j1 - back)
        else:
            j1 = left_base
            j2 = min(grid.size - 1, j1 + back)
        if j1 == j2:
            return float(i[j1])
        e1, e2, i1, i2 = grid[j1], grid[j2], i[j1], i[j2]
    if e1 == e2:
        return float(i1)
    slope = (i2 - i1) / (e2 - e1)
    return float(i1 + slope * (grid[k] - e1))


def _track_peaks(
    grid: np.ndarray,
    found: list[tuple[int, np.ndarray, np.ndarray]],
    window_V: float,
) -> list[list[tuple[int, int, int]]]:
    """Chain peaks from the lowest rate upwards by nearest potential within the window."""
    tracks: list[list[tuple[int, int, int]]] = []
    for r, idx, bases in found:
        free = list(range(len(idx)))
        # match existing tracks (closest first) to this rate's peaks
        pairs = []
        for t_no, track in enumerate(tracks):
            last_e = grid[track[-1][1]]
            for j in free:
                d = abs(grid[idx[j]] - last_e)
                if d <= window_V:
                    pairs.append((d, t_no, j))
        used_t, used_j = set(), set()
        for _d, t_no, j in sorted(pairs):
            if t_no in used_t or j in used_j:
                continue
            tracks[t_no].append((r, int(idx[j]), int(bases[j]) if j < len(bases) else int(idx[j])))
            used_t.add(t_no)
            used_j.add(j)
        for j in free:
            if j not in used_j:
                tracks.append([(r, int(idx[j]), int(bases[j]) if j < len(bases) else int(idx[j]))])
    tracks.sort(key=lambda tr: grid[tr[0][1]])
    return tracks


def _pair_couples(peaks: pd.DataFrame, fits: pd.DataFrame) -> pd.DataFrame:
    """Pair each anodic peak with the nearest cathodic peak (at the lowest rate): ΔEp(v)."""
    cols = ["anodic_peak", "cathodic_peak", "scan_rate_V_s", "delta_Ep_V", "E_half_V"]
    fitted = fits.dropna(subset=["b"]) if len(fits) else fits
    an = fitted[fitted["branch"] == "anodic"]
    ca = fitted[fitted["branch"] == "cathodic"]
    rows = []
    used = set()
    for _, a in an.iterrows():
        if ca.empty:
            break
        d = (ca["potential_low_rate_V"] - a["potential_low_rate_V"]).abs()
        j = d.idxmin()
        c = ca.loc[j]
        if c["peak_id"] in used:
            continue
        used.add(c["peak_id"])
        pa = peaks[peaks["peak_id"] == a["peak_id"]].set_index("scan_rate_V_s")
        pc = peaks[peaks["peak_id"] == c["peak_id"]].set_index("scan_rate_V_s")
        for v in sorted(set(pa.index) & set(pc.index)):
            ea, ec = float(pa.loc[v, "potential_V"]), float(pc.loc[v, "potential_V"])
            rows.append(
                {
                    "anodic_peak": a["peak_id"],
                    "cathodic_peak": c["peak_id"],
                    "scan_rate_V_s": v,
                    "delta_Ep_V": ea - ec,
                    "E_half_V": (ea + ec) / 2,
                }
            )
    return pd.DataFrame(rows, columns=cols)
