"""BioLogic EC-Lab / BT-Lab files: binary ``.mpr`` (via galvani) and text ``.mpt``.

``.mpr`` is read with ``galvani.BioLogic.MPRfile`` from the datalab-org fork, which knows
the column IDs of EC-Lab >= 11.50. Its packed ``flags`` column is unpacked into the same
``mode``, ``ox/red``, ``error``, ... columns the text export has, so both readers give the
same table. The settings module is not decoded by galvani; nasurf reads the technique ID
(byte 0) and the active-material mass and electrode area at their fixed offsets (checked
against the ``.mpt``/``.mpl`` text headers of the same runs in the tests), and reads a
companion ``.mpl`` log beside the ``.mpr`` when there is one.

``.mpt`` is parsed here: ``Nb header lines`` header, windows-1252 text, tab separated,
decimal point or decimal comma (de_DE exports) decided from the data, settings table
(``Ns``/``ctrl_type``/``dE/dt``...) into the metadata. Files exported without the header
block (column line first) are read too.

Sign: EC-Lab already writes anodic current positive; nothing is flipped. The impedance
column ``-Im(Z)/Ohm`` is negated into ``Z Imag / Ohm`` (Z = Z' + jZ''). Files that store
only ``|Z|/Ohm`` and ``Phase(Z)/deg`` (Modulo Bat ``.mpr`` with PEIS/GEIS steps) get Z' and
Z'' derived from them on the impedance rows (Phase(Z) = arg Z).

Active mass: EC-Lab's "not set" values are the 0.001 mg/g placeholder and the 7000 mg of
its untouched sample battery settings (see ``_SAMPLE_MASS_MG``); both are ignored.
GCPL files have no current column: current is derived as dq/dt (``dq/mA.h`` per row over
the time step) and a note says so. OCV and Wait files have no current: it is set to 0 A
(open circuit), with a note.
"""

from __future__ import annotations

import itertools
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import FileFormatError, NasurfError
from nasurf.io import registry
from nasurf.io import table as tb
from nasurf.io._assemble import finish
from nasurf.io._text import decode, read_delimited
from nasurf.io.columns import ColumnMap, build_table, infer_mapping, split_header
from nasurf.io.table import EchemData, Metadata
from nasurf.units import convert, to_si

MPR_MAGIC = registry.get("biologic-mpr").magic[0]

# Technique ID (byte 0 of the settings module) -> short name; IDs seen in real files.
TECHNIQUE_IDS = {
    0x04: "GCPL", 0x06: "CV", 0x0B: "OCV", 0x18: "CA", 0x19: "CP", 0x1C: "WAIT",
    0x1D: "PEIS", 0x1E: "GEIS", 0x32: "ZIR", 0x33: "CVA", 0x6C: "LSV", 0x75: "COV",
    0x76: "COC", 0x7F: "MB", 0x88: "BCD",
}
# Technique title (line 4 of a text export) -> short name.
TECHNIQUE_TITLES = {
    "galvanostatic cycling with potential limitation": "GCPL",
    "cyclic voltammetry": "CV",
    "cyclic voltammetry advanced": "CVA",
    "open circuit voltage": "OCV",
    "chronoamperometry / chronocoulometry": "CA",
    "chronoamperometry": "CA",
    "chronopotentiometry": "CP",
    "potentio electrochemical impedance spectroscopy": "PEIS",
    "galvano electrochemical impedance spectroscopy": "GEIS",
    "staircase potentio electrochemical impedance spectroscopy": "SPEIS",
    "modulo bat": "MB",
    "battery capacity determination": "BCD",
    "linear sweep voltammetry": "LSV",
    "constant current": "COC",
    "constant voltage": "COV",
    "wait": "WAIT",
    "ir compensation (peis)": "ZIR",
    "galvanostatic intermittent titration technique": "GITT",
    "potentiostatic intermittent titration technique": "PITT",
}
_NO_CURRENT_TECHNIQUES = {"OCV", "WAIT"}

