"""Neware BTS files: binary ``.nda``/``.ndax`` (via fastnda), zipped ``.nda``, BTSDA CSV.

Binary files are decoded by fastnda (the maintained reader with the widest version
coverage). ``Cycle Count / 1`` is the counter stored in the file (fastnda
``cycle_mode="raw"``): fastnda's own default re-counts cycles ("a charge step after a
discharge step") and on ``nw4-120-1-6-53.ndax`` gives 160 where the file says 150, which is
exactly the disagreement :func:`nasurf.io.cycles.assign_cycles` makes explicit.

Sign: Neware writes charge current positive and discharge current negative. For a
half-cell whose working electrode (the anode material) sits on the positive lead, "charge"
drives oxidation of the working electrode, i.e. desodiation = anodic: already nasurf's
convention, nothing is flipped. Capacity is per step in the file; it is split into
``Charging Capacity / Ah`` (steps with positive current) and ``Discharging Capacity / Ah``.

fastnda logs recoverable problems (corrupted records it skipped, undecodable XML
metadata); those log messages become ``Metadata.warnings``.
"""

from __future__ import annotations

import logging
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import FileFormatError
from nasurf.io import table as tb
from nasurf.io._assemble import finish
from nasurf.io._text import _numbers_with_damage, decode
from nasurf.io.columns import ColumnMap, build_table, infer_mapping
from nasurf.io.table import EchemData, Metadata

#: refuse to unpack zipped .nda members larger than this (zip bombs)
MAX_UNZIPPED_BYTES = 2 * 1024**3

_KNOWN_FASTNDA = {"index", "step_time_s", "step_type", "energy_mWh", "capacity_mAh",
                  "voltage_V", "current_mA", "total_time_s", "unix_time_s", "cycle_count",
                  "step_count", "step_index"}


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage().splitlines()[0] if record.getMessage() else ""
        if msg and msg not in self.messages:
            self.messages.append(msg)


def _fastnda_frame(path: Path, src: str) -> tuple[Any, list[str], dict[str, Any]]:
    import fastnda

    handler = _Collect()
    logger = logging.getLogger("fastnda")
    old_propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    import warnings

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = fastnda.read(path, cycle_mode="raw")
        for w in caught:
            text = str(w.message).split(" If you can")[0]
            if text not in handler.messages:
                handler.messages.append(text)
    except Exception as exc:  # fastnda raises ValueError/struct.error/zipfile errors ...
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise FileFormatError(f"fastnda cannot read this Neware file ({exc.__class__.__name__}:"
                              f" {msg[:200]})", file=src) from None
    finally:
        logger.removeHandler(handler)
        logger.propagate = old_propagate
    header: dict[str, Any] = {}
    if path.suffix.lower() == ".ndax":
        logger.addHandler(handler)
        logger.propagate = False
        try:
            header = fastnda.read_metadata(path) or {}
        except Exception as exc:  # metadata is optional; the data were read
            handler.messages.append(f"metadata not readable: {exc.__class__.__name__}")
        finally:
            logger.removeHandler(handler)
            logger.propagate = old_propagate
    return frame, handler.messages, header


def _from_fastnda(frame: Any, md: Metadata) -> tuple[pd.DataFrame, Metadata]:
    cols = {c: frame[c].to_numpy() for c in frame.columns}
    n = frame.height
    out: dict[str, Any] = {}
    out[tb.TIME] = np.asarray(cols["total_time_s"], dtype=np.float64)
    out[tb.VOLTAGE] = np.asarray(cols["voltage_V"], dtype=np.float64)
    out[tb.CURRENT] = np.asarray(cols["current_mA"], dtype=np.float64) / 1000.0
    cap_Ah = np.asarray(cols["capacity_mAh"], dtype=np.float64) / 1000.0
    out[tb.CHARGE_CAPACITY] = np.where(cap_Ah > 0, cap_Ah, 0.0)
    out[tb.DISCHARGE_CAPACITY] = np.where(cap_Ah < 0, -cap_Ah, 0.0)
    out[tb.UNIX_TIME] = np.asarray(cols["unix_time_s"], dtype=np.float64)
    out[tb.CYCLE] = np.asarray(cols["cycle_count"], dtype=np.int64)
    out[tb.STEP_INDEX] = np.asarray(cols["step_index"], dtype=np.int64)
    out[tb.STEP_COUNT] = np.asarray(cols["step_count"], dtype=np.int64)
    for c in ("step_type", "step_time_s", "energy_mWh", "index"):
        if c in cols:
            out[c] = cols[c] if c != "step_type" else np.asarray(cols[c], dtype=object)
    for c in cols:
        if c not in _KNOWN_FASTNDA:
            out[c] = cols[c]   # auxiliary channels (aux_temperature_degC, aux1_voltage_V ...)
    df = pd.DataFrame(out, index=pd.RangeIndex(n))
    md = md.with_note("capacity is per step in Neware files; split by the sign of the step's "
                      "capacity into charging (positive current) and discharging capacity")
    return df, md


