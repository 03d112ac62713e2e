"""Battery cycler exports: Arbin (.res, CSV, XLSX), Maccor text/CSV, LANDT CSV, BaSyTec, Novonix.

Sign conventions, per instrument (what the file holds, and what nasurf does):

* Arbin, LANDT, BaSyTec, Novonix: current is signed, charge positive. For a half-cell whose
  working electrode is the anode material, charge = oxidation of that electrode =
  desodiation = anodic: already nasurf's convention, nothing is flipped.
* Maccor: current is written as a magnitude and the ``State`` column says C (charge),
  D (discharge) or R (rest). Rows in state D with positive current are negated, and
  ``Metadata.notes`` says so.

Arbin ``.res`` files are Microsoft Jet (Access) databases. They are read with the pure-Python
``access-parser`` package (no mdbtools, no ODBC): table ``Channel_Normal_Table``.
"""

from __future__ import annotations

import gzip
import re
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import FileFormatError
from nasurf.io import table as tb
from nasurf.io._assemble import finish
from nasurf.io._text import decode, to_float
from nasurf.io.columns import ColumnMap
from nasurf.io.generic import (
    assemble,
    excel_sheets,
    nan_impedance_off_sweep,
    sheet_table,
    table_from_text,
)
from nasurf.io.table import EchemData, Metadata

# ---------------------------------------------------------------------------------------
# Arbin

_ARBIN_MAP = {
    "Test_Time": ColumnMap(tb.TIME, "s"),
    "Test_Time(s)": ColumnMap(tb.TIME, "s"),
    "Voltage": ColumnMap(tb.VOLTAGE, "V"),
    "Current": ColumnMap(tb.CURRENT, "A"),
    "Charge_Capacity": ColumnMap(tb.CHARGE_CAPACITY, "A h"),
    "Discharge_Capacity": ColumnMap(tb.DISCHARGE_CAPACITY, "A h"),
    "Cycle_Index": ColumnMap(tb.CYCLE),
    "Step_Index": ColumnMap(tb.STEP_INDEX),
    "Temperature": ColumnMap(tb.TEMPERATURE, "degC"),
}
_ARBIN_KNOWN = {"Data_Point", "Data Point", "DateTime", "Date_Time", "Date Time", "Step_Time",
                "Step Time (s)", "Step_Time(s)", "Charge_Energy", "Discharge_Energy",
                "Charge_Energy(Wh)", "Discharge_Energy(Wh)", "dV/dt", "dV/dt(V/s)",
                "Internal_Resistance", "Internal Resistance(Ohm)", "Test_ID", "Is_FC_Data",
                "AC_Impedance", "ACI_Phase_Angle", "Charge Energy (Wh)", "Discharge Energy (Wh)",
                "Power (W)", "Capacity (Ah)", "Internal Resistance (Ohm)", "dV/dt (V/s)",
                "ACR (Ohm)", "TC_Counter1", "TC_Counter2", "TC_Counter3", "TC_Counter4",
                "PulseStageIndex", "PulseStageTime", "ACR"}


def _arbin_unix_time(raw: pd.DataFrame, df: pd.DataFrame, md: Metadata
                     ) -> tuple[pd.DataFrame, Metadata]:
    # Arbin CSV "DateTime" is POSIX seconds; .res "DateTime" is an OLE date (days since
    # 1899-12-30) in local time
    col = next((c for c in ("DateTime", "Date_Time") if c in raw.columns), None)
    if col is None or tb.UNIX_TIME in df.columns:
        return df, md
    values = pd.to_numeric(raw[col], errors="coerce").to_numpy(dtype=np.float64)
    finite = values[np.isfinite(values)]
    if finite.size and (finite > 1e8).all():
        df.insert(len([c for c in df.columns if c in tb.FLOAT_COLUMNS]), tb.UNIX_TIME, values)
    elif finite.size and ((finite > 3e4) & (finite < 1e5)).all():
        df.insert(len([c for c in df.columns if c in tb.FLOAT_COLUMNS]), tb.UNIX_TIME,
                  (values - 25569.0) * 86400.0)
        md = md.with_note("Unix Time from the OLE date in DateTime (instrument local time, "
                          "taken as UTC)")
    return df, md


