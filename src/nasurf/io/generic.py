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
from nasurf.io import palmsens
from nasurf.io import table as tb
from nasurf.io._assemble import finish
from nasurf.io._text import decode, find_table, numeric_fraction, read_delimited
from nasurf.io.columns import ColumnMap, build_table, infer_mapping
from nasurf.io.eis_table import complete_impedance, impedance_technique, polar_columns
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


def check_time_column(raw: pd.DataFrame, df: pd.DataFrame, src: str,
                      time_raw: str | None = None) -> None:
    """Refuse a per-step time read as test time, with the hint that fixes it.

    A column that restarts near zero where the step changes is a step time (Neware's
    ``Time``); reading it as test time would fail later as "time goes backwards". The
    error names the column, the row, and the running-time column to use instead.
    """
    if tb.TIME not in df.columns or len(df) < 2:
        return
    t = df[tb.TIME].to_numpy(dtype=np.float64)
    back = np.flatnonzero(np.diff(t) < 0)
    if not back.size:
        return
    if time_raw is None:
        time_raw = next((c for c in raw.columns if c not in df.columns
                         and _maps_to_time(c)), tb.TIME)
    step = next((c for c in (tb.STEP_COUNT, tb.STEP_INDEX) if c in df.columns), None)
    resets = t[back + 1] <= 0.05 * np.maximum(t[back], 1e-9) + 1.0
    at_steps = step is not None and (df[step].to_numpy()[back + 1]
                                     != df[step].to_numpy()[back]).mean() > 0.5
    # a per-step time restarts at (nearly) every step change; a file restarting once or
    # twice is more likely concatenated, which finish() reports as such
    if not (at_steps or (step is None and back.size >= 3 and resets.all())):
        return
    running = [c for c in raw.columns if c != time_raw and _maps_to_time(c)]
    fix = (f"pass column_map={{'{running[0]}': 'Test Time / <unit>'}}" if running else
           "export the running time (Neware: 'Total Time'/'Cumulative Time') or pass a "
           "column_map naming it")
    row = int(back[0]) + 1
    raise FileFormatError(
        f"column '{time_raw}' restarts at data row {row} ({t[back[0]]:.6g} s -> "
        f"{t[row]:.6g} s){' where the step changes' if at_steps else ''}: it looks like a "
        f"per-step time, not the test time; {fix}", file=src, field=str(time_raw))


def _maps_to_time(header: str) -> bool:
    from nasurf.io.columns import canonical_for

    cm = canonical_for(str(header))
    return cm is not None and cm.target == tb.TIME


def refuse_comma_decimals(lines: list[str], sep: str, src: str) -> None:
    """A comma-separated table cannot hold decimal commas unquoted: say so, naming locales.

    Rows with more fields than the header, made of integer pairs ("3,7123" split in two), are
    the mark of a de_DE/fr_FR export written with ',' as both separator and decimal mark.
    """
    if sep != ",":
        return
    lines = [ln.rstrip("\r\n") for ln in lines]
    header = lines[0].rstrip(",").split(",") if lines else []
    body = [ln for ln in lines[1:30] if ln.strip()]
    if not header or not body:
        return
    wider = [ln for ln in body if len(ln.rstrip(",").split(",")) > len(header)
             and numeric_fraction(ln.split(",")) == 1.0]
    if len(wider) > 0.5 * len(body):
        raise FileFormatError(
            "data rows have more fields than the header: the numbers look written with "
            "decimal commas (a de_DE/fr_FR/… locale) in a comma-separated file, which "
            "cannot be read unambiguously; re-export with ';' or tab as the separator (or "
            "'.' as the decimal mark)", file=src)


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
            for i, ln in enumerate(lines[:200]):
                fields = ln.split(",")
                if len(fields) >= 2 and numeric_fraction(fields) < 0.5:
                    refuse_comma_decimals(lines[i:i + 31], ",", src)
            raise FileFormatError("no table found: no header line followed by rows of "
                                  "numbers", file=src) from None
        header_line = found_line if header_line is None else header_line
        sep = found_sep if sep is None else sep
    if header_line >= len(lines) - 1:
        lines = text.splitlines(keepends=True)
    decimal = detect_decimal([ln.rstrip("\r\n") for ln in
                              lines[header_line + 1:header_line + 31]], sep)
    refuse_comma_decimals(lines[header_line:header_line + 31], sep, src)
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
    if file_format == "csv" and column_map is None and palmsens.looks_like_pstrace_csv(text):
        # the PSTrace CSV export is a plain CSV to the detector; its curve pairs need their
        # own reader (the generic one sees a "V, µA" table without a time column)
        return palmsens.read_pstrace_csv(path, encoding=encoding, technique=technique,
                                         active_mass_g=active_mass_g, area_cm2=area_cm2)
    raw, preamble, _sep, decimal = table_from_text(text, src=src)
    del text   # the table is parsed: the text would double the memory of what follows
    md = Metadata(source=src, instrument=instrument, file_format=file_format)
    if preamble:
        md = _replace_header(md, {"preamble": preamble[:200]})
    if decimal == ",":
        md = md.with_note("decimal commas read as decimal points")
    df, md = assemble(raw, md, column_map=column_map, decimal=decimal,
                      known_extra=polar_columns(raw))
    df, md = complete_impedance(raw, df, md, decimal=decimal)
    df, md = nan_impedance_off_sweep(df, md)
    md = impedance_technique(df, md)
    check_time_column(raw, df, src)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)


