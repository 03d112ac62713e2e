"""CV kinetics over a set of scan rates: b-values, Dunn k1/k2, Trasatti, Randles–Sevcik.

This module owns the scan-rate analyses of cyclic voltammograms specified in
``methods.md`` §1–§4: building a :class:`CVSet` (one CV per scan rate, the rate read from
the data, from the file's settings, or given; never defaulted), splitting each CV into
branches at the vertices by the sign of dE/dt, choosing the same cycle at every rate,
optional iR correction ``E − i·Ru``, vertex exclusion, and a common potential grid (the
intersection of all rates' ranges, no extrapolation, bin-averaging when a branch is not
monotonic). On that grid it computes peak b-values (:func:`b_value_peaks`), b(E)
(:func:`b_value_map`), Dunn's k1·v + k2·v^½ decomposition (:func:`dunn_analysis`), Trasatti
extrapolations (:func:`trasatti`, :func:`trasatti_from_cvs`) and the Randles–Sevcik
apparent diffusion coefficient (:func:`randles_sevcik_D`).

Conventions (methods.md §0): SI units inside (V, A, s, V/s, C, g, cm², mol/cm³, cm²/s);
anodic current positive; the *anodic* branch runs from low to high E and the *cathodic*
branch from high to low E; every fit reports value, standard error, R², number of points,
range used and flags; nothing is clipped silently.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.signal import find_peaks, savgol_filter

from nasurf.errors import ValidationError
from nasurf.io.table import CURRENT, TIME, VOLTAGE, EchemData

# CODATA 2018 (methods.md §0)
FARADAY = 96485.33212  # C/mol
GAS_CONSTANT = 8.314462618  # J/(mol K)
T_REF = 298.15  # K
# Dimensionless peak-current functions (Bard & Faulkner): reversible π^½·χ(σt)max and
# irreversible π^½·χ(bt)max.
RS_REVERSIBLE_FACTOR = 0.4463
RS_IRREVERSIBLE_FACTOR = 0.4958

Branch = Literal["anodic", "cathodic"]
BRANCHES: tuple[Branch, Branch] = ("anodic", "cathodic")
BaselineMode = Literal["none", "linear", "capacitive"]

# Two sweeps of one CV are "the same rate" when their |dE/dt| agree within this fraction;
# instrument rates are set values, so real files agree to < 1 %; 5 % leaves room for the
# staircase sampling of digital potentiostats.
_SAME_RATE_RTOL = 0.05
# A sweep counts as a complete branch when it spans this fraction of the CV's window; the
# first sweep from OCV to a vertex is usually shorter and is not a branch of a cycle.
_COMPLETE_BRANCH_FRACTION = 0.9


# --------------------------------------------------------------------------------------
# Input: one CV per scan rate
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CV:
    """One cyclic voltammogram at one scan rate (SI units, anodic current positive)."""

    potential_V: np.ndarray
    current_A: np.ndarray
    time_s: np.ndarray | None
    scan_rate_V_s: float
    scan_rate_source: str  # "given", "metadata" or "data"
    source: str | None = None
    warnings: tuple[str, ...] = ()
    rows: tuple[int, int] | None = None   # row range [start, stop) in the source table

    @property
    def scan_rate_mV_s(self) -> float:
        return self.scan_rate_V_s * 1e3


@dataclass(frozen=True, eq=False)
class CVSet:
    """CVs of one electrode at several scan rates, sorted by increasing scan rate."""

    cvs: tuple[CV, ...]
    warnings: tuple[str, ...] = ()
    # runs of one file at a rate already in ``cvs`` (left out of the rate analyses, with
    # a warning); a single-rate file analyses them per cycle too
    repeats: tuple[CV, ...] = ()

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.cvs, key=lambda c: c.scan_rate_V_s))
        object.__setattr__(self, "cvs", ordered)
        rates = [c.scan_rate_V_s for c in ordered]
        for k, (a, b) in enumerate(itertools.pairwise(rates)):
            # rates within 1 % are the same set rate (measured rates scatter by < 0.1 %)
            if math.isclose(a, b, rel_tol=0.01):
                first = ordered[k].source or ""
                second = ordered[k + 1].source or ""
                # one file is named once: "f (rows 0-9)" and "f (rows 10-19)" -> file=f
                f1, _, r1 = first.partition(" (rows ")
                f2, _, r2 = second.partition(" (rows ")
                if f1 == f2:
                    where = (f"(rows {r1.rstrip(')')} and rows {r2.rstrip(')')})"
                             if r1 and r2 else "(both from the same data)")
                    raise ValidationError(
                        f"two CVs have the same scan rate {a * 1e3:g} mV/s {where}; give "
                        "one CV per scan rate", file=f1 or None, field="scan_rate")
                raise ValidationError(
                    f"two CVs have the same scan rate {a * 1e3:g} mV/s ({first} and "
                    f"{second}); give one CV per scan rate",
                    field="scan_rate",
                )

    @property
    def scan_rates_V_s(self) -> np.ndarray:
        return np.array([c.scan_rate_V_s for c in self.cvs])

    def __len__(self) -> int:
        return len(self.cvs)

    @classmethod
    def from_arrays(
        cls,
        scan_rates_V_s: Sequence[float],
        potentials_V: Sequence[np.ndarray],
        currents_A: Sequence[np.ndarray],
        times_s: Sequence[np.ndarray] | None = None,
    ) -> CVSet:
        """Build a set from arrays (one potential/current array pair per scan rate)."""
        if not (len(scan_rates_V_s) == len(potentials_V) == len(currents_A)):
            raise ValidationError(
                "scan_rates_V_s, potentials_V and currents_A must have the same length",
                field="scan_rates_V_s",
            )
        cvs = []
        for k, (v, e, i) in enumerate(zip(scan_rates_V_s, potentials_V, currents_A, strict=True)):
            e = np.asarray(e, dtype=float)
            i = np.asarray(i, dtype=float)
            t = None if times_s is None else np.asarray(times_s[k], dtype=float)
            _check_arrays(e, i, where=f"CV {k}")
            _check_rate(v, where=f"CV {k}")
            cvs.append(CV(e, i, t, float(v), "given", source=f"CV {k}"))
        return cls(tuple(cvs))

    @classmethod
    def from_echem(
        cls,
        data: EchemData | Sequence[EchemData],
        scan_rates_V_s: Sequence[float] | None = None,
    ) -> CVSet:
        """Build a set from measurements.

        Several :class:`EchemData` are one CV per scan rate. A single one may hold several
        rates: it is split where the sweep rate |dE/dt| changes. The rate of each CV is
        taken from ``scan_rates_V_s`` if given, else from ``Metadata.scan_rate_V_s`` (single
        rate files only), else measured from the data (slope of E against t per sweep). A
        given or metadata rate that disagrees with the measured one by more than 10 % is
        kept but warned about. Without a rate and without a time column this raises.
        """
        items = [data] if isinstance(data, EchemData) else list(data)
        if not items:
            raise ValidationError("no CV data given", field="files")
        pieces: list[_Piece] = []
        repeat_pieces: list[_Piece] = []
        set_warnings: list[str] = []
        for d in items:
            e, i, t = _columns(d)
            if d.metadata.header.get("time_is_index"):
                # an export without time (PSTrace Excel): the row index is no clock
                t = None
            if len(items) == 1:
                found, warns, repeat_pieces = _pieces_of_one_file(d, e, i, t)
                pieces.extend(found)
                set_warnings.extend(warns)
            else:
                rate = _measured_rate(e, t) if t is not None else None
                set_rate = d.metadata.scan_rate_V_s
                if d.metadata.scan_rates_V_s and len(d.metadata.scan_rates_V_s) > 1:
                    set_rate = None   # a multi-rate file among single-rate files: measure
                pieces.append(_Piece(d, e, i, t, rate, set_rate, "metadata", None))
        if scan_rates_V_s is not None and len(scan_rates_V_s) != len(pieces):
            found = ", ".join(f"{p.measured * 1e3:.4g}" if p.measured else "?" for p in pieces)
            raise ValidationError(
                f"{len(scan_rates_V_s)} scan rates given but the data hold {len(pieces)} CVs "
                f"(measured rates in mV/s: {found}); give one rate per CV",
                field="scan_rates",
            )
        cvs = [_cv_of(p, k, None if scan_rates_V_s is None else float(scan_rates_V_s[k]))
               for k, p in enumerate(pieces)]
        repeats = tuple(_cv_of(p, k, None) for k, p in enumerate(repeat_pieces))
        return cls(tuple(cvs), warnings=tuple(set_warnings), repeats=repeats)


def _cv_of(p: _Piece, k: int, given: float | None) -> CV:
    """A piece of a record as a CV: its rate (given, set or measured) and checks."""
    src = p.data.metadata.source or f"data {k}"
    label = f"{src} ({p.label})" if p.label else src
    warn: list[str] = []
    if given is not None:
        rate, how = given, "given"
    elif p.set_rate:
        rate, how = float(p.set_rate), p.set_how
    elif p.measured is not None:
        rate, how = p.measured, "data"
    else:
        raise ValidationError(
            "the scan rate is unknown: the file has no time column and no scan-rate "
            "setting; give it (e.g. --scan-rates in mV/s)",
            file=src,
            field="scan_rate",
        )
    _check_rate(rate, where=src)
    if how != "data" and p.measured is not None and not math.isclose(
        rate, p.measured, rel_tol=0.10
    ):
        warn.append(
            f"{label}: {how} scan rate {rate * 1e3:.4g} mV/s differs from the rate "
            f"measured from dE/dt ({p.measured * 1e3:.4g} mV/s); using the {how} value"
        )
    e_cv, i_cv, t_cv = p.e, p.i, p.t
    closed = _close_single_scan(p.e, p.i, p.t)
    if closed is not None:
        e_cv, i_cv, t_cv = closed
        warn.append(
            f"{label}: a single scan that starts inside its window at "
            f"{p.e[0]:.4g} V: its last stretch (back to {p.e[-1]:.4g} V) is put before "
            "its first to close the split branch into one cycle; this assumes the "
            "scan is periodic (steady state)")
    return CV(e_cv, i_cv, t_cv, rate, how, source=label, warnings=tuple(warn),
              rows=p.rows)


@dataclass(frozen=True, eq=False)
class _Piece:
    data: EchemData
    e: np.ndarray
    i: np.ndarray
    t: np.ndarray | None
    measured: float | None
    set_rate: float | None
    set_how: str
    label: str | None
    rows: tuple[int, int] | None = None


def _pieces_of_one_file(
    d: EchemData, e: np.ndarray, i: np.ndarray, t: np.ndarray | None
) -> tuple[list[_Piece], list[str], list[_Piece]]:
    """One file into CVs, one per scan rate: the instrument's columns first, then the data.

    With EC-Lab's control potential, runs of constant set rate come from its slope
    (:func:`nasurf.io.biologic.control_rate_runs`). Otherwise the instrument's blocks (cycle
    number, technique block: :func:`nasurf.io.biologic.instrument_blocks`; Gamry CURVE
    tables and PalmSens measurements are numbered as cycles) take the file's set rates (one
    per block, or one for all), else dE/dt of the block. Without any of these the record
    is split where |dE/dt| changes (:func:`_split_by_rate`).

    Consecutive stretches at the same rate (within 1 %) form one CV. A stretch without a
    complete sweep (a rate changed mid-sweep) is no CV: its rows are left out and counted
    in a warning. A rate run more than once keeps the run whose potential window is closest
    to the other rates' windows (the later one on a tie); the other runs' rows are counted
    in a warning.
    """
    from nasurf.io.biologic import control_rate_runs, instrument_blocks

    md = d.metadata
    src = md.source or "data"
    warnings: list[str] = []
    aligned = len(d.data) == e.size   # rows dropped by _columns would shift the bounds
    listed = tuple(md.scan_rates_V_s or ((md.scan_rate_V_s,) if md.scan_rate_V_s else ()))
    rated: list[tuple[int, int, float | None, str]] = []
    if aligned and t is not None and "control/V" in d.data.columns:
        control = pd.to_numeric(d.data["control/V"], errors="coerce").to_numpy(dtype=float)
        for a, b, r in control_rate_runs(t, control):
            # the settings' value, when it is this run's rate, is the exact set rate
            setting = next((x for x in listed if math.isclose(x, r, rel_tol=0.01)), None)
            from_settings = md.header.get("scan_rates_source") != "control potential"
            rated.append((a, b, setting, "metadata") if setting and from_settings
                         else (a, b, r, "control potential"))
    if not rated:
        blocks = instrument_blocks(d.data) if aligned else [(0, e.size)]
        if len(blocks) <= 1:
            single = listed[0] if len(listed) == 1 else None
            if t is None:
                return [_Piece(d, e, i, t, None, single, "metadata", None)], warnings, []
            split = _split_by_rate(e, t)
            if len(split) == 1:
                sl, measured = split[0]
                return [_Piece(d, e[sl], i[sl], t[sl], measured, single, "metadata", None,
                               (sl.start or 0, sl.stop or e.size))], warnings, []
            return [_Piece(d, e[sl], i[sl], t[sl], measured, None, "data",
                           f"rows {sl.start}-{sl.stop - 1}", (sl.start, sl.stop))
                    for sl, measured in split], warnings, []
        for k, (a, b) in enumerate(blocks):
            if len(listed) == len(blocks):
                rated.append((a, b, listed[k], "metadata"))
            elif len(listed) == 1:
                rated.append((a, b, listed[0], "metadata"))
            elif t is not None:
                # several set rates but not one per block: each block's measured rate is
                # matched to the nearest set rate (within 10 %), else kept as measured
                r = _measured_rate(e[a:b], t[a:b])
                near = None if r is None else min(listed, key=lambda x: abs(x - r),
                                                  default=None)
                if near is not None and math.isclose(near, r, rel_tol=0.10):
                    rated.append((a, b, near, "metadata"))
                else:
                    rated.append((a, b, r, "data"))
            else:
                rated.append((a, b, None, "data"))
    # consecutive stretches at one rate form one CV; a tiny stretch (a 1-point closing
    # table) joins the one before it; stretches of unknown rate (no clock, no setting)
    # stay apart, one CV each, for rates given by the caller ... and nothing is joined
    # across a pause in the record (separate PalmSens measurements): a sweep must not be
    # stitched across a pause
    pause = _pause_threshold(t)
    groups: list[list[Any]] = []   # [start, stop, rate, how]
    for a, b, rate, how in rated:
        paused = t is not None and groups and a > 0 and t[a] - t[a - 1] > pause
        tiny = b - a < 10
        same = rate is not None and groups and groups[-1][2] is not None \
            and math.isclose(rate, groups[-1][2], rel_tol=0.01)
        if groups and not paused and (tiny or same):
            groups[-1][1] = b
            if groups[-1][2] is None:
                groups[-1][2], groups[-1][3] = rate, how
        else:
            groups.append([a, b, rate, how])
    if len(groups) > 1:
        complete = [g for g in groups
                    if {d for _, d in _complete_sweeps(e[g[0]:g[1]])} == {"anodic", "cathodic"}]
        if complete:
            for g in groups:
                if g not in complete:
                    warnings.append(
                        f"{src}: rows {g[0]}-{g[1] - 1} at {_mv(g[2])} mV/s hold no complete "
                        "cycle (the rate changed mid-sweep): no CV at that rate, "
                        f"{g[1] - g[0]} rows left out")
            groups = complete
    by_rate: dict[float | None, list[list[Any]]] = {}
    for g in groups:
        key = next((r for r in by_rate if r is not None and g[2] is not None
                    and math.isclose(r, g[2], rel_tol=0.01)), g[2])
        by_rate.setdefault(key, []).append(g)
    kept = []
    dropped = []
    for key, runs in by_rate.items():
        if len(runs) == 1 or key is None:
            kept.extend(runs)
            continue
        others = [r[0] for k, r in by_rate.items()
                  if k is not None and k != key and len(r) == 1]
        ref = others or groups
        lo = float(np.median([e[g[0]:g[1]].min() for g in ref]))
        hi = float(np.median([e[g[0]:g[1]].max() for g in ref]))
        dist = [abs(e[g[0]:g[1]].min() - lo) + abs(e[g[0]:g[1]].max() - hi) for g in runs]
        best = max(range(len(runs)), key=lambda k: (-round(dist[k], 3), k))
        kept.append(runs[best])
        for k, g in enumerate(runs):
            if k != best:
                dropped.append(g)
                warnings.append(
                    f"{src}: {_mv(key)} mV/s is run more than once; rows "
                    f"{runs[best][0]}-{runs[best][1] - 1} are used (window closest to the "
                    f"other rates'), rows {g[0]}-{g[1] - 1} ({g[1] - g[0]} rows) are left out")
    kept.sort(key=lambda g: g[0])

    def piece(g: list[Any], labelled: bool) -> _Piece:
        a, b, rate, how = g
        sl = slice(a, b)
        measured = _measured_rate(e[sl], t[sl]) if t is not None else None
        return _Piece(d, e[sl], i[sl], t[sl] if t is not None else None, measured,
                      rate if how != "data" else None, how,
                      f"rows {a}-{b - 1}" if labelled else None, (a, b))

    pieces = [piece(g, len(kept) > 1 or bool(dropped)) for g in kept]
    return pieces, warnings, [piece(g, True) for g in sorted(dropped, key=lambda g: g[0])]


def _close_single_scan(
    e: np.ndarray, i: np.ndarray, t: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None] | None:
    """Rotate a one-scan CV that starts and ends inside its window into one full cycle.

    PSTrace and many potentiostats run E_begin → vertex 1 → vertex 2 → E_begin: one branch
    is complete, the other is split between the start and the end. Moving the last stretch
    (vertex 2 → E_begin) before the first (E_begin → vertex 1), shifted back in time by one
    period, joins the split branch. Only this exact pattern is rotated (three sweeps, the
    ends within 2 % of the window of each other, the two partial sweeps together spanning
    the window); anything else is returned as None and left alone.
    """
    if _complete_sweeps(e) and {d for _, d in _complete_sweeps(e)} == set(BRANCHES):
        return None
    sweeps = split_sweeps(e)
    span = float(np.ptp(e))
    if len(sweeps) != 3 or span <= 0:
        return None
    (s0, d0), (s1, d1), (s2, d2) = sweeps
    if not (d0 == d2 != d1) or abs(e[-1] - e[0]) > 0.02 * span:
        return None
    if np.ptp(e[s1]) < _COMPLETE_BRANCH_FRACTION * span or \
            np.ptp(e[s0]) + np.ptp(e[s2]) < _COMPLETE_BRANCH_FRACTION * span:
        return None
    order = np.concatenate([np.arange(s2.start, s2.stop), np.arange(s0.start, s0.stop),
                            np.arange(s1.start, s1.stop)])
    if order.size != e.size:
        return None
    t_new = None
    if t is not None:
        dt = np.diff(t)
        step = float(np.median(dt[dt > 0])) if np.any(dt > 0) else 0.0
        period = float(t[-1] - t[0]) + step
        t_new = t[order].copy()
        n2 = s2.stop - s2.start
        t_new[:n2] -= period
    return e[order], i[order], t_new


def _pause_threshold(t: np.ndarray | None) -> float:
    """A time step this long is a pause in the record, not a sample interval."""
    if t is None or t.size < 3:
        return math.inf
    dt = np.diff(t)
    dt = dt[dt > 0]
    return max(10.0 * float(np.median(dt)), 1.0) if dt.size else math.inf


def _mv(rate: float | None) -> str:
    return "?" if rate is None else f"{rate * 1e3:.4g}"


def _prepared(cvset: CVSet | PreparedBranches, kwargs: dict[str, Any]) -> PreparedBranches:
    if isinstance(cvset, PreparedBranches):
        if kwargs:
            raise ValidationError(
                f"preparation options {sorted(kwargs)} cannot be applied to already prepared "
                "branches; pass them to prepare_branches", field=sorted(kwargs)[0])
        return cvset
    return prepare_branches(cvset, **kwargs)


def _check_arrays(e: np.ndarray, i: np.ndarray, *, where: str) -> None:
    if e.shape != i.shape or e.ndim != 1:
        raise ValidationError(
            f"potential and current must be 1-D arrays of equal length "
            f"(got {e.shape} and {i.shape})",
            file=where,
        )
    if e.size < 10:
        raise ValidationError(f"a CV needs at least 10 points, got {e.size}", file=where)
    bad = ~(np.isfinite(e) & np.isfinite(i))
    if bad.any():
        raise ValidationError(
            f"non-finite potential or current at row {int(np.argmax(bad))}", file=where
        )


def _check_rate(rate: float, *, where: str) -> None:
    if not (np.isfinite(rate) and rate > 0):
        raise ValidationError(
            f"scan rate must be a positive number, got {rate!r}", file=where, field="scan_rate"
        )


def _columns(d: EchemData) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    src = d.metadata.source
    for col in (VOLTAGE, CURRENT):
        if col not in d.data.columns:
            raise ValidationError(
                f"a CV needs the column '{col}'; found {list(d.data.columns)}",
                file=src,
                field=col,
            )
    e = pd.to_numeric(d.data[VOLTAGE], errors="coerce").to_numpy(dtype=float)
    i = pd.to_numeric(d.data[CURRENT], errors="coerce").to_numpy(dtype=float)
    t = None
    if TIME in d.data.columns:
        t = pd.to_numeric(d.data[TIME], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(e) & np.isfinite(i) & (np.isfinite(t) if t is not None else True)
    e, i = e[keep], i[keep]
    t = t[keep] if t is not None else None
    _check_arrays(e, i, where=src or "CV")
    if t is not None and np.any(np.diff(t) < 0):
        row = int(np.argmax(np.diff(t) < 0)) + 1
        raise ValidationError(
            f"time goes backwards at data row {row}; a CV must be one time-ordered record",
            file=src,
            field=TIME,
        )
    return e, i, t


# --------------------------------------------------------------------------------------
# Branch splitting, rates, cycles
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Preparation: cycle, iR, vertex exclusion, window, common grid
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Ordinary least squares (vectorised over columns)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _OLS:
    slope: np.ndarray
    intercept: np.ndarray
    slope_se: np.ndarray
    intercept_se: np.ndarray
    r2: np.ndarray
    n: int


def _ols(x: np.ndarray, y: np.ndarray) -> _OLS:
    """y = intercept + slope·x for each column of ``y`` (shape (n,) or (n, m))."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.size
    xm = x.mean()
    dx = x - xm
    sxx = float(dx @ dx)
    ym = y.mean(axis=0)
    dy = y - ym
    slope = np.tensordot(dx, dy, axes=(0, 0)) / sxx
    intercept = ym - slope * xm
    resid = dy - np.multiply.outer(dx, slope) if y.ndim > 1 else dy - dx * slope
    ss_res = np.sum(resid**2, axis=0)
    ss_tot = np.sum(dy**2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # R² is undefined when y does not vary; a relative floor keeps round-off in an
        # exactly constant y from producing a meaningless number
        scale = np.maximum(np.sum(y**2, axis=0), np.finfo(float).tiny)
        r2 = np.where(ss_tot > 1e-24 * scale, 1.0 - ss_res / ss_tot, np.nan)
        if n > 2:
            s2 = ss_res / (n - 2)
            slope_se = np.sqrt(s2 / sxx)
            intercept_se = np.sqrt(s2 * (1.0 / n + xm**2 / sxx))
        else:
            slope_se = np.full_like(np.asarray(slope, dtype=float), np.nan)
            intercept_se = np.full_like(np.asarray(slope, dtype=float), np.nan)
    return _OLS(slope, intercept, slope_se, intercept_se, r2, n)


def _ols_origin(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """y = slope·x through the origin: slope, SE, uncentred R²."""
    sxx = float(x @ x)
    slope = float(x @ y) / sxx
    resid = y - slope * x
    n = x.size
    se = math.sqrt(float(resid @ resid) / (n - 1) / sxx) if n > 1 else math.nan
    r2 = 1.0 - float(resid @ resid) / float(y @ y) if float(y @ y) > 0 else math.nan
    return slope, se, r2


def _noise_level(i: np.ndarray) -> float:
    """Robust noise estimate from second differences (a smooth CV has tiny ones)."""
    if i.size < 5:
        return 0.0
    d2 = np.diff(i, 2)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))


