"""The job bodies: what each analysis or simulation job does, and its cache identity.

A job's result is stored with its inputs (file ids *and* content hashes), options and the
nasurf version; the same request again reopens the stored result instead of recomputing
(:func:`cached`). Options are normalised first so equal requests have equal keys.
"""

from __future__ import annotations

from typing import Any

from nasurf.errors import ValidationError
from nasurf.web import analyses
from nasurf.web.jobs import Progress
from nasurf.web.workspace import Workspace


def _file_ids(params: dict, *, at_least: int = 1, at_most: int | None = None) -> list[int]:
    ids = params.get("file_ids")
    if ids is None and params.get("file_id") is not None:
        ids = [params["file_id"]]
    try:
        ids = [int(i) for i in (ids or [])]
    except (TypeError, ValueError):
        raise ValidationError("file ids must be whole numbers", field="file_ids") from None
    if len(ids) < at_least:
        raise ValidationError(f"choose at least {at_least} file(s)", field="file_ids")
    if at_most is not None and len(ids) > at_most:
        raise ValidationError(f"choose at most {at_most} file(s)", field="file_ids")
    return ids


def _inputs(ws: Workspace, ids: list[int]) -> dict:
    rows = [ws.get_file(i) for i in ids]
    return {"file_ids": ids, "sha256": [r["sha256"] for r in rows],
            "label": ", ".join(r["name"] for r in rows)[:300]}


def _options(params: dict) -> dict:
    opts = params.get("options") or {}
    if not isinstance(opts, dict):
        raise ValidationError("options must be an object", field="options")
    return opts


def _prepare(ws: Workspace, kind: str, params: dict) -> tuple[dict, dict]:
    opts = _options(params)
    if kind == "cycling":
        return _inputs(ws, _file_ids(params, at_most=1)), \
            analyses.normalise_cycling_options(opts)
    if kind == "cv":
        return _inputs(ws, _file_ids(params, at_least=1, at_most=20)), dict(sorted(opts.items()))
    if kind in ("gitt", "eis"):
        return _inputs(ws, _file_ids(params, at_most=1)), dict(sorted(opts.items()))
    if kind == "sim_compare":
        from nasurf.web.simulation import normalise_compare

        inputs: dict = {"label": "strategy comparison"}
        if opts.get("measured_file_id") not in (None, ""):
            # the measured file overlaid counts by its content, like an analysis input
            try:
                fid = int(opts["measured_file_id"])
            except (TypeError, ValueError):
                raise ValidationError("expected a file id", field="measured_file_id") from None
            inputs = _inputs(ws, [fid])
            inputs["label"] = f"strategy comparison with {inputs['label']}"[:300]
        return inputs, normalise_compare(opts)
    if kind == "sim_fit":
        from nasurf.web.simulation import normalise_fit

        return _inputs(ws, _file_ids(params, at_most=1)), normalise_fit(opts)
    if kind == "sim_validate":
        from nasurf.web.simulation import normalise_validate

        # the table depends on the knowledge base, which users add records to
        return {"label": "literature validation", "kb_records": _kb_stamp(ws)}, \
            normalise_validate(opts)
    if kind == "sim_sweep":
        from nasurf.web.simulation import normalise_sweep

        return {"label": "parameter sweep"}, normalise_sweep(opts)
    if kind == "study":
        from nasurf.web.groups import study_inputs

        return study_inputs(ws), {}
    if kind == "seed":
        return {"label": "demonstration study"}, {}
    raise ValidationError(f"unknown analysis {kind!r}", field="kind")


def cached(ws: Workspace, kind: str, params: dict) -> int | None:
    """The stored result of an identical request, if any; raises the one-line error for bad
    ids or options before anything is queued."""
    inputs, options = _prepare(ws, kind, params)
    return ws.cached_result(kind, inputs, options)


def lookup(ws: Workspace, kind: str, params: dict) -> tuple[str, int | None]:
    """(stored-result key, id of the stored result or None) of a request, with one check
    of its ids and options (the one-line error for bad ones, before anything is queued)."""
    from nasurf.web.workspace import result_key

    inputs, options = _prepare(ws, kind, params)
    key = result_key(kind, inputs, options)
    return key, ws.cached_result_by_key(key)


def identity(ws: Workspace, kind: str, params: dict) -> str:
    """The stored-result key of a request (equal requests, equal keys)."""
    from nasurf.web.workspace import result_key

    inputs, options = _prepare(ws, kind, params)
    return result_key(kind, inputs, options)


def _body(kind: str):
    def run(ws: Workspace, params: dict, progress: Progress) -> tuple[dict, dict, dict]:
        inputs, options = _prepare(ws, kind, params)
        rows = [ws.get_file(i) for i in inputs.get("file_ids", [])]
        progress(0.05, "reading")
        doc: Any
        if kind in ("cycling", "cv", "gitt", "eis"):
            from nasurf.web.simproc import run_cancellable

            doc = run_cancellable(analyses.run_analysis_json,
                                  (str(ws.blobs), kind, rows, options), progress)
        elif kind.startswith("sim_"):
            from nasurf.web import simulation
            from nasurf.web.simproc import run_cancellable

            if kind == "sim_compare":
                measured = (str(ws.blobs), rows[0]) if rows else None
                doc = run_cancellable(simulation.compare, (options,), progress,
                                      kwargs={"measured": measured})
            elif kind == "sim_fit":
                doc = run_cancellable(simulation.fit, (str(ws.blob_path(rows[0]["sha256"])),
                                                       rows[0]["name"], options), progress)
                doc["file"] = {"id": rows[0]["id"], "name": rows[0]["name"]}
            elif kind == "sim_validate":
                doc = run_cancellable(simulation.validate, (str(ws.kb_path), options),
                                      progress)
            else:
                doc = run_cancellable(simulation.sweep_run, (options,), progress)
        elif kind == "study":
            from nasurf.web.groups import run_study

            doc = run_study(ws, inputs, progress)
        elif kind == "seed":
            from nasurf.web.seed import seed_workspace

            doc = seed_workspace(ws, progress)
        else:  # pragma: no cover - _prepare refused it already
            raise ValidationError(f"unknown analysis {kind!r}")
        return inputs, options, doc

    return run


def _kb_stamp(ws: Workspace) -> str:
    """Changes whenever a record is added (so a stored validation is not reused stale)."""
    import sqlite3

    if not ws.kb_path.exists():
        return "empty"
    con = sqlite3.connect(f"file:{ws.kb_path}?mode=ro", uri=True)
    try:
        names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        counts = []
        for n in sorted(names):
            rows = con.execute('SELECT count(*) FROM "' + n.replace('"', '""') + '"')
            counts.append(f"{n}:{rows.fetchone()[0]}")
    finally:
        con.close()
    return ",".join(counts)


PUBLIC = ("cycling", "cv", "gitt", "eis", "sim_compare", "sim_fit", "sim_validate",
          "sim_sweep", "study")
BODIES = {k: _body(k) for k in (*PUBLIC, "seed")}
