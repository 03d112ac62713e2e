"""A self-contained HTML report of the workspace (or one sample): no scripts, no links out."""

from __future__ import annotations

import html
import time

from nasurf import __version__
from nasurf.web.workspace import Workspace


def _e(x: object) -> str:
    return html.escape("" if x is None else str(x))


def _pct(x: object) -> str:
    try:
        return f"{100 * float(x):.2f} %"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"


def workspace_report(ws: Workspace, *, sample_id: int | None = None) -> str:
    samples = ws.list_samples()
    files = ws.list_files()
    if sample_id is not None:
        samples = [ws.get_sample(sample_id)]
        files = [f for f in files if f["sample_id"] == sample_id]
    ids = {f["id"] for f in files}
    parts = [f"<h1>nasurf report{' — ' + _e(samples[0]['name']) if sample_id else ''}</h1>",
             f"<p>nasurf {_e(__version__)}, {time.strftime('%Y-%m-%d %H:%M')}; workspace "
             f"{_e(ws.root)}</p>", "<h2>Samples</h2><table><tr><th>name</th><th>group</th>"
             "<th>material</th><th>strategy</th><th>mass (mg)</th><th>area (cm²)</th>"
             "<th>notes</th></tr>"]
    for s in samples:
        parts.append("<tr>" + "".join(f"<td>{_e(s[k])}</td>" for k in (
            "name", "grp", "material", "strategy", "mass_mg", "area_cm2", "notes")) + "</tr>")
    parts.append("</table><h2>Files</h2><table><tr><th>name</th><th>format</th>"
                 "<th>sample</th><th>sha256</th></tr>")
    for f in files:
        parts.append(f"<tr><td>{_e(f['name'])}</td><td>{_e(f['format'])}</td>"
                     f"<td>{_e(f.get('sample_name'))}</td><td><code>{_e(f['sha256'][:16])}"
                     "</code></td></tr>")
    parts.append("</table><h2>Cycling results</h2><table><tr><th>file</th><th>ICE</th>"
                 "<th>mean CE</th><th>retention</th><th>convention</th><th>warnings</th></tr>")
    for r in ws.list_results(1000):
        if r["kind"] != "cycling":
            continue
        full = ws.get_result(r["id"])
        if not set(full["inputs"].get("file_ids", [])) & ids:
            continue
        d = full["doc"]
        ret = d.get("retention") or {}
        parts.append(f"<tr><td>{_e(full['inputs'].get('label'))}</td>"
                     f"<td>{_pct(d.get('initial_coulombic_efficiency'))}</td>"
                     f"<td>{_pct(d.get('mean_coulombic_efficiency'))}</td>"
                     f"<td>{_pct(ret.get('final'))}</td><td>{_e(ret.get('convention'))}</td>"
                     f"<td>{len(d.get('warnings') or [])}</td></tr>")
    parts.append("</table>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>nasurf report</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")
