"""Sample sheets uploaded in the browser, read by :func:`nasurf.samples.read_sample_sheet`.

The sheet's ``file`` column names files already uploaded to the workspace. The sheet is
validated by the same reader as ``nasurf analyze samples`` (same messages, same rules):
it is written to a temporary folder next to links named like the uploads, so the reader
resolves each ``file`` entry to exactly one stored file. Names that could not be a plain
file name (slashes, leading dots) cannot be referenced from a sheet and are reported.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from nasurf.errors import ValidationError
from nasurf.web.workspace import Workspace

SHEET_TYPES = (".csv", ".toml", ".yaml", ".yml")


def _linkable(name: str) -> bool:
    return (bool(name) and "/" not in name and "\\" not in name and not name.startswith(".")
            and len(name.encode("utf-8")) <= 240)


def import_sheet(ws: Workspace, raw: bytes, name: str) -> dict[str, Any]:
    """Validate the whole sheet, then add or update its samples and link their files."""
    from nasurf.samples import read_sample_sheet

    suffix = Path(name).suffix.lower()
    if suffix not in SHEET_TYPES:
        raise ValidationError(f"unknown sample-sheet type {suffix or '(none)'!r}; expected "
                              ".csv, .toml, .yaml or .yml", file=name)
    files = {}
    for f in reversed(ws.list_files()):  # the newest upload of a name wins
        files[f["name"]] = f
    with tempfile.TemporaryDirectory(dir=ws.tmp) as tmp:
        folder = Path(tmp)
        for fname, f in files.items():
            if _linkable(fname):
                with contextlib.suppress(OSError):  # a name this file system refuses
                    os.symlink(ws.blob_path(f["sha256"]), folder / fname)
        sheet_path = folder / f"sheet{suffix}"
        sheet_path.write_bytes(raw)
        try:
            sheet = read_sample_sheet(sheet_path)
        except ValidationError as exc:
            msg = exc.reason.replace(str(folder), "the uploaded files")
            raise ValidationError(msg, file=name, line=exc.line, field=exc.field) from None
        linked: list[tuple[str, list[int]]] = []
        for s in sheet.samples:
            linked.append((s.name, [files[Path(p).name]["id"] for p in s.files]))
    ids = []
    for s, (_, fids) in zip(sheet.samples, linked, strict=True):
        row = ws.add_sample({"name": s.name, "grp": s.group, "material": s.material,
                             "strategy": s.strategy, "mass_mg": s.mass_mg,
                             "area_cm2": s.area_cm2, "electrode": s.electrode,
                             "notes": s.notes}, replace=True)
        for fid in fids:
            ws.assign_file(fid, row["id"])
        ids.append(row["id"])
    return {"samples": ids, "groups": list(sheet.groups),
            "files_linked": sum(len(f) for _, f in linked)}
