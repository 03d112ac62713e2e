"""The last step of every reader: canonical table + metadata, cleaned and validated.

Kept in one place so that every format gets the same treatment: user-given mass and area
override the file's, rows whose required values are missing are dropped *with a warning
that counts them*, an impedance technique without frequency is an error, and the result
passes :func:`nasurf.io.table.validate`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from nasurf.errors import FileFormatError
from nasurf.io import table as tb
from nasurf.io.table import EchemData, Metadata

#: Techniques whose rows are impedance points (frequency, Z', Z'' required).
IMPEDANCE_TECHNIQUES = {"PEIS", "GEIS", "EIS", "ZIR", "IMPEDANCE", "SPEIS", "SGEIS"}


def is_impedance_technique(technique: str | None) -> bool:
    return bool(technique) and technique.upper() in IMPEDANCE_TECHNIQUES


def finish(df: pd.DataFrame, md: Metadata, *, technique: str | None = None,
           active_mass_g: float | None = None, area_cm2: float | None = None,
           frequency_source: str = "a frequency column") -> EchemData:
    """Apply user overrides, drop rows missing required values (warned), validate."""
    src = md.source
    if active_mass_g is not None:
        if not np.isfinite(active_mass_g) or active_mass_g <= 0:
            raise FileFormatError(f"active_mass_g must be a positive number of grams, got "
                                  f"{active_mass_g!r}", file=src, field="active_mass_g")
        if md.active_mass_g is not None and not np.isclose(md.active_mass_g, active_mass_g):
            md = md.with_note(f"active mass {active_mass_g} g given by the caller replaces "
                              f"{md.active_mass_g} g from the file")
        md = replace(md, active_mass_g=float(active_mass_g))
    if area_cm2 is not None:
        if not np.isfinite(area_cm2) or area_cm2 <= 0:
            raise FileFormatError(f"area_cm2 must be a positive number of cm², got {area_cm2!r}",
                                  file=src, field="area_cm2")
        if md.electrode_area_cm2 is not None and not np.isclose(md.electrode_area_cm2, area_cm2):
            md = md.with_note(f"electrode area {area_cm2} cm² given by the caller replaces "
                              f"{md.electrode_area_cm2} cm² from the file")
        md = replace(md, electrode_area_cm2=float(area_cm2))
    if technique is not None:
        if md.technique and md.technique.upper() != technique.upper():
            md = md.with_note(f"technique '{technique}' given by the caller; the file says "
                              f"'{md.technique}'")
        md = replace(md, technique=technique)

    wants_impedance = is_impedance_technique(md.technique)
    if wants_impedance:
        missing = [c for c in tb.IMPEDANCE_REQUIRED if c not in df.columns]
        if missing:
            what = frequency_source if tb.FREQUENCY in missing else ", ".join(missing)
            raise FileFormatError(
                f"impedance technique {md.technique} but {what} is missing from the column "
                f"headers; the columns are {[str(c) for c in df.columns][:30]}",
                file=src, field=missing[0])

    has_ts = all(c in df.columns for c in tb.TIME_SERIES_REQUIRED)
    has_z = all(c in df.columns for c in tb.IMPEDANCE_REQUIRED)
    if not has_ts and not has_z:
        present = [str(c) for c in df.columns]
        need = [c for c in tb.TIME_SERIES_REQUIRED if c not in df.columns]
        raise FileFormatError(
            f"no {', '.join(n.split(' / ')[0].lower() for n in need)} column recognised "
            f"(found {present[:30]}); this is not a measurement table nasurf can read "
            "without a column_map such as {'<time column>': 'Test Time / s', "
            "'<voltage column>': 'Voltage / V', '<current column>': 'Current / mA'}",
            file=src)

    required = tb.TIME_SERIES_REQUIRED if has_ts else tb.IMPEDANCE_REQUIRED
    if has_ts and has_z and wants_impedance:
        required = tb.IMPEDANCE_REQUIRED
    if len(df):
        ok = np.ones(len(df), dtype=bool)
        for c in required:
            ok &= np.isfinite(df[c].to_numpy(dtype=np.float64))
        n_bad = int((~ok).sum())
        if n_bad:
            if n_bad > 0.5 * len(df):
                first = int(np.flatnonzero(~ok)[0])
                raise FileFormatError(
                    f"{n_bad} of {len(df)} data rows lack a number in "
                    f"{[c for c in required]} (first at data row {first})", file=src)
            first = int(np.flatnonzero(~ok)[0])
            md = md.with_warning(f"dropped {n_bad} row(s) without a number in the required "
                                 f"columns (first at data row {first})")
            df = df.loc[ok].reset_index(drop=True)
    if len(df) == 0:
        md = md.with_warning("the file holds no data rows")
    if has_ts and len(df) > 1:
        t = df[tb.TIME].to_numpy()
        back = np.flatnonzero(np.diff(t) < 0)
        if back.size:
            raise FileFormatError(
                f"time goes backwards at data row {int(back[0]) + 1} ({t[back[0]]:.6g} s -> "
                f"{t[back[0] + 1]:.6g} s); concatenated or corrupted file?", file=src,
                field=tb.TIME)
    return tb.validate(EchemData(df, md))
