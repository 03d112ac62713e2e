"""Knowledge-base views: filtered records, the consistency findings and adding records.

Adding goes through the same validation as ``nasurf kb add``: :func:`parse_record` with the
review's reference numbers and the C-rate converter, then :meth:`KnowledgeBase.add` in one
transaction (a CSV file through :meth:`KnowledgeBase.add_file`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from nasurf.errors import ValidationError
from nasurf.jsonio import to_jsonable
from nasurf.web.workspace import Workspace

FILTERS = ("strategy", "material_class", "host", "quantity", "sample_role", "origin",
           "material")
ROW_FIELDS = ("id", "material", "material_key", "host", "material_class", "strategy",
              "sample_role", "quantity", "value", "unit", "current", "c_rate",
              "c_rate_basis_mAh_g", "cycles", "temperature_C", "citation", "doi", "ref", "note")


def _open(ws: Workspace):
    from nasurf.knowledge import KnowledgeBase

    return KnowledgeBase.open(ws.kb_path)


def kb_records(ws: Workspace, params: dict[str, str]) -> dict[str, Any]:
    """Records matching the filters (``nasurf.knowledge.query``), JSON-ready."""
    from nasurf.knowledge import query

    kw = query_kwargs(params)
    with _open(ws) as kb:
        df = query(kb, **kw)
    return {"count": len(df), "filters": kw, "records": to_jsonable(df)}


def query_kwargs(params: dict[str, str]) -> dict[str, Any]:
    """The page's filter fields as ``nasurf.knowledge.query`` keywords (checked)."""
    kw: dict[str, Any] = {k: params[k] for k in FILTERS if params.get(k)}
    for k in ("min_current_mA_g", "max_current_mA_g"):
        if params.get(k):
            try:
                kw[k] = float(params[k])
            except ValueError:
                raise ValidationError(f"expected a number, got {params[k]!r}", field=k) from None
    if params.get("sort"):
        kw["sort"] = params["sort"]
        kw["descending"] = params.get("descending") in ("1", "true", "on")
    kw["distinct"] = params.get("distinct", "1") in ("1", "true", "on")
    return kw


def kb_findings(ws: Workspace) -> dict[str, Any]:
    from nasurf.knowledge import check

    with _open(ws) as kb:
        rep = check(kb)
    return {"findings": [to_jsonable(f) for f in rep.findings],
            "warnings": list(rep.warnings)}


def kb_add(ws: Workspace, body: dict[str, Any]) -> dict[str, Any]:
    """Add one record (``row``) or a CSV text (``csv``); all or nothing."""
    from nasurf.knowledge.records import parse_record
    from nasurf.knowledge.store import _c_rate_to_current

    replace = bool(body.get("replace"))
    with _open(ws) as kb:
        if body.get("csv"):
            with tempfile.TemporaryDirectory() as tmp:
                p = Path(tmp) / "records.csv"
                p.write_text(str(body["csv"]), encoding="utf-8")
                try:
                    res = kb.add_file(p, replace=replace)
                except ValidationError as exc:
                    # name the upload, not the temp path
                    raise type(exc)(exc.reason, file=body.get("name") or "records.csv",
                                    line=exc.line, field=exc.field) from None
        else:
            row = body.get("row") or {}
            if not isinstance(row, dict):
                raise ValidationError("row must be an object", field="row")
            row = {k: v for k, v in row.items() if k in ROW_FIELDS and v not in (None, "")}
            known = {r for (r,) in kb.connection.execute("SELECT ref FROM refs")} or None
            obs = parse_record(row, origin="user", file="form", known_refs=known,
                               c_rate_to_current=_c_rate_to_current())
            res = kb.add([obs], replace=replace)
    return {"added": list(res.added), "replaced": list(res.replaced),
            "skipped": list(res.skipped), "warnings": list(res.warnings)}
