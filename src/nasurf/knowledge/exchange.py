"""Import and export: CSV, JSON and Frictionless data packages.

Exports write a temporary file next to the target and rename it into place, so a failed
export never leaves a half-written file. The data package holds ``observations.csv``,
``table1.csv`` and ``references.csv`` with a ``datapackage.json`` whose fields carry their
unit (``"unit": "mA h g^-1"``) and description; importing that package (or any export)
back adds the user rows and skips the curated ones, so it round-trips.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from nasurf.errors import ValidationError
from nasurf.knowledge.query import TABLE1_COLUMNS, TABLE1_EXTRA_COLUMNS, export_table1
from nasurf.knowledge.store import COLUMNS, AddResult, KnowledgeBase
from nasurf.outputs import neutralise_frame

EXPORT_FORMATS = ("csv", "json", "datapackage")
TABLES = ("table1", "observations")

_OBS_FIELDS: dict[str, tuple[str, str | None, str]] = {
    # name: (frictionless type, unit, description)
    "id": ("string", None, "Stable record id; user records start with 'U.'"),
    "origin": ("string", None, "'curated' (the review) or 'user'"),
    "material": ("string", None, "Material name as printed"),
    "material_key": ("string", None, "Slug shared by all rows about one sample"),
    "host": ("string", None, "Host formula or class (TiO2, Na2Ti3O7, SnO2, P, carbon ...)"),
    "material_class": ("string", None, "intercalation, conversion, alloying, "
                                       "conversion_alloying or adsorption_insertion"),
    "strategy": ("string", None, "Surface-engineering strategy key, or 'none'"),
    "sample_role": ("string", None, "treated, control or reference"),
    "quantity": ("string", None, "What the value is (vocabulary in docs/knowledge.md)"),
    "value": ("number", "see the 'unit' column", "Value in the canonical unit of its quantity"),
    "unit": ("string", None, "Unit of 'value' (pint syntax)"),
    "raw_text": ("string", None, "The number as printed"),
    "approximate": ("boolean", None, "Printed with '~'"),
    "current_mA_g": ("number", "mA g^-1", "Specific current"),
    "current_source": ("string", None, "'printed' or 'c_rate' (derived from C-rate x basis)"),
    "c_rate": ("number", "C", "C-rate as printed (1C = basis mA g^-1)"),
    "c_rate_basis_mAh_g": ("number", "mA h g^-1", "Capacity that defines 1C"),
    "cycles": ("integer", "cycles", "Cycle number the value refers to"),
    "temperature_C": ("number", "degC", "Test temperature"),
    "ref": ("integer", None, "Reference number in Xia, Liu, Zhao, J. Mater. Chem. A 2022"),
    "citation": ("string", None, "Citation of a user record"),
    "doi": ("string", None, "DOI of a user record"),
    "location": ("string", None, "Where the review prints it (Table 1, row N / Section N)"),
    "note": ("string", None, "How the number was read"),
    "added_at": ("string", None, "When a user record was added (UTC, ISO 8601)"),
    "duplicate_of": ("string", None, "Id of the row whose measurement this text figure "
                                     "restates (counted once in summaries)"),
}

_TABLE1_FIELDS: dict[str, tuple[str, str | None, str]] = {
    "ref": ("integer", None, "Reference number in the review"),
    "strategy": ("string", None, "Surface-engineering strategy key"),
    "material": ("string", None, "Material as printed in Table 1"),
    "first_discharge_mAh_g": ("number", "mA h g^-1", "First discharge (sodiation) capacity"),
    "first_discharge_current_mA_g": ("number", "mA g^-1", "Current of the first discharge"),
    "cycling_capacity_mAh_g": ("number", "mA h g^-1", "Capacity after 'cycles' cycles"),
    "cycles": ("integer", "cycles", "Cycle number of the cycling capacity"),
    "cycling_current_mA_g": ("number", "mA g^-1", "Current of the cycling test"),
    "retention_pct": ("number", "%", "Capacity retention as printed"),
    "rate_capacity_mAh_g": ("number", "mA h g^-1", "Capacity in the rate test"),
    "rate_current_mA_g": ("number", "mA g^-1", "Current of the rate capacity"),
    "table_row": ("integer", None, "Row of Table 1 (1-34)"),
    "material_key": ("string", None, "Sample key linking to observations.csv"),
    "host": ("string", None, "Host formula or class"),
    "material_class": ("string", None, "Storage mechanism class"),
    "approximate_fields": ("string", None, "Columns printed with '~' (semicolon-separated)"),
}

_REF_FIELDS = {
    "ref": ("integer", None, "Reference number in the review"),
    "citation": ("string", None, "Citation as printed"),
    "doi": ("string", None, "DOI where known"),
}


def _atomic_write(path: Path, write) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _table(kb: KnowledgeBase, table: str, origin: str | None) -> pd.DataFrame:
    if table not in TABLES:
        raise ValidationError(f"unknown table '{table}'; expected one of {', '.join(TABLES)}",
                              field="table")
    if table == "table1":
        return export_table1(kb)
    if origin is not None and origin not in ("curated", "user"):
        raise ValidationError(f"origin must be 'curated' or 'user', got '{origin}'",
                              field="origin")
    return kb.frame("" if origin is None else "origin = ?", () if origin is None else (origin,))


_INTEGER_COLUMNS = ("cycles", "ref", "table_row")


def _csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Booleans as true/false, integer columns without a '.0' (NaN forces floats), and
    text that a spreadsheet would run as a formula made inert (:mod:`nasurf.outputs`)."""
    out = df.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].map({True: "true", False: "false"})
        elif col in _INTEGER_COLUMNS:
            out[col] = out[col].astype("Int64")
    return neutralise_frame(out)


