"""Exports: canonical tables as BDF CSV / Parquet, summary tables as CSV / XLSX / JSON.

The canonical table of any file (:mod:`nasurf.io.table`) is written with its Battery Data
Format "Name / unit" column labels, either as BDF CSV (floats in shortest round-trip
form, so reading it back with :func:`nasurf.io.read` gives the same numbers bit for bit) or
as Parquet (types preserved; the metadata travels in the file's key-value metadata).
Instrument-specific extra columns are left out unless ``extra_columns=True``: they have no
agreed name or unit.

Summary tables (a study's metrics, an archive's results) go to CSV, to XLSX with a units
row under the header (the layout Origin users paste: long name, then unit), and to JSON.
Every writer writes to a temporary name and renames, so a failure never leaves half a file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from nasurf.errors import FileFormatError, ValidationError
from nasurf.io.table import CANONICAL_COLUMNS, EchemData, Metadata

PARQUET_METADATA_KEY = b"nasurf.metadata"


def _atomic(path: Path, write: Callable[[Path], None], *, force: bool) -> Path:
    path = Path(path)
    if path.exists() and not force:
        raise ValidationError("exists; pass force=True (--force) to overwrite", file=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def canonical_frame(data: EchemData, *, extra_columns: bool = False) -> pd.DataFrame:
    """The canonical columns of ``data`` in file order (plus extras if asked)."""
    cols = [c for c in data.data.columns if extra_columns or c in CANONICAL_COLUMNS]
    return data.data[cols]


def to_bdf_csv(data: EchemData, path: str | os.PathLike[str], *, extra_columns: bool = False,
               force: bool = False) -> Path:
    """Write the canonical table as BDF CSV (``Name / unit`` headers, SI units)."""
    df = canonical_frame(data, extra_columns=extra_columns)
    # float_format=None: pandas writes repr(), the shortest string that reads back exactly
    return _atomic(Path(path), lambda p: df.to_csv(p, index=False, lineterminator="\n"),
                   force=force)


def _metadata_json(md: Metadata) -> bytes:
    from nasurf.jsonio import to_jsonable

    d = {f.name: getattr(md, f.name) for f in dataclasses.fields(md) if f.name != "header"}
    return json.dumps(to_jsonable(d), allow_nan=False).encode()


def to_parquet(data: EchemData, path: str | os.PathLike[str], *, extra_columns: bool = False,
               force: bool = False) -> Path:
    """Write the canonical table as Parquet; metadata (not the raw header) is kept."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = canonical_frame(data, extra_columns=extra_columns)
    table = pa.Table.from_pandas(df, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[PARQUET_METADATA_KEY] = _metadata_json(data.metadata)
    table = table.replace_schema_metadata(meta)
    return _atomic(Path(path), lambda p: pq.write_table(table, p), force=force)


def read_parquet(path: str | os.PathLike[str]) -> EchemData:
    """Read a table written by :func:`to_parquet` back into an :class:`EchemData`."""
    import pyarrow.parquet as pq

    from nasurf.io.table import validate

    p = Path(path)
    try:
        table = pq.read_table(p)
    except Exception as exc:
        raise FileFormatError(f"not a readable Parquet file: {exc}", file=str(p)) from None
    raw = (table.schema.metadata or {}).get(PARQUET_METADATA_KEY)
    kwargs: dict[str, Any] = json.loads(raw) if raw else {"source": str(p)}
    for k in ("warnings", "notes"):
        kwargs[k] = tuple(kwargs.get(k) or ())
    known = {f.name for f in dataclasses.fields(Metadata)}
    md = Metadata(**{k: v for k, v in kwargs.items() if k in known})
    return validate(EchemData(table.to_pandas(), md))


# --------------------------------------------------------------------------- summaries
def _split_units(df: pd.DataFrame, units: Mapping[str, str] | None) -> tuple[list[str],
                                                                             list[str]]:
    names, unit_row = [], []
    for c in df.columns:
        name, unit = str(c), (units or {}).get(str(c), "")
        if not unit and " / " in name:       # "Voltage / V" -> Voltage, V
            name, unit = name.rsplit(" / ", 1)
        names.append(name)
        unit_row.append(unit)
    return names, unit_row


def write_summary(df: pd.DataFrame, path: str | os.PathLike[str], *,
                  units: Mapping[str, str] | None = None, force: bool = False,
                  sheet_name: str = "summary") -> Path:
    """Write a summary table by suffix: ``.csv``, ``.xlsx`` (units row under the header,
    for Origin/Excel), ``.json`` (records) or ``.parquet``."""
    p = Path(path)
    kind = p.suffix.lower()
    if kind == ".csv":
        return _atomic(p, lambda t: df.to_csv(t, index=False, lineterminator="\n"), force=force)
    if kind == ".parquet":
        return _atomic(p, lambda t: df.to_parquet(t, index=False), force=force)
    if kind == ".json":
        from nasurf.jsonio import to_jsonable

        doc = {"units": dict(units or {}), "rows": to_jsonable(df)}
        return _atomic(p, lambda t: t.write_text(json.dumps(doc, indent=1, allow_nan=False),
                                                 encoding="utf-8"), force=force)
    if kind == ".xlsx":
        names, unit_row = _split_units(df, units)

        def write(t: Path) -> None:
            from openpyxl import Workbook
            from openpyxl.styles import Font

            wb = Workbook()
            ws = wb.active
            ws.title = sheet_name[:31]
            ws.append(names)
            ws.append(unit_row)
            for cell in ws[1]:
                cell.font = Font(bold=True)
            for cell in ws[2]:
                cell.font = Font(italic=True)
            for rec in df.itertuples(index=False):
                ws.append([_cell(v) for v in rec])
            ws.freeze_panes = "A3"
            wb.save(t)

        return _atomic(p, write, force=force)
    raise ValidationError(f"unknown summary format '{p.suffix}'; expected .csv, .xlsx, .json "
                          "or .parquet", file=str(p))


def _cell(v: Any) -> Any:
    import math

    import numpy as np

    if v is None:
        return None
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None                      # an empty cell, never the text "nan"
    if isinstance(v, list | tuple | dict):
        return json.dumps(v)
    return v
