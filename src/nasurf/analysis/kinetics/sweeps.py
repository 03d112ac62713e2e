"""Sweeps and cycles of one cyclic voltammogram: vertices, branches, measured sweep rates.

Owns the rule "where does a sweep start and end" (methods.md §0): vertices are the prominent
extrema of E(t), a rising sweep is the *anodic* branch and a falling one the *cathodic*
branch, a *complete* sweep spans at least 90 % of the window, and cycle k is the k-th
complete anodic with the k-th complete cathodic sweep. Every other module of
:mod:`nasurf.analysis.kinetics` asks this one.
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from scipy.signal import find_peaks

from nasurf.errors import ValidationError

if TYPE_CHECKING:
    from nasurf.analysis.kinetics.cvset import CV

Branch = Literal["anodic", "cathodic"]
BRANCHES: tuple[Branch, Branch] = ("anodic", "cathodic")

# Two sweeps of one CV are "the same rate" when their |dE/dt| agree within this fraction;
# instrument rates are set values, so real files agree to < 1 %; 5 % leaves room for the
# staircase sampling of digital potentiostats.
_SAME_RATE_RTOL = 0.05
# A sweep counts as a complete branch when it spans this fraction of the CV's window; the
# first sweep from OCV to a vertex is usually shorter and is not a branch of a cycle.
_COMPLETE_BRANCH_FRACTION = 0.9


def split_sweeps(potential_V: np.ndarray) -> list[tuple[slice, Branch]]:
    """Split a CV into sweeps at its vertices (methods.md §0).

    Vertices are the extrema of E(t) whose prominence exceeds 20 % of the potential span,
    which is the sign change of dE/dt made robust to noise and to the flat steps of
    staircase potentiostats. A sweep whose E rises is ``anodic``, one whose E falls is
    ``cathodic``. A vertex point belongs to the sweep ending at it: the current jumps at
    a vertex, and a point counted in both sweeps would put the anodic current on the
    cathodic branch (or the reverse).
    """
    e = np.asarray(potential_V, dtype=float)
    span = float(np.ptp(e))
    if span <= 0:
        return []
    prom = 0.2 * span
    maxima, _ = find_peaks(e, prominence=prom)
    minima, _ = find_peaks(-e, prominence=prom)
    vertices = np.unique(np.concatenate([[0], maxima, minima, [e.size - 1]]))
    sweeps: list[tuple[slice, Branch]] = []
    for a, b in itertools.pairwise(vertices):
        if b - a < 2:
            continue
        direction: Branch = "anodic" if e[b] > e[a] else "cathodic"
        start = int(a) + 1 if a > 0 else 0
        sweeps.append((slice(start, int(b) + 1), direction))
    return sweeps


def _sweep_rate(e: np.ndarray, t: np.ndarray) -> float | None:
    if t.size < 3 or np.ptp(t) <= 0:
        return None
    slope = np.polyfit(t - t[0], e, 1)[0]
    return abs(float(slope)) if slope != 0 else None


def _measured_rate(e: np.ndarray, t: np.ndarray | None) -> float | None:
    if t is None:
        return None
    rates = [
        r
        for sl, _ in _complete_sweeps(e)
        if (r := _sweep_rate(e[sl], t[sl])) is not None
    ]
    if not rates:
        rates = [r for sl, _ in split_sweeps(e) if (r := _sweep_rate(e[sl], t[sl])) is not None]
    return float(np.median(rates)) if rates else None


def _complete_sweeps(e: np.ndarray) -> list[tuple[slice, Branch]]:
    span = float(np.ptp(e))
    return [
        (sl, d)
        for sl, d in split_sweeps(e)
        if np.ptp(e[sl]) >= _COMPLETE_BRANCH_FRACTION * span
    ]


def _split_by_rate(e: np.ndarray, t: np.ndarray) -> list[tuple[slice, float | None]]:
    """Group consecutive sweeps of one record by their rate |dE/dt|."""
    sweeps = split_sweeps(e)
    if not sweeps:
        return [(slice(0, e.size), None)]
    groups: list[list[Any]] = []  # [start, stop, [rates]]
    for sl, _ in sweeps:
        rate = _sweep_rate(e[sl], t[sl])
        if rate is None:
            continue
        if groups and math.isclose(np.median(groups[-1][2]), rate, rel_tol=_SAME_RATE_RTOL):
            groups[-1][1] = sl.stop
            groups[-1][2].append(rate)
        else:
            groups.append([sl.start, sl.stop, [rate]])
    if len(groups) <= 1:
        return [(slice(0, e.size), float(np.median(groups[0][2])) if groups else None)]
    # a lone partial sweep between two rates (the approach to the next start potential)
    # is not a CV of its own
    out = []
    for start, stop, rates in groups:
        if np.ptp(e[start:stop]) < _COMPLETE_BRANCH_FRACTION * np.ptp(e) and len(rates) == 1:
            continue
        out.append((slice(start, stop), float(np.median(rates))))
    return out


def cycle_count(cv: CV) -> int:
    """Number of complete cycles (pairs of complete anodic and cathodic sweeps) in a CV."""
    sweeps = _complete_sweeps(cv.potential_V)
    n_a = sum(d == "anodic" for _, d in sweeps)
    n_c = sum(d == "cathodic" for _, d in sweeps)
    return min(n_a, n_c)


def no_cycle_reason(cv: CV) -> str:
    """Why a CV has no complete cycle, with the sweeps it does have."""
    sweeps = split_sweeps(cv.potential_V)
    full = _complete_sweeps(cv.potential_V)
    n_a = sum(d == "anodic" for _, d in full)
    n_c = sum(d == "cathodic" for _, d in full)
    return (
        "no complete cycle (one full anodic and one full cathodic sweep across the "
        f"{np.ptp(cv.potential_V):.3g} V window) found: {n_a} full anodic, {n_c} full "
        f"cathodic and {len(sweeps) - len(full)} partial sweep(s) at "
        f"{cv.scan_rate_mV_s:.4g} mV/s (a single scan that starts inside the window splits "
        "one branch between its start and its end)"
    )


def branch_of_cycle(cv: CV, cycle: int, branch: Branch) -> tuple[np.ndarray, np.ndarray]:
    """(E, i) of the ``cycle``-th complete sweep of ``branch`` (1-based), in sweep order."""
    sweeps = [sl for sl, d in _complete_sweeps(cv.potential_V) if d == branch]
    if not 1 <= cycle <= len(sweeps):
        raise ValidationError(
            f"cycle {cycle} does not exist: the CV has {len(sweeps)} complete {branch} "
            "sweep(s)",
            file=cv.source,
            field="cycle",
        )
    sl = sweeps[cycle - 1]
    return cv.potential_V[sl], cv.current_A[sl]
