"""Rate-capability steps: consecutive cycles at one current grouped into steps, the
direction that set the rate, per-step capacities and the recovery ratio (docs/methods.md).

A cycle's current is the constant-current set point of its half cycles (their median |I|
over constant-current rows: a hold's decaying tail is not a rate)."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd

from nasurf.analysis.cycling._shared import (
    DESODIATION,
    SODIATION,
    _median_finite,
    _positive_or_none,
)
from nasurf.analysis.cycling.results import _DISTINCT_LEVEL_FACTOR, CyclingResult, RateCapability


def _close(a: np.ndarray, b: np.ndarray | float, rel_tol: float, abs_tol_A: float
           ) -> np.ndarray:
    """Element-wise "same current" (2 % or 1 µA); NaN equals NaN (process absent in both).
    ``b`` may be one current for all of ``a``."""
    with np.errstate(invalid="ignore"):
        same = np.abs(a - b) <= np.maximum(rel_tol * np.maximum(np.abs(a), np.abs(b)),
                                           abs_tol_A)
    return same | (np.isnan(a) & np.isnan(b))


# --------------------------------------------------------------------------- rate steps
def group_rate_steps(
    cycles: pd.DataFrame | CyclingResult,
    *,
    basis_mAh_g: float | None = None,
    exclude_first_cycle: bool = False,
    rel_tol: float = 0.02,
    abs_tol_A: float = 1e-6,
    active_mass_g: float | None = None,
) -> RateCapability:
    """Group consecutive cycles at the same current into rate steps (methods.md §7).

    The current of a cycle is the median |I| of its desodiation (of its constant-current
    rows, holds excluded, when given a :class:`CyclingResult`: the set point); a cycle joins the
    previous one's step when that current and the sodiation current both agree within
    ``rel_tol`` (2 %) or ``abs_tol_A`` (1 µA). Per step: current (mA/g with a mass),
    C-rate only with an explicit ``basis_mAh_g``, cycle range, mean and last desodiation
    capacity (the first cycle of each step optionally excluded, and said so). The
    recovery ratio is the mean capacity of the first later step back at the first step's
    current divided by the first step's mean capacity.
    """
    second, first = DESODIATION, SODIATION
    set_current = None
    if isinstance(cycles, CyclingResult):
        active_mass_g = cycles.active_mass_g
        if cycles.extra.get("electrode", "anode") != "anode":
            second, first = SODIATION, DESODIATION
        set_current = cycles.extra.get("set_current_A")
        cycles = cycles.cycles
    cap_col = f"{second}_mAh_g" if f"{second}_mAh_g" in cycles else f"{second}_mAh"
    unit = "mAh/g" if cap_col.endswith("_g") else "mAh"

    def current(proc: str) -> np.ndarray:
        if set_current is not None:
            return np.asarray(set_current[proc], dtype=float)
        return cycles[f"{proc}_current_A"].to_numpy(dtype=float)

    return _rate_steps(cycles["cycle"].to_numpy(), current(second), current(first),
                       cycles[cap_col].to_numpy(dtype=float), unit, active_mass_g,
                       _positive_or_none(basis_mAh_g, "basis_mAh_g", "<rate capability>"),
                       exclude_first_cycle, rel_tol, abs_tol_A, names=(second, first))


def rate_capability(*args: Any, **kwargs: Any) -> RateCapability:
    """Deprecated name of :func:`group_rate_steps` (``nasurf.sim.rate_capability`` builds a
    rate-test protocol: one name meant two things)."""
    warnings.warn("nasurf.analysis.rate_capability is renamed group_rate_steps "
                  "(nasurf.sim.rate_capability is the simulator's rate protocol)",
                  DeprecationWarning, stacklevel=2)
    return group_rate_steps(*args, **kwargs)


def _rate_set_by(des_A: np.ndarray, sod_A: np.ndarray, names: tuple[str, str]) -> str | None:
    """"desodiation"/"sodiation" (named by ``names``) when only that direction's current
    changes by at least ×/÷ 1.25 between consecutive steps, "both" when both do."""
    if des_A.size < 2:
        return None         # one step: nothing changes (the common single-rate test)

    def varies(x: np.ndarray) -> bool:
        x = np.abs(x[np.isfinite(x)])
        if x.size < 2 or np.any(x == 0):
            return False
        r = x[1:] / x[:-1]
        return bool(np.any(np.maximum(r, 1 / r) >= _DISTINCT_LEVEL_FACTOR))
    a, b = varies(des_A), varies(sod_A)
    if a and b:
        return "both"
    return names[0] if a else (names[1] if b else None)


#: up to this many rate steps the per-step loop is cheaper than the grouped sort
_FEW_GROUPS = 8


def _groups(x: np.ndarray, starts: np.ndarray, stops: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The finite values of the row blocks [starts[g], stops[g]) of ``x`` (blocks may
    overlap nothing but need not cover ``x``), their block numbers, and each block's
    count of finite values."""
    lens = stops - starts
    grp = np.repeat(np.arange(starts.size), lens)
    rows = np.arange(grp.size) - np.repeat(np.cumsum(lens) - lens, lens) + np.repeat(
        starts, lens)
    vals = x[rows]
    fin = np.isfinite(vals)
    vals, grp = vals[fin], grp[fin]
    return vals, grp, np.bincount(grp, minlength=starts.size)


