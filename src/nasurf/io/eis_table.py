"""Impedance columns in ordinary tables (CSV, XLSX, text): polar form and the sign of Z''.

Hand-made and exported EIS tables name their columns in a handful of ways (``f``,
``freq/Hz``, ``Z'``, ``Z''``, ``-Z''``, ``Re(Z)``, ``-Im(Z)``, ``|Z|``, ``Phase``); the names
and the sign written in the header (``-Z''``, ``-Im(Z)``) are mapped by
:mod:`nasurf.io.columns`. This module owns what a name cannot say:

* **Polar tables** (``|Z|`` and a phase angle, no Z'/Z''): Z' = |Z| cos φ and
  Z'' = |Z| sin φ, with φ = arg Z in degrees unless the header says rad. A header
  ``-Phase`` holds −arg Z and is negated.
* **The sign of Z''.** When the table also has a phase column, Z'' must have the sign of
  sin φ. A column named ``Z''`` whose values have the opposite sign on most points is
  −Z'' written under the name Z'' (a common spreadsheet habit): it is negated, with a
  warning naming the column. Without a phase column nothing is changed, but a sweep whose
  Z'' is positive on nearly every point (an inductive spectrum is rare; a capacitive arc
  written as −Z'' is common) gets a warning that says how to flip it.

Both are used by the generic CSV/XLSX readers and the RelaxIS reader; nothing here guesses
silently: each derivation or correction is a note or warning in the metadata.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from nasurf.io import table as tb
from nasurf.io._text import to_float
from nasurf.io.columns import _conversion, normalise_name, split_header
from nasurf.io.table import Metadata

_MAGNITUDE = {"|z|", "mod(z)", "modz", "zmod", "z mod", "|z| (a)", "impedance", "|impedance|",
              "impedance magnitude", "magnitude", "z", "abs(z)", "|z|/ohm"}
_PHASE = {"phase", "phase(z)", "phase z", "phase angle", "theta", "theta (z)", "theta(z)",
          "zphz", "z phase", "phase(°)", "phi", "φ", "arg(z)", "arg z", "phase of z"}


def _strip_prefix(name: str) -> str:
    # RelaxIS writes "Data: Z'", some exports "Impedance: |Z|"
    return re.sub(r"^(data|impedance)\s*:\s*", "", name)


def find_polar_columns(columns: list[str]) -> tuple[str | None, str | None, float, str]:
    """``(magnitude column, phase column, phase sign, phase unit)`` found in headers."""
    mag = phase = None
    sign, unit = 1.0, "deg"
    for c in columns:
        name, u = split_header(c)
        n = _strip_prefix(normalise_name(name))
        neg = n.startswith("-")
        n = n.lstrip("-").strip()
        if mag is None and not neg and n in _MAGNITUDE and (u is None or "ohm" in u.lower()
                                                            or "Ω" in u):
            mag = c
        elif phase is None and n in _PHASE:
            phase = c
            sign = -1.0 if neg else 1.0
            unit = "rad" if u is not None and u.strip().lower() in ("rad", "radian",
                                                                     "radians") else "deg"
    return mag, phase, sign, unit


def polar_columns(raw: pd.DataFrame) -> set[str]:
    """The |Z| and phase columns of a table (known columns, not "unrecognised" ones)."""
    mag, phase, _sign, _unit = find_polar_columns([str(c) for c in raw.columns])
    return {c for c in (mag, phase) if c is not None}


def _magnitude_scale(header: str) -> float:
    _name, unit = split_header(header)
    if unit is None:
        return 1.0   # ohm assumed, as for Z' and Z'' (columns._ASSUMED_UNITS)
    scale, _offset = _conversion(unit, "ohm", f"column '{header}'")
    return scale


def phase_radians(raw: pd.DataFrame, column: str, sign: float, unit: str,
                  decimal: str = ".") -> np.ndarray:
    values = to_float(raw[column], decimal=decimal) * sign
    return values if unit == "rad" else np.deg2rad(values)


def complete_impedance(raw: pd.DataFrame, df: pd.DataFrame, md: Metadata, *,
                       decimal: str = ".") -> tuple[pd.DataFrame, Metadata]:
    """Derive Z'/Z'' from |Z| and phase where missing; check the sign of Z'' (see module)."""
    if tb.FREQUENCY not in df.columns:
        return df, md
    mag_col, phase_col, sign, unit = find_polar_columns([str(c) for c in raw.columns])
    missing = [c for c in (tb.Z_REAL, tb.Z_IMAG) if c not in df.columns]
    f = df[tb.FREQUENCY].to_numpy(dtype=np.float64)
    on = np.isfinite(f) & (f > 0)
    if missing and mag_col is not None and phase_col is not None:
        magnitude = to_float(raw[mag_col], decimal=decimal) * _magnitude_scale(mag_col)
        phi = phase_radians(raw, phase_col, sign, unit, decimal)
        derived = {tb.Z_REAL: magnitude * np.cos(phi), tb.Z_IMAG: magnitude * np.sin(phi)}
        df = df.copy()
        for col in missing:
            df[col] = np.where(on, derived[col], np.nan)
        order = [c for c in tb.CANONICAL_COLUMNS if c in df.columns]
        df = df[order + [c for c in df.columns if c not in order]]
        what = " and ".join(f"'{c}'" for c in missing)
        md = md.with_note(f"{what} derived from '{mag_col}' and '{phase_col}' (Z' = |Z| cos φ, "
                          f"Z'' = |Z| sin φ, φ = {'-' if sign < 0 else ''}'{phase_col}' in "
                          f"{unit} taken as arg Z) on the {int(on.sum())} rows with a "
                          "frequency > 0")
        return df, md
    if missing or not on.any():
        return df, md
    zi = df[tb.Z_IMAG].to_numpy(dtype=np.float64)
    zr = df[tb.Z_REAL].to_numpy(dtype=np.float64)
    if phase_col is not None:
        phi = phase_radians(raw, phase_col, sign, unit, decimal)
        s_phase = np.sign(np.sin(phi))
        s_zi = np.sign(zi)
        both = on & np.isfinite(phi) & (s_phase != 0) & (s_zi != 0)
        if both.any() and (s_phase[both] != s_zi[both]).mean() > 0.5:
            df = df.copy()
            df[tb.Z_IMAG] = -zi
            md = md.with_warning(
                f"Z'' negated: its values have the opposite sign of sin('{phase_col}') on "
                f"{int((s_phase[both] != s_zi[both]).sum())} of {int(both.sum())} points, so "
                "the column holds -Z''; nasurf stores Z'' = Im(Z) (capacitive arc: Z'' < 0)")
        else:
            check = np.degrees(np.arctan2(zi[both], zr[both]))
            md = md.with_note(f"Z'' sign checked against '{phase_col}' on {int(both.sum())} "
                              f"points (atan2(Z'', Z') within {_max_dev(check, phi[both]):.2g}°)")
        return df, md
    finite = on & np.isfinite(zi) & (zi != 0)
    if finite.sum() >= 5 and (zi[finite] > 0).mean() > 0.9:
        md = md.with_warning(
            f"Z'' is positive on {int((zi[finite] > 0).sum())} of {int(finite.sum())} points: "
            "nasurf stores Z'' = Im(Z) (a capacitive arc has Z'' < 0); if the file holds "
            "-Z'' under a plain name, read it with column_map={'<that column>': "
            "'-Z Imag / Ohm'}")
    return df, md


def _max_dev(deg: np.ndarray, phi: np.ndarray) -> float:
    d = np.abs((deg - np.degrees(phi) + 180.0) % 360.0 - 180.0)
    return float(d.max()) if d.size else 0.0


def impedance_technique(df: pd.DataFrame, md: Metadata) -> Metadata:
    """A table whose every row is an impedance point is an EIS measurement (noted)."""
    if md.technique or tb.FREQUENCY not in df.columns or not len(df):
        return md
    if not all(c in df.columns for c in tb.IMPEDANCE_REQUIRED):
        return md
    f = df[tb.FREQUENCY].to_numpy(dtype=np.float64)
    if (np.isfinite(f) & (f > 0)).all():
        from dataclasses import replace

        return replace(md, technique="EIS").with_note(
            "technique EIS: every row has a frequency > 0 and an impedance")
    return md