def _resume_times(db: Any) -> list[float]:
    """Test_Time where the run ended, from Arbin's Resume_Table and Event_Table (the
    truncation check of :func:`nasurf.io._binary.check_arbin_end` compares the rows with
    it); empty when the tables are missing or damaged."""
    times: list[float] = []
    for name in ("Resume_Table", "Event_Table"):
        if name in db.catalog:
            try:
                times += [float(t) for t in db.parse_table(name).get("Test_Time", [])]
            except Exception:  # a damaged side table: the check is skipped, not the read
                continue
    return times


def read_arbin_res(path: Path, *, technique: str | None = None,
                   active_mass_g: float | None = None, area_cm2: float | None = None,
                   column_map: dict[str, str] | None = None, **_: Any) -> EchemData:
    src = str(path)
    raw_bytes = path.read_bytes()
    note = None
    if raw_bytes[:2] == b"\x1f\x8b":
        raw_bytes = _gunzip(raw_bytes, src)
        note = "read through gzip"
    try:
        from access_parser import AccessParser
    except ImportError:  # declared dependency; only a broken install gets here
        raise FileFormatError("reading Arbin .res needs the 'access-parser' package",
                              file=src) from None
    with tempfile.TemporaryDirectory(prefix="nasurf-") as tmp:
        db_path = Path(tmp) / "data.res"
        db_path.write_bytes(raw_bytes)
        try:
            db = AccessParser(str(db_path))
            if "Channel_Normal_Table" not in db.catalog:
                raise FileFormatError("Access database without Arbin's Channel_Normal_Table",
                                      file=src)
            table = db.parse_table("Channel_Normal_Table")
            header: dict[str, Any] = {}
            if "Global_Table" in db.catalog:
                glob = db.parse_table("Global_Table")
                header = {k: (v[0] if len(v) == 1 else list(v)) for k, v in glob.items()}
            header["resume"] = _resume_times(db)
        except FileFormatError:
            raise
        except Exception as exc:  # access-parser raises construct/Key/Index errors
            raise FileFormatError(f"not a readable Arbin .res (MS Access) database "
                                  f"({exc.__class__.__name__}: {str(exc)[:150]})",
                                  file=src) from None
    raw = pd.DataFrame({k: list(v) for k, v in table.items()})
    if "Data_Point" in raw.columns:
        raw = raw.sort_values("Data_Point", kind="stable").reset_index(drop=True)
    md = Metadata(source=src, instrument="Arbin", file_format="arbin-res", technique="cycling",
                  header={k: str(v) for k, v in header.items()})
    if note:
        md = md.with_note(note)
    df, md = assemble(raw, md, explicit=_ARBIN_MAP, column_map=column_map,
                      known_extra=_ARBIN_KNOWN, guess=False)
    df, md = _arbin_unix_time(raw, df, md)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)


def _gunzip(data: bytes, src: str, limit: int = 2 * 1024**3) -> bytes:
    try:
        with gzip.GzipFile(fileobj=__import__("io").BytesIO(data)) as gz:
            out = gz.read(limit + 1)
    except (OSError, EOFError) as exc:
        raise FileFormatError(f"corrupted gzip stream ({exc})", file=src) from None
    if len(out) > limit:
        raise FileFormatError(f"gzip member unpacks to more than {limit} bytes", file=src)
    return out


def looks_like_arbin_header(line: str) -> bool:
    return ("Cycle_Index" in line or "Cycle Index" in line) and (
        "Test_Time" in line or "Test Time" in line) and ("Step_Index" in line or
                                                         "Step Index" in line)


def looks_like_arbin_csv(head: str) -> bool:
    """An Arbin CSV export: its first line is the Arbin column header."""
    return looks_like_arbin_header(head.lstrip("\ufeff").split("\n", 1)[0].strip())


