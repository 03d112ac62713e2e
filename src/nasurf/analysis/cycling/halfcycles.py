"""Half cycles: the step model read as sodiations and desodiations.

Owns the segmentation of a time series into half cycles (rest, OCV, impedance and HPPC
steps never join one; short reversals are noise), the electrode's role and the process
names it implies, each half cycle's median current, which half cycles are complete, and
the cycle numbering (a sodiation and the desodiation after it, or the instrument's own
counter)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nasurf.analysis.cycling._shared import DESODIATION, SODIATION, _frame, _median, _time_series
from nasurf.errors import ValidationError
from nasurf.io.steps import (
    HPPC_PULSE,
    IMPEDANCE,
    PASSIVE_KINDS,
    auto_threshold,
    electrode_role,
    find_steps,
)
from nasurf.io.table import (
    CYCLE,
    EchemData,
)


# --------------------------------------------------------------------------- segmentation
@dataclass(frozen=True)
class Segmentation:
    """Half cycles found from the sign of the current.

    ``run_*`` arrays describe maximal blocks of consecutive rows with the same current
    sign (+1 desodiation, -1 sodiation, 0 rest or below threshold); a half cycle is a
    maximal sequence of active runs of one sign, rests in between ignored.
    """

    run_start: np.ndarray
    run_stop: np.ndarray
    run_sign: np.ndarray
    run_half_cycle: np.ndarray          # 1-based; 0 for rests and discarded blips
    half_cycle_sign: np.ndarray         # sign of half cycle h at index h-1
    half_cycle_first_row: np.ndarray
    half_cycle_last_row: np.ndarray
    threshold_A: float
    blip_runs: int
    blip_rows: int


def _auto_threshold(i: np.ndarray) -> float:
    return auto_threshold(i)


def segment_half_cycles(data: EchemData | pd.DataFrame, *, rest_threshold_A: float | None = None,
                        min_duration_s: float = 5.0) -> Segmentation:
    """Split a time series into half cycles by the sign of the current.

    Rows with |I| <= ``rest_threshold_A`` (default: 0.1 % of the 99th-percentile |I|) are
    rests and excluded. A run of opposite sign shorter than ``min_duration_s`` between two
    runs of the same sign is noise (an overshoot, a relay blip): it is discarded so it
    does not split a half cycle, and counted in the warnings of the summary. Rest, OCV
    and impedance steps of :func:`nasurf.io.steps.find_steps` never join a half cycle.
    """
    t, v, i = _time_series(data)
    return _prepare(data, t, v, i, rest_threshold_A, min_duration_s, "anode").seg


def _segment(t: np.ndarray, i: np.ndarray, rest_threshold_A: float | None,
             min_duration_s: float, sign: np.ndarray | None = None,
             change: np.ndarray | None = None) -> Segmentation:
    """``sign``: the per-row sign of ``i`` at this threshold when already known;
    ``change``: the rows where it changes, when known too."""
    thr = _auto_threshold(i) if rest_threshold_A is None else float(rest_threshold_A)
    if not math.isfinite(thr) or thr < 0:
        raise ValidationError(f"rest threshold must be >= 0 A, got {rest_threshold_A!r}",
                              field="rest_threshold_A")
    n = len(i)
    if sign is None:
        sign = np.zeros(n, np.int8)
        sign[i > thr] = 1
        sign[i < -thr] = -1
    if change is None:
        change = (sign[1:] != sign[:-1]).nonzero()[0]
        change += 1
    run_start = np.empty(change.size + 1, np.int64)
    run_start[0] = 0
    run_start[1:] = change
    run_stop = np.empty_like(run_start)
    run_stop[:-1] = change
    run_stop[-1] = n
    run_sign = sign[run_start].astype(np.int8, copy=False)

    # duration of a run includes the interval that leads into it
    before = run_start - 1
    before[0] = 0
    duration = t[run_stop - 1] - t[before]
    active = (run_sign != 0).nonzero()[0]
    blip_runs = blip_rows = 0
    # a blip is short: the sign test only where an inner active run is
    short = (duration[active[1:-1]] < min_duration_s) if active.size >= 3 else None
    if short is not None and np.count_nonzero(short):
        s = run_sign[active]
        is_blip = np.zeros(active.size, bool)
        is_blip[1:-1] = (s[1:-1] != s[:-2]) & (s[1:-1] != s[2:]) & short
        if np.count_nonzero(is_blip):
            run_sign = run_sign.copy()
            blips = active[is_blip]
            run_sign[blips] = 0
            blip_runs = int(blips.size)
            blip_rows = int((run_stop[blips] - run_start[blips]).sum())
            active = active[~is_blip]
    run_hc = np.zeros(len(run_start), np.int64)
    if active.size:
        s = run_sign[active]
        new = np.empty(active.size, bool)
        new[0] = True
        np.not_equal(s[1:], s[:-1], out=new[1:])
        hc_of_active = np.add.accumulate(new, dtype=np.int64)
        run_hc[active] = hc_of_active
        firsts = active[new]
        nxt = new.nonzero()[0]
        nxt[:-1] = nxt[1:] - 1              # each half cycle's last active run ...
        nxt[-1] = active.size - 1           # ... and the file's last
        lasts = active[nxt]
        hc_sign = run_sign[firsts]
        hc_first = run_start[firsts]
        hc_last = run_stop[lasts] - 1
    else:
        hc_sign = np.zeros(0, np.int8)
        hc_first = hc_last = np.zeros(0, np.int64)
    return Segmentation(run_start, run_stop, run_sign, run_hc, hc_sign, hc_first, hc_last,
                        thr, blip_runs, blip_rows)


@dataclass(frozen=True)
class _Prepared:
    """What every half-cycle analysis shares: the step model, the current it segments
    (passive rows zeroed; sign flipped when the cycle starts with a desodiation) and the
    half cycles found in it."""

    steps: Any
    i_seg: np.ndarray
    seg: Segmentation
    role: str
    role_how: str
    flip: bool                          # True: the first process of a cycle is desodiation


def _prepare(data: EchemData | pd.DataFrame, t: np.ndarray, v: np.ndarray, i: np.ndarray,
             rest_threshold_A: float | None, min_duration_s: float,
             electrode: str = "auto") -> _Prepared:
    df = _frame(data)
    technique = data.metadata.technique if isinstance(data, EchemData) else None
    steps = find_steps(df, threshold_A=rest_threshold_A, technique=technique,
                       arrays=(t, v, i))
    i_seg = i
    sign: np.ndarray | None = steps.row_sign
    change = steps._cache.get("sign_changes")
    from_signal = (steps.known_from == "signal"
                   or steps.known_from.endswith("(kinds from the signal)"))
    if steps.has(IMPEDANCE, HPPC_PULSE) or (not from_signal and steps.has(*PASSIVE_KINDS)):
        # (with kinds from the signal a rest is already below the threshold; impedance
        # rows, known from their frequency, carry the AC current and HPPC pulses a
        # resistance test's: both must be zeroed)
        passive = steps.rows_of(*PASSIVE_KINDS)
        # only passive rows with current above the threshold change anything (the others
        # are below it already: no half cycle, no median sample); an instrument's rests
        # usually have none, and then the whole-column copies are skipped
        live = passive & (sign != 0)
        if np.count_nonzero(live):
            i_seg = np.where(passive, 0.0, i)
            # the sign of i_seg at the same threshold: the steps' row sign with the
            # passive rows zeroed (saves re-comparing every row)
            sign = sign.copy()
            sign[live] = 0
            change = None
    role, how = electrode_role(v, steps, electrode)
    flip = role != "anode"
    if flip:
        i_seg = -i_seg
        sign = -sign if sign is not None else None
    thr = steps.threshold_A if rest_threshold_A is None else rest_threshold_A
    seg = _segment(t, i_seg, thr, min_duration_s, sign, change)
    return _Prepared(steps, i_seg, seg, role, how, flip)


def _process_names(sign: np.ndarray, flip: bool) -> np.ndarray:
    """Half-cycle sign (segmentation frame) -> sodiation/desodiation of the electrode."""
    first, second = (DESODIATION, SODIATION) if flip else (SODIATION, DESODIATION)
    return np.where(sign < 0, first, second)


def _sampled_median_abs(i: np.ndarray, seg: Segmentation, k: int = 255,
                        select: np.ndarray | None = None) -> np.ndarray:
    """Median |I| of each half cycle's active rows (exact up to ``k`` rows, else over ``k``
    evenly spaced rows: the same current to within the cycler's noise, at O(k) cost);
    ``select``: only these half cycles (0-based), in that order."""
    first, last = seg.half_cycle_first_row, seg.half_cycle_last_row
    sign, thr = seg.half_cycle_sign, seg.threshold_A
    if select is not None:
        first, last, sign = first[select], last[select], sign[select]
    if first.size == 0:
        return np.zeros(0)
    length = last - first + 1
    width = min(k, int(length.max()))
    short = length <= _SHORT_HALF_CYCLE
    if width > _SHORT_HALF_CYCLE and int(np.count_nonzero(short)) >= 8:
        # many short half cycles (CC-CV files, pulses) next to long ones: a narrow matrix
        # for the short ones instead of padding each to k columns (rows are independent:
        # the same values, the same medians)
        out = np.empty(first.size)
        for sel, w in ((short, _SHORT_HALF_CYCLE), (~short, width)):
            out[sel] = _median_abs_rows(i, first[sel], length[sel], sign[sel], thr, k, w)
        return out
    return _median_abs_rows(i, first, length, sign, thr, k, width)


#: half cycles up to this many rows get their own narrow matrix in _sampled_median_abs
_SHORT_HALF_CYCLE = 32


def _median_abs_rows(i: np.ndarray, first: np.ndarray, length: np.ndarray,
                     sign: np.ndarray, thr: float, k: int, width: int) -> np.ndarray:
    """:func:`_sampled_median_abs` of half cycles no longer than ``width`` rows unless
    ``width == k`` (longer ones are sampled at k evenly spaced rows)."""
    j = np.arange(width)
    if width < k or int(length.max()) <= k:
        # every row of every half cycle: each is a window of the column, gathered from a
        # strided view of it without an index matrix. A window that would run past the
        # table's end is the table's last one, the half cycle's rows at an offset in it
        # (a median depends on which values are kept, not on their places)
        vals = _windows(i, width)
        low = np.minimum(first, vals.shape[0] - 1)
        vals = vals[low]
        off = first - low
        end = length + off
        # (a window past its half cycle's rows is rare: the position mask only then)
        valid = (j < end[:, None]) & (j >= off[:, None]) if (
            int(end.min()) < width or np.count_nonzero(off)) else None
    else:
        sampled = length > k
        every = np.count_nonzero(sampled) == sampled.size
        step = (length - 1) / (k - 1)
        if not every:
            step = np.where(sampled, step, 1.0)
        # j x step >= 0: its truncation is its floor
        idx = first[:, None] + (j * step[:, None]).astype(np.int64)
        valid = None                # every half cycle sampled: k rows of each, all inside it
        if not every:
            valid = j < length[:, None]
            # past a half cycle's end the index may run off the table: clip (masked below)
            np.minimum(idx, i.size - 1, out=idx)
        vals = i[idx]
    # I x sign is |I| exactly where the current has the half cycle's sign (x +-1 is
    # exact), and only those rows above the threshold count
    vals *= sign.astype(np.float64)[:, None]
    above = vals > thr
    valid = above if valid is None else valid & above
    # every value kept (the common case): no masking, and each row's count is its width
    full = np.count_nonzero(valid) == valid.size
    if not full:
        vals[~valid] = np.inf
    # row-wise median of the kept values: sorted, they come first (inf last); numpy's
    # vectorised sort beats a partition at the middle positions here
    vals.sort(axis=1)
    if full:
        # every row's count is its width (>= 1): its middle values are two columns
        return 0.5 * (vals[:, (width - 1) // 2] + vals[:, width // 2])
    rows = np.arange(vals.shape[0])
    count = np.add.reduce(valid, axis=1, dtype=np.intp)
    # the middle position(s) lie inside a row of count <= width values; a row with no
    # value reads its last (inf, NaN below)
    lo, hi = (count - 1) // 2, count // 2
    med = 0.5 * (vals[rows, lo] + vals[rows, hi])      # inf + inf: no warning
    return np.where(count > 0, med, np.nan)


def _windows(x: np.ndarray, width: int) -> np.ndarray:
    """Every run of ``width`` consecutive values of the 1-D ``x`` (``width <= x.size``), as a
    read-only strided view: row r is ``x[r:r + width]``."""
    if not x.flags.c_contiguous:
        x = np.ascontiguousarray(x)
    win = np.ndarray((x.size - width + 1, width), x.dtype, x, 0,
                     (x.itemsize, x.itemsize))
    win.flags.writeable = False
    return win


def _assign_cycles(df: pd.DataFrame, seg: Segmentation, first: np.ndarray, mode: str,
                   source: str, warnings: list[str]) -> np.ndarray:
    if mode == "sodiation_desodiation":
        return np.add.accumulate(seg.half_cycle_sign < 0, dtype=np.int64)
    # the instrument's counter as nasurf.io defines it (Cycle Count, else EC-Lab's half
    # cycle counter paired two by two), renumbered from 1
    from nasurf.io.cycles import instrument_cycles

    try:
        per_row = instrument_cycles(df)
    except ValidationError as exc:
        raise ValidationError(f"cycle_mode 'instrument': {exc.reason}", file=source,
                              field=CYCLE) from None
    cyc = np.asarray(per_row[first], dtype=np.int64)
    key = pd.Series(list(zip(cyc, seg.half_cycle_sign, strict=True)))
    if key.duplicated().any():
        warnings.append("the instrument counts several half cycles of one process in one "
                        "cycle; their capacities are added")
    return cyc


def _complete_half_cycles(cap: np.ndarray, sign: np.ndarray, process: np.ndarray,
                          warnings: list[str],
                          flags: list[dict[str, Any]] | None = None) -> np.ndarray:
    """False for the file's last half cycle when it is much shorter than its peers, and
    for a first half cycle (of a cycle's first process) that is.

    A test stopped mid half cycle leaves a stub (e.g. 3 rows, 0.1 % of a full
    desodiation); a test started part-way through a half cycle (a cell taken over from
    another protocol) leaves one at the start; keeping either in CE means, ICE and
    retention references would be misleading. The start stub is flagged
    ``partial_first_half_cycle``.
    """
    done = np.empty(cap.size, bool)
    done.fill(True)
    if cap.size >= 3 and sign[0] < 0:
        peers0 = cap[1:][sign[1:] == sign[0]]
        med0 = _median(peers0) if peers0.size else math.nan
        if peers0.size and cap[0] < 0.5 * med0:
            done[0] = False
            msg = (f"the first half cycle ({process[0]}, {cap[0]:.4g} mAh, "
                   f"{cap[0] / med0:.1%} of the median {process[0]}) starts part-way: "
                   "listed, but excluded from ICE, mean CE and retention")
            warnings.append(msg)
            if flags is not None:
                flags.append({"flag": "partial_first_half_cycle", "cycle": 1,
                              "half_cycle": 1, "value": float(cap[0] / med0),
                              "message": msg})
    peers = cap[:-1][sign[:-1] == sign[-1]]
    median = _median(peers) if peers.size else math.nan
    if peers.size and cap[-1] < 0.5 * median:
        done[-1] = False
        warnings.append(
            f"the last half cycle ({process[-1]}, {cap[-1]:.4g} mAh, "
            f"{cap[-1] / median:.1%} of the median {process[-1]}) looks cut "
            "short by the end of the test: listed, but excluded from ICE, mean CE, "
            "irreversible capacity and retention")
    return done
