"""Sample sheets uploaded in the browser: rows become workspace samples.

The sheet is read by ``nasurf.samples.read_sample_sheet`` when that module is installed
(the same reader as the command line); until then a CSV with the sample-sheet columns
(name/sample, group, material, strategy, mass_mg, area_cm2, electrode, notes, and file: the
name of an uploaded file to link) is read here.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path
from typing import Any

from nasurf.errors import ValidationError
from nasurf.web.workspace import Workspace

_ALIASES = {"sample": "name", "sample_id": "name", "group": "grp", "mass": "mass_mg",
            "area": "area_cm2", "note": "notes"}


def _rows_from_library(raw: bytes, name: str) -> list[dict[str, Any]] | None:
    try:
        from nasurf.samples import read_sample_sheet
    except ImportError:
        return None
    suffix = Path(name).suffix if Path(name).suffix.lower() in (".csv", ".xlsx", ".yaml",
                                                                  ".yml", ".json") else ".csv"
    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / f"sheet{suffix}"
        p.write_bytes(raw)
        sheet = read_sample_sheet(p)
    out = []
    for s in getattr(sheet, "samples", ()):
        d = s.to_dict() if hasattr(s, "to_dict") else dict(vars(s))
        out.append(d)
    return out


def _rows_from_csv(raw: bytes, name: str) -> list[dict[str, Any]]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("a sample sheet must be UTF-8 CSV", file=name) from None
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise ValidationError("the sample sheet has no header row", file=name, line=1)
    rows = []
    for i, r in enumerate(reader, start=2):
        row = {_ALIASES.get(k.strip().lower(), k.strip().lower()): v
               for k, v in r.items() if k}
        row["_line"] = i
        rows.append(row)
    return rows


def import_sheet(ws: Workspace, raw: bytes, name: str) -> dict[str, Any]:
    """Validate every row first, then add them all (all or nothing)."""
    from nasurf.web.workspace import validate_sample

    rows = _rows_from_library(raw, name)
    if rows is None:
        rows = _rows_from_csv(raw, name)
    if not rows:
        raise ValidationError("the sample sheet has no sample rows", file=name)
    checked, wanted_files = [], []
    for r in rows:
        line = r.pop("_line", None)
        r = {_ALIASES.get(k, k): v for k, v in r.items()}
        wanted_files.append(str(r.pop("file", None) or "").strip())
        try:
            checked.append(validate_sample(r))
        except ValidationError as exc:
            raise ValidationError(exc.reason, file=name, line=line, field=exc.field) from None
    names = [c["name"] for c in checked]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise ValidationError(f"sample name {sorted(dup)[0]!r} appears twice", file=name,
                              field="name")
    added = [ws.add_sample(c, replace=True)["id"] for c in checked]
    # a 'file' column links a sample to an uploaded file of that name (newest first)
    by_name: dict[str, int] = {}
    for f in reversed(ws.list_files()):
        by_name[f["name"]] = f["id"]
    warnings, linked = [], 0
    for sid, c, fname in zip(added, checked, wanted_files, strict=True):
        if not fname:
            continue
        if fname in by_name:
            ws.assign_file(by_name[fname], sid)
            linked += 1
        else:
            warnings.append(f"sample {c['name']}: file {fname!r} is not uploaded; upload it "
                            "and assign it on its file page")
    return {"samples": added, "groups": sorted({c["grp"] or "" for c in checked}),
            "files_linked": linked, "warnings": warnings}