def read_nda(path: Path, *, technique: str | None = None, active_mass_g: float | None = None,
             area_cm2: float | None = None, **_: Any) -> EchemData:
    """Read a Neware ``.nda``/``.ndax`` file, or a ``.zip`` holding exactly one ``.nda``."""
    src = str(path)
    suffix = path.suffix.lower()
    is_zip = zipfile.is_zipfile(path)
    if is_zip and suffix != ".ndax":
        with zipfile.ZipFile(path) as zf:
            holds_nda = any(n.lower().endswith((".nda", ".ndax")) for n in zf.namelist())
        if holds_nda:
            return _read_zipped_nda(path, technique=technique, active_mass_g=active_mass_g,
                                    area_cm2=area_cm2)
    if suffix not in (".nda", ".ndax"):
        # fastnda dispatches on the extension; the content decided the format here
        with tempfile.TemporaryDirectory(prefix="nasurf-") as tmp:
            alias = Path(tmp) / ("data.ndax" if is_zip else "data.nda")
            alias.write_bytes(path.read_bytes())
            inner = read_nda(alias, technique=technique, active_mass_g=active_mass_g,
                             area_cm2=area_cm2)
        from dataclasses import replace
        return EchemData(inner.data, replace(inner.metadata, source=src))
    frame, messages, header = _fastnda_frame(path, src)
    md = Metadata(source=src, instrument="Neware BTS", file_format=f"neware-{suffix[1:]}",
                  technique="cycling", header=header)
    for m in messages:
        md = md.with_warning(f"fastnda: {m}")
    df, md = _from_fastnda(frame, md)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)


def _read_zipped_nda(path: Path, **kwargs: Any) -> EchemData:
    src = str(path)
    try:
        with zipfile.ZipFile(path) as zf:
            members = [i for i in zf.infolist()
                       if not i.is_dir() and i.filename.lower().endswith((".nda", ".ndax"))]
            if len(members) != 1:
                raise FileFormatError(f"zip archive holds {len(members)} Neware .nda/.ndax "
                                      "files; nasurf reads a zip with exactly one", file=src)
            member = members[0]
            if member.file_size > MAX_UNZIPPED_BYTES:
                raise FileFormatError(f"zipped member {member.filename} would unpack to "
                                      f"{member.file_size} bytes (limit {MAX_UNZIPPED_BYTES})",
                                      file=src)
            with tempfile.TemporaryDirectory(prefix="nasurf-") as tmp:
                target = Path(tmp) / Path(member.filename).name
                target.write_bytes(zf.read(member))
                inner = read_nda(target, **kwargs)
    except zipfile.BadZipFile as exc:
        raise FileFormatError(f"corrupted zip archive ({exc})", file=src) from None
    from dataclasses import replace

    md = replace(inner.metadata, source=src,
                 file_format=f"{inner.metadata.file_format}-zip").with_note(
        f"read {member.filename} from inside the zip archive")
    return EchemData(inner.data, md)


