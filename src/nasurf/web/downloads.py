"""Downloads of stored results: CSV and XLSX of the result's tables, and its JSON."""

from __future__ import annotations

import io
import json
from typing import Any

import pandas as pd

from nasurf.errors import ValidationError

# the table a CSV download holds, per result kind (XLSX holds every table as a sheet)
PRIMARY = {"cycling": "cycles", "cv": "peaks", "gitt": "pulses", "eis": "spectra",
           "sim_compare": "runs", "study": "groups", "sim_fit": "parameters",
           "sim_validate": "rows", "sim_sweep": "rows"}


def tables(kind: str, doc: dict[str, Any]) -> dict[str, pd.DataFrame]:
    out: dict[str, pd.DataFrame] = {}
    for key, value in doc.items():
        if key in ("series", "measured", "fit_curves", "b_map", "options"):
            continue
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            if kind == "sim_compare" and key == "runs":
                parts = [pd.DataFrame(r.get("table") or []).assign(strategy=r["strategy"])
                         for r in value]
                out["runs"] = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
            elif kind == "study" and key == "samples":
                out["metrics"] = pd.json_normalize(
                    [{"sample": s["sample"], "group": s["group"], **m}
                     for s in value for m in s.get("metrics", [])], sep=".")
            elif kind == "eis" and key == "spectra":
                out["spectra"] = pd.json_normalize(value, sep=".")
            else:
                out[key] = pd.json_normalize(value, sep=".")
    return out


def result_download(r: dict, fmt: str) -> tuple[bytes, str, str]:
    kind, doc = r["kind"], r["doc"]
    stem = f"nasurf-{kind}-{r['id']}"
    if fmt == "json":
        body = {"kind": kind, "inputs": r["inputs"], "options": r["options"],
                "nasurf_version": r["version"], "result": doc}
        return json.dumps(body, indent=1).encode(), "application/json", f"{stem}.json"
    tabs = tables(kind, doc)
    if fmt == "csv":
        name = PRIMARY.get(kind)
        if name not in tabs:
            raise ValidationError(f"this result has no {name} table", field="format")
        return tabs[name].to_csv(index=False).encode(), "text/csv", f"{stem}-{name}.csv"
    if fmt == "xlsx":
        buf = io.BytesIO()
        with pd.ExcelWriter(buf, engine="openpyxl") as xw:
            for name, df in tabs.items():
                df.to_excel(xw, sheet_name=name[:31], index=False)
        return (buf.getvalue(),
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                f"{stem}.xlsx")
    raise ValidationError(f"expected csv, xlsx or json, got {fmt!r}", field="format")