# --------------------------------------------------------------------------------------
# Peak b-values (methods.md §1)
# --------------------------------------------------------------------------------------


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
    if baseline not in ("none", "linear", "capacitive"):
        raise ValidationError(
            f"baseline must be none, linear or capacitive, got {baseline!r}", field="baseline"
        )
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


def _rate_count_warning(rates: np.ndarray, warnings: list[str]) -> None:
    if rates.size < 5:
        warnings.append(
            f"only {rates.size} scan rates: at least 5 spanning 10x are recommended"
        )
    elif rates.max() / rates.min() < 10:
        warnings.append(
            f"scan rates span only {rates.max() / rates.min():.1f}x (10x recommended)"
        )


# --------------------------------------------------------------------------------------
# b(E) map
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Dunn k1·v + k2·v^½ (methods.md §2)
# --------------------------------------------------------------------------------------


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
    if mode not in ("linearised", "direct"):
        raise ValidationError(f"mode must be 'linearised' or 'direct', got {mode!r}", field="mode")
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


# --------------------------------------------------------------------------------------
# Trasatti (methods.md §3)
# --------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------
# Randles–Sevcik (methods.md §4)
# --------------------------------------------------------------------------------------


def randles_sevcik_constant(
    temperature_K: float = T_REF, *, form: Literal["reversible", "irreversible"] = "reversible"
) -> float:
    """Prefactor in ip = K·n^(3/2)·A·C·D^½·v^½ (reversible) or ip = K·n·(α·n_a)^½·A·C·D^½·v^½
    (irreversible), SI-electrochemical units (A, cm², mol/cm³, cm²/s, V/s).

    Reversible: 0.4463·F·(F/(R·T))^½ = 2.6865e5 at 298.15 K; irreversible: 0.4958·F·(F/(RT))^½
    (2.99e5 at 25 °C).
    """
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


# --------------------------------------------------------------------------------------
# Output helpers
# --------------------------------------------------------------------------------------


def _write_tables(directory: str | Path, tables: Mapping[str, pd.DataFrame]) -> list[Path]:
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in tables.items():
        p = out / name
        tmp = p.with_suffix(p.suffix + ".tmp")
        df.to_csv(tmp, index=False)
        tmp.replace(p)  # no partial file on failure
        written.append(p)
    return written


def scan_rates_from_text(text: str, unit: str = "mV/s") -> list[float]:
    """Parse "0.1,0.2,0.5" (in ``unit``) into V/s via :mod:`nasurf.units`."""
    from nasurf.units import convert

    vals: list[float] = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            x = float(part)
        except ValueError as exc:
            raise ValidationError(
                f"scan rate '{part}' is not a number (expected e.g. 0.1,0.2,0.5 in {unit})",
                field="scan_rates",
            ) from exc
        vals.append(float(convert(x, unit, "V/s")))
    if not vals:
        raise ValidationError("no scan rate given", field="scan_rates")
    return vals
