"""Gamry Framework ``.DTA`` files (the EXPLAIN text format), every technique with a table.

A DTA file is a header of ``KEY<TAB>TYPE<TAB>value<TAB>label`` lines followed by one or
more tables, each introduced by ``NAME<TAB>TABLE[<TAB>declared rows]``, a line of column
names and a line of units; data rows start with white space (a tab, or spaces in some
Framework versions) and the table ends at the next line that starts with a key.

What is read:

* impedance (EISPOT, EISGALV, GALVEIS): the ``ZCURVE`` table;
* cyclic voltammetry (CV): ``CURVE1`` .. ``CURVEn``, one per cycle, joined in order with
  the table number as the instrument's cycle counter (``Cycle Count / 1``); an
  ``OCVCURVE`` measured before the scan is left out and counted in a warning;
* chronoamperometry (CHRONOA), open-circuit potential (CORPOT, no current: set to 0 A),
  PWR800 charge/discharge and any other single-``CURVE`` technique;
* the PWR800 cyclic charge/discharge *summary* (``CAPACITYCURVE``, one row per half
  cycle, no time series) is not a time series: :func:`read` refuses it with a line saying
  what it is, and :func:`read_capacity_curve` reads it as a half-cycle table (what
  ``nasurf analyze cycling`` summarises).

Decimal commas (Framework under a comma locale: ``5,29037E-001``) are recognised from
the cells; a file mixing both decimal marks is refused naming the locale. A data row that
cannot be read is never dropped silently: it is counted in a warning with its line number.
A table whose declared row count disagrees with the rows read is warned about too.

Gamry writes currents with anodic current positive (``CONVENTION 1``, the Framework
default), as nasurf does; a file declaring the other convention is flipped with a note.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import FileFormatError
from nasurf.io import table as tb
from nasurf.io._assemble import finish
from nasurf.io._text import decode
from nasurf.io.columns import ColumnMap
from nasurf.io.generic import assemble
from nasurf.io.table import EchemData, Metadata

_POINT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+)([eE][-+]?\d+)?$")
_COMMA = re.compile(r"^[-+]?(\d+,\d*|,\d+)([eE][-+]?\d+)?$")
_NUM_POINT = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_NUM_COMMA = re.compile(r"^[-+]?(\d+,?\d*|,\d+)([eE][-+]?\d+)?$")

#: Gamry column -> canonical column (SI already: Gamry writes s, V, A, Hz, ohm).
_MAP: dict[str, ColumnMap] = {
    "T": ColumnMap(tb.TIME, "s"), "Time": ColumnMap(tb.TIME, "s"),
    "Vf": ColumnMap(tb.VOLTAGE, "V"), "Im": ColumnMap(tb.CURRENT, "A"),
    "Freq": ColumnMap(tb.FREQUENCY, "Hz"), "Zreal": ColumnMap(tb.Z_REAL, "ohm"),
    "Zimag": ColumnMap(tb.Z_IMAG, "ohm"), "Vdc": ColumnMap(tb.VOLTAGE, "V"),
    "Idc": ColumnMap(tb.CURRENT, "A"),
    # Virtual Front Panel (VFP600) tables name their columns in full
    "Voltage": ColumnMap(tb.VOLTAGE, "V"), "Current": ColumnMap(tb.CURRENT, "A"),
    # square-wave voltammetry: the staircase potential and the difference current
    # (forward - reverse), the pair a square-wave voltammogram is plotted from
    "Vstep": ColumnMap(tb.VOLTAGE, "V"), "Idif": ColumnMap(tb.CURRENT, "A"),
}
#: Gamry current columns that are not the canonical current but follow its sign convention.
_OTHER_CURRENTS = ("Ifwd", "Irev")
# Columns that are not numbers: the overload flags ("...........") and the like.
_TEXT_UNITS = {"bits"}

_TECHNIQUES = {"EISPOT": "PEIS", "EISGALV": "GEIS", "GALVEIS": "GEIS", "CV": "CV",
               "CHRONOA": "CA", "CHRONOP": "CP", "CORPOT": "OCV", "LSV": "LSV",
               "SQUARE_WAVE": "SWV",
               "PWR800_CHARGE": "GCPL", "PWR800_DISCHARGE": "GCPL"}


def looks_like_gamry(head: str) -> bool:
    # Framework files open with EXPLAIN; Virtual Front Panel files with the technique name,
    # repeated on the TAG line that follows ("VFP600" then "TAG<TAB>VFP600")
    text = head.lstrip("\ufeff")
    first = text.split("\n", 1)[0].strip()
    return "\nTAG\t" in text and (first == "EXPLAIN" or (
        bool(first) and "\t" not in first and f"\nTAG\t{first}" in text))


@dataclass(frozen=True)
class GamryTable:
    """One ``TABLE`` block: its name, columns, units, rows (text cells), what was dropped."""

    name: str
    columns: tuple[str, ...]
    units: tuple[str, ...]
    rows: list[list[str]]
    declared_rows: int | None
    first_line: int            # 1-based line number of the NAME<TAB>TABLE line
    dropped: tuple[str, ...]   # one entry per unreadable row: "line N: why"


def _split_row(line: str) -> list[str]:
    # rows start with a tab; some Framework versions pad with spaces instead, and then the
    # first cells are space-separated and the rest tab-separated ("  6 8 10\t226.9\t..."):
    # Gamry cells never hold a space, so such a row is split on any white space
    body = line.rstrip("\r\n")
    if body[:1] == " ":
        return body.split()
    return [c.strip() for c in body.lstrip(" \t").split("\t")]


def parse_tables(lines: list[str]) -> tuple[dict[str, Any], list[GamryTable]]:
    """Header settings (``KEY -> value``) and every table of a DTA file, in file order."""
    header: dict[str, Any] = {}
    tables: list[GamryTable] = []
    i = 0
    n = len(lines)
    while i < n:
        ln = lines[i]
        parts = ln.split("\t")
        if len(parts) >= 2 and parts[0] and parts[1] == "TABLE":
            declared = int(parts[2]) if len(parts) > 2 and parts[2].strip().isdigit() else None
            cols = tuple(c.strip() for c in lines[i + 1].strip("\r\n").lstrip(" \t").split("\t")
                         ) if i + 1 < n else ()
            units = tuple(c.strip() for c in lines[i + 2].strip("\r\n").lstrip(" \t")
                          .split("\t")) if i + 2 < n else ()
            rows: list[list[str]] = []
            dropped: list[str] = []
            j = i + 3
            while j < n and lines[j][:1] in (" ", "\t"):
                if not lines[j].strip():
                    j += 1
                    continue
                cells = _split_row(lines[j])
                if len(cells) < len(cols):
                    dropped.append(f"line {j + 1}: {len(cells)} cells, expected {len(cols)}")
                else:
                    rows.append(cells[:len(cols)])
                    if any(c for c in cells[len(cols):]):
                        dropped.append(f"line {j + 1}: {len(cells)} cells, expected "
                                       f"{len(cols)} (kept the first {len(cols)})")
                j += 1
            tables.append(GamryTable(parts[0], cols, units, rows, declared, i + 1,
                                     tuple(dropped)))
            i = j
            continue
        if len(parts) >= 3 and parts[0] and not parts[0][0].isspace():
            header.setdefault(parts[0], parts[2])
        elif len(parts) == 2 and parts[0] == "TAG":
            header.setdefault("TAG", parts[1])
        i += 1
    return header, tables


def _decimal_mark(header: dict[str, Any], tables: list[GamryTable], src: str) -> str:
    """',' or '.' from the cells; a file that uses both is refused (locale named)."""
    # only table cells decide: header labels hold version numbers such as "4.50"
    del header
    comma = point = 0
    for t in tables:
        for row in t.rows[:50]:
            for c in row:
                comma += bool(_COMMA.match(c))
                point += bool(_POINT.match(c))
    if comma and point:
        raise FileFormatError(
            f"the file mixes decimal commas ({comma} cells, e.g. '5,3E-001') and decimal "
            f"points ({point} cells); it was written under a comma locale (e.g. de_DE) and "
            "edited under a point locale: re-export it from the Gamry Framework with one "
            "locale", file=src)
    return "," if comma else "."


def _number(text: str, decimal: str) -> float | None:
    t = text.strip()
    if decimal == ",":
        if not _NUM_COMMA.match(t):
            return None
        t = t.replace(",", ".")
    elif not _NUM_POINT.match(t):
        return None
    return float(t)


def _table_frame(t: GamryTable, decimal: str) -> tuple[pd.DataFrame, list[str]]:
    """Numeric columns as float, text columns (units 'bits') as text; bad rows counted."""
    numeric = [k for k, u in enumerate(t.units) if u not in _TEXT_UNITS]
    if len(t.units) < len(t.columns):
        numeric = list(range(len(t.columns)))
    keep: list[list[Any]] = []
    bad: list[str] = list(t.dropped)
    for r, row in enumerate(t.rows):
        out: list[Any] = list(row)
        ok = True
        for k in numeric:
            v = _number(row[k], decimal)
            if v is None:
                ok = False
                bad.append(f"{t.name} row {r}: {t.columns[k]} = {row[k]!r} is not a number")
                break
            out[k] = v
        if ok:
            keep.append(out)
    df = pd.DataFrame(keep, columns=list(t.columns))
    for k in numeric:
        df[t.columns[k]] = pd.to_numeric(df[t.columns[k]]).astype(np.float64)
    return df, bad


def _dropped_warning(bad: list[str], name: str) -> str:
    shown = "; ".join(bad[:3]) + ("; ..." if len(bad) > 3 else "")
    return f"{len(bad)} row(s) of table {name} could not be read and are left out ({shown})"


def read_gamry(path: Path, *, encoding: str | None = None, **kwargs: Any) -> EchemData:
    """Read a Gamry ``.DTA`` file (see the module docstring for what is read)."""
    src = str(path)
    lines = decode(path.read_bytes(), encoding, source=src).splitlines()
    header, tables = parse_tables(lines)
    tag = str(header.get("TAG") or "unknown technique")
    if not tables:
        raise FileFormatError(f"Gamry file ({tag}) without any data TABLE", file=src)
    decimal = _decimal_mark(header, tables, src)
    names = [t.name for t in tables]
    zcurve = [t for t in tables if t.name == "ZCURVE"]
    curves = [t for t in tables if re.fullmatch(r"CURVE\d*", t.name)]
    if zcurve:
        chosen = zcurve
    elif curves:
        chosen = curves
    elif "VFPCURVE" in names:
        chosen = [t for t in tables if t.name == "VFPCURVE"]
    elif "CAPACITYCURVE" in names:
        cap = next(t for t in tables if t.name == "CAPACITYCURVE")
        raise FileFormatError(
            f"Gamry {tag} summary: its CAPACITYCURVE table has one row per half cycle "
            f"({len(cap.rows)} rows: charge in C, duration, Vstart/Vend, energy), not a "
            "time series; `nasurf analyze cycling` summarises it per cycle "
            "(nasurf.io.gamry.read_capacity_curve reads it), or read the PWR800 charge "
            "and discharge .DTA files of the run for the curves", file=src)
    else:
        raise FileFormatError(f"Gamry file ({tag}) without a CURVE or ZCURVE table (tables: "
                              f"{names})", file=src)

    md = Metadata(source=src, instrument="Gamry", file_format="gamry-dta",
                  technique=_TECHNIQUES.get(tag, tag if tag != "unknown technique" else None),
                  header=dict(header))
    if zcurve and md.technique not in ("PEIS", "GEIS"):
        md = replace(md, technique="EIS")
    if decimal == ",":
        md = md.with_note("numbers written with decimal commas (Gamry Framework under a "
                          "comma locale) were read as such")
    frames = []
    counts: dict[str, int] = {}
    for k, t in enumerate(chosen):
        df, bad = _table_frame(t, decimal)
        if bad:
            md = md.with_warning(_dropped_warning(bad, t.name))
        if t.declared_rows is not None and t.declared_rows != len(t.rows):
            md = md.with_warning(f"table {t.name} declares {t.declared_rows} rows but "
                                 f"{len(t.rows)} follow it (the run may have been cut short)")
        counts[t.name] = len(df)
        if len(chosen) > 1:
            df[tb.CYCLE] = np.int64(k + 1)
        frames.append(df)
    raw = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    if tb.CYCLE in raw.columns:
        raw[tb.CYCLE] = raw[tb.CYCLE].astype(np.int64)
    md = replace(md, header={**md.header, "tables": counts})
    left_out = [t for t in tables if t not in chosen]
    for t in left_out:
        what = ("the open-circuit potential measured before the scan"
                if t.name == "OCVCURVE" else "not part of the measurement table")
        md = md.with_warning(f"{len(t.rows)} row(s) of table {t.name} ({what}) are not in "
                             "the table")
    if any(ln.startswith("EXPERIMENTABORTED") for ln in lines):
        md = md.with_warning("the run was aborted (EXPERIMENTABORTED); the table holds the "
                             "points measured before the abort")
    area = _number(str(header.get("AREA", "")), decimal)
    if area is not None and area > 0 and area != 1.0:
        md = md.with_note(f"Gamry AREA setting {area:g} cm² kept as the electrode area "
                          "(currents are not normalised)")
        md = replace(md, electrode_area_cm2=area)
    eoc = _number(str(header.get("EOC", "")), decimal)
    if eoc is not None:
        # the Framework's open-circuit reading before the run (the OCVCURVE's end value)
        md = replace(md, header={**md.header, "open_circuit_V": eoc})
        md = md.with_note(f"open-circuit potential before the run (EOC): {eoc:g} V")
    if md.technique == "CV":
        rate = _number(str(header.get("SCANRATE", "")), decimal)
        if rate is not None and rate > 0:
            md = replace(md, scan_rate_V_s=rate * 1e-3, scan_rates_V_s=(rate * 1e-3,))
    if "T" not in raw.columns and "Time" not in raw.columns and not zcurve:
        raw, md = _time_from_rate(raw, md, header, decimal, src)
    if "Idif" in raw.columns:
        md = md.with_note("square-wave voltammetry: Voltage is the staircase potential "
                          "(Vstep) and Current the difference current Idif = Ifwd - Irev; "
                          "Ifwd and Irev are kept as extra columns")
    explicit = {c: m for c, m in _MAP.items() if c in raw.columns}
    if "Vf" in explicit and "Vdc" in explicit:
        explicit.pop("Vdc")
    df, md = assemble(raw, md, explicit=explicit, known_extra=set(raw.columns), guess=False)
    df, md = _current_convention(df, md, header, decimal)
    if tb.TIME in df.columns and tb.VOLTAGE in df.columns and tb.CURRENT not in df.columns \
            and not zcurve:
        df[tb.CURRENT] = np.zeros(len(df))
        md = md.with_note(f"{tag}: the cell is at open circuit and the file records no "
                          "current; Current / A is set to 0")
    return finish(df, md, technique=kwargs.get("technique") or md.technique,
                  active_mass_g=kwargs.get("active_mass_g"), area_cm2=kwargs.get("area_cm2"))


def _current_convention(df: pd.DataFrame, md: Metadata, header: dict[str, Any],
                        decimal: str) -> tuple[pd.DataFrame, Metadata]:
    conv = _number(str(header.get("CONVENTION", "")), decimal)
    if conv == 0 and tb.CURRENT in df.columns:
        # CONVENTION 0: the Framework was set to "cathodic current positive"
        df[tb.CURRENT] = -df[tb.CURRENT]
        for c in _OTHER_CURRENTS:
            if c in df.columns:
                df[c] = -df[c]
        md = md.with_note("the file declares cathodic current positive (CONVENTION 0): "
                          "current negated to anodic positive")
    return df, md


def _time_from_rate(raw: pd.DataFrame, md: Metadata, header: dict[str, Any], decimal: str,
                    src: str) -> tuple[pd.DataFrame, Metadata]:
    """A table without a time column (VFP600) is timed from its acquisition frequency."""
    freq = _number(str(header.get("FREQ", "")), decimal)
    if freq is None or freq <= 0:
        raise FileFormatError(
            "Gamry table without a time column (T) and without an acquisition frequency "
            "(FREQ) in the header to time its rows by; expected one of the two", file=src)
    raw = raw.copy()
    raw["T"] = np.arange(len(raw), dtype=np.float64) / freq
    md = md.with_note(f"the table has no time column: row k is timed at k / FREQ "
                      f"(acquisition frequency {freq:g} Hz in the header), starting at 0 s")
    return raw, md


# ---------------------------------------------------------------------------------------
# PWR800 cyclic charge/discharge summary

@dataclass(frozen=True)
class CapacityCurve:
    """A Gamry ``CAPACITYCURVE`` table: one row per half cycle, in SI-derived units.

    ``half_cycles`` columns: ``half_cycle`` (the file's Pt), ``cycle`` (its Cycle),
    ``type`` (0 charge, 1 discharge, as Gamry writes it), ``process`` (a charge is anodic
    current on the working electrode: desodiation; a discharge: sodiation),
    ``time_s`` (the file's Time: the half cycle's end), ``charge_C``, ``duration_s``,
    ``start_voltage_V``, ``end_voltage_V``, ``energy_J`` (signed as in the file).
    """

    half_cycles: pd.DataFrame
    source: str
    technique: str | None
    header: dict[str, Any]
    warnings: tuple[str, ...] = ()


_CAPACITY_COLUMNS = {"Pt": "half_cycle", "Time": "time_s", "Type": "type", "Cycle": "cycle",
                     "Charge": "charge_C", "Duration": "duration_s", "Vstart": "start_voltage_V",
                     "Vend": "end_voltage_V", "Energy": "energy_J"}


def is_capacity_curve(path: Path) -> bool:
    """True for a Gamry file whose only data is a ``CAPACITYCURVE`` table."""
    try:
        head = Path(path).read_bytes()[:200_000]
    except OSError:
        return False
    return b"CAPACITYCURVE\tTABLE" in head and b"ZCURVE\tTABLE" not in head and not re.search(
        rb"\nCURVE\d*\tTABLE", head)


def read_capacity_curve(path: Path, *, encoding: str | None = None) -> CapacityCurve:
    """The ``CAPACITYCURVE`` table of a Gamry PWR800 cyclic charge/discharge summary."""
    src = str(path)
    lines = decode(Path(path).read_bytes(), encoding, source=src).splitlines()
    header, tables = parse_tables(lines)
    cap = [t for t in tables if t.name == "CAPACITYCURVE"]
    if not cap:
        raise FileFormatError("Gamry file without a CAPACITYCURVE table (tables: "
                              f"{[t.name for t in tables]})", file=src)
    table = cap[0]
    missing = [c for c in _CAPACITY_COLUMNS if c not in table.columns]
    if missing:
        raise FileFormatError(f"CAPACITYCURVE table without column(s) {missing}; expected "
                              f"{list(_CAPACITY_COLUMNS)}", file=src)
    units = dict(zip(table.columns, table.units, strict=False))
    for col, unit in (("Charge", "C"), ("Duration", "s"), ("Vstart", "V"), ("Energy", "J")):
        if units.get(col) != unit:
            raise FileFormatError(f"CAPACITYCURVE column {col} in {units.get(col)!r}; "
                                  f"expected {unit}", file=src)
    df, bad = _table_frame(table, _decimal_mark(header, [table], src))
    df = df[list(_CAPACITY_COLUMNS)].rename(columns=_CAPACITY_COLUMNS)
    kinds = set(df["type"].unique().tolist())
    if not kinds <= {0.0, 1.0}:
        raise FileFormatError(f"CAPACITYCURVE Type values {sorted(kinds)}; expected 0 "
                              "(charge) and 1 (discharge)", file=src)
    df["half_cycle"] = df["half_cycle"].astype(np.int64)
    df["cycle"] = df["cycle"].astype(np.int64)
    df["type"] = df["type"].astype(np.int64)
    df.insert(3, "process", np.where(df["type"] == 0, "desodiation", "sodiation"))
    warnings = (_dropped_warning(bad, table.name),) if bad else ()
    tag = str(header.get("TAG") or "") or None
    return CapacityCurve(df, src, tag, header, warnings)