def read_arbin_csv(path: Path, *, technique: str | None = None,
                   column_map: dict[str, str] | None = None, encoding: str | None = None,
                   active_mass_g: float | None = None, area_cm2: float | None = None,
                   **_: Any) -> EchemData:
    src = str(path)
    text = decode(path.read_bytes(), encoding, source=src)
    raw, _pre, _sep, decimal = table_from_text(text, src=src)
    md = Metadata(source=src, instrument="Arbin", file_format="arbin-csv", technique="cycling")
    df, md = assemble(raw, md, explicit=_ARBIN_MAP, column_map=column_map,
                      known_extra=_ARBIN_KNOWN, decimal=decimal)
    df, md = _arbin_unix_time(raw, df, md)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)


def read_arbin_xlsx(path: Path, *, technique: str | None = None,
                    column_map: dict[str, str] | None = None,
                    active_mass_g: float | None = None, area_cm2: float | None = None,
                    **_: Any) -> EchemData:
    """Arbin Excel export: the ``Channel_*`` sheets, in order, concatenated."""
    src = str(path)
    sheets = excel_sheets(path, src)
    parts = []
    header: dict[str, Any] = {}
    for name, rows in sheets.items():
        if name.lower().startswith("global"):
            header["Global_Info"] = [[c for c in r if c is not None] for r in rows[:10]]
            continue
        if not name.lower().startswith("channel") or "stat" in name.lower():
            continue
        raw = sheet_table(rows)
        if raw is not None:
            parts.append(raw)
    if not parts:
        raise FileFormatError("Arbin workbook without Channel_* data sheets", file=src)
    raw = pd.concat(parts, ignore_index=True)
    md = Metadata(source=src, instrument="Arbin", file_format="arbin-xlsx", technique="cycling",
                  header=header)
    if len(parts) > 1:
        md = md.with_note(f"{len(parts)} Channel sheets concatenated in workbook order")
    known = {c for c in raw.columns if c in _ARBIN_KNOWN or "(" in c}
    df, md = assemble(raw, md, explicit=_ARBIN_MAP, column_map=column_map, known_extra=known)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)


# ---------------------------------------------------------------------------------------
# Maccor

_MACCOR_MAP = {
    "Cyc#": ColumnMap(tb.CYCLE), "Cycle C": ColumnMap(tb.CYCLE), "Cycle P": ColumnMap(tb.CYCLE),
    "Step": ColumnMap(tb.STEP_INDEX),
    "Test (Min)": ColumnMap(tb.TIME, "min"), "Test (Sec)": ColumnMap(tb.TIME, "s"),
    "Test Time (sec)": ColumnMap(tb.TIME, "s"), "TestTime": ColumnMap(tb.TIME, "s"),
    "Test Time": ColumnMap(tb.TIME, "s"),
    "Amps": ColumnMap(tb.CURRENT, "A"), "Current": ColumnMap(tb.CURRENT, "A"),
    "Volts": ColumnMap(tb.VOLTAGE, "V"), "Voltage": ColumnMap(tb.VOLTAGE, "V"),
    "Current [A]": ColumnMap(tb.CURRENT, "A"), "Voltage [V]": ColumnMap(tb.VOLTAGE, "V"),
    "Temp 1": ColumnMap(tb.TEMPERATURE, "degC"),
}


_MACCOR_PREAMBLE = ("Name:", "Channel:", "Tester", "Procedure", "Description", "Started")


def looks_like_maccor(head: str) -> bool:
    """Maccor text exports: the "Today's Date" preamble, or the variant with ``Name:``,
    ``Channel:``, ``Procedure``... lines (cellpy's ``maccor_002.txt``, no "Today's Date")
    followed by a ``Rec``/``Rec#`` tab header."""
    text = head.lstrip("\ufeff")
    if text.startswith("Today's Date"):
        return True
    lines = text.splitlines()[:40]
    if not lines or not lines[0].startswith(_MACCOR_PREAMBLE):
        return False
    return any(re.match(r"^Rec#?\t(Cyc#|Cycle P|Cycle C)\t", ln) for ln in lines)


# Seconds per unit of Maccor's unit-less "TestTime": exports write minutes, seconds or hours
# depending on the export settings, so the unit is read off the file's own clock.
_TIME_UNITS = {"s": 1.0, "min": 60.0, "h": 3600.0}


