"""Capacity retention R_n = Q_desod,n / Q_ref with an explicit reference convention
(first, second, max, after_formation(k), first_at_current)."""

from __future__ import annotations

import functools
import math
import re

import numpy as np

from nasurf.analysis.cycling._shared import _median
from nasurf.analysis.cycling.rate import _close
from nasurf.analysis.cycling.results import RateCapability, Retention
from nasurf.errors import ValidationError


# --------------------------------------------------------------------------- reference
def parse_reference(reference: str, formation_cycles: int | None = None) -> tuple[str, int]:
    """``"after_formation"`` / ``"after_formation(3)"`` / ``"first"`` ... -> (name, k)."""
    try:
        return _parse_reference(reference, formation_cycles)
    except TypeError:                   # an unhashable argument: parsed without the cache
        return _parse_reference.__wrapped__(reference, formation_cycles)


@functools.lru_cache(maxsize=64, typed=True)   # typed: 1 and True stay apart
def _parse_reference(reference: str, formation_cycles: int | None) -> tuple[str, int]:
    # (a summary parses its reference every call: the regular expression once per name)
    text = str(reference).strip().lower().replace("-", "_")
    m = re.fullmatch(r"after_formation\s*(?:\(\s*(\d+)\s*\))?", text)
    if m:
        k = int(m.group(1)) if m.group(1) else (1 if formation_cycles is None else formation_cycles)
        if formation_cycles is not None and m.group(1) and int(m.group(1)) != formation_cycles:
            raise ValidationError(
                f"reference '{reference}' and formation_cycles={formation_cycles} disagree",
                field="reference")
        if k < 0:
            raise ValidationError("formation cycles must be >= 0", field="formation_cycles")
        return "after_formation", k
    if text in ("first", "second", "max", "first_at_current"):
        return text, 0
    raise ValidationError(
        f"unknown retention reference '{reference}'; expected one of first, second, max, "
        "after_formation, after_formation(k), first_at_current", field="reference")


def _retention(number: np.ndarray, q_des: np.ndarray, ok: np.ndarray, des_current: np.ndarray,
               ref_name: str, k_form: int, rate: RateCapability, rel_tol: float,
               abs_tol_A: float, unit: str, warnings: list[str]
               ) -> tuple[Retention, np.ndarray]:
    usable = ok.nonzero()[0]
    final_cycle = int(number[usable[-1]]) if usable.size else None
    conv = f"after_formation({k_form})" if ref_name == "after_formation" else ref_name

    def done(ref_cycle: int | None, ref_cap: float | None,
             col: np.ndarray) -> tuple[Retention, np.ndarray]:
        fin = None
        if final_cycle is not None:
            val = col[number == final_cycle]
            fin = float(val[0]) if val.size and np.isfinite(val[0]) else None
        return Retention(conv, ref_cycle, ref_cap, final_cycle, fin, unit), col

    if not usable.size:
        warnings.append("no complete cycle: retention undefined")
        return done(None, None, np.full(number.size, np.nan))
    if ref_name == "first_at_current":
        col = np.full(number.size, np.nan)
        sc = rate.step_columns
        for ref_c, a, b in zip(sc.get("reference_cycle", ()), sc.get("first_cycle", ()),
                               sc.get("last_cycle", ()), strict=True):
            ref_pos = np.flatnonzero((number == ref_c) & ok)
            if not ref_pos.size:
                continue
            m = (number >= a) & (number <= b)
            col[m] = q_des[m] / q_des[ref_pos[0]]
        return done(None, None, col)
    if ref_name == "first":
        ref = 1
    elif ref_name == "second":
        ref = 2
    elif ref_name == "max":
        ref = int(number[usable[np.argmax(q_des[usable])]])
    else:
        after = usable[number[usable] > k_form]
        if not after.size:
            warnings.append(f"no complete cycle after {k_form} formation cycle(s): "
                            "retention undefined")
            return done(None, None, np.full(number.size, np.nan))
        cur = des_current[after]
        finite_cur = cur[~np.isnan(cur)]
        modal = _median(finite_cur) if finite_cur.size else math.nan   # np.nanmedian
        match = _close(cur, modal, rel_tol, abs_tol_A).nonzero()[0]
        ref = int(number[after[match[0] if match.size else 0]])
    pos = ((number == ref) & ok).nonzero()[0]
    if not pos.size:
        warnings.append(f"retention reference cycle {ref} ({conv}) is not a complete "
                        "cycle: retention undefined")
        return done(ref, None, np.full(number.size, np.nan))
    ref_cap = float(q_des[pos[0]])
    return done(ref, ref_cap, q_des / ref_cap)