def export_csv(kb: KnowledgeBase, path: str | Path, *, table: str = "table1",
               origin: str | None = None) -> Path:
    """Write ``table1`` (one row per Table 1 material) or ``observations`` as CSV."""
    df = _csv_frame(_table(kb, table, origin))
    return _atomic_write(Path(path), lambda fh: df.to_csv(fh, index=False, lineterminator="\n"))


def export_json(kb: KnowledgeBase, path: str | Path, *, table: str = "observations",
                origin: str | None = None) -> Path:
    """Write the records as ``{"records": [...]}`` JSON (re-importable with ``kb add``)."""
    from nasurf.jsonio import to_jsonable

    df = _table(kb, table, origin)
    doc = {"table": table, "units": _units(table),
           "records": to_jsonable(df.astype(object).where(df.notna(), None))}
    return _atomic_write(Path(path), lambda fh: json.dump(doc, fh, indent=1, ensure_ascii=False))


def _units(table: str) -> dict[str, str]:
    fields = _TABLE1_FIELDS if table == "table1" else _OBS_FIELDS
    return {k: v[1] for k, v in fields.items() if v[1] is not None}


def _schema(fields: dict[str, tuple[str, str | None, str]], columns: Iterable[str],
            primary_key: str | None) -> dict[str, Any]:
    out = []
    for name in columns:
        ftype, unit, description = fields[name]
        field: dict[str, Any] = {"name": name, "type": ftype, "description": description}
        if unit is not None:
            field["unit"] = unit
        if ftype == "boolean":
            field["trueValues"] = ["true"]
            field["falseValues"] = ["false"]
        out.append(field)
    schema: dict[str, Any] = {"fields": out, "missingValues": [""]}
    if primary_key:
        schema["primaryKey"] = [primary_key]
    return schema


def export_datapackage(kb: KnowledgeBase, folder: str | Path, *,
                       origin: str | None = None) -> Path:
    """Write a Frictionless data package (CSV resources + ``datapackage.json``) into
    ``folder``; returns the descriptor's path. Every numeric field names its unit."""
    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise ValidationError("exists and is not a folder", file=str(out))
    obs = _table(kb, "observations", origin)
    t1 = export_table1(kb)
    refs = kb.references()
    export_csv(kb, out / "observations.csv", table="observations", origin=origin)
    _atomic_write(out / "table1.csv",
                  lambda fh: _csv_frame(t1).to_csv(fh, index=False, lineterminator="\n"))
    _atomic_write(out / "references.csv",
                  lambda fh: neutralise_frame(refs).to_csv(fh, index=False,
                                                           lineterminator="\n"))
    descriptor = {
        "name": "nasurf-knowledge-base",
        "title": "Surface-engineered sodium-ion battery anodes: cited literature data",
        "description": (
            "Numbers reported in Xia, Liu, Zhao, J. Mater. Chem. A 2022, 10, 3889 "
            "(DOI 10.1039/d1ta09567f), one row per reported number, plus user records. "
            "Exported by nasurf."),
        "licenses": [{"name": "BSD-3-Clause", "title": "nasurf code licence; the numbers "
                      "are facts reported in the cited works"}],
        "sources": [{"title": "Xia, Liu, Zhao, J. Mater. Chem. A 2022, 10, 3889",
                     "path": "https://doi.org/10.1039/d1ta09567f"}],
        "resources": [
            {"name": "observations", "path": "observations.csv", "format": "csv",
             "mediatype": "text/csv", "encoding": "utf-8",
             "schema": _schema(_OBS_FIELDS, list(obs.columns) or COLUMNS, "id")},
            {"name": "table1", "path": "table1.csv", "format": "csv", "mediatype": "text/csv",
             "encoding": "utf-8",
             "schema": _schema(_TABLE1_FIELDS, [*TABLE1_COLUMNS, *TABLE1_EXTRA_COLUMNS],
                               None)},
            {"name": "references", "path": "references.csv", "format": "csv",
             "mediatype": "text/csv", "encoding": "utf-8",
             "schema": _schema(_REF_FIELDS, ["ref", "citation", "doi"], "ref")},
        ],
    }
    return _atomic_write(out / "datapackage.json",
                         lambda fh: json.dump(descriptor, fh, indent=2, ensure_ascii=False))


def export(kb: KnowledgeBase, path: str | Path, *, format: str = "csv", table: str = "table1",
           origin: str | None = None) -> Path:
    """Dispatch on ``format`` (csv, json, datapackage); returns the written path."""
    if format not in EXPORT_FORMATS:
        raise ValidationError(f"unknown export format '{format}'; expected one of "
                              f"{', '.join(EXPORT_FORMATS)}", field="format")
    if format == "csv":
        return export_csv(kb, path, table=table, origin=origin)
    if format == "json":
        return export_json(kb, path, table=table, origin=origin)
    return export_datapackage(kb, path, origin=origin)


def import_file(kb: KnowledgeBase, path: str | Path, *, replace: bool = False) -> AddResult:
    """Add the user records of a CSV/YAML/JSON file or data package (all or nothing).

    A data package may be given as its folder or its ``datapackage.json``. Rows of origin
    ``curated`` are skipped: the packaged curated data already hold them.
    """
    p = Path(path)
    if p.is_dir():
        p = p / "datapackage.json"
    return kb.add_file(p, replace=replace)
