"""A study of the workspace's samples: :func:`nasurf.samples.analyze_samples` on their files.

The workspace samples (with a mass and at least one file) become a
:class:`~nasurf.samples.SampleSheet` whose files are the stored blobs; the study's
``to_dict()`` (samples, groups, differences, warnings) is the stored result, so the group
statistics are exactly those of ``nasurf analyze samples``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nasurf.errors import ValidationError
from nasurf.jsonio import to_jsonable
from nasurf.web.workspace import Workspace


def study_inputs(ws: Workspace) -> dict[str, Any]:
    files = ws.list_files()
    samples = []
    # creation order (a sheet's row order): the first group is the reference, as in
    # ``nasurf analyze samples``
    for s in sorted(ws.list_samples(), key=lambda r: r["id"]):
        mine = sorted(f["sha256"] for f in files if f["sample_id"] == s["id"])
        samples.append({"id": s["id"], "name": s["name"], "group": s["grp"],
                        "mass_mg": s["mass_mg"], "area_cm2": s["area_cm2"], "files": mine})
    return {"label": "samples of the workspace", "samples": samples}


def _analyse(ws: Workspace, inputs: dict[str, Any], progress=None) -> tuple[Any, list[str]]:
    """The :class:`StudyResult` of the stored inputs (files by content hash)."""
    from nasurf.samples import Sample, SampleSheet, analyze_samples

    skipped, chosen = [], []
    for s in inputs["samples"]:
        if not s["files"]:
            skipped.append(f"sample {s['name']}: no file assigned, left out")
        elif not s["mass_mg"]:
            skipped.append(f"sample {s['name']}: no active mass, left out")
        elif not s["group"]:
            skipped.append(f"sample {s['name']}: no group, left out")
        else:
            chosen.append(Sample(name=s["name"], group=s["group"],
                                 files=tuple(ws.blob_path(h) for h in s["files"]),
                                 mass_mg=float(s["mass_mg"]), area_cm2=s["area_cm2"],
                                 row=f"sample {s['name']}"))
    if not chosen:
        raise ValidationError("no sample has a group, a mass and a file; assign files to "
                              "samples first", field="samples")
    groups = tuple(dict.fromkeys(s.group for s in chosen))
    sheet = SampleSheet(path=Path(ws.root), samples=tuple(chosen), groups=groups)
    if progress is not None:
        progress(0.1, f"analysing {sum(len(s.files) for s in chosen)} files")
    return analyze_samples(sheet), skipped


def run_study(ws: Workspace, inputs: dict[str, Any], progress) -> dict[str, Any]:
    study, skipped = _analyse(ws, inputs, progress)
    doc = to_jsonable(study.to_dict())
    doc["warnings"] = [*skipped, *doc.get("warnings", [])]
    names = {h: f["name"] for f in ws.list_files() for h in [f["sha256"]]}
    return _humanize(ws, doc, names)


def _humanize(ws: Workspace, obj: Any, names: dict[str, str]) -> Any:
    if isinstance(obj, dict):
        return {k: _humanize(ws, v, names) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_humanize(ws, v, names) for v in obj]
    if isinstance(obj, str) and "blobs" in obj:
        return ws.humanize(obj, names)
    return obj


FIGURE_FORMATS = {"pdf": "application/pdf", "svg": "image/svg+xml", "png": "image/png"}


def study_figures(ws: Workspace, result: dict[str, Any]) -> dict[str, Any]:
    """The paper figures of a stored study (``nasurf.figures.study``), by name.

    The study is analysed again from its stored inputs (the files by content hash), so the
    figures are those ``nasurf analyze samples --figures`` draws for the same files.
    """
    from nasurf.figures import study as figs
    from nasurf.knowledge import KnowledgeBase

    res, _ = _analyse(ws, result["inputs"])
    has = set(res.metrics["metric"]) if len(res.metrics) else set()
    out: dict[str, Any] = {}
    with KnowledgeBase.open(ws.kb_path) as kb:
        if "desodiation_capacity" in has:
            out["capacity_ce"] = figs.capacity_ce_figure(res)
            out["voltage_profiles"] = figs.profiles_figure(res)
            out["dqdv"] = figs.dqdv_figure(res)
            out["kb_cycling_map"] = figs.kb_cycling_figure(res, kb)
        if "rate_capacity" in has:
            out["rate_capability"] = figs.rate_figure(res)
            out["kb_rate_map"] = figs.kb_rate_figure(res, kb)
        if "eis_R_ct" in has:
            out["nyquist"] = figs.nyquist_figure(res)
        if "capacitive_fraction" in has:
            out["cv_capacitive_envelope"] = figs.cv_envelope_figure(res)
            out["capacitive_fraction"] = figs.capacitive_fraction_figure(res)
    return {k: v for k, v in out.items() if v is not None}


def study_figure_file(ws: Workspace, result: dict[str, Any], name: str, fmt: str) -> bytes:
    """One study figure as PDF, SVG or 600 dpi PNG, written by ``nasurf.figures.style.save``."""
    import tempfile

    from nasurf.figures.style import save

    if fmt not in FIGURE_FORMATS:
        raise ValidationError(f"expected one of {', '.join(FIGURE_FORMATS)}, got {fmt!r}",
                              field="format")
    figures = study_figures(ws, result)
    if name not in figures:
        raise ValidationError(f"this study has no figure {name!r}; it has "
                              f"{', '.join(figures) or 'none'}", field="figure")
    with tempfile.TemporaryDirectory(dir=ws.root) as tmp:
        (path,) = save(figures[name], Path(tmp) / name, formats=(fmt,))
        return path.read_bytes()


def study_report(ws: Workspace, result: dict[str, Any]) -> str:
    """A self-contained HTML report of a stored study: groups, differences, warnings and the
    paper figures inline as SVG (no scripts, nothing loaded from elsewhere)."""
    import html
    import time

    from nasurf import __version__
    from nasurf.figures.style import to_svg

    def e(x: Any) -> str:
        return html.escape("" if x is None else str(x))

    def n(x: Any) -> str:
        try:
            return f"{float(x):.4g}"
        except (TypeError, ValueError):
            return "–"

    doc = result["doc"]
    parts = [f"<h1>nasurf study report (result #{result['id']})</h1>",
             f"<p>nasurf {e(result['version'])} (report by {e(__version__)}), "
             f"{time.strftime('%Y-%m-%d %H:%M')}; reference group "
             f"<b>{e(doc.get('reference_group'))}</b>. {e(doc.get('conventions', {}).get('sd'))};"
             f" {e(doc.get('conventions', {}).get('ci95'))}.</p>",
             "<h2>Samples</h2><table><tr><th>sample</th><th>group</th><th>files</th></tr>"]
    for s in doc.get("samples", []):
        parts.append(f"<tr><td>{e(s.get('sample'))}</td><td>{e(s.get('group'))}</td>"
                     f"<td>{e(', '.join(Path(str(f)).name for f in s.get('files', [])))}"
                     "</td></tr>")
    parts.append("</table><h2>Groups</h2><table><tr><th>group</th><th>metric</th><th>n</th>"
                 "<th>flagged</th><th>mean</th><th>SD</th><th>95 % interval</th><th>unit</th>"
                 "</tr>")
    for g in doc.get("groups", []):
        if g.get("key") is not None:
            continue
        parts.append(f"<tr><td>{e(g['group'])}</td><td>{e(g['metric'])}</td><td>{e(g['n'])}"
                     f"</td><td>{e(g.get('n_flagged'))}</td><td>{n(g.get('mean'))}</td>"
                     f"<td>{n(g.get('sd'))}</td><td>{n(g.get('ci95_low'))} – "
                     f"{n(g.get('ci95_high'))}</td><td>{e(g.get('unit'))}</td></tr>")
    parts.append(f"</table><h2>Differences from {e(doc.get('reference_group'))}</h2><table>"
                 "<tr><th>group</th><th>metric</th><th>difference</th>"
                 "<th>95 % interval (Welch)</th><th>unit</th></tr>")
    for d in doc.get("differences", []):
        if d.get("key") is not None:
            continue
        parts.append(f"<tr><td>{e(d['group'])}</td><td>{e(d['metric'])}</td>"
                     f"<td>{n(d.get('difference'))}</td><td>{n(d.get('ci95_low'))} – "
                     f"{n(d.get('ci95_high'))}</td><td>{e(d.get('unit'))}</td></tr>")
    parts.append("</table>")
    warnings = [*doc.get("warnings", []),
                *(f"{f.get('sample')}: {f.get('file')}: {f.get('error')}"
                  for f in doc.get("failures", []))]
    if warnings:
        parts.append(f"<h2>Warnings and flags ({len(warnings)})</h2><ul>"
                     + "".join(f"<li>{e(w)}</li>" for w in warnings) + "</ul>")
    parts.append("<h2>Figures</h2>")
    for name, fig in study_figures(ws, result).items():
        svg = to_svg(fig)
        svg = svg[svg.find("<svg"):]        # drop the XML prologue: inline in HTML
        parts.append(f"<figure>{svg}<figcaption>{e(name.replace('_', ' '))}</figcaption>"
                     "</figure>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto}"
             "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;"
             "padding:3px 8px}figure{display:inline-block;margin:1em}svg{max-width:100%;"
             "height:auto}")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>nasurf study report"
            f"</title><style>{style}</style></head><body>{''.join(parts)}</body></html>")
