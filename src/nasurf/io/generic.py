"""Delimited text and Excel tables whose headers carry names and units, plus BDF CSV.

A CSV such as ``time/s,Ewe/V,I/mA`` or ``Test Time / s,Voltage / V,Current / A`` or
``Time (s);Voltage [V];Current (mA)`` is read without any mapping: the header line is found
after any preamble (:func:`nasurf.io._text.find_table`), the separator is detected, each
header's quantity is recognised from a synonym table and its unit converted with pint.
Anything else takes a ``column_map`` (``{"Zeit": "Test Time / min", "U": "Voltage / V",
"Strom": "Current / mA"}``): canonical quantity plus the unit the file uses.

The vendor readers for tabular exports (Arbin, Maccor, LANDT, BaSyTec, Novonix, EIS text
formats) reuse :func:`table_from_text` and :func:`assemble` with their own column maps.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import FileFormatError
from nasurf.io import table as tb
from nasurf.io._assemble import finish
from nasurf.io._text import decode, find_table, numeric_fraction, read_delimited
from nasurf.io.columns import ColumnMap, build_table, infer_mapping
from nasurf.io.table import EchemData, Metadata


def detect_decimal(lines: list[str], sep: str) -> str:
    """',' when data cells use decimal commas (only possible when ',' is not the separator)."""
    if sep == ",":
        return "."
    comma = point = 0
    for ln in lines[:30]:
        for cell in ln.split(sep):
            c = cell.strip()
            if re.fullmatch(r"[-+]?\d+,\d+([eE][-+]?\d+)?", c):
                comma += 1
            elif re.fullmatch(r"[-+]?\d*\.\d+([eE][-+]?\d+)?", c):
                point += 1
    return "," if comma > point else "."


def table_from_text(text: str, *, src: str, header_line: int | None = None,
                    sep: str | None = None, seps: tuple[str, ...] = (",", ";", "\t"),
                    ) -> tuple[pd.DataFrame, list[str], str, str]:
    """Find and parse the data table in a text file: ``(raw, preamble_lines, sep, decimal)``."""
    # only the head is split into lines (header search, decimal detection); the table is
    # parsed from one slice of the text: a list of millions of line strings would cost
    # several times the table itself
    lines = text[:1 << 20].splitlines(keepends=True)[:2000]
    if not text.strip():
        raise FileFormatError("empty file", file=src)
    if header_line is None or sep is None:
        try:
            found_line, found_sep = find_table(lines, seps=(sep,) if sep else seps)
        except FileFormatError:
            raise FileFormatError("no table found: no header line followed by rows of "
                                  "numbers", file=src) from None
        header_line = found_line if header_line is None else header_line
        sep = found_sep if sep is None else sep
    if header_line >= len(lines) - 1:
        lines = text.splitlines(keepends=True)
    decimal = detect_decimal([ln.rstrip("\r\n") for ln in
                              lines[header_line + 1:header_line + 31]], sep)
    raw = read_delimited(text, sep=sep, skiprows=0, decimal=decimal, source=src,
                         start=sum(len(ln) for ln in lines[:header_line]))
    return raw, [ln.rstrip("\r\n") for ln in lines[:header_line]], sep, decimal


def assemble(raw: pd.DataFrame, md: Metadata, *, explicit: dict[str, ColumnMap] | None = None,
             column_map: dict[str, str] | None = None, known_extra: set[str] | None = None,
             decimal: str = ".", guess: bool = True, technique: str | None = None,
             active_mass_g: float | None = None, area_cm2: float | None = None,
             ) -> tuple[pd.DataFrame, Metadata]:
    """Map, convert and warn; the caller may adjust the table before :func:`finish`."""
    src = md.source
    mapping = infer_mapping(list(raw.columns), explicit=explicit, column_map=column_map,
                            source=src, guess=guess)
    df, warns = build_table(raw, mapping, source=src, decimal=decimal,
                            known_extra=known_extra or set())
    for w in warns:
        md = md.with_warning(w)
    return df, md


def nan_impedance_off_sweep(df: pd.DataFrame, md: Metadata) -> tuple[pd.DataFrame, Metadata]:
    """Rows with frequency <= 0 (or missing) are not impedance points: blank their Z."""
    if tb.FREQUENCY in df.columns and tb.TIME in df.columns:
        f = df[tb.FREQUENCY].to_numpy()
        off = ~(f > 0)
        if off.any() and not off.all():
            for c in (tb.FREQUENCY, tb.Z_REAL, tb.Z_IMAG):
                if c in df.columns:
                    df.loc[off, c] = np.nan
            md = md.with_note("impedance columns are NaN on rows that are not impedance "
                              "points (frequency 0 or missing)")
        elif off.all():
            df = df.drop(columns=[c for c in (tb.FREQUENCY, tb.Z_REAL, tb.Z_IMAG)
                                  if c in df.columns])
    return df, md


def read_generic_text(path: Path, *, technique: str | None = None,
                      column_map: dict[str, str] | None = None, encoding: str | None = None,
                      active_mass_g: float | None = None, area_cm2: float | None = None,
                      file_format: str = "csv", instrument: str | None = None,
                      **_: Any) -> EchemData:
    src = str(path)
    text = decode(path.read_bytes(), encoding, source=src)
    raw, preamble, _sep, decimal = table_from_text(text, src=src)
    md = Metadata(source=src, instrument=instrument, file_format=file_format)
    if preamble:
        md = _replace_header(md, {"preamble": preamble[:200]})
    if decimal == ",":
        md = md.with_note("decimal commas read as decimal points")
    df, md = assemble(raw, md, column_map=column_map, decimal=decimal)
    df, md = nan_impedance_off_sweep(df, md)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)


def _replace_header(md: Metadata, header: dict[str, Any]) -> Metadata:
    from dataclasses import replace

    return replace(md, header={**md.header, **header})


# ---------------------------------------------------------------------------------------
# Excel


def excel_sheets(path: Path, src: str, *, max_rows: int | None = None
                 ) -> dict[str, list[tuple[Any, ...]]]:
    """All sheets as lists of row tuples (values, not formulas)."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException ...
        raise FileFormatError(f"not a readable .xlsx workbook ({exc.__class__.__name__}: "
                              f"{str(exc)[:150]})", file=src) from None
    try:
        return {ws.title: list(ws.iter_rows(values_only=True, max_row=max_rows))
                for ws in wb.worksheets}
    finally:
        wb.close()


