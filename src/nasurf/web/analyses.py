"""The analyses the workbench runs, as plain functions over a :class:`Workspace`.

Each returns a JSON-able document built from the library's own ``to_dict()`` output (so
fields added there appear here) plus the series the page plots. Nothing here computes a
number itself: capacities, b-values, D and fits all come from :mod:`nasurf.analysis`.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from nasurf.errors import ValidationError
from nasurf.jsonio import to_jsonable
from nasurf.web.workspace import JsonText, Workspace

_CACHE_SIZE = 16
_cache: OrderedDict[tuple, Any] = OrderedDict()
_cache_lock = threading.Lock()
_read_locks: dict[str, threading.Lock] = {}


def load(ws: Workspace, file_row: dict, *, active_mass_g: float | None = None,
         area_cm2: float | None = None):
    """Read a stored file (by content; the blob has no extension) with a small LRU cache.

    The table comes from the content store's parsed tables (:mod:`nasurf.web.parsed`): a
    file is parsed once, at upload, and later reads load that table. Concurrent requests
    for the same content wait for one read instead of reading it once each.
    """
    from nasurf.web.parsed import read_parsed

    key = (file_row["sha256"], active_mass_g, area_cm2)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        lock = _read_locks.setdefault(file_row["sha256"], threading.Lock())
    with lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        ws.blob_path(file_row["sha256"])  # checks it is a content hash
        data = read_parsed(ws.blobs, file_row["sha256"], active_mass_g=active_mass_g,
                           area_cm2=area_cm2)
        # the reader names the blob; the user knows the file by its upload name
        from dataclasses import replace

        data = type(data)(data.data, replace(data.metadata, source=file_row["name"]))
        with _cache_lock:
            _cache[key] = data
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
        return data


def warm_up() -> None:
    """Import the readers and analyses once at start-up, so the first upload does not pay
    for importing scipy.signal and friends (seconds on a loaded machine)."""
    import nasurf.analysis.cycling
    import nasurf.analysis.differential_capacity
    import nasurf.io  # noqa: F401


def _thin(n: int, max_points: int) -> slice:
    return slice(None, None, max(1, int(np.ceil(n / max_points))))


_overviews: OrderedDict[str, dict] = OrderedDict()


def html_json(doc: Any) -> str:
    """JSON safe to place inside a <script type="application/json"> element."""
    import json

    text = json.dumps(doc, allow_nan=False)
    return (text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("'", "\\u0027"))


def file_overview(ws: Workspace, file_row: dict, *, max_points: int = 4000) -> dict[str, Any]:
    """Metadata, steps, warnings and quick-look series of one stored file (cached by content)."""
    key = file_row["sha256"]
    with _cache_lock:
        if key in _overviews:
            return _overviews[key]
    doc = _file_overview(ws, file_row, max_points)
    doc["html_json"] = html_json(doc)
    with _cache_lock:
        _overviews[key] = doc
        while len(_overviews) > 64:
            _overviews.popitem(last=False)
    return doc


def _file_overview(ws: Workspace, file_row: dict, max_points: int) -> dict[str, Any]:
    data = load(ws, file_row)
    doc: dict[str, Any] = {"summary": data.summary(), "plot": None, "steps": None}
    d = data.data
    if data.is_impedance:
        s = _thin(len(d), max_points)
        doc["plot"] = {"kind": "nyquist", "x": d["Z Real / Ohm"].to_numpy()[s],
                       "y": (-d["Z Imag / Ohm"]).to_numpy()[s],
                       "xlabel": "Z' (Ω)", "ylabel": "−Z'' (Ω)"}
    elif data.is_time_series:
        s = _thin(len(d), max_points)
        doc["plot"] = {"kind": "time", "x": (d["Test Time / s"].to_numpy()[s] / 3600.0),
                       "y": d["Voltage / V"].to_numpy()[s],
                       "y2": d["Current / A"].to_numpy()[s] * 1e3,
                       "xlabel": "time (h)", "ylabel": "E (V)", "y2label": "I (mA, anodic +)"}
        if "Step Index / 1" in d:
            steps = d.groupby((d["Step Index / 1"].diff() != 0).cumsum())
            rows = []
            for _, g in list(steps)[:500]:
                rows.append({"step": int(g["Step Index / 1"].iloc[0]), "rows": len(g),
                             "t_start_s": float(g["Test Time / s"].iloc[0]),
                             "duration_s": float(g["Test Time / s"].iloc[-1]
                                                 - g["Test Time / s"].iloc[0]),
                             "mean_current_A": float(g["Current / A"].mean())})
            doc["steps"] = rows
    return to_jsonable(doc)


CYCLING_OPTIONS = {"mass_mg": None, "area_cm2": None, "reference": "after_formation",
                   "formation_cycles": None, "cycle_mode": "sodiation_desodiation",
                   "basis_mAh_g": None, "exclude_cv": False, "capacity_source": "current"}


def optional_positive(options: dict, key: str) -> float | None:
    """A form field that is empty (None) or a finite number > 0; anything else is refused
    naming the field (every page's numeric options go through here)."""
    v = options.get(key)
    if v in (None, ""):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValidationError(f"expected a number, got {v!r}", field=key) from None
    if not (math.isfinite(x) and x > 0):
        raise ValidationError(f"must be > 0, got {v!r}", field=key)
    return x


def normalise_cycling_options(options: dict) -> dict:
    out = dict(CYCLING_OPTIONS)
    out.update({k: v for k, v in options.items() if k in CYCLING_OPTIONS and v not in ("",)})
    for k in ("mass_mg", "area_cm2", "basis_mAh_g"):
        out[k] = optional_positive(out, k)
    if out["formation_cycles"] not in (None, ""):
        try:
            out["formation_cycles"] = int(out["formation_cycles"])
        except (TypeError, ValueError):
            raise ValidationError("expected a whole number", field="formation_cycles") from None
    out["exclude_cv"] = out["exclude_cv"] in (True, "true", "on", "1", 1)
    return out


def cycling(ws: Workspace, file_row: dict, options: dict) -> dict[str, Any]:
    """Galvanostatic summary of one file (same call as ``nasurf analyze cycling``)."""
    opts = normalise_cycling_options(options)
    mass_g = opts["mass_mg"] / 1e3 if opts["mass_mg"] else None
    data = load(ws, file_row, active_mass_g=mass_g, area_cm2=opts["area_cm2"])
    return cycling_document(data, opts, file_row)


def _floats(a: Any) -> list[float | None]:
    """A float array as a JSON-ready list (non-finite -> None), without a per-element walk
    through :func:`to_jsonable` (tens of ms for a result's few thousand points)."""
    a = np.asarray(a, dtype=float)
    out = a.tolist()
    bad = np.flatnonzero(~np.isfinite(a))
    for k in bad.tolist():
        out[k] = None
    return out


def cycling_document(data: Any, options: dict, file_row: dict) -> dict[str, Any]:
    """The stored cycling result of a read file: ``cycling_summary`` plus the profile and
    dQ/dV series the page plots."""
    from nasurf.analysis.cycling import cycling_summary, voltage_profiles
    from nasurf.analysis.differential_capacity import dqdv

    opts = normalise_cycling_options(options)
    mass_g = opts["mass_mg"] / 1e3 if opts["mass_mg"] else None
    if not data.is_time_series:
        raise ValidationError(
            f"not a time series (technique {data.metadata.technique or 'unknown'}); "
            "galvanostatic analysis needs time, voltage and current", file=file_row["name"])
    res = cycling_summary(
        data, active_mass_g=mass_g, area_cm2=opts["area_cm2"], reference=opts["reference"],
        formation_cycles=opts["formation_cycles"], cycle_mode=opts["cycle_mode"],
        basis_mAh_g=opts["basis_mAh_g"], include_cv_steps=not opts["exclude_cv"],
        capacity_source=opts["capacity_source"])
    doc = to_jsonable(res.to_dict())
    cycles = sorted(int(c) for c in res.cycles["cycle"])
    shown = cycles if len(cycles) <= 6 else [*cycles[:3], *cycles[-3:]]
    series: dict[str, Any] = {}
    try:
        prof = voltage_profiles(data, active_mass_g=res.active_mass_g, cycles=shown,
                                cycle_mode=opts["cycle_mode"])
        curves = []
        for (cyc, proc), g in prof.groupby(["cycle", "process"]):
            s = _thin(len(g), 400)
            curves.append({"cycle": int(cyc), "process": str(proc),
                           "capacity": _floats(g["capacity"].to_numpy()[s]),
                           "voltage_V": _floats(g["voltage_V"].to_numpy()[s])})
        series["profiles"] = curves
    except ValidationError as exc:
        doc.setdefault("warnings", []).append(f"voltage profiles skipped: {exc.reason}")
    try:
        dq = dqdv(data, active_mass_g=res.active_mass_g, cycles=shown,
                  cycle_mode=opts["cycle_mode"])
        # columns, not records: the page plots a few thousand points per figure
        t = dq.table.iloc[_thin(len(dq.table), 2500)]
        series["dqdv"] = {"cycle": [int(c) for c in t["cycle"].tolist()],
                          "branch": [str(b) for b in t["branch"].tolist()],
                          "voltage_V": _floats(t["voltage_V"].to_numpy()),
                          "dqdv": _floats(t["dqdv"].to_numpy())}
    except ValidationError as exc:
        doc.setdefault("warnings", []).append(f"dQ/dV skipped: {exc.reason}")
    doc["series"] = series
    doc["reader_warnings"] = list(data.metadata.warnings)
    doc["file"] = {"id": file_row["id"], "name": file_row["name"], "sha256": file_row["sha256"]}
    doc["options"] = opts
    return doc


def _rename_files(obj: Any, names: dict[str, str]) -> Any:
    if isinstance(obj, dict):
        return {k: _rename_files(v, names) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rename_files(v, names) for v in obj]
    if isinstance(obj, str):
        for blob, name in names.items():
            obj = obj.replace(blob, name)
    return obj


def cv_set(ws: Workspace, rows: list[dict], options: dict) -> dict[str, Any]:
    """b-values, b(E), Dunn and Trasatti of CVs at several scan rates (``analyze cv``)."""
    from nasurf.analysis.cli_cv import run_cv

    opts = {k: options.get(k) for k in ("mass_mg", "scan_rates", "cycle", "ru_ohm", "baseline",
                                         "window", "vertex_exclusion_mV")}
    vex = opts.get("vertex_exclusion_mV")
    try:
        vex = float(vex) if vex not in (None, "") else None
    except (TypeError, ValueError):
        raise ValidationError(f"expected a number, got {vex!r}",
                              field="vertex_exclusion_mV") from None
    mass = optional_positive(opts, "mass_mg")
    cycle = int(opts["cycle"]) if opts.get("cycle") not in (None, "") else None
    # the kept tables (web.parsed), read with the arguments ``run_cv`` would read the
    # files with (the mass), instead of parsing every CV file again
    datas = [load(ws, r, active_mass_g=mass / 1e3 if mass else None) for r in rows]
    doc = run_cv(datas, mass_mg=mass, scan_rates=opts.get("scan_rates") or None,
                 cycle=cycle, ru_ohm=optional_positive(opts, "ru_ohm"),
                 baseline=opts.get("baseline") or "none", window=opts.get("window") or None,
                 vertex_exclusion_mV=vex)
    names = {str(ws.blob_path(r["sha256"])): r["name"] for r in rows}
    doc = _rename_files(to_jsonable(doc), names)
    doc["files"] = [{"id": r["id"], "name": r["name"]} for r in rows]
    doc["options"] = opts
    return doc


def gitt(ws: Workspace, row: dict, options: dict) -> dict[str, Any]:
    """D vs state of charge from a GITT file (``analyze gitt``)."""
    from nasurf.analysis.cli_gitt import run_gitt

    kw = {k: optional_positive(options, k) for k in ("mass_mg", "molar_mass", "density",
                                              "molar_volume", "area_cm2", "radius_um",
                                              "length_um")}
    # the kept table (web.parsed), read with the mass ``run_gitt`` would read it with
    data = load(ws, row, active_mass_g=kw["mass_mg"] / 1e3 if kw["mass_mg"] else None)
    doc = run_gitt(ws.blob_path(row["sha256"]), area_kind=options.get("area_kind") or
                   "geometric", data=data, **kw)
    doc = _rename_files(to_jsonable(doc), {str(ws.blob_path(row["sha256"])): row["name"]})
    doc["options"] = {**kw, "area_kind": options.get("area_kind") or "geometric"}
    return doc


def eis(ws: Workspace, row: dict, options: dict) -> dict[str, Any]:
    """Equivalent-circuit fit with intervals, lin-KK, R_ct (``analyze eis``)."""
    from nasurf.analysis.eis import Circuit, analyze_eis

    circuit = (options.get("circuit") or "R0-p(R1,CPE1)-W1").strip()
    circ = Circuit(circuit)
    data = load(ws, row)
    if not data.is_impedance:
        raise ValidationError(f"the file holds no impedance data (technique "
                              f"{data.metadata.technique}); expected frequency and Z columns",
                              file=row["name"])
    spectrum = options.get("spectrum") or "all"
    spec = None if spectrum == "all" else int(spectrum)
    res = analyze_eis(data, circ, spectrum=spec, fmin=optional_positive(options, "fmin"),
                      fmax=optional_positive(options, "fmax"),
                      area_cm2=optional_positive(options, "area_cm2"))
    doc = to_jsonable(res.to_dict())
    d = data.data
    doc["measured"] = {"f": d["Frequency / Hz"].to_numpy(), "re": d["Z Real / Ohm"].to_numpy(),
                       "im": d["Z Imag / Ohm"].to_numpy()}
    fits = []
    for a in res.spectra:
        fit = a.fit
        fits.append({"spectrum": a.index, "f": fit.frequencies_Hz, "re": fit.Z_fit.real,
                     "im": fit.Z_fit.imag})
    doc["fit_curves"] = to_jsonable(fits)
    doc["measured"] = to_jsonable(doc["measured"])
    doc["file"] = {"id": row["id"], "name": row["name"]}
    doc["options"] = {"circuit": circuit, "spectrum": spectrum}
    return doc


class BlobStore:
    """The read-only part of a :class:`Workspace` an analysis needs (``blob_path``), small
    enough to hand to a child process (a Workspace holds database connections)."""

    def __init__(self, blobs: Path) -> None:
        self.blobs = Path(blobs)

    def blob_path(self, sha256: str) -> Path:
        return self.blobs / sha256[:2] / sha256


def run_analysis(blobs: str, kind: str, rows: list[dict], options: dict,
                 progress: Any) -> dict[str, Any]:
    """One file analysis, run in a child process (:mod:`nasurf.web.simproc`): the parsing
    and numerics hold the interpreter lock for hundreds of milliseconds, which would stall
    every request thread of the server if they ran in it."""
    store: Any = BlobStore(Path(blobs))
    if kind == "cycling":
        return cycling(store, rows[0], options)
    if kind == "cv":
        return cv_set(store, rows, options)
    if kind == "gitt":
        return gitt(store, rows[0], options)
    if kind == "eis":
        return eis(store, rows[0], options)
    raise ValidationError(f"unknown analysis {kind!r}", field="kind")


def run_analysis_json(blobs: str, kind: str, rows: list[dict], options: dict,
                      progress: Any) -> JsonText:
    """:func:`run_analysis` serialised to its stored JSON text in the child, so the server
    only writes the text (serialising a cycling result holds the lock for tens of ms)."""
    import json

    return JsonText(json.dumps(run_analysis(blobs, kind, rows, options, progress),
                               allow_nan=False))


def describe_blob(blobs: str, sha: str, name: str, progress: Any) -> dict[str, Any]:
    """Detected format, technique, rows, instrument and reader warnings of a stored file,
    or its one-line error (run in a child process at upload)."""
    from nasurf.errors import NasurfError
    from nasurf.io import detect_format

    store: Any = BlobStore(Path(blobs))
    meta: dict[str, Any] = {}
    try:
        meta["format"] = detect_format(store.blob_path(sha))
        data = load(store, {"sha256": sha, "name": name})
    except NasurfError as exc:
        return {"format": None, "error": str(exc)}
    except Exception as exc:  # a reader bug must not lose the upload; flag it instead
        return {"format": None, "error": f"could not be read ({type(exc).__name__}: "
                                         f"{exc})"[:500]}
    md = data.metadata
    meta.update(technique=md.technique, rows=len(data.data), instrument=md.instrument,
                warnings=list(md.warnings))
    return to_jsonable(meta)
