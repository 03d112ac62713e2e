"""Cycle numbering: an explicit, documented choice, because readers disagree on real files.

On the same Neware file (``nw4-120-1-6-53.ndax``) the instrument's counter says 150 cycles,
fastnda's default re-count 160; navani counts BioLogic half cycles its own way; EC-Lab's
``cycle number`` only exists in some techniques. An analysis that reports "capacity of
cycle 5" or an initial coulombic efficiency must say which cycle it means.

:func:`assign_cycles` writes ``Cycle / 1`` by one of two rules:

``"instrument"``
    the file's own counter (``Cycle Count / 1``, else EC-Lab's ``Half Cycle / 1`` paired
    two by two), renumbered so the first cycle is 1.
``"sodiation_desodiation"``
    one cycle = a sodiation half cycle (current < -threshold, cathodic) followed by its
    desodiation half cycle (current > +threshold). Rest rows (|I| <= threshold) belong to
    the half cycle before them; rows before the first sodiation are cycle 1 if they are
    rest only, and cycle 0 if the file *starts* with a desodiation (a pre-sodiated or
    cathode-first protocol), so cycle 1 always starts with a sodiation and ICE is
    ``Q_desod(1) / Q_sod(1)``. This is the convention for anode half cells (methods.md §7).
    Do not use it for CVs: the current changes sign inside each sweep.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from nasurf.errors import ValidationError
from nasurf.io import table as tb
from nasurf.io.table import EchemData

CycleMode = Literal["instrument", "sodiation_desodiation"]
CYCLE_MODES: tuple[CycleMode, ...] = ("sodiation_desodiation", "instrument")


def _rest_threshold(current: np.ndarray, threshold_A: float | None) -> float:
    if threshold_A is not None:
        if not np.isfinite(threshold_A) or threshold_A < 0:
            raise ValidationError(f"rest threshold must be a non-negative current in A, got "
                                  f"{threshold_A!r}", field="threshold_A")
        return float(threshold_A)
    moving = np.abs(current[np.abs(current) > 0])
    if moving.size == 0:
        return 0.0
    # 1 % of the typical working current: above instrument offsets at rest (nA-µA), far
    # below any galvanostatic step
    return 0.01 * float(np.median(moving))


def sodiation_desodiation_cycles(current_A: np.ndarray, *,
                                 threshold_A: float | None = None) -> np.ndarray:
    """Cycle index per row from the current sign (see module docstring)."""
    current = np.asarray(current_A, dtype=np.float64)
    if current.size == 0:
        return np.zeros(0, dtype=np.int64)
    thr = _rest_threshold(current, threshold_A)
    sign = np.where(current < -thr, -1, np.where(current > thr, 1, 0))
    # rests carry the state of the half cycle before them
    state = pd.Series(np.where(sign == 0, np.nan, sign)).ffill().to_numpy()
    nonrest = state[~np.isnan(state)]
    if nonrest.size == 0:
        return np.ones(current.size, dtype=np.int64)
    prev = np.concatenate(([np.nan], state[:-1]))
    # a new cycle begins where a sodiation follows a desodiation
    starts = (state == -1) & (prev == 1)
    cycle = np.cumsum(starts)
    first_state = nonrest[0]
    cycle = cycle + (1 if first_state == -1 else 0)
    # leading rest rows before any current: cycle of the first working row
    leading = np.isnan(state)
    if leading.any():
        first_working = int(np.flatnonzero(~leading)[0])
        cycle[leading] = cycle[first_working]
    return cycle.astype(np.int64)


def instrument_cycles(df: pd.DataFrame) -> np.ndarray:
    if tb.CYCLE in df.columns:
        raw = df[tb.CYCLE].to_numpy(dtype=np.int64)
        return raw - raw.min() + 1 if raw.size else raw
    if tb.HALF_CYCLE in df.columns:
        half = df[tb.HALF_CYCLE].to_numpy(dtype=np.int64)
        return (half - half.min()) // 2 + 1 if half.size else half
    raise ValidationError(
        "the file has no cycle counter (no 'Cycle Count / 1' or 'Half Cycle / 1' column); "
        "use mode='sodiation_desodiation'", field=tb.CYCLE)


def assign_cycles(data: EchemData | pd.DataFrame, mode: CycleMode = "instrument", *,
                  threshold_A: float | None = None) -> EchemData | pd.DataFrame:
    """Return a copy with a ``Cycle / 1`` column counted by ``mode`` (see module docstring).

    ``threshold_A``: |current| at or below which a row counts as rest
    (``sodiation_desodiation`` only); default 1 % of the median non-zero |current|.
    The choice is recorded in ``Metadata.notes`` when an :class:`EchemData` is given.
    """
    df = data.data if isinstance(data, EchemData) else data
    if mode == "instrument":
        cycles = instrument_cycles(df)
        how = "instrument counter renumbered from 1"
    elif mode == "sodiation_desodiation":
        if tb.CURRENT not in df.columns:
            raise ValidationError("mode='sodiation_desodiation' needs a 'Current / A' column",
                                  field=tb.CURRENT)
        cycles = sodiation_desodiation_cycles(df[tb.CURRENT].to_numpy(),
                                              threshold_A=threshold_A)
        how = "one cycle per sodiation (I<0) half cycle followed by its desodiation (I>0)"
    else:
        raise ValidationError(f"unknown cycle mode {mode!r}; use 'instrument' or "
                              "'sodiation_desodiation'", field="mode")
    out = df.copy()
    out[tb.ASSIGNED_CYCLE] = cycles
    if isinstance(data, EchemData):
        return EchemData(out, data.metadata.with_note(f"Cycle / 1: {how}"))
    return out
