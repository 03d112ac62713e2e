"""Preparation of a CV set for the scan-rate analyses: one cycle, iR, vertices, one E grid.

Owns :func:`prepare_branches`: the same cycle at every rate (by default the last one present
at all rates), optional iR correction E − i·Ru, vertex exclusion, an optional window, and a
common potential grid per branch (the intersection of all rates' ranges, no extrapolation;
a branch that is not monotonic in E is bin-averaged). b-values, Dunn and Trasatti all work
on its :class:`PreparedBranches`, so they share one cycle, window and grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasurf.analysis.kinetics.cvset import CVSet
from nasurf.analysis.kinetics.sweeps import (
    BRANCHES,
    Branch,
    branch_of_cycle,
    cycle_count,
    no_cycle_reason,
)
from nasurf.errors import ValidationError
from nasurf.options import choose


@dataclass(frozen=True, eq=False)
class PreparedBranches:
    """Currents of every scan rate on a common potential grid, per branch."""

    scan_rates_V_s: np.ndarray
    grids: dict[str, np.ndarray]  # branch -> E grid (V), ascending
    currents: dict[str, np.ndarray]  # branch -> (n_rates, n_grid) current (A)
    conventions: dict[str, Any]
    warnings: tuple[str, ...]


def prepare_branches(
    cvset: CVSet,
    *,
    cycle: int | None = None,
    ru_ohm: float | None = None,
    vertex_exclusion_V: float | None = None,
    window_V: tuple[float, float] | None = None,
    grid_step_V: float = 1e-3,
    branches: Sequence[Branch] = BRANCHES,
) -> PreparedBranches:
    """Select the cycle, iR-correct, drop vertices, and put every rate on one E grid.

    ``cycle`` is 1-based and the same at every rate; by default the last cycle present at
    every rate (the closest to steady state). ``vertex_exclusion_V`` defaults to 2 % of
    the potential window. The grid is the intersection of the ranges of all rates (no
    extrapolation); a branch that is not monotonic in E (noise, staircase steps) is
    bin-averaged onto the grid.
    """
    branches = tuple(choose("branch", b, BRANCHES, where="prepare_branches")
                     for b in branches)
    warnings: list[str] = list(cvset.warnings)
    for c in cvset.cvs:
        warnings.extend(c.warnings)
    if grid_step_V <= 0:
        raise ValidationError("grid step must be positive", field="grid_step_V")
    if ru_ohm is not None and (not np.isfinite(ru_ohm) or ru_ohm < 0):
        raise ValidationError(f"Ru must be >= 0 ohm, got {ru_ohm}", field="ru_ohm")
    counts = [cycle_count(c) for c in cvset.cvs]
    if min(counts) == 0:
        bad = cvset.cvs[counts.index(0)]
        raise ValidationError(no_cycle_reason(bad), file=bad.source)
    if cycle is None:
        cycle = min(counts)
        if cycle == 1 and max(counts) == 1:
            warnings.append(
                "only one cycle per scan rate: it is used, but a first cycle may include "
                "SEI formation; a steady-state cycle is preferred"
            )
    elif cycle == 1 and max(counts) > 1:
        warnings.append(
            "cycle 1 selected: first cycles include formation (SEI) currents; Dunn and "
            "b-value analyses assume a steady-state cycle"
        )
    raw: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {b: [] for b in branches}
    spans = []
    for c in cvset.cvs:
        for b in branches:
            e, i = branch_of_cycle(c, cycle, b)
            spans.append(float(np.ptp(e)))
            if ru_ohm:
                e = e - i * ru_ohm
            raw[b].append((e, i))
    if vertex_exclusion_V is None:
        vertex_exclusion_V = 0.02 * float(np.median(spans))
    if vertex_exclusion_V < 0:
        raise ValidationError("vertex exclusion must be >= 0 V", field="vertex_exclusion_V")
    grids: dict[str, np.ndarray] = {}
    currents: dict[str, np.ndarray] = {}
    binned = False
    for b in branches:
        lows, highs, kept = [], [], []
        for e, i in raw[b]:
            lo, hi = float(e.min()) + vertex_exclusion_V, float(e.max()) - vertex_exclusion_V
            if window_V is not None:
                lo, hi = max(lo, window_V[0]), min(hi, window_V[1])
            lows.append(lo)
            highs.append(hi)
            kept.append((e, i))
        lo, hi = max(lows), min(highs)
        if not hi > lo:
            raise ValidationError(
                f"the {b} branches of the scan rates share no potential range after vertex "
                f"exclusion ({vertex_exclusion_V * 1e3:.3g} mV) and window {window_V}",
                field="window",
            )
        n = math.floor((hi - lo) / grid_step_V + 1e-9) + 1
        if n < 5:
            raise ValidationError(
                f"the common {b} potential range {lo:.4g}–{hi:.4g} V holds fewer than 5 grid "
                f"points at a step of {grid_step_V * 1e3:g} mV",
                field="grid_step_V",
            )
        grid = np.linspace(lo, lo + (n - 1) * grid_step_V, n)
        rows = []
        for e, i in kept:
            on_grid, was_binned = _to_grid(e, i, grid, grid_step_V, b)
            binned |= was_binned
            rows.append(on_grid)
        grids[b] = grid
        currents[b] = np.vstack(rows)
    conventions = {
        "cycle": int(cycle),
        "cycle_definition": "k-th complete anodic and k-th complete cathodic sweep",
        "ru_ohm": float(ru_ohm) if ru_ohm else 0.0,
        "ir_corrected": bool(ru_ohm),
        "vertex_exclusion_V": float(vertex_exclusion_V),
        "window_V": {
            b: [float(grids[b][0]), float(grids[b][-1])] for b in branches
        },
        "requested_window_V": list(window_V) if window_V is not None else None,
        "grid_step_V": float(grid_step_V),
        "bin_averaged": binned,
        "current_sign": "anodic positive",
        "scan_rate_sources": sorted({c.scan_rate_source for c in cvset.cvs}),
    }
    return PreparedBranches(
        cvset.scan_rates_V_s, grids, currents, conventions, tuple(dict.fromkeys(warnings))
    )


def _to_grid(
    e: np.ndarray, i: np.ndarray, grid: np.ndarray, step: float, branch: Branch
) -> tuple[np.ndarray, bool]:
    d = np.diff(e)
    monotonic = bool(np.all(d > 0)) if branch == "anodic" else bool(np.all(d < 0))
    if monotonic:
        order = np.argsort(e)
        return np.interp(grid, e[order], i[order]), False
    # bin-average: each grid point gets the mean current of the samples within ±step/2,
    # then empty bins are filled by linear interpolation between filled ones (never
    # beyond them, because the grid lies inside every rate's range)
    edges = np.concatenate([grid - step / 2, [grid[-1] + step / 2]])
    idx = np.searchsorted(edges, e, side="right") - 1
    ok = (idx >= 0) & (idx < grid.size)
    sums = np.bincount(idx[ok], weights=i[ok], minlength=grid.size)
    cnt = np.bincount(idx[ok], minlength=grid.size)
    filled = cnt > 0
    centres = np.where(filled, sums / np.maximum(cnt, 1), np.nan)
    if filled.all():
        return centres, True
    # anchor the ends with the raw samples nearest outside the grid so interpolation
    # near the edges uses measured data
    order = np.argsort(e)
    xs = np.concatenate([grid[filled], e[order]])
    ys = np.concatenate([centres[filled], i[order]])
    use = np.concatenate([np.ones(filled.sum(), bool), ~ok[order]])
    xs, ys = xs[use], ys[use]
    o = np.argsort(xs, kind="stable")
    return np.interp(grid, xs[o], ys[o]), True


def _prepared(cvset: CVSet | PreparedBranches, kwargs: dict[str, Any]) -> PreparedBranches:
    if isinstance(cvset, PreparedBranches):
        if kwargs:
            raise ValidationError(
                f"preparation options {sorted(kwargs)} cannot be applied to already prepared "
                "branches; pass them to prepare_branches", field=sorted(kwargs)[0])
        return cvset
    return prepare_branches(cvset, **kwargs)