def _maccor_time_unit(raw: pd.DataFrame, time_col: str, stamps: np.ndarray | None
                      ) -> tuple[str | None, str]:
    """The unit of a unit-less numeric test-time column, from the date-time column."""
    t = pd.to_numeric(raw[time_col], errors="coerce").to_numpy(dtype=np.float64)
    if stamps is None or not np.isfinite(t).any():
        return None, ""
    ok = np.isfinite(t) & np.isfinite(stamps)
    if ok.sum() < 2:
        return None, ""
    span_t = t[ok][-1] - t[ok][0]
    span_clock = stamps[ok][-1] - stamps[ok][0]
    if span_t <= 0 or span_clock <= 0:
        return None, ""
    ratio = span_clock / span_t
    unit = min(_TIME_UNITS, key=lambda u: abs(np.log(ratio / _TIME_UNITS[u])))
    if abs(ratio / _TIME_UNITS[unit] - 1.0) > 0.02:
        return None, (f"'{time_col}' spans {span_t:.6g} while the date-time column spans "
                      f"{span_clock:.6g} s: no time unit fits")
    return unit, (f"'{time_col}' has no unit in the header; read in {unit}: its span "
                  f"{span_t:.6g} {unit} matches the date-time column's {span_clock:.6g} s "
                  f"(ratio {ratio:.5g} s per unit)")


def read_maccor(path: Path, *, technique: str | None = None,
                column_map: dict[str, str] | None = None, encoding: str | None = None,
                active_mass_g: float | None = None, area_cm2: float | None = None,
                **_: Any) -> EchemData:
    src = str(path)
    text = decode(path.read_bytes(), encoding, source=src)
    lines = text.splitlines()
    idx = next((i for i, ln in enumerate(lines[:60])
                if re.match(r"^\s*Rec#?[\t,]", ln)), None)
    if idx is None:
        raise FileFormatError("Maccor export without its 'Rec#' column header line",
                              file=src)
    sep = "\t" if "\t" in lines[idx] else ","
    raw, preamble, _sep, decimal = table_from_text(text, src=src, header_line=idx, sep=sep)
    raw = raw.loc[:, [c for c in raw.columns if not c.startswith("Unnamed")]]
    header: dict[str, Any] = {"preamble": [ln.strip() for ln in preamble]}
    for ln in preamble:
        key, tab, value = ln.partition("\t")
        if tab and key.strip():
            header[key.strip().rstrip(":")] = value.strip()
    md = Metadata(source=src, instrument="Maccor", file_format="maccor-text",
                  technique="cycling", header=header)
    explicit = dict(_MACCOR_MAP)
    if "Cycle C" in raw.columns and "Cycle P" in raw.columns:
        # "Cycle P" counts procedure loops (0 for the initial rest, then 1 for every
        # charge/discharge pair); "Cycle C" counts charge/discharge cycles
        del explicit["Cycle P"]
        md = md.with_note("Cycle Count from 'Cycle C' (charge/discharge cycles); the "
                          "procedure counter 'Cycle P' is kept under its name")
    stamp_col = next((c for c in ("DPt Time", "DPT Time", "DPT time") if c in raw.columns),
                     None)
    stamps = None
    if stamp_col is not None and raw[stamp_col].astype("string").dropna().str.fullmatch(
            r"\s*\d{1,2}:\d{2}(:\d{2}([.,]\d*)?)?\s*([AaPp][Mm])?\s*").all():
        # time of day only ("16:05:31"): no date, so no Unix time and no clock to check
        md = md.with_note(f"'{stamp_col}' holds times of day without a date: kept as written")
        stamp_col = None
    if stamp_col is not None:
        from nasurf.io.columns import datetimes_to_unix

        stamps = datetimes_to_unix(raw[stamp_col])
        if stamps is not None:
            explicit[stamp_col] = ColumnMap(tb.UNIX_TIME, "s")
            md = md.with_note(f"Unix Time from '{stamp_col}' (instrument local time, taken "
                              "as UTC)")
    time_col = next((c for c in ("TestTime", "Test Time") if c in raw.columns), None)
    if time_col is not None and pd.api.types.is_numeric_dtype(raw[time_col].dtype) \
            and not (column_map and time_col in column_map):
        unit, why = _maccor_time_unit(raw, time_col, stamps)
        if unit is not None:
            explicit[time_col] = ColumnMap(tb.TIME, unit)
            md = md.with_note(why)
        elif why:
            raise FileFormatError(f"{why}; pass column_map={{'{time_col}': "
                                  "'Test Time / <unit>'}}", file=src, field=time_col)
        else:
            md = md.with_warning(f"'{time_col}' has no unit and no date-time column to check "
                                 "it against: read in seconds")
    known = set(raw.columns)
    df, md = assemble(raw, md, explicit=explicit, column_map=column_map, known_extra=known,
                      decimal=decimal, guess=False)
    state_col = next((c for c in ("State", "MD", "Md") if c in raw.columns), None)
    if state_col is not None and tb.CURRENT in df.columns:
        state = raw[state_col].astype("string").str.strip().str.upper().fillna("").to_numpy(
            dtype=object)
        discharge = (state == "D") & (df[tb.CURRENT].to_numpy() > 0)
        if discharge.any():
            df.loc[discharge, tb.CURRENT] *= -1.0
            md = md.with_note(f"Maccor writes |I|: current negated on {int(discharge.sum())} "
                              f"rows in state D (discharge, column '{state_col}')")
        cap_col = next((c for c in ("Cap. [Ah]", "Amp-hr", "Cap. (Ah)", "Capacity (Ah)")
                        if c in raw.columns), None)
        if cap_col is not None and tb.CHARGE_CAPACITY not in df.columns:
            cap = to_float(raw[cap_col], decimal=decimal)
            df.insert(len([c for c in df.columns if c in tb.FLOAT_COLUMNS]),
                      tb.CHARGE_CAPACITY, np.where(state == "C", cap, 0.0))
            df.insert(len([c for c in df.columns if c in tb.FLOAT_COLUMNS]),
                      tb.DISCHARGE_CAPACITY, np.where(state == "D", cap, 0.0))
            md = md.with_note(f"'{cap_col}' is per step: split by the state column into "
                              "charging (C) and discharging (D) capacity")
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)


