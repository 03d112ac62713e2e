"""Column mapping: instrument headers to canonical names, units to SI.

Owns three things every reader shares:

* :func:`split_header` reads a header's name and unit in the spellings real exports use:
  ``Voltage / V`` (BDF), ``Ewe/V`` and ``(Q-Qo)/mA.h`` (EC-Lab), ``Current (mA)``,
  ``Voltage [V]``, ``U[V]`` and ``test_time_s`` / ``voltage_volt`` (snake case with a unit
  suffix).
* :func:`infer_mapping` recognises the physical quantity from the name (a small synonym
  table) and takes the unit from the header, so a CSV whose headers carry names and units
  needs no mapping. A user ``column_map`` (``{"Zeit": "Test Time / min"}``: canonical
  quantity plus the *source* unit) overrides the guesses.
* :func:`build_table` converts each mapped column to SI with pint (via
  :mod:`nasurf.units`) and keeps every other column under its original name, with one
  warning listing them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from nasurf.errors import FileFormatError, UnitError
from nasurf.io import table as tb
from nasurf.io._text import to_float, warn
from nasurf.units import linear_conversion


@dataclass(frozen=True)
class ColumnMap:
    """How one raw column becomes a canonical one: its unit and a sign (−1 negates)."""

    target: str
    unit: str | None = None
    sign: float = 1.0
    #: the header gave no unit and the conventional one was taken (said in a warning)
    assumed_unit: bool = False


# Unit spellings pint does not know or misreads, matched case-insensitively.
_UNIT_ALIASES = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "ms": "ms", "min": "min", "mins": "min", "minute": "min", "minutes": "min",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "v": "V", "volt": "V", "volts": "V", "mv": "mV", "uv": "uV", "µv": "uV",
    "a": "A", "amp": "A", "amps": "A", "ampere": "A", "ma": "mA", "ua": "uA", "µa": "uA",
    "na": "nA",
    "ah": "A h", "a.h": "A h", "amp-hr": "A h", "mah": "mA h", "ma.h": "mA h", "uah": "uA h",
    "µah": "uA h", "as": "A s", "mas": "mA s", "c": "coulomb", "mc": "millicoulomb",
    "wh": "W h", "w.h": "W h", "mwh": "mW h", "mw.h": "mW h", "mws": "mW s",
    "degc": "degC", "°c": "degC", "celsius": "degC", "k": "K",
    "hz": "Hz", "khz": "kHz", "ohm": "ohm", "ohms": "ohm", "Ω": "ohm", "mohm": "mohm",
    "kohm": "kohm",
}
# Units that stand at the end of snake_case names ("test_time_s", "voltage_volt").
_SUFFIX_UNITS = {
    "s", "sec", "second", "seconds", "min", "h", "hr", "hour", "ms", "v", "volt", "mv", "a",
    "ampere", "ma", "ua", "ah", "mah", "wh", "mwh", "c", "celsius", "degc", "hz", "ohm",
}

_BDF = re.compile(r"^(?P<name>.*\S)\s+/\s+(?P<unit>\S.*)$")
_BRACKET = re.compile(r"^(?P<name>.*?)\s*[\(\[](?P<unit>[^\(\)\[\]]*)[\)\]]\s*$")
_SLASH = re.compile(r"^(?P<name>.*[^\s/])/(?P<unit>[^/]+)$")


def split_header(header: str) -> tuple[str, str | None]:
    """``"Current (mA)"`` → ``("Current", "mA")``; no unit → ``(header, None)``."""
    h = str(header).strip().strip('"').strip()
    for pattern in (_BDF, _BRACKET, _SLASH):
        m = pattern.match(h)
        if m and m.group("unit").strip():
            return m.group("name").strip(), m.group("unit").strip()
    if "_" in h:
        stem, _, last = h.rpartition("_")
        if stem and last.lower() in _SUFFIX_UNITS:
            return stem, last
    return h, None


def normalise_name(name: str) -> str:
    s = str(name).strip().lower().replace("_", " ")
    s = re.sub(r"\s+", " ", s)
    return s.strip(" .:")


_SYNONYMS: dict[str, tuple[str, float]] = {}


def _syn(target: str, *names: str, sign: float = 1.0) -> None:
    for n in names:
        _SYNONYMS[normalise_name(n)] = (target, sign)


_syn(tb.TIME, "test time", "time", "total time", "testtime", "run time", "elapsed time",
     "total time s", "test time second", "t", "cumulative time", "cum. time", "cum time",
     "absolute time", "total test time")
# Where a file has both a per-step "Time" and a running one (Neware BTSDA: "Time" and
# "Total Time" or "Cumulative Time"), the running one is the test time.
_RUNNING_TIME = ("total", "cumulative", "cum.", "cum ", "test", "run", "elapsed", "absolute")
_syn(tb.VOLTAGE, "voltage", "ewe", "<ewe>", "ecell", "<ecell>", "potential", "volts", "volt",
     "cell voltage", "u", "e", "e we", "working electrode potential")
_syn(tb.CURRENT, "current", "i", "<i>", "amps", "amp", "cell current")
_syn(tb.CYCLE, "cycle", "cycle index", "cycle number", "cycle count", "cyc#", "cycle no",
     "cycle id")
_syn(tb.STEP_INDEX, "step index", "step", "step number", "step no", "ns", "step id")
_syn(tb.STEP_COUNT, "step count")
_syn(tb.HALF_CYCLE, "half cycle", "half cycle count")
_syn(tb.CHARGE_CAPACITY, "charge capacity", "charging capacity", "chg capacity",
     "chg. cap", "q charge")
_syn(tb.DISCHARGE_CAPACITY, "discharge capacity", "discharging capacity", "dchg capacity",
     "dchg. cap", "q discharge")
_syn(tb.NET_CAPACITY, "net capacity", "(q-qo)")
_syn(tb.TEMPERATURE, "temperature", "temp", "ambient temperature", "cell temperature",
     "temperature 1", "temp 1", "t1", "aux temperature")
_syn(tb.UNIX_TIME, "unix time", "unix time s", "epoch time")
_syn(tb.FREQUENCY, "frequency", "freq", "f", "freq.")
_syn(tb.Z_REAL, "z real", "zreal", "re(z)", "z'", "zre", "z re", "real z", "z' (a)", "re z",
     "real(z)", "z real part", "z_re", "re")
_syn(tb.Z_IMAG, "z imag", "zimag", "im(z)", "z''", 'z"', "zim", "zimg", "z im", "imag z",
     "im z", "imag(z)", "z_im", "im")
_syn(tb.Z_IMAG, "-im(z)", "-z''", '-z"', "-zim", "-z imag", "-zimag", "-im z", "-im",
     "-imag(z)", "-z_im", "-zimg", sign=-1.0)

# Headers that are only a unit word ("Seconds,Volts,Amps", ampworks): the word names both
# the quantity and its unit. Plural/long forms only: a bare "s" or "A" is too ambiguous.
_UNIT_WORD_HEADERS: dict[str, tuple[str, str]] = {
    "seconds": (tb.TIME, "s"), "secs": (tb.TIME, "s"), "minutes": (tb.TIME, "min"),
    "hours": (tb.TIME, "h"), "volts": (tb.VOLTAGE, "V"), "millivolts": (tb.VOLTAGE, "mV"),
    "amps": (tb.CURRENT, "A"), "amperes": (tb.CURRENT, "A"), "milliamps": (tb.CURRENT, "mA"),
    "milliamperes": (tb.CURRENT, "mA"), "hertz": (tb.FREQUENCY, "Hz"),
}
# Impedance tables rarely print units: frequency in Hz and impedance in ohm are the only
# convention in use (a kΩ table says so in its header), so they are assumed and warned.
_ASSUMED_UNITS = {tb.FREQUENCY: "Hz", tb.Z_REAL: "ohm", tb.Z_IMAG: "ohm"}

# Canonical quantity names ("test time", "voltage" ...) for user column maps.
_CANONICAL_BY_QUANTITY = {normalise_name(c.split(" / ")[0]): c for c in tb.CANONICAL_COLUMNS}


def canonical_for(header: str) -> ColumnMap | None:
    """Guess the canonical column for one header, or ``None`` if it is not recognised."""
    if header in tb.CANONICAL_COLUMNS:
        unit = header.split(" / ")[1] if " / " in header else None
        return ColumnMap(header, None if unit == "1" else unit)
    name, unit = split_header(header)
    if unit is None and normalise_name(name) in _UNIT_WORD_HEADERS:
        target, word_unit = _UNIT_WORD_HEADERS[normalise_name(name)]
        return ColumnMap(target, word_unit)
    hit = _SYNONYMS.get(normalise_name(name))
    whole = _SYNONYMS.get(normalise_name(header))
    if whole is not None and (hit is None or (unit is not None
                                              and not _unit_parses(unit, whole[0]))):
        # "Re(Z)" is a name, not "Re" in the unit "Z"
        hit, unit = whole, None
    if hit is None:
        canon = _CANONICAL_BY_QUANTITY.get(normalise_name(name))
        if canon is None:
            return None
        hit = (canon, 1.0)
    target, sign = hit
    if target in tb.COUNTER_COLUMNS:
        unit = None
    if unit is None and target in _ASSUMED_UNITS:
        return ColumnMap(target, _ASSUMED_UNITS[target], sign, assumed_unit=True)
    return ColumnMap(target, unit, sign)


def parse_user_target(spec: str, *, source: str | None = None, field: str | None = None
                      ) -> ColumnMap:
    """A ``column_map`` value: ``"Test Time / min"`` (canonical quantity + source unit)."""
    text = str(spec).strip()
    sign = 1.0
    if text.startswith("-"):
        sign, text = -1.0, text[1:].strip()
    name, unit = split_header(text)
    canon = _CANONICAL_BY_QUANTITY.get(normalise_name(name))
    if canon is None:
        known = sorted({c.split(" / ")[0] for c in tb.CANONICAL_COLUMNS})
        raise FileFormatError(f"column_map target '{spec}' is not a canonical quantity; "
                              f"use one of {known} with the source unit, e.g. 'Current / mA'",
                              file=source, field=field)
    if canon in tb.COUNTER_COLUMNS or canon == tb.TECHNIQUE:
        unit = None
    elif unit is None:
        raise FileFormatError(f"column_map target '{spec}' has no unit; write it as "
                              f"'{canon.split(' / ')[0]} / <unit of the file>'",
                              file=source, field=field)
    return ColumnMap(canon, unit, sign)


def infer_mapping(columns: list[str], *, explicit: dict[str, ColumnMap] | None = None,
                  column_map: dict[str, str] | None = None, source: str | None = None,
                  guess: bool = True) -> dict[str, ColumnMap]:
    """Map raw columns to canonical ones: explicit format map, then user map, then guesses.

    The first raw column that claims a canonical target wins; later claimants stay as
    extra columns under their raw names (e.g. EC-Lab ``Ece/V`` next to ``Ewe/V``).
    """
    mapping: dict[str, ColumnMap] = {}
    claimed: set[str] = set()
    if column_map:
        for raw, spec in column_map.items():
            if raw not in columns:
                raise FileFormatError(f"column_map names column '{raw}', which the file does "
                                      f"not have; its columns are {list(columns)}",
                                      file=source, field=raw)
            cm = parse_user_target(spec, source=source, field=raw)
            mapping[raw] = cm
            claimed.add(cm.target)
    # explicit format knowledge first, then guesses from the header text
    passes = [explicit or {}]
    if guess:
        passes.append({c: cm for c in columns
                       if (cm := canonical_for(c)) is not None and _unit_fits(cm)})
    # running-time headers claim the test time before a bare (per-step) "Time"
    ordered = sorted(columns, key=lambda c: not _is_running_time(c))
    for table in passes:
        for raw in ordered:
            cm = table.get(raw)
            if raw in mapping or cm is None or cm.target in claimed:
                continue
            mapping[raw] = cm
            claimed.add(cm.target)
    return mapping


def _unit_parses(unit: str, target: str) -> bool:
    if target not in tb.FLOAT_COLUMNS:
        return True
    try:
        _conversion(unit, tb.FLOAT_COLUMNS[target], "header")
    except (UnitError, FileFormatError):
        return False
    return True


def _is_running_time(header: str) -> bool:
    name = normalise_name(split_header(header)[0])
    hit = _SYNONYMS.get(name)
    return hit is not None and hit[0] == tb.TIME and name.startswith(_RUNNING_TIME)


def _unit_fits(cm: ColumnMap) -> bool:
    """A guessed mapping is kept only if its unit (when given) fits the quantity."""
    if cm.target not in tb.FLOAT_COLUMNS:
        return True
    if cm.unit is None:
        # a unitless guess is an error worth reporting only for the required columns
        # (the message asks for a column_map); other quantities stay raw columns
        return cm.target in (*tb.TIME_SERIES_REQUIRED, *tb.IMPEDANCE_REQUIRED)
    try:
        _conversion(cm.unit, tb.FLOAT_COLUMNS[cm.target], "header")
    except (UnitError, FileFormatError):
        return False
    return True


@lru_cache(maxsize=512)
def _conversion(unit: str, target_unit: str, where: str) -> tuple[float, float]:
    """(scale, offset) so that SI = raw * scale + offset."""
    text = _UNIT_ALIASES.get(unit.strip().lower(), unit.strip())
    if unit.strip() in ("MOhm", "Mohm", "MOhms", "MΩ"):
        text = "megaohm"   # the aliases are case-insensitive: "mohm" is milliohm
    if target_unit == "degC" and unit.strip().lower() in ("c", "deg c", "oc", "?c"):
        text = "degC"
    text = re.sub(r"(?<=[A-Za-z])\.(?=[A-Za-z])", " ", text)   # "mA.h" -> "mA h"
    return linear_conversion(text, target_unit, where=where, label=unit)


_DURATION = re.compile(r"^\s*(?:(\d+)\s*d\s*)?(\d+):(\d{1,2}):(\d{1,2}(?:[.,]\d*)?)\s*$")


def durations_to_seconds(values: pd.Series) -> np.ndarray | None:
    """``"1d 02:03:04.5"`` / ``"02:03:04.500"`` cells to seconds; ``None`` if they are not."""
    text = values.astype("string").str.strip()
    parts = text.str.extract(_DURATION)
    ok = parts[1].notna()
    if not ok.any() or (~ok & text.notna() & (text != "")).any():
        return None
    days = pd.to_numeric(parts[0], errors="coerce").fillna(0.0)
    hours = pd.to_numeric(parts[1], errors="coerce")
    minutes = pd.to_numeric(parts[2], errors="coerce")
    seconds = pd.to_numeric(parts[3].str.replace(",", ".", regex=False), errors="coerce")
    out = days * 86400.0 + hours * 3600.0 + minutes * 60.0 + seconds
    return out.to_numpy(dtype=np.float64, na_value=np.nan)


def datetimes_to_unix(values: pd.Series, *, dayfirst: bool = False) -> np.ndarray | None:
    """Date-time cells to POSIX seconds (naive times taken as UTC); ``None`` if not dates."""
    if pd.api.types.is_datetime64_any_dtype(values.dtype):
        stamps = pd.to_datetime(values)
    else:
        text = values.astype("string").str.strip()
        looks = text.replace("", pd.NA).dropna().str.contains(r"\d[-/.]\d|\d:\d", regex=True)
        if not len(looks) or not looks.all():   # empty cells (a cut last row) do not count
            return None
        try:
            stamps = pd.to_datetime(text, errors="coerce", dayfirst=dayfirst, format="mixed")
        except (ValueError, TypeError, OverflowError):
            return None
    if stamps.isna().mean() > 0.5:
        return None
    bad = stamps.isna().to_numpy() & (values.astype("string").str.strip().fillna("") != "")
    if bad.any():   # a damaged date is counted, never a silent NaN
        warn(f"{int(bad.sum())} cell(s) of column '{values.name}' are not dates (first: "
             f"'{str(values[bad].iloc[0])[:40]}'); read as NaN")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    ns = stamps.astype("datetime64[ns]").astype("int64").to_numpy()
    out = ns.astype(np.float64) / 1e9
    out[stamps.isna().to_numpy()] = np.nan
    return out


def convert_column(values: pd.Series, cm: ColumnMap, *, raw_name: str, source: str | None,
                   decimal: str = ".") -> pd.Series | np.ndarray:
    """One raw column to its canonical dtype and SI unit."""
    if cm.target == tb.TECHNIQUE:
        return values.astype("string").to_numpy(dtype=object)
    if cm.target in tb.COUNTER_COLUMNS:
        num = to_float(values, decimal=decimal)
        filled = np.where(np.isfinite(num), num, np.nan)
        if np.isnan(filled).any():
            # a counter with gaps: carry the last value forward (Maccor/Arbin blank cells)
            filled = pd.Series(filled).ffill().fillna(0.0).to_numpy()
        return np.rint(filled).astype(np.int64)
    target_unit = tb.FLOAT_COLUMNS[cm.target]
    num = to_float(values, decimal=decimal)
    if cm.target in (tb.TIME, tb.UNIX_TIME) and not pd.api.types.is_numeric_dtype(values.dtype):
        nonempty = values.astype("string").str.strip().replace("", pd.NA).dropna()
        if len(nonempty) and np.isnan(num[values.notna().to_numpy()]).mean() > 0.5:
            dur = durations_to_seconds(values)
            if dur is not None:
                return dur
            stamps = datetimes_to_unix(values)
            if stamps is not None:
                if cm.target == tb.TIME:
                    return stamps - np.nanmin(stamps)
                return stamps
    unit = cm.unit
    if unit is None:
        raise FileFormatError(
            f"column '{raw_name}' looks like {cm.target.split(' / ')[0]} but its unit is not "
            f"given; pass column_map={{'{raw_name}': '{cm.target.split(' / ')[0]} / <unit>'}}",
            file=source, field=raw_name)
    try:
        scale, offset = _conversion(unit, target_unit, f"column '{raw_name}'")
    except UnitError as exc:
        raise FileFormatError(str(exc), file=source, field=raw_name) from None
    out = num * (scale * cm.sign)
    if offset:
        out = out + offset
    return out


def build_table(raw: pd.DataFrame, mapping: dict[str, ColumnMap], *, source: str | None,
                decimal: str = ".", keep_unknown: bool = True,
                known_extra: set[str] | frozenset[str] = frozenset(),
                ) -> tuple[pd.DataFrame, list[str]]:
    """Apply a mapping: canonical columns first (SI, float64 / int64), then the raw rest.

    Returns the table and the warnings (one listing unknown columns kept as they are).
    ``known_extra`` are raw columns the format knows but has no canonical slot for; they are
    kept without a warning.
    """
    out: dict[str, object] = {}
    for raw_name, cm in mapping.items():
        out[cm.target] = convert_column(raw[raw_name], cm, raw_name=raw_name, source=source,
                                        decimal=decimal)
    time_raw = next((r for r, cm in mapping.items() if cm.target == tb.TIME), None)
    if time_raw is not None and tb.UNIX_TIME not in out \
            and not pd.api.types.is_numeric_dtype(raw[time_raw].dtype) \
            and durations_to_seconds(raw[time_raw].iloc[:50]) is None:
        stamps = datetimes_to_unix(raw[time_raw])
        if stamps is not None:
            out[tb.UNIX_TIME] = stamps
    warnings: list[str] = []
    unknown = []
    if keep_unknown:
        for col in raw.columns:
            if col in mapping or col in out:
                continue
            out[col] = raw[col].to_numpy()
            if col not in known_extra:
                unknown.append(col)
    assumed = [f"'{r}' as {cm.unit}" for r, cm in mapping.items() if cm.assumed_unit]
    if assumed:
        warnings.append(f"header(s) without a unit, read in the usual unit: {', '.join(assumed)}"
                        " (pass a column_map if the file uses another unit)")
    if unknown:
        shown = ", ".join(f"'{c}'" for c in unknown[:20])
        more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
        warnings.append(f"kept {len(unknown)} column(s) with no canonical meaning under their "
                        f"original names: {shown}{more}")
    order = [c for c in tb.CANONICAL_COLUMNS if c in out]
    df = pd.DataFrame(index=pd.RangeIndex(len(raw)))
    for i, name in enumerate(order + [c for c in out if c not in order]):
        # column by column (one block each): building from the dict would stack the
        # arrays into one block, a second copy of the table while the first is held
        df.insert(i, name, out.pop(name))
    return df, warnings