def sheet_table(rows: list[tuple[Any, ...]]) -> pd.DataFrame | None:
    """The table in a sheet: header = last text row before the first mostly numeric row."""
    for i in range(min(len(rows) - 1, 200)):
        head = rows[i]
        nxt = rows[i + 1]
        texts = [c for c in head if isinstance(c, str) and c.strip()]
        nums = [c for c in nxt if isinstance(c, int | float) and not isinstance(c, bool)]
        if len(texts) >= 2 and len(nums) >= 2 and len(nums) >= 0.5 * len(texts):
            names = [str(c).strip() if c is not None else f"column {j + 1}"
                     for j, c in enumerate(head)]
            width = len(names)
            body = [r[:width] + (None,) * (width - len(r)) for r in rows[i + 1:]]
            body = [r for r in body if any(c is not None for c in r)]
            df = pd.DataFrame(body, columns=names)
            return df.drop(columns=[c for c in df.columns if c.startswith("column ")
                                    and df[c].isna().all()])
    return None


def read_generic_xlsx(path: Path, *, technique: str | None = None,
                      column_map: dict[str, str] | None = None,
                      active_mass_g: float | None = None, area_cm2: float | None = None,
                      **_: Any) -> EchemData:
    src = str(path)
    sheets = excel_sheets(path, src)
    errors = []
    for name, rows in sheets.items():
        raw = sheet_table(rows)
        if raw is None:
            continue
        md = Metadata(source=src, file_format="xlsx", header={"sheet": name})
        try:
            df, md = assemble(raw, md, column_map=column_map)
            df, md = nan_impedance_off_sweep(df, md)
            return finish(df, md, technique=technique, active_mass_g=active_mass_g,
                          area_cm2=area_cm2)
        except FileFormatError as exc:
            errors.append(f"sheet '{name}': {exc.reason}")
    detail = "; ".join(errors) if errors else "no sheet holds a table of numbers"
    raise FileFormatError(f"no measurement table in the workbook ({detail})", file=src)


def frame_of(values: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame(values)


def looks_numeric_block(lines: list[str], sep: str, ncols: int) -> bool:
    rows = [ln for ln in lines if ln.strip()]
    return bool(rows) and all(
        len(r.split(sep)) == ncols and numeric_fraction(r.split(sep)) == 1.0 for r in rows)