def _replace_header(md: Metadata, header: dict[str, Any]) -> Metadata:
    from dataclasses import replace

    return replace(md, header={**md.header, **header})


# ---------------------------------------------------------------------------------------
# Excel


def excel_sheets(path: Path, src: str, *, max_rows: int | None = None
                 ) -> dict[str, list[tuple[Any, ...]]]:
    """All sheets as lists of row tuples (values, not formulas)."""
    import warnings

    import openpyxl

    try:
        with warnings.catch_warnings():
            # "Workbook contains no default style": a cosmetic complaint about Neware's
            # generator, not about the data
            warnings.simplefilter("ignore", UserWarning)
            wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile/KeyError/InvalidFileException ...
        raise FileFormatError(f"not a readable .xlsx workbook ({exc.__class__.__name__}: "
                              f"{str(exc)[:150]})", file=src) from None
    try:
        out = {}
        for ws in wb.worksheets:
            # Neware's and other generators' sheets declare a dimension of "A1" however
            # many rows they hold; read-only mode trusts it unless it is reset
            ws.reset_dimensions()
            out[ws.title] = list(ws.iter_rows(values_only=True, max_row=max_rows))
        return out
    finally:
        wb.close()


def sheet_table(rows: list[tuple[Any, ...]]) -> pd.DataFrame | None:
    """The table in a sheet: header = last text row before the first mostly numeric row."""
    for i in range(min(len(rows) - 1, 200)):
        head = rows[i]
        nxt = rows[i + 1]
        # text cells that read as numbers, durations or dates ("3,71", "00:01:00") are
        # data, not names: a header row has none of them, a data row counts them
        texts = [c for c in head if isinstance(c, str) and c.strip()
                 and numeric_fraction([c]) < 1.0]
        nums = [c for c in nxt if (isinstance(c, int | float) and not isinstance(c, bool))
                or (isinstance(c, str) and c.strip() and numeric_fraction([c]) == 1.0)]
        if len(texts) >= 2 and len(nums) >= 2 and len(nums) >= 0.5 * len(texts):
            names = [str(c).strip() if c is not None else f"column {j + 1}"
                     for j, c in enumerate(head)]
            seen: dict[str, int] = {}
            for j, n in enumerate(names):
                # repeated headers (one "Curve" per curve) would collapse into one column
                seen[n] = seen.get(n, 0) + 1
                if seen[n] > 1:
                    names[j] = f"{n} ({seen[n]})"
            width = len(names)
            body = [r[:width] + (None,) * (width - len(r)) for r in rows[i + 1:]]
            body = [r for r in body if any(c is not None for c in r)]
            df = pd.DataFrame(body, columns=names)
            return df.drop(columns=[c for c in df.columns if c.startswith("column ")
                                    and df[c].isna().all()])
    return None


def looks_like_bdf_csv(head: str) -> bool:
    """Battery Data Format CSV: BDF preferred labels ("Test Time / s") or machine names
    ("test_time_second") in the first line."""
    first = head.lstrip("\ufeff").split("\n", 1)[0].strip()
    if " / " in first and any(k in first for k in ("Test Time / s", "Voltage / V",
                                                  "Current / A", "Frequency / Hz")):
        return True
    return first.startswith("test_time_second") or ("voltage_volt" in first
                                                     and "current_ampere" in first)


def read_bdf_csv(path: Path, **kwargs: Any) -> EchemData:
    """A Battery Data Format CSV, through the generic text reader."""
    return read_generic_text(path, file_format="bdf-csv", **kwargs)


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
            df, md = assemble(raw, md, column_map=column_map, known_extra=polar_columns(raw))
            df, md = complete_impedance(raw, df, md)
            df, md = nan_impedance_off_sweep(df, md)
            md = impedance_technique(df, md)
            check_time_column(raw, df, src)
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