# EC-Lab column names with a canonical meaning. Everything else EC-Lab writes is kept under
# its own name without a warning (it is EC-Lab vocabulary, not an unknown column).
_MAP: dict[str, ColumnMap] = {
    "time/s": ColumnMap(tb.TIME, "s"),
    "Ewe/V": ColumnMap(tb.VOLTAGE, "V"),
    "<Ewe>/V": ColumnMap(tb.VOLTAGE, "V"),
    "<Ewe/V>": ColumnMap(tb.VOLTAGE, "V"),
    "Ecell/V": ColumnMap(tb.VOLTAGE, "V"),
    "<Ecell>/V": ColumnMap(tb.VOLTAGE, "V"),
    "I/mA": ColumnMap(tb.CURRENT, "mA"),
    "<I>/mA": ColumnMap(tb.CURRENT, "mA"),
    "(Q-Qo)/mA.h": ColumnMap(tb.NET_CAPACITY, "mA h"),
    "(Q-Qo)/C": ColumnMap(tb.NET_CAPACITY, "C"),
    "Q charge/mA.h": ColumnMap(tb.CHARGE_CAPACITY, "mA h"),
    "Q discharge/mA.h": ColumnMap(tb.DISCHARGE_CAPACITY, "mA h"),
    "cycle number": ColumnMap(tb.CYCLE),
    "half cycle": ColumnMap(tb.HALF_CYCLE),
    "Ns": ColumnMap(tb.STEP_INDEX),
    "freq/Hz": ColumnMap(tb.FREQUENCY, "Hz"),
    "Re(Z)/Ohm": ColumnMap(tb.Z_REAL, "ohm"),
    "-Im(Z)/Ohm": ColumnMap(tb.Z_IMAG, "ohm", -1.0),
    "Temperature/°C": ColumnMap(tb.TEMPERATURE, "degC"),
}
# Column IDs galvani does not name yet, identified by comparing the .mpr with its .mpt export
# value by value (880: mb.issue_223, EC-Lab 11.6x Modulo Bat, equal to 'Energy we/W.h').
_UNNAMED_COLUMN_IDS = {880: "Energy we/W.h"}
_AREA_UNITS = {2: "cm2", 3: "mm2"}
_MASS_UNITS = {1: "g", 2: "mg"}
_FLAG_COLUMNS = ("mode", "ox/red", "error", "control changes", "Ns changes", "counter inc.")


def _normalise_biologic_name(name: str) -> str:
    """Undo the mojibake real exports carry (µ/° written through a lossy code page)."""
    n = name.replace("\ufffd", "?").replace("ï¿½", "?")
    if n.startswith("Temperature/") and n.endswith("C"):
        return "Temperature/°C"
    return n


def _mapping(columns: list[str], column_map: dict[str, str] | None,
             source: str | None) -> dict[str, ColumnMap]:
    explicit = {}
    for c in columns:
        cm = _MAP.get(_normalise_biologic_name(c))
        if cm is not None:
            explicit[c] = cm
    return infer_mapping(columns, explicit=explicit, column_map=column_map, source=source,
                         guess=False)


def _is_known(col: str) -> bool:
    return not str(col).startswith("unknown_colID")


def _derive_current(raw: pd.DataFrame, time_s: np.ndarray, decimal: str,
                    md: Metadata) -> tuple[np.ndarray | None, Metadata]:
    from nasurf.io._text import to_float

    dq_col = next((c for c in raw.columns if c == "dq/mA.h"), None)
    if dq_col is not None:
        dq_As = to_float(raw[dq_col], decimal=decimal) * 3.6  # mA h -> A s (C)
        dt = np.diff(time_s, prepend=np.nan)
        with np.errstate(divide="ignore", invalid="ignore"):
            current = dq_As / dt
        bad = ~np.isfinite(current)
        if bad.any():
            # first row, or repeated time stamps: no interval to divide by; a row that
            # passed no charge carries 0 A, otherwise the current of the previous row
            current = pd.Series(np.where(bad & (dq_As == 0), 0.0, current))
            current = current.ffill().fillna(0.0).to_numpy()
        md = md.with_note("the file has no current column: Current / A is derived as "
                          "dq/dt from 'dq/mA.h' and the time step (first row and repeated "
                          "time stamps: 0 A or the previous value)")
        return current, md
    if (md.technique or "").upper() in _NO_CURRENT_TECHNIQUES:
        md = md.with_note(f"{md.technique}: the cell is at open circuit and the file "
                          "records no current; Current / A is set to 0")
        return np.zeros(len(time_s)), md
    return None, md


_IMPEDANCE_TECHNIQUES = {"PEIS", "GEIS", "ZIR", "SPEIS"}