def _group_medians(x: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """:func:`_median` of the finite values of each block (NaN for none), in one sort:
    the same middle element(s) and the same half-sum, so bit-identical to a loop."""
    vals, grp, count = _groups(x, starts, stops)
    out = np.full(starts.size, np.nan)
    has = count > 0
    if not has.any():
        return out
    s = vals[np.lexsort((vals, grp))]
    off = np.cumsum(count) - count
    k = off + (count - 1) // 2
    odd = count % 2 == 1
    lo = s[np.minimum(k, s.size - 1)]
    hi = s[np.minimum(k + 1, s.size - 1)]
    out[has] = np.where(odd, lo, (lo + hi) / 2)[has]
    return out


def _group_means(x: np.ndarray, starts: np.ndarray, stops: np.ndarray
                 ) -> list[float | None]:
    """np.mean of the finite values of each block (None for none). Blocks of one or two
    values are summed vectorised (their pairwise sum is the plain sum); longer blocks use
    np.add.reduce itself, whose pairwise order a vectorised sum would not reproduce."""
    vals, _, count = _groups(x, starts, stops)
    off = np.cumsum(count) - count
    n = vals.size
    a = vals[np.minimum(off, max(n - 1, 0))] if n else np.zeros(starts.size)
    b = vals[np.minimum(off + 1, max(n - 1, 0))] if n else np.zeros(starts.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        short = np.where(count == 2, (a + b) / 2, a / 1)
    out: list[float | None] = []
    for g, (c, o) in enumerate(zip(count.tolist(), off.tolist(), strict=True)):
        if c == 0:
            out.append(None)
        elif c <= 2:
            out.append(float(short[g]))
        else:
            out.append(float(np.add.reduce(vals[o:o + c]) / c))
    return out


def _rate_steps(number: np.ndarray, des_i: np.ndarray, sod_i: np.ndarray, caps: np.ndarray,
                unit: str, mass: float | None, basis: float | None, exclude_first: bool,
                rel_tol: float, abs_tol_A: float,
                names: tuple[str, str] = (DESODIATION, SODIATION)) -> RateCapability:
    """``des_i``/``sod_i``: per-cycle currents of the second and first process of a
    cycle, named by ``names`` (second, first)."""
    warnings: list[str] = []
    drop = number < 1
    if np.count_nonzero(drop):
        keep = ~drop
        number, des_i, sod_i, caps = number[keep], des_i[keep], sod_i[keep], caps[keep]
    key = np.where(np.isfinite(des_i), des_i, sod_i)
    if number.size == 0:
        return RateCapability({}, None, None, basis, exclude_first, ())
    new = np.empty(number.size, bool)
    new[0] = True
    if number.size > 1:
        # both currents compared in one element-wise pass (row 0: key, row 1: sodiation)
        both = np.array((key, sod_i))
        same = _close(both[:, 1:], both[:, :-1], rel_tol, abs_tol_A)
        sod_nan = np.isnan(sod_i)
        new[1:] = ~(same[0] & (same[1] | sod_nan[1:] | sod_nan[:-1]))
    starts = new.nonzero()[0]
    stops = np.empty_like(starts)
    stops[:-1] = starts[1:]
    stops[-1] = number.size
    if basis is not None and mass is None:
        warnings.append("C-rate needs the active mass as well as the capacity basis")
    use_a = (np.where(stops - starts > 1, starts + 1, starts) if exclude_first
             else starts)
    if starts.size <= _FEW_GROUPS:
        # a handful of steps: a plain loop costs less than the grouped sort's set-up
        blocks = list(zip(starts.tolist(), stops.tolist(), strict=True))
        des_A = np.array([_median_finite(key[a:b]) for a, b in blocks], float)
        sod_A = np.array([_median_finite(sod_i[a:b]) for a, b in blocks], float)
    else:
        des_A = _group_medians(key, starts, stops)
        sod_A = _group_medians(sod_i, starts, stops)
    # which direction set the rate: the one whose current changes between steps
    set_by = _rate_set_by(des_A, sod_A, names)
    cur_A = sod_A if set_by == names[1] else des_A
    if starts.size <= _FEW_GROUPS:
        mean_cap = []
        for a, b in zip(use_a, stops, strict=True):
            good = caps[a:b]
            good = good[np.isfinite(good)]
            # np.mean's own arithmetic (pairwise sum / count) without its call overhead
            mean_cap.append(float(np.add.reduce(good) / good.size) if good.size else None)
    else:
        mean_cap = _group_means(caps, use_a, stops)
    last = caps[stops - 1]
    last_cap = [float(x) if math.isfinite(x) else None for x in last.tolist()]
    cols: dict[str, Any] = {
        # (fresh arrays: int64 kept as is)
        "step": np.arange(1, starts.size + 1),
        "first_cycle": number[starts].astype(int, copy=False),
        "last_cycle": number[stops - 1].astype(int, copy=False),
        "n_cycles": (stops - starts).astype(int, copy=False),
        "reference_cycle": number[use_a].astype(int, copy=False), "current_A": cur_A,
        f"{names[0]}_current_A": des_A, f"{names[1]}_current_A": sod_A,
        "rate_set_by": np.full(starts.size, set_by or "", dtype=object),
    }
    if mass is not None:
        cols["current_mA_g"] = cur_A * 1e3 / mass
        if basis is not None:
            cols["c_rate"] = cols["current_mA_g"] / basis
    cols["mean_capacity"] = mean_cap
    cols["last_capacity"] = last_cap
    recovery = np.zeros(starts.size, bool)
    rec_ratio = rec_step = None
    if starts.size >= 3:
        back = _close(cur_A[2:], float(cur_A[0]), rel_tol, abs_tol_A).nonzero()[0]
        if back.size:
            j = int(back[0]) + 2
            recovery[j] = True
            rec_step = j + 1
            if mean_cap[j] is not None and mean_cap[0]:
                rec_ratio = mean_cap[j] / mean_cap[0]
    cols["is_recovery"] = recovery
    cols["capacity_unit"] = unit
    return RateCapability(cols, rec_ratio, rec_step, basis, exclude_first,
                          tuple(warnings))
