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
from nasurf.io._text import decode, read_delimited
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
# BTSDA CSV export

_BTSDA_MAP = {
    "Total Time": ColumnMap(tb.TIME, "s"),
    "Cycle Index": ColumnMap(tb.CYCLE),
    "Step Index": ColumnMap(tb.STEP_INDEX),
    "Step Count": ColumnMap(tb.STEP_COUNT),
    "Date": ColumnMap(tb.UNIX_TIME, "s"),
}


def looks_like_btsda(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0]
    return "Step Type" in first and "Total Time" in first and ("Cycle Index" in first)


def read_btsda_csv(path: Path, *, technique: str | None = None, encoding: str | None = None,
                   active_mass_g: float | None = None, area_cm2: float | None = None,
                   column_map: dict[str, str] | None = None, **_: Any) -> EchemData:
    """Neware BTSDA "recording layer" CSV export (units in headers, durations hh:mm:ss)."""
    src = str(path)
    text = decode(path.read_bytes(), encoding, source=src)
    raw = read_delimited(text, sep=",", skiprows=0, source=src)
    explicit = {c: cm for c, cm in _BTSDA_MAP.items() if c in raw.columns}
    mapping = infer_mapping(list(raw.columns), explicit=explicit, column_map=column_map,
                            source=src)
    known = set(raw.columns)
    df, warns = build_table(raw, mapping, source=src, known_extra=known)
    md = Metadata(source=src, instrument="Neware BTS", file_format="neware-btsda-csv",
                  technique="cycling")
    for w in warns:
        md = md.with_warning(w)
    return finish(df, md, technique=technique, active_mass_g=active_mass_g, area_cm2=area_cm2)
