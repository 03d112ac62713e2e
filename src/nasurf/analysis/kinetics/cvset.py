"""One CV per scan rate: the :class:`CV` and :class:`CVSet` inputs of the kinetics analyses.

Owns how measurements become CVs: several files are one CV per scan rate; one file holding
several rates is split by the instrument's own columns first (EC-Lab's control potential,
technique blocks, cycle numbers, PalmSens measurements) and by the measured |dE/dt| only
when the file has none of these. The rate of each CV is given, read from the file's
settings or measured (never defaulted), and a disagreement of more than 10 % between the
set and the measured rate is kept but warned about.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nasurf.analysis.kinetics.sweeps import (
    _COMPLETE_BRANCH_FRACTION,
    BRANCHES,
    _complete_sweeps,
    _measured_rate,
    _split_by_rate,
    split_sweeps,
)
from nasurf.errors import ValidationError
from nasurf.io.table import CURRENT, TIME, VOLTAGE, EchemData


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