def _derive_impedance(raw: pd.DataFrame, df: pd.DataFrame, decimal: str,
                      md: Metadata) -> tuple[pd.DataFrame, Metadata]:
    """Z' and/or Z'' from ``|Z|/Ohm`` and ``Phase(Z)/deg`` where the file lacks them.

    Modulo Bat ``.mpr`` files with PEIS/GEIS steps store only ``|Z|`` and ``Phase(Z)``.
    EC-Lab's Phase(Z) is arg Z (capacitive: negative), so Z' = |Z| cos φ and
    Z'' = |Z| sin φ; on every file that has all four columns this reproduces ``Re(Z)`` and
    ``-Im(Z)`` to float32 resolution (tests/test_io_followups.py). Only rows with a
    frequency > 0 are impedance points; the derived columns are NaN elsewhere.
    """
    missing = [c for c in (tb.Z_REAL, tb.Z_IMAG) if c not in df.columns]
    if tb.FREQUENCY not in df.columns or not missing:
        return df, md
    names = {_normalise_biologic_name(c): c for c in raw.columns}
    mag_col, phase_col = names.get("|Z|/Ohm"), names.get("Phase(Z)/deg")
    if mag_col is None or phase_col is None:
        return df, md
    # one owner for the polar -> Cartesian rule: the EIS-table module (EC-Lab's Phase(Z) is
    # arg Z in degrees, as that module assumes for a plain "Phase" header)
    from nasurf.io.eis_table import complete_impedance

    polar = raw[[mag_col, phase_col]].set_axis(["|Z|/Ohm", "Phase(Z)/deg"], axis=1)
    df, md = complete_impedance(polar, df, md, decimal=decimal)
    return df, md


def _table(raw: pd.DataFrame, md: Metadata, *, decimal: str, settings: dict[str, list[str]],
           technique: str | None, active_mass_g: float | None, area_cm2: float | None,
           column_map: dict[str, str] | None = None) -> EchemData:
    src = md.source
    mapping = _mapping(list(raw.columns), column_map, src)
    known = {c for c in raw.columns if _is_known(c)}
    df, warns = build_table(raw, mapping, source=src, decimal=decimal, known_extra=known)
    for w in warns:
        md = md.with_warning(w)
    if tb.TIME in df.columns and tb.CURRENT not in df.columns:
        current, md = _derive_current(raw, df[tb.TIME].to_numpy(), decimal, md)
        if current is not None:
            df.insert(min(2, len(df.columns)), tb.CURRENT, current)
    if tb.TIME in df.columns and tb.VOLTAGE in df.columns and tb.CURRENT not in df.columns \
            and tb.FREQUENCY not in df.columns:
        raise FileFormatError(
            f"{md.technique or 'this'} file has no current column (I/mA, <I>/mA) and no "
            "dq/mA.h to derive one from", file=src, field="I/mA")
    # Modulo Bat: per-row technique from the settings table ("ctrl_type" per Ns)
    ctrl = settings.get("ctrl_type")
    if ctrl and tb.STEP_INDEX in df.columns:
        names = np.array([c or "" for c in ctrl], dtype=object)
        ns = df[tb.STEP_INDEX].to_numpy()
        inside = (ns >= 0) & (ns < len(names))
        per_row = np.full(len(df), "", dtype=object)
        per_row[inside] = names[ns[inside]]
        df.insert(len([c for c in df.columns if c in tb.FLOAT_COLUMNS or
                       c in tb.COUNTER_COLUMNS]), tb.TECHNIQUE, per_row)
    # Mixed files (Modulo Bat with PEIS steps): impedance columns mean nothing on rows that
    # are not impedance points; EC-Lab writes 0 Hz there.
    df, md = _derive_impedance(raw, df, decimal, md)
    if tb.FREQUENCY in df.columns and (md.technique or "").upper() not in _IMPEDANCE_TECHNIQUES:
        not_z = ~(df[tb.FREQUENCY].to_numpy() > 0)
        if not_z.any():
            for c in (tb.FREQUENCY, tb.Z_REAL, tb.Z_IMAG):
                if c in df.columns:
                    df.loc[not_z, c] = np.nan
            md = md.with_note("impedance columns are NaN on rows that are not impedance "
                              "points (EC-Lab writes 0 Hz there)")
    if technique is None:
        md = _infer_sweep(df, md)
    md = _cv_rates_metadata(df, md)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2,
                  frequency_source="the column 'freq/Hz'")


# ---------------------------------------------------------------------------------------
# CV scan rates from the instrument's own columns

#: EC-Lab CV techniques whose control potential is a linear sweep
_SWEEP_TECHNIQUES = {"CV", "CVA", "LSV"}


def instrument_blocks(df: pd.DataFrame) -> list[tuple[int, int]]:
    """Row ranges ``[start, stop)`` in which the instrument's counters do not change.

    The counters are the cycle number (``Cycle Count / 1``; Gamry CURVE tables and PalmSens
    measurements are numbered there too) and EC-Lab's ``Ns changes`` flag (a new technique
    block of a CVA/Modulo sequence). Without either, the whole table is one block.
    """
    n = len(df)
    if n == 0:
        return []
    change = np.zeros(n, dtype=bool)
    if tb.CYCLE in df.columns:
        c = df[tb.CYCLE].to_numpy()
        change[1:] |= c[1:] != c[:-1]
    if "Ns changes" in df.columns:
        change[1:] |= df["Ns changes"].to_numpy()[1:] != 0
    starts = np.flatnonzero(change)
    bounds = [0, *starts.tolist(), n]
    return [(a, b) for a, b in itertools.pairwise(bounds) if b > a]