# ---------------------------------------------------------------------------------------
# BTSDA exports: flat CSV ("record layer"), the three-level "regular" CSV, Excel workbooks
#
# Column names are BTSDA's (BTS 7.x/8.x); the step columns are kept for the step model:
# ``Step Index`` (protocol step) -> ``Step Index / 1``, ``Step Number``/``Step Count``
# (running step count) -> ``Step Count / 1``, ``Step Type`` ("Rest", "CC Chg", "CC DChg",
# "CCCV Chg", "CV Chg", "CP DChg" ...) kept under its name.

_BTSDA_MAP = {
    "Total Time": ColumnMap(tb.TIME, "s"),
    "Cumulative Time": ColumnMap(tb.TIME, "s"),
    "Cycle Index": ColumnMap(tb.CYCLE),
    "Step Index": ColumnMap(tb.STEP_INDEX),
    "Step Count": ColumnMap(tb.STEP_COUNT),
    "Step Number": ColumnMap(tb.STEP_COUNT),
    "Date": ColumnMap(tb.UNIX_TIME, "s"),
    "Realtime": ColumnMap(tb.UNIX_TIME, "s"),
    # BTSDA 7.x record ("Detail_*") layer
    "Cycle ID": ColumnMap(tb.CYCLE),
    "Step ID": ColumnMap(tb.STEP_INDEX),
}
#: Units of BTSDA's columns when an export leaves them out of the header: BTSDA's default
#: unit set (A, V, Ah, Wh, W; the unit choices an export dialog offers are mA/uA, mV,
#: mAh/mAs, mWh ..., and then the header says so: "Current(mA)").
NEWARE_DEFAULT_UNITS: dict[str, ColumnMap] = {
    "Current": ColumnMap(tb.CURRENT, "A"),
    "Voltage": ColumnMap(tb.VOLTAGE, "V"),
    "Chg. Cap.": ColumnMap(tb.CHARGE_CAPACITY, "A h"),
    "DChg. Cap.": ColumnMap(tb.DISCHARGE_CAPACITY, "A h"),
    "T1": ColumnMap(tb.TEMPERATURE, "degC"),
    "Capacitance_Chg": ColumnMap(tb.CHARGE_CAPACITY, "A h"),
    "Capacitance_DChg": ColumnMap(tb.DISCHARGE_CAPACITY, "A h"),
}
_STEP_TYPE_COLS = ("Step Type", "Step Name", "Status")


def _btsda_header_line(lines: list[str]) -> int | None:
    """The flat export's header: ``Cycle Index``, a step column and a running time (or
    ``DataPoint``, ``Step Type`` and a running time), within the first 20 lines (the
    tab-separated text export has a few preamble lines)."""
    for i, ln in enumerate(lines[:20]):
        running = "Total Time" in ln or "Cumulative Time" in ln
        if ("Cycle Index" in ln and ("Step Type" in ln or "Step Index" in ln) and running):
            return i
        # the short export without a cycle column: DataPoint, Step Type, Time, Total Time
        if ln.startswith("DataPoint") and "Step Type" in ln and running:
            return i
    return None


def looks_like_btsda(head: str) -> bool:
    text = head.lstrip("\ufeff")
    if _btsda_header_line(text.splitlines()) is not None:
        return True
    return looks_like_btsda_nested(text)


def looks_like_btsda_nested(head: str) -> bool:
    """The "regular" export: cycle header, ``,Step Index`` header, ``,,DataPoint`` header."""
    lines = head.lstrip("\ufeff").splitlines()[:3]
    if len(lines) < 3 or not lines[0].startswith("Cycle Index"):
        return False
    sep = lines[1][:1]
    return (sep in (",", ";") and lines[1].startswith(sep + "Step Index")
            and lines[2].startswith(sep * 2)
            and ("DataPoint" in lines[2] or "Record" in lines[2]))


def _name_unit(header: str) -> tuple[str, str | None]:
    from nasurf.io.columns import split_header

    return split_header(header)


