"""Per-cycle results of a CV at one scan rate: peak currents and potentials, charges.

What a single scan rate can give (no b-value, Dunn or Trasatti: those need rates), with a
note that says so; ``nasurf analyze cv`` on a one-rate file reports this.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nasurf.analysis.kinetics.cvset import CV
from nasurf.analysis.kinetics.sweeps import (
    BRANCHES,
    _complete_sweeps,
    cycle_count,
    no_cycle_reason,
)
from nasurf.errors import ValidationError


@dataclass(frozen=True)
class CycleSummary:
    """Per-cycle results of one CV at one scan rate (no rate dependence: see ``notes``).

    Peak currents are the extreme current of each branch outside the vertex zones (the
    largest anodic current on the anodic sweep, the most cathodic on the cathodic sweep),
    not baseline-corrected; charges are ∫ i dt over each sweep's rows (anodic positive), or
    ∫ i |dE| / v without a time column (the same dt, so the same sign).
    """

    scan_rate_V_s: float
    scan_rate_source: str
    table: pd.DataFrame
    conventions: dict[str, Any]
    notes: tuple[str, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "scan_rate_mV_s": self.scan_rate_V_s * 1e3,
            "scan_rate_source": self.scan_rate_source,
            "cycles": self.table.to_dict(orient="records"),
            "conventions": dict(self.conventions),
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }


#: what a single scan rate cannot give, said with every per-cycle result
SINGLE_RATE_NOTE = (
    "one scan rate only: peak b-values, b(E), Dunn k1/k2 and Trasatti need CVs at two or "
    "more scan rates (three or more for a meaningful fit); give one file per rate or a file "
    "holding several rates"
)


def cycle_summary(cv: CV, *, vertex_exclusion_V: float | None = None) -> CycleSummary:
    """Peak currents and potentials and the charge of every complete cycle of one CV.

    A cycle is the k-th complete anodic with the k-th complete cathodic sweep (the same
    definition as :func:`prepare_branches`). ``vertex_exclusion_V`` (default 2 % of the
    window) keeps the current at the vertices (double-layer switching, not a peak) out of
    the peak search.
    """
    n = cycle_count(cv)
    if n == 0:
        raise ValidationError(no_cycle_reason(cv), file=cv.source)
    window = float(np.ptp(cv.potential_V))
    excl = 0.02 * window if vertex_exclusion_V is None else float(vertex_exclusion_V)
    if excl < 0:
        raise ValidationError("vertex exclusion must be >= 0 V", field="vertex_exclusion_V")
    sweeps = {b: [sl for sl, d in _complete_sweeps(cv.potential_V) if d == b] for b in BRANCHES}
    rows = []
    for k in range(1, n + 1):
        row: dict[str, Any] = {"cycle": k}
        for b in BRANCHES:
            sl = sweeps[b][k - 1]
            e = cv.potential_V[sl]
            i = cv.current_A[sl]
            inside = (e >= e.min() + excl) & (e <= e.max() - excl)
            if not inside.any():
                inside = np.ones_like(e, dtype=bool)
            j = int(np.argmax(i[inside]) if b == "anodic" else np.argmin(i[inside]))
            row[f"{b}_peak_current_A"] = float(i[inside][j])
            row[f"{b}_peak_potential_V"] = float(e[inside][j])
            # an extreme at the first or last point searched is no peak: the current
            # still grows into the vertex zone
            idx = np.flatnonzero(inside)
            row[f"{b}_peak_at_edge"] = bool(idx[j] <= idx[0] + 1 or idx[j] >= idx[-1] - 1)
            if cv.time_s is not None:
                q = float(np.trapezoid(i, cv.time_s[sl]))
            else:
                # dt = |dE| / v: integrating over E itself would flip the sign of the
                # cathodic sweep's charge (dE < 0 there)
                path = np.concatenate(([0.0], np.cumsum(np.abs(np.diff(e)))))
                q = float(np.trapezoid(i, path)) / cv.scan_rate_V_s
            row[f"{b}_charge_C"] = q
            row[f"{b}_rows"] = f"{sl.start}-{sl.stop - 1}"
        qa, qc = row["anodic_charge_C"], row["cathodic_charge_C"]
        row["peak_separation_V"] = row["anodic_peak_potential_V"] - row[
            "cathodic_peak_potential_V"]
        row["charge_ratio"] = abs(qa / qc) if qc != 0 else math.nan
        rows.append(row)
    conventions = {
        "cycle_definition": "k-th complete anodic and k-th complete cathodic sweep",
        "vertex_exclusion_V": excl,
        "peak": "extreme current of each branch outside the vertex zones, no baseline; "
                "*_peak_at_edge when that extreme is at the zone's edge (no real peak)",
        "charge": "∫ i dt over each sweep's rows" if cv.time_s is not None
        else "∫ i |dE| / v over each sweep's rows (no time column: dt = |dE| / v)",
        "charge_ratio": "|anodic charge / cathodic charge| of the cycle",
        "current_sign": "anodic positive",
        "window_V": [float(cv.potential_V.min()), float(cv.potential_V.max())],
    }
    warnings = list(cv.warnings)
    for b in BRANCHES:
        edge = [int(r["cycle"]) for r in rows if r[f"{b}_peak_at_edge"]]
        if edge:
            warnings.append(
                f"{b} branch: no current maximum inside the window in cycle(s) "
                f"{', '.join(map(str, edge))}; the value reported is the current at the edge "
                f"of the vertex zone ({excl * 1e3:.3g} mV), flagged {b}_peak_at_edge")
    used = np.zeros(cv.potential_V.size, dtype=bool)
    for b in BRANCHES:
        for sl in sweeps[b][:n]:
            used[sl] = True
    if not used.all():
        # partial sweeps at the ends, or a complete sweep whose partner is missing: never
        # left out silently
        idx = np.flatnonzero(~used)
        cuts = np.flatnonzero(np.diff(idx) > 1)
        starts = np.concatenate(([idx[0]], idx[cuts + 1]))
        stops = np.concatenate((idx[cuts], [idx[-1]]))
        spans = ", ".join(f"{a}-{b}" for a, b in zip(starts, stops, strict=True))
        warnings.append(
            f"{idx.size} row(s) are in no complete cycle and not in the per-cycle results "
            f"(rows {spans}: partial sweeps at the start or end, or a sweep without its "
            "partner)")
    if n > 1:
        warnings.append("cycle 1 may include formation (SEI) currents; later cycles are "
                        "closer to steady state")
    return CycleSummary(cv.scan_rate_V_s, cv.scan_rate_source, pd.DataFrame(rows),
                        conventions, (SINGLE_RATE_NOTE,), tuple(warnings))