# ---------------------------------------------------------------------------------------
# LANDT (SINTEF/BattMo CSV layout: 6-line preamble, snake_case columns with unit suffixes)


def looks_like_landt(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0].lower()
    return first.startswith("cell model:") or (
        "test_time_s" in head and "current_a" in head.lower() and "voltage_v" in head.lower()
        and "step_name" in head)


def read_landt_csv(path: Path, *, technique: str | None = None,
                   column_map: dict[str, str] | None = None, encoding: str | None = None,
                   active_mass_g: float | None = None, area_cm2: float | None = None,
                   **_: Any) -> EchemData:
    src = str(path)
    text = decode(path.read_bytes(), encoding, source=src)
    raw, preamble, _sep, decimal = table_from_text(text, src=src, seps=(",",))
    header = {}
    for ln in preamble:
        key, _, value = ln.partition(":")
        header[key.strip()] = value.strip(" ,")
    md = Metadata(source=src, instrument="LANDT", file_format="landt-csv", technique="cycling",
                  header=header)
    explicit = {"discharge_capacity_Ah": ColumnMap(tb.DISCHARGE_CAPACITY, "A h"),
                "charge_capacity_Ah": ColumnMap(tb.CHARGE_CAPACITY, "A h"),
                "temperature_1_C": ColumnMap(tb.TEMPERATURE, "degC")}
    known = set(raw.columns)
    df, md = assemble(raw, md, explicit=explicit, column_map=column_map, known_extra=known,
                      decimal=decimal)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)


# ---------------------------------------------------------------------------------------
# BaSyTec

_BASYTEC_MAP = {
    "Time[s]": ColumnMap(tb.TIME, "s"),
    "U[V]": ColumnMap(tb.VOLTAGE, "V"),
    "I[A]": ColumnMap(tb.CURRENT, "A"),
    "Ah[Ah]": ColumnMap(tb.NET_CAPACITY, "A h"),
    "Cyc-Count": ColumnMap(tb.CYCLE),
    "Line": ColumnMap(tb.STEP_INDEX),
}


def looks_like_basytec(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0]
    return first.startswith("~") and ("Basytec" in head or "BaSyTec" in head
                                       or "~Time[" in head)