def _neware_mapping(columns: list[str], src: str) -> tuple[dict[str, ColumnMap], list[str]]:
    """Explicit map for BTSDA names, with units from the header or BTSDA's default set."""
    explicit: dict[str, ColumnMap] = {c: cm for c, cm in _BTSDA_MAP.items() if c in columns}
    assumed: list[str] = []
    for c in columns:
        name, unit = _name_unit(c)
        default = NEWARE_DEFAULT_UNITS.get(name)
        if default is None or any(cm.target == default.target for cm in explicit.values()):
            continue
        if unit is None:
            explicit[c] = default
            assumed.append(f"'{c}' as {default.unit}")
        elif default.target in (tb.CHARGE_CAPACITY, tb.DISCHARGE_CAPACITY):
            explicit[c] = ColumnMap(default.target, unit)   # "Capacitance_Chg(mAh)"
        elif unit == "?" and default.target == tb.TEMPERATURE:
            explicit[c] = default   # the export's degree sign became "?"
    return explicit, assumed


def _split_step_capacity(raw: pd.DataFrame, df: pd.DataFrame, md: Metadata,
                         decimal: str = ".") -> tuple[pd.DataFrame, Metadata]:
    """Per-step ``Capacity`` into charging/discharging capacity by the step type (or sign)."""
    if tb.CHARGE_CAPACITY in df.columns or tb.DISCHARGE_CAPACITY in df.columns:
        return df, md
    cap_col = next((c for c in raw.columns if _name_unit(c)[0] == "Capacity"), None)
    if cap_col is None:
        return df, md
    from nasurf.io._text import to_float
    from nasurf.io.columns import _conversion

    unit = _name_unit(cap_col)[1] or "A h"
    scale, _ = _conversion(unit, "A h", f"column '{cap_col}'")
    cap = np.abs(to_float(raw[cap_col], decimal=decimal)) * scale
    kind = next((c for c in _STEP_TYPE_COLS if c in raw.columns), None)
    if kind is not None:
        text = raw[kind].astype("string").str.lower().fillna("")
        dchg = text.str.contains("dchg|discharge", regex=True).to_numpy()
        chg = text.str.contains("chg|charge", regex=True).to_numpy() & ~dchg
        how = f"by '{kind}' (Chg / DChg)"
    else:
        cur = df[tb.CURRENT].to_numpy()
        chg, dchg = cur > 0, cur < 0
        how = "by the sign of the current"
    n = len([c for c in df.columns if c in tb.FLOAT_COLUMNS])
    df.insert(n, tb.CHARGE_CAPACITY, np.where(chg, cap, 0.0))
    df.insert(n + 1, tb.DISCHARGE_CAPACITY, np.where(dchg, cap, 0.0))
    return df, md.with_note(f"'{cap_col}' is per step in Neware files: split {how} into "
                            "charging and discharging capacity")


def _check_current_against_capacity(df: pd.DataFrame, src: str) -> None:
    """Assumed units must agree with each other: ∫|I| dt over a step vs its capacity counter.

    A unit-less export in mA and mAh (or mA and Ah) would otherwise read 1000x off; the
    counter and the integral agree to a few percent whatever the sampling, so a ratio
    outside 0.5..2 means the assumed units are wrong.
    """
    need = (tb.TIME, tb.CURRENT, tb.CHARGE_CAPACITY, tb.DISCHARGE_CAPACITY)
    step = next((c for c in (tb.STEP_COUNT, tb.STEP_INDEX) if c in df.columns), None)
    if step is None or not all(c in df.columns for c in need) or len(df) < 3:
        return
    ids = df[step].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(df)]
    t = df[tb.TIME].to_numpy()
    cur = np.abs(df[tb.CURRENT].to_numpy())
    cap = (df[tb.CHARGE_CAPACITY] + df[tb.DISCHARGE_CAPACITY]).to_numpy()
    ratios = []
    for a, b in zip(starts, ends, strict=True):
        if b - a < 3 or cap[b - 1] <= 0:
            continue
        q = float(np.sum(cur[a + 1:b] * np.diff(t[a:b]))) / 3600.0
        if q > 0:
            ratios.append(q / cap[b - 1])
    if ratios:
        r = float(np.median(ratios))
        if not 0.5 <= r <= 2.0:
            raise FileFormatError(
                f"unit-less Current and Capacity columns disagree: ∫|I| dt over a step is "
                f"{r:.3g} x its Capacity in the assumed units (A, A h); pass a column_map "
                "with the export's units, e.g. {'Current': 'Current / mA'}", file=src,
                field="Current")


