"""A study of the workspace's samples: :func:`nasurf.samples.analyze_samples` on their files.

The workspace samples (with a mass and at least one file) become a
:class:`~nasurf.samples.SampleSheet` whose files are the stored blobs; the study's
``to_dict()`` (samples, groups, differences, warnings) is the stored result, so the group
statistics are exactly those of ``nasurf analyze samples``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nasurf.clikit import to_jsonable
from nasurf.errors import ValidationError
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


def run_study(ws: Workspace, inputs: dict[str, Any], progress) -> dict[str, Any]:
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
    progress(0.1, f"analysing {sum(len(s.files) for s in chosen)} files")
    study = analyze_samples(sheet)
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