#: a rate change must last this many moving steps of the control potential to count (a
#: shorter deviation is a time-stamp glitch or the turn at a vertex)
_RATE_PERSISTENCE = 5
#: two steps belong to one sweep rate when their rates agree within this fraction (the
#: staircase's time-stamp jitter is < 0.5 % on the real files)
_RATE_RTOL = 0.02


def control_rate_runs(time_s: np.ndarray, control_V: np.ndarray
                      ) -> list[tuple[int, int, float]]:
    """Row ranges ``[start, stop)`` of constant set sweep rate, from EC-Lab's ``control/V``.

    The control potential is the instrument's own staircase, so its slope between rows
    where it moves is the set rate up to the time stamps' resolution. A new run starts at
    the first step whose rate differs from the current run's by more than 2 % and that the
    next 5 moving steps confirm; rows where the control potential does not move (vertex
    holds) stay in the run they follow. Each run's rate is the median of its steps, rounded
    to 3 significant digits (the precision rates are set with).
    """
    dt = np.diff(time_s)
    dc = np.abs(np.diff(control_V))
    moving = np.flatnonzero(np.isfinite(dt) & np.isfinite(dc) & (dt > 0) & (dc > 0))
    if moving.size == 0:
        return []
    r = dc[moving] / dt[moving]
    starts = [0]
    current = r[0]
    k = 1
    n = r.size
    while k < n:
        if abs(r[k] - current) > _RATE_RTOL * current:
            ahead = r[k:k + _RATE_PERSISTENCE]
            if ahead.size == _RATE_PERSISTENCE and np.all(
                    np.abs(ahead - r[k]) <= _RATE_RTOL * r[k]):
                if len(starts) > 1 or k >= _RATE_PERSISTENCE:
                    starts.append(k)   # else: the first steps were the start-up, not a run
                current = r[k]
                k += _RATE_PERSISTENCE
                continue
        k += 1
    runs = []
    bounds = [*starts, n]
    for j, (a, b) in enumerate(itertools.pairwise(bounds)):
        rate = float(np.median(r[a:b]))
        row_start = 0 if j == 0 else int(moving[a])
        row_stop = len(time_s) if b == n else int(moving[b])
        runs.append((row_start, row_stop, float(f"{rate:.3g}")))
    return runs


def control_potential_rate(time_s: np.ndarray, control_V: np.ndarray) -> float | None:
    """The set sweep rate (V/s) of a stretch of ``control/V`` with one rate: its longest run."""
    runs = control_rate_runs(time_s, control_V)
    if not runs:
        return None
    return max(runs, key=lambda x: x[1] - x[0])[2]


def _infer_sweep(df: pd.DataFrame, md: Metadata) -> Metadata:
    """CV for a text export whose header names no technique (``Nb header lines : 3``)
    when the instrument's own control potential sweeps back and forth on nearly every row."""
    from dataclasses import replace

    if md.technique or "control/V" not in df.columns or tb.TIME not in df.columns \
            or tb.FREQUENCY in df.columns or len(df) < 10:
        return md
    c = pd.to_numeric(df["control/V"], errors="coerce").to_numpy(dtype=float)
    t = df[tb.TIME].to_numpy(dtype=float)
    dc = np.diff(c)
    moving = np.isfinite(dc) & (dc != 0)
    turns = int(np.count_nonzero(np.diff(np.sign(dc[moving])) != 0))
    runs = control_rate_runs(t, c)
    if moving.mean() < 0.9 or turns < 1 or not runs:
        return md
    return replace(md, technique="CV").with_note(
        "the header names no technique: CV inferred from the control potential, which "
        f"sweeps on {moving.mean():.0%} of the rows and turns {turns} time(s)")