def _neware_table(raw: pd.DataFrame, md: Metadata, *, column_map: dict[str, str] | None,
                  decimal: str = ".") -> tuple[pd.DataFrame, Metadata]:
    src = md.source or ""
    explicit, assumed = _neware_mapping(list(raw.columns), src)
    mapping = infer_mapping(list(raw.columns), explicit=explicit, column_map=column_map,
                            source=src)
    known = set(raw.columns)
    df, warns = build_table(raw, mapping, source=src, decimal=decimal, known_extra=known)
    for w in warns:
        md = md.with_warning(w)
    if assumed:
        md = md.with_warning("Neware columns without units read in BTSDA's default units: "
                             + ", ".join(assumed))
        if tb.VOLTAGE in df.columns and np.nanmax(np.abs(df[tb.VOLTAGE].to_numpy())) > 50:
            raise FileFormatError(
                "the unit-less 'Voltage' column reaches "
                f"{np.nanmax(np.abs(df[tb.VOLTAGE].to_numpy())):.6g}: not volts (mV?); pass "
                "column_map={'Voltage': 'Voltage / mV'}", file=src, field="Voltage")
    if tb.TIME not in df.columns and tb.UNIX_TIME in df.columns and len(df):
        # BTSDA 7.x record layers carry only the step time and the date-time: the test time
        # is the clock's, at its resolution
        stamps = df[tb.UNIX_TIME].to_numpy(dtype=np.float64)
        first = stamps[np.isfinite(stamps)][0] if np.isfinite(stamps).any() else np.nan
        df.insert(0, tb.TIME, stamps - first)
        md = md.with_note("Test Time from the date-time column (no running-time column in "
                          "the export): resolution of the instrument's clock")
    df, md = _split_step_capacity(raw, df, md, decimal)
    if assumed:
        _check_current_against_capacity(df, src)
    from nasurf.io.generic import check_time_column

    time_raw = next((r for r, cm in mapping.items() if cm.target == tb.TIME), None)
    check_time_column(raw, df, src, time_raw)
    return df, md


def read_btsda_csv(path: Path, *, technique: str | None = None, encoding: str | None = None,
                   active_mass_g: float | None = None, area_cm2: float | None = None,
                   column_map: dict[str, str] | None = None, **_: Any) -> EchemData:
    """Neware BTSDA CSV export: the flat "recording layer" table (units in headers,
    durations hh:mm:ss) or the three-level "regular" export (cycle / step / record rows)."""
    src = str(path)
    text = decode(path.read_bytes(), encoding, source=src)
    if looks_like_btsda_nested(text[:20000]):
        return _read_btsda_nested(text, src, technique=technique, active_mass_g=active_mass_g,
                                  area_cm2=area_cm2, column_map=column_map)
    from nasurf.io.generic import table_from_text

    lines = text.lstrip("\ufeff").splitlines()
    idx = _btsda_header_line(lines) or 0
    sep = max((",", ";", "\t"), key=lines[idx].count)
    raw, pre, _sep, decimal = table_from_text(text.lstrip("\ufeff"), src=src, header_line=idx,
                                              sep=sep)
    md = Metadata(source=src, instrument="Neware BTS", file_format="neware-btsda-csv",
                  technique="cycling", header={"preamble": pre} if pre else {})
    if decimal == ",":
        md = md.with_note("decimal commas read as decimal points")
    df, md = _neware_table(raw, md, column_map=column_map, decimal=decimal)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)