def read_basytec(path: Path, *, technique: str | None = None,
                 column_map: dict[str, str] | None = None, encoding: str | None = None,
                 active_mass_g: float | None = None, area_cm2: float | None = None,
                 **_: Any) -> EchemData:
    src = str(path)
    text = decode(path.read_bytes(), encoding, source=src)
    lines = text.splitlines()
    tilde = [i for i, ln in enumerate(lines[:200]) if ln.startswith("~")]
    if not tilde:
        raise FileFormatError("BaSyTec file without its '~' header lines", file=src)
    hdr_line = tilde[-1]
    lines[hdr_line] = lines[hdr_line][1:]
    header = {}
    for ln in lines[:hdr_line]:
        key, sep, value = ln[1:].partition(":")
        if sep:
            header[key.strip()] = value.strip()
    raw, _pre, _sep, decimal = table_from_text("\n".join(lines), src=src, header_line=hdr_line,
                                               sep="\t")
    temp = next((c for c in raw.columns if c.startswith("T1[")), None)
    explicit = dict(_BASYTEC_MAP)
    if temp:
        explicit[temp] = ColumnMap(tb.TEMPERATURE, "degC")
    md = Metadata(source=src, instrument="BaSyTec", file_format="basytec", technique="cycling",
                  header=header)
    df, md = assemble(raw, md, explicit=explicit, column_map=column_map,
                      known_extra=set(raw.columns), decimal=decimal, guess=False)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)


# ---------------------------------------------------------------------------------------
# Novonix


def looks_like_novonix(head: str) -> bool:
    return head.lstrip("\ufeff").startswith("[Summary]") and "Novonix" in head


def read_novonix(path: Path, *, technique: str | None = None,
                 column_map: dict[str, str] | None = None, encoding: str | None = None,
                 active_mass_g: float | None = None, area_cm2: float | None = None,
                 **_: Any) -> EchemData:
    src = str(path)
    text = decode(path.read_bytes(), encoding, source=src)
    lines = text.splitlines()
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip().strip('"') == "[Data]")
    except StopIteration:
        raise FileFormatError("Novonix file without a [Data] section", file=src) from None
    summary: dict[str, Any] = {}
    for ln in lines[:start]:
        if ln.startswith("[End Summary]"):
            break
        key, sep, value = ln.partition(":")
        if sep:
            summary[key.strip()] = value.strip()
    body = lines[start + 1:]
    # some exports wrap every line in double quotes
    body = [ln[1:-1] if len(ln) > 1 and ln.startswith('"') and ln.endswith('"') else ln
            for ln in body]
    raw, _pre, _sep, decimal = table_from_text("\n".join(body), src=src, header_line=0, sep=",")
    md = Metadata(source=src, instrument="Novonix", file_format="novonix", technique="cycling",
                  header={"summary": summary})
    explicit = {"Date and Time": ColumnMap(tb.UNIX_TIME, "s"),
                "Run Time (h)": ColumnMap(tb.TIME, "h"),
                "Potential (V)": ColumnMap(tb.VOLTAGE, "V"),
                "Current (A)": ColumnMap(tb.CURRENT, "A"),
                "Cycle Number": ColumnMap(tb.CYCLE),
                "Step Number": ColumnMap(tb.STEP_INDEX)}
    df, md = assemble(raw, md, explicit=explicit, column_map=column_map,
                      known_extra=set(raw.columns), decimal=decimal)
    for key, field in (("Mass (g)", "active_mass_g"),
                       ("Area (cm2)", "electrode_area_cm2")):
        value = summary.get(key)
        try:
            number = float(value) if value is not None else None
        except ValueError:
            number = None
        if number is not None and number > 0 and number != 1.0:
            md = replace(md, **{field: number})
        elif number == 1.0:
            md = md.with_note(f"'{key}: {value}' is Novonix's default; {field} left unset")
    df, md = nan_impedance_off_sweep(df, md)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)


# ---------------------------------------------------------------------------------------
# VDF ("Voltaiq data format") CSV: "Key: value" preamble, [DATA START], tab header, unit row