def _cv_rates_metadata(df: pd.DataFrame, md: Metadata) -> Metadata:
    """Every scan rate of a CV/CVA/LSV file, from the control potential per block."""
    from dataclasses import replace

    if (md.technique or "").upper() not in _SWEEP_TECHNIQUES or "control/V" not in df.columns \
            or tb.TIME not in df.columns:
        return md
    t = df[tb.TIME].to_numpy(dtype=float)
    c = pd.to_numeric(df["control/V"], errors="coerce").to_numpy(dtype=float)
    measured: list[float] = []
    for _a, _b, r in control_rate_runs(t, c):
        if not any(np.isclose(r, w, rtol=0.01) for w in measured):
            measured.append(r)
    if not measured:
        return md
    if md.scan_rates_V_s:
        missing = [r for r in measured
                   if not any(np.isclose(r, w, rtol=0.01) for w in md.scan_rates_V_s)]
        if missing:
            md = md.with_warning(
                "the control potential sweeps at "
                f"{', '.join(f'{r * 1e3:g}' for r in missing)} mV/s, a rate the settings "
                f"(dE/dt: {', '.join(f'{r * 1e3:g}' for r in md.scan_rates_V_s)} mV/s) do "
                "not list; scan_rates_V_s lists the rates measured from control/V")
            return replace(md, scan_rates_V_s=tuple(measured), scan_rate_V_s=measured[0],
                           header={**md.header, "scan_rates_source": "control potential"})
        # the rates in the order the data run them, each as its exact setting
        ordered = tuple(next(w for w in md.scan_rates_V_s if np.isclose(r, w, rtol=0.01))
                        for r in measured)
        unused = [w for w in md.scan_rates_V_s if w not in ordered]
        if unused:
            md = md.with_note(
                f"the settings also list {', '.join(f'{w * 1e3:g}' for w in unused)} mV/s, "
                "a rate the control potential never sweeps at: not in scan_rates_V_s")
        return replace(md, scan_rates_V_s=ordered, scan_rate_V_s=ordered[0],
                       header={**md.header, "scan_rates_source": "settings (dE/dt)"})
    md = md.with_note(f"scan rate(s) {', '.join(f'{r * 1e3:g}' for r in measured)} mV/s "
                      "measured from the slope of the control potential (control/V); the "
                      "file holds no dE/dt setting")
    return replace(md, scan_rate_V_s=measured[0], scan_rates_V_s=tuple(measured),
                   header={**md.header, "scan_rates_source": "control potential"})


# ---------------------------------------------------------------------------------------
# text header (.mpt header block, .mpl log)


_DEFAULT_PLACEHOLDERS = {
    "Mass of active material": ("0.001", "mg"),
    "Characteristic mass": ("0.001", "g"),
    "Electrode surface area": ("0.001", "cm²"),
}

# EC-Lab ships a second set of battery "cell characteristics": the one of its sample battery
# settings (comments "Li-ion 18650 1.35 A.h" / "GITT"): active mass 7000 mg at x = 1,
# molecular weight 90.93 g/mol (CoO2), intercalated ion 6.94 g/mol (Li), x0 = 0.9. Settings
# built from it carry the block along untouched: yadg/bcd.issue_241 (an 18650-labelled BCD
# run whose 5.45 mA h would be 0.8 mA h/g), navani/jdb11 (a *sodium* cathode half cell, 1 mA h:
# 0.14 mA h/g, with Li as the ion), battery-data-format GCPL-0/MB-1, and public .mps
# templates. Users who weigh their electrode overwrite the mass and usually nothing else
# (yadg/gcpl.pr_182.1: 6.52 mg; battery-data-format/PEIS-0: 8.582 mg, both with 90.93/6.94/0.9).
# 7 g is a possible mass (an 18650 cathode), so 7000 mg counts as "not set" only when the
# rest of the block is the untouched sample too; 7000 mg with edited characteristics is kept,
# with a warning.
_SAMPLE_MASS_MG = 7000.0
_SAMPLE_CHARACTERISTICS = {"molecular_weight_g_mol": 90.93, "intercalated_ion_g_mol": 6.94,
                           "x0": 0.9}


def _is_sample_mass(mass_mg: float | None) -> bool:
    return mass_mg is not None and abs(mass_mg - _SAMPLE_MASS_MG) < 1e-3


def _sample_template_intact(characteristics: dict[str, float | None]) -> bool:
    return all(characteristics.get(k) is not None
               and abs(characteristics[k] - v) < 5e-4 * max(1.0, v)  # printed to 3 decimals
               for k, v in _SAMPLE_CHARACTERISTICS.items())


def _sample_mass_verdict(mass_mg: float, characteristics: dict[str, float | None],
                         md: Metadata) -> tuple[bool, Metadata]:
    """``(keep, md)`` for an active mass of 7000 mg: drop it (with a warning) when the whole
    sample block is untouched, else keep it with a warning."""
    if _sample_template_intact(characteristics):
        return False, md.with_warning(
            "'Mass of active material : 7000 mg' with molecular weight 90.93 g/mol, "
            "intercalated ion 6.94 g/mol and x0 = 0.9 is EC-Lab's untouched sample battery "
            "setting, not a weighed mass: ignored like EC-Lab's 0.001 mg placeholder; pass "
            "active_mass_g (`nasurf read --mass G`, `nasurf analyze cycling --mass-mg MG`) "
            "for specific capacities")
    return True, md.with_warning(
        "active mass 7000 mg is the value of EC-Lab's sample battery settings; kept because "
        "the other cell characteristics were edited, but check it (pass active_mass_g to "
        "override)")