def _read_btsda_nested(text: str, src: str, *, column_map: dict[str, str] | None,
                       **kwargs: Any) -> EchemData:
    """Cycle rows (no leading comma), step rows (one), record rows (two leading commas).

    Every record row gets the cycle and step it sits under (``Cycle Index``, ``Step Index``,
    ``Step Number``, ``Step Type``). The first data line of BTSDA's export holds cycle 1
    and step 1 on one line: the cycle's fields, then the step's. The cycle and step tables
    (the instrument's own per-step capacity and time) go to ``Metadata.header``.
    """
    lines = text.lstrip("\ufeff").splitlines()
    sep = lines[1][:1]   # ',' or, in decimal-comma locales, ';'
    cyc_names = [c.strip() for c in lines[0].split(sep)]
    step_names = [c.strip() for c in lines[1].split(sep)][1:]
    rec_names = [c.strip() for c in lines[2].split(sep)][2:]
    while rec_names and not rec_names[-1]:
        rec_names.pop()
    records: list[list[str]] = []
    owner: list[tuple[str, str, str, str]] = []
    cycles: list[dict[str, str]] = []
    steps: list[dict[str, str]] = []
    cycle = step_index = step_number = step_type = ""
    skipped: dict[str, int] = {}
    first_bad: int | None = None
    short: list[int] = []

    def take_step(fields: list[str]) -> None:
        nonlocal step_index, step_number, step_type
        row = dict(zip(step_names, fields, strict=False))
        row["Cycle Index"] = cycle
        steps.append(row)
        step_index = row.get("Step Index", "")
        step_number = row.get("Step Number", "")
        step_type = row.get("Step Type", "")

    for n, ln in enumerate(lines[3:], start=4):
        if not ln.strip(sep + " \t"):
            skipped["blank"] = skipped.get("blank", 0) + 1
            continue
        fields = [c.strip() for c in ln.split(sep)]
        if ln.startswith(sep * 2):
            cells = fields[2:2 + len(rec_names)]
            if len(cells) < len(rec_names):
                short.append(n)
                cells += [""] * (len(rec_names) - len(cells))
            if not step_index:
                skipped["record before any step row"] = skipped.get(
                    "record before any step row", 0) + 1
                first_bad = n if first_bad is None else first_bad
                continue
            records.append(cells)
            owner.append((cycle, step_index, step_number, step_type))
        elif ln.startswith(sep):
            take_step(fields[1:])
        else:
            cycles.append(dict(zip(cyc_names, fields[:len(cyc_names)], strict=False)))
            cycle = fields[0]
            rest = fields[len(cyc_names):]
            if any(rest):
                take_step(rest)
    if not records:
        raise FileFormatError("Neware regular export without record rows (lines starting "
                              "with ',,')", file=src)
    raw = pd.DataFrame(records, columns=rec_names)
    info = pd.DataFrame(owner, columns=["Cycle Index", "Step Index", "Step Number",
                                        "Step Type"])
    raw = pd.concat([info, raw.drop(columns=[c for c in info.columns if c in raw.columns])],
                    axis=1)
    md = Metadata(source=src, instrument="Neware BTS", file_format="neware-btsda-csv",
                  technique="cycling", header={"layout": "regular (cycle/step/record rows)",
                                               "cycles": cycles, "steps": steps})
    md = md.with_note(f"Neware regular export: {len(records)} records under {len(steps)} steps "
                      f"and {len(cycles)} cycles; each record carries its cycle and step")
    for why, count in skipped.items():
        if why == "blank":
            md = md.with_note(f"{count} blank line(s) skipped")
        else:
            md = md.with_warning(f"left out {count} record row(s): {why} (first at line "
                                 f"{first_bad})")
    if short:
        md = md.with_warning(f"{len(short)} record row(s) have fewer fields than the header "
                             f"(cut or damaged; first at line {short[0]}): their missing "
                             "values are left empty")
    decimal = "."
    if sep == ";":
        from nasurf.io.generic import detect_decimal

        decimal = detect_decimal([";".join(r) for r in records[:30]], ";")
        if decimal == ",":
            md = md.with_note("decimal commas read as decimal points")
    # a damaged cell in a column of numbers (a cut or flipped digit) becomes NaN and is
    # counted, as in every other text reader; text columns (times, dates, types) stay text
    # (only columns that hold such a cell: the others keep the dtype they always had)
    numeric = raw.apply(lambda c: pd.to_numeric(
        c.str.replace(",", ".", regex=False) if decimal == "," else c, errors="coerce"))
    damaged = [c for c in raw.columns
               if (raw[c].dtype == object or pd.api.types.is_string_dtype(raw[c].dtype))
               and (numeric[c].isna() & (raw[c].str.strip() != "")).any()
               and numeric[c].notna().any()]
    if damaged:
        fixed = _numbers_with_damage(raw[damaged].copy(), decimal)
        for c in damaged:
            raw[c] = fixed[c]
    df, md = _neware_table(raw, md, column_map=column_map, decimal=decimal)
    return finish(df, md, **kwargs)