_VDF_UNITS = {"second": "s", "seconds": "s", "amp": "A", "amps": "A", "milliamp": "mA",
              "volt": "V", "volts": "V", "millivolt": "mV", "celsius": "degC",
              "amp-hour": "A h", "amp_hour": "A h", "watt-hour": "W h", "hertz": "Hz",
              "ohm": "ohm"}
_VDF_NAMES = {"Test Time": tb.TIME, "Current": tb.CURRENT, "Potential": tb.VOLTAGE,
              "Voltage": tb.VOLTAGE, "Ambient Temperature": tb.TEMPERATURE,
              "Cycle Number": tb.CYCLE, "Step Number": tb.STEP_INDEX,
              "Charge Capacity": tb.CHARGE_CAPACITY, "Discharge Capacity": tb.DISCHARGE_CAPACITY}


def looks_like_vdf(head: str) -> bool:
    text = head.lstrip("\ufeff")
    return "[DATA START]" in text[:4000] and text.startswith(("Start Time:", "Format Version:"))


def read_vdf(path: Path, *, technique: str | None = None,
             column_map: dict[str, str] | None = None, encoding: str | None = None,
             active_mass_g: float | None = None, area_cm2: float | None = None,
             **_: Any) -> EchemData:
    """VDF CSV (Voltaiq format, written for Neware channels by BatteryABN's tools).

    The units stand on the line under the header (``none``, ``second``, ``amp``, ``volt``,
    ``epoch``); ``Timestamp`` in ``epoch`` is POSIX milliseconds (it equals ``Start Time``
    plus ``Test Time`` to the millisecond on the BatteryABN file).
    """
    src = str(path)
    lines = decode(path.read_bytes(), encoding, source=src).splitlines()
    idx = next((i for i, ln in enumerate(lines[:100]) if ln.strip() == "[DATA START]"), None)
    if idx is None or len(lines) < idx + 3:
        raise FileFormatError("VDF file without '[DATA START]', header and unit lines",
                              file=src)
    header: dict[str, Any] = {}
    for ln in lines[:idx]:
        key, sep, value = ln.partition(":")
        if sep:
            header[key.strip()] = value.strip()
    names = [c.strip() for c in lines[idx + 1].split("\t")]
    units = [c.strip() for c in lines[idx + 2].split("\t")]
    if len(units) != len(names):
        raise FileFormatError(f"VDF unit line (line {idx + 3}) has {len(units)} fields for "
                              f"{len(names)} columns", file=src)
    text = "\n".join([lines[idx + 1], *lines[idx + 3:]])
    raw, _pre, _sep, decimal = table_from_text(text, src=src, header_line=0, sep="\t")
    explicit: dict[str, ColumnMap] = {}
    for name, unit in zip(names, units, strict=True):
        target = _VDF_NAMES.get(name)
        if target is None:
            continue
        if target in tb.COUNTER_COLUMNS:
            explicit[name] = ColumnMap(target)
        elif unit.lower() in _VDF_UNITS:
            explicit[name] = ColumnMap(target, _VDF_UNITS[unit.lower()])
    md = Metadata(source=src, instrument="Neware (VDF export)", file_format="vdf-csv",
                  technique="cycling", header={**header, "units": dict(zip(names, units,
                                                                         strict=True))})
    stamp = next((n for n, u in zip(names, units, strict=True) if u.lower() == "epoch"), None)
    if stamp is not None and stamp in raw.columns:
        values = to_float(raw[stamp], decimal=decimal)
        finite = values[np.isfinite(values)]
        scale = 1e-3 if finite.size and np.median(finite) > 1e11 else 1.0
        explicit[stamp] = ColumnMap(tb.UNIX_TIME, "ms" if scale == 1e-3 else "s")
    df, md = assemble(raw, md, explicit=explicit, column_map=column_map,
                      known_extra=set(raw.columns), decimal=decimal, guess=False)
    if tb.CURRENT in df.columns and tb.VOLTAGE in df.columns and len(df) \
            and not df[tb.CURRENT].any() and not df[tb.VOLTAGE].any():
        md = md.with_warning(f"current and potential are 0 on all {len(df)} rows: the file "
                             "holds no electrochemical signal (a sensor/auxiliary log)")
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)