def _header_number(text: Any) -> float | None:
    """``"90,930 g/mol"`` / ``"xo = 0.900"`` → the number (None when absent or not one)."""
    if not text:
        return None
    m = re.search(r"-?\d+(?:[.,]\d+)?", str(text))
    return float(m.group(0).replace(",", ".")) if m else None


def _header_characteristics(header: dict[str, Any]) -> dict[str, float | None]:
    return {
        "molecular_weight_g_mol": _header_number(
            header.get("Molecular weight of active material (at x = 0)")),
        "intercalated_ion_g_mol": _header_number(header.get("Atomic weight of intercalated ion")),
        "x0": _header_number(header.get("Acquisition started at")),
    }


def parse_header(lines: list[str]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``key : value`` lines into a dict; the fixed-width settings table into lists."""
    header: dict[str, Any] = {}
    settings: dict[str, list[str]] = {}
    for line in lines:
        s = line.rstrip("\r\n")
        if not s.strip():
            continue
        # settings table rows: a 20-character padded key, then 20-character value columns
        if len(s) > 20 and s[19] == " " and " : " not in s and not s.startswith(("\t", " ")):
            key = s[:20].strip()
            if key not in settings:
                settings[key] = [s[i:i + 20].strip() for i in range(20, len(s), 20)]
            continue
        if " : " in s:
            key, _, value = s.partition(" : ")
            key = key.strip()
            if key and key not in header:
                header[key] = value.strip()
        else:
            header.setdefault("_lines", []).append(s.strip())
    if settings:
        header["settings"] = settings
    return header, settings


def _quantity(text: str, expect: str, decimal: str) -> float | None:
    value = text.strip()
    if decimal == ",":
        value = value.replace(".", "").replace(",", ".")
    try:
        return to_si(value, expect)
    except NasurfError:
        return None


def _number_in_unit(number: str, unit: str, target: str, expect: str,
                    decimal: str) -> float | None:
    text = number.strip()
    if decimal == ",":
        text = text.replace(".", "").replace(",", ".")
    try:
        return convert(float(text), unit, target, expect=expect)
    except (ValueError, NasurfError):
        return None


def metadata_from_header(header: dict[str, Any], settings: dict[str, list[str]],
                         decimal: str, md: Metadata) -> Metadata:
    """Mass, area, scan rate and technique from an EC-Lab text header."""
    from dataclasses import replace

    title_lines = header.get("_lines", [])
    for line in title_lines:
        tech = TECHNIQUE_TITLES.get(line.strip().lower())
        if tech:
            md = replace(md, technique=tech)
            break
    mass_g = None
    for key in ("Mass of active material", "Characteristic mass"):
        text = header.get(key)
        if not text:
            continue
        num, _, unit = text.partition(" ")
        default = _DEFAULT_PLACEHOLDERS[key]
        if num.replace(",", ".") == default[0] and unit.strip() == default[1]:
            md = md.with_note(f"'{key} : {text}' is EC-Lab's default placeholder; "
                              "active mass left unset")
            continue
        q = _quantity(text, "mass", decimal)
        if q is not None and q > 0:
            mass_g = q * 1000.0  # base unit kg -> g
            if key == "Mass of active material" and _is_sample_mass(mass_g * 1000.0):
                keep, md = _sample_mass_verdict(mass_g * 1000.0,
                                                _header_characteristics(header), md)
                if not keep:
                    mass_g = None
                    continue
            break
    area_cm2 = None
    area = header.get("Electrode surface area")
    if area:
        num, _, unit = area.partition(" ")
        unit = unit.strip().replace("\ufffd", "²").replace("?", "²") or "cm²"
        if num.replace(",", ".") not in ("0.001", "0.000"):
            area_cm2 = _number_in_unit(num, unit, "cm²", "[length]**2", decimal)
    # a CVA sequence has one dE/dt per technique block: every distinct one, in run order
    scans: list[float] = []
    rates = settings.get("dE/dt")
    units = settings.get("dE/dt unit")
    if rates and units:
        for value, unit in zip(rates, units, strict=False):
            if value and unit:
                v = _number_in_unit(value, unit, "V/s", "scan_rate", decimal)
                if v is not None and v > 0 and not any(np.isclose(v, w, rtol=1e-3)
                                                       for w in scans):
                    scans.append(v)
    return replace(md, active_mass_g=mass_g, electrode_area_cm2=area_cm2,
                   scan_rate_V_s=scans[0] if scans else None,
                   scan_rates_V_s=tuple(scans) or None, header=header)


# ---------------------------------------------------------------------------------------
# .mpt


_DECIMAL_COMMA = re.compile(r"(?:^|\t)-?\d+,\d+(?:E[-+]?\d+)?(?=\t|$)")
_DECIMAL_POINT = re.compile(r"(?:^|\t)-?\d+\.\d+(?:E[-+]?\d+)?(?=\t|$)")


def _decimal_of(lines: list[str]) -> str:
    commas = points = 0
    for ln in lines[:20]:
        commas += len(_DECIMAL_COMMA.findall(ln))
        points += len(_DECIMAL_POINT.findall(ln))
    return "," if commas > points else "."


def looks_like_mpt(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0].strip()
    if first in ("EC-Lab ASCII FILE", "BT-Lab ASCII FILE"):
        return True
    cols = first.split("\t")
    return len(cols) >= 3 and ("time/s" in cols) and any(
        c in cols for c in ("Ewe/V", "<Ewe>/V", "Ecell/V", "freq/Hz", "mode"))


def read_mpt(path: Path, *, technique: str | None = None, encoding: str | None = None,
             active_mass_g: float | None = None, area_cm2: float | None = None,
             column_map: dict[str, str] | None = None) -> EchemData:
    src = str(path)
    text = decode(path.read_bytes(), encoding or None, source=src)
    lines = text.splitlines()
    if not lines:
        raise FileFormatError("empty file", file=src)
    first = lines[0].lstrip("\ufeff").strip()
    header: dict[str, Any] = {}
    settings: dict[str, list[str]] = {}
    if first in ("EC-Lab ASCII FILE", "BT-Lab ASCII FILE"):
        m = re.match(r"\s*Nb header lines\s*:\s*(\d+)", lines[1] if len(lines) > 1 else "")
        if not m:
            raise FileFormatError("EC-Lab text export without a 'Nb header lines' line",
                                  file=src, line=2)
        n_header = int(m.group(1))
        if n_header < 2 or n_header > len(lines):
            raise FileFormatError(f"'Nb header lines : {n_header}' but the file has "
                                  f"{len(lines)} lines (truncated?)", file=src, line=2)
        block = lines[2:n_header - 1]
        title_at = next((i for i, ln in enumerate(block) if ln.strip()), None)
        header, settings = parse_header(block[title_at + 1:] if title_at is not None else [])
        if title_at is not None:
            header["_lines"] = [block[title_at].strip(), *header.get("_lines", [])]
        column_line = n_header - 1
        instrument = "BioLogic " + ("BT-Lab" if first.startswith("BT") else "EC-Lab")
    else:
        column_line = 0
        instrument = "BioLogic EC-Lab"
    data_lines = lines[column_line:]
    decimal = _decimal_of(data_lines[1:])
    raw = read_delimited("\n".join(data_lines), sep="\t", skiprows=0, decimal=decimal,
                         source=src)
    raw.columns = [str(c) for c in raw.columns]
    md = Metadata(source=src, instrument=instrument, file_format="biologic-mpt")
    md = metadata_from_header(header, settings, decimal, md) if header else md
    if decimal == ",":
        md = md.with_note("decimal commas (de_DE export) read as decimal points")
    return _table(raw, md, decimal=decimal, settings=settings, technique=technique,
                  active_mass_g=active_mass_g, area_cm2=area_cm2, column_map=column_map)


# ---------------------------------------------------------------------------------------
# .mpr


def _settings_metadata(settings_data: bytes, md: Metadata) -> Metadata:
    from dataclasses import replace

    header: dict[str, Any] = {}
    if not settings_data:
        return md
    tech_id = settings_data[0]
    header["technique_id"] = int(tech_id)
    technique = TECHNIQUE_IDS.get(tech_id)
    if technique is None:
        md = md.with_warning(f"unknown EC-Lab technique ID {tech_id:#04x} in the settings")
    n = settings_data[7] if len(settings_data) > 7 else 0
    if n:
        header["comments"] = settings_data[8:8 + n].decode("windows-1252", "replace")
    mass = area = None
    if len(settings_data) >= 0x253:
        # f32 values at fixed offsets; unit codes after the characteristic mass (byte 0x250:
        # area unit, 0x251: characteristic-mass unit), decoded from files whose text headers
        # give the same values with units (mm² vs cm²; mg vs g).
        # 0x107..0x11B: active mass (mg), "at x", molecular weight (g/mol), intercalated-ion
        # weight (g/mol), x0 -- the battery cell characteristics, in the order of the text
        # header (checked against the .mpt headers of gcpl.issue_226 and bcd.issue_241)
        active_mg, _x_at_mass, mol_weight, ion_weight, x0 = (
            float(v) for v in np.frombuffer(settings_data[0x107:0x11B], "<f4"))
        area_val = float(np.frombuffer(settings_data[0x211:0x215], "<f4")[0])
        char_mass = float(np.frombuffer(settings_data[0x24C:0x250], "<f4")[0])
        area_unit = _AREA_UNITS.get(settings_data[0x250])
        char_unit = _MASS_UNITS.get(settings_data[0x251])
        characteristics = {"molecular_weight_g_mol": mol_weight,
                           "intercalated_ion_g_mol": ion_weight, "x0": x0}
        header.update({"mass_of_active_material_mg": active_mg, **characteristics,
                       "electrode_surface_area": area_val,
                       "electrode_surface_area_unit": area_unit,
                       "characteristic_mass": char_mass,
                       "characteristic_mass_unit": char_unit})
        # 0.001 (mg, g, cm²) is EC-Lab's default placeholder: "not set"; 7000 mg with the
        # untouched sample characteristics too (see _SAMPLE_MASS_MG)
        keep_active = np.isfinite(active_mg) and 0.0011 < active_mg < 1e7
        if keep_active and _is_sample_mass(active_mg):
            keep_active, md = _sample_mass_verdict(active_mg, characteristics, md)
        if keep_active:
            mass = active_mg / 1000.0
        elif char_unit and np.isfinite(char_mass) and 0.0011 < char_mass < 1e7:
            mass = convert(char_mass, char_unit, "g")
            md = md.with_note("active mass taken from the 'Characteristic mass' setting")
        if area_unit and np.isfinite(area_val) and 0.0011 < area_val < 1e7:
            area = convert(area_val, area_unit, "cm2")
    return replace(md, technique=technique, active_mass_g=mass, electrode_area_cm2=area,
                   header=header)


def read_mpr(path: Path, *, technique: str | None = None, active_mass_g: float | None = None,
             area_cm2: float | None = None, column_map: dict[str, str] | None = None,
             **_: Any) -> EchemData:
    from galvani.BioLogic import MPRfile

    src = str(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with open(src, "rb") as fh:
                mpr = MPRfile(fh)
        except Exception as exc:  # galvani raises ValueError/AssertionError/RuntimeError...
            msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise FileFormatError(f"not a readable EC-Lab .mpr file ({exc.__class__.__name__}:"
                                  f" {msg[:200]})", file=src) from None
    data = mpr.data
    cols: dict[str, np.ndarray] = {}
    for name in data.dtype.names:
        if name == "flags":
            for flag in _FLAG_COLUMNS:
                if flag in mpr.flags_dict:
                    cols[flag] = mpr.get_flag(flag).astype(np.int64)
            continue
        cols[name] = np.asarray(data[name])
    named_here = set()
    for col_id, name in _UNNAMED_COLUMN_IDS.items():
        if f"unknown_colID_{col_id}" in cols and name not in cols:
            cols[name] = cols.pop(f"unknown_colID_{col_id}")
            named_here.add(f"Unknown column ID {col_id} ")
    raw = pd.DataFrame(cols)
    md = Metadata(source=src, instrument="BioLogic EC-Lab", file_format="biologic-mpr")
    settings_mod = next((m for m in mpr.modules if m["shortname"] == b"VMP Set   "), None)
    if settings_mod is not None:
        md = _settings_metadata(bytes(settings_mod["data"]), md)
    for w in caught:
        if not any(str(w.message).startswith(k) for k in named_here):
            md = md.with_warning(f"galvani: {w.message}")
    settings: dict[str, list[str]] = {}
    mpl = path.with_suffix(".mpl")
    if mpl.is_file():
        text = decode(mpl.read_bytes(), None, source=str(mpl))
        hdr, settings = parse_header(text.splitlines())
        decimal = "," if re.search(r"Mass of active material : \d+,\d", text) else "."
        from dataclasses import replace
        md2 = metadata_from_header(hdr, settings, decimal, Metadata())
        md = replace(md, header={**md.header, "mpl": hdr},
                     active_mass_g=md.active_mass_g or md2.active_mass_g,
                     electrode_area_cm2=md.electrode_area_cm2 or md2.electrode_area_cm2,
                     scan_rate_V_s=md2.scan_rate_V_s)
        md = md.with_note(f"settings also read from the companion log {mpl.name}")
    if md.technique != "MB":
        settings = {}
    return _table(raw, md, decimal=".", settings=settings, technique=technique,
                  active_mass_g=active_mass_g, area_cm2=area_cm2, column_map=column_map)


def split_name_unit(header: str) -> tuple[str, str | None]:
    """Exposed for documentation examples: EC-Lab's ``name/unit`` headers."""
    return split_header(header)