def _is_record_sheet(name: str) -> bool:
    # BTSDA 8: "record", "record1" ...; BTSDA 7: "Detail_<unit>_<channel>_<test>"
    low = name.lower()
    return low.startswith("record") or low.startswith("detail_")


def looks_like_neware_xlsx(sheet_names: list[str]) -> bool:
    return any(_is_record_sheet(n) for n in sheet_names)


def read_neware_xlsx(path: Path, *, technique: str | None = None,
                     active_mass_g: float | None = None, area_cm2: float | None = None,
                     column_map: dict[str, str] | None = None, **_: Any) -> EchemData:
    """Neware BTSDA Excel export: the ``record`` sheet(s), in workbook order.

    Excel holds at most 1 048 576 rows a sheet, so BTSDA splits long tests over sheets
    (``record``, ``record1`` ...) or over files (``..._1.xlsx``): a file whose first
    ``DataPoint`` is not 1 is such a later part, said in a note; gaps in ``DataPoint``
    (rows missing from the export) are counted in a warning.
    """
    from nasurf.io.generic import excel_sheets, sheet_table

    src = str(path)
    sheets = excel_sheets(path, src)
    parts = []
    names = []
    for name, rows in sheets.items():
        if not _is_record_sheet(name):
            continue
        raw = sheet_table(rows)
        if raw is not None:
            parts.append(raw)
            names.append(name)
    if not parts:
        raise FileFormatError("Neware workbook without a 'record' or 'Detail_' sheet holding data",
                              file=src)
    raw = pd.concat(parts, ignore_index=True)
    md = Metadata(source=src, instrument="Neware BTS", file_format="neware-xlsx",
                  technique="cycling", header={"sheets": list(sheets), "record_sheets": names})
    if len(parts) > 1:
        md = md.with_note(f"{len(parts)} record sheets concatenated: {names}")
    if "DataPoint" in raw.columns:
        dp = pd.to_numeric(raw["DataPoint"], errors="coerce").to_numpy(dtype=np.float64)
        if np.isfinite(dp).any():
            first = int(np.nanmin(dp))
            if first > 1:
                md = md.with_note(f"part of a split export: DataPoint starts at {first}; rows "
                                  f"1..{first - 1} are in the other part(s); Test Time is the "
                                  "test's own (Total Time), not reset to 0")
            gaps = np.diff(dp[np.isfinite(dp)])
            missing = int(np.sum(gaps[gaps > 1] - 1))
            if missing:
                md = md.with_warning(f"{missing} DataPoint number(s) missing from the export "
                                     f"(first gap after DataPoint "
                                     f"{int(dp[np.isfinite(dp)][:-1][gaps > 1][0])})")
    decimal = _text_cell_decimal(raw)
    if decimal == ",":
        md = md.with_note("numbers stored as text with decimal commas read as decimal points")
    df, md = _neware_table(raw, md, column_map=column_map, decimal=decimal)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)


def _text_cell_decimal(raw: pd.DataFrame) -> str:
    """',' when a workbook holds its numbers as text with decimal commas ("3,7123").

    Excel cells are numbers and need no decimal mark; an export that wrote text cells in a
    decimal-comma locale is recognised from the current and voltage cells.
    """
    for col in raw.columns:
        name = _name_unit(str(col))[0]
        if name not in ("Current", "Voltage") or pd.api.types.is_numeric_dtype(raw[col].dtype):
            continue
        text = raw[col].dropna().astype(str).str.strip().head(200)
        if len(text) and text.str.fullmatch(r"[-+]?\d+,\d+").mean() > 0.5:
            return ","
    return "."
