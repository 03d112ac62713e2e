"""The FastAPI application: HTML pages, a JSON API, and the jobs that do the work.

``create_app(workspace_dir)`` builds an app over one :class:`Workspace`; ``nasurf serve``
runs it under uvicorn. Every page is rendered by Jinja2 with autoescaping, every figure is
drawn in the browser by plotly.js served from the installed ``plotly`` package, and every
state change needs the CSRF header the page's script sends (double-submit cookie).
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from jinja2 import Environment, PackageLoader, select_autoescape

from nasurf import __version__
from nasurf.errors import NasurfError, ValidationError
from nasurf.web import analyses, bodies, security
from nasurf.web.guard import CSRF_COOKIE, CSRF_HEADER, TOKEN_COOKIE, Guard  # noqa: F401 (kept importable from here)
from nasurf.web.jobs import JobRunner
from nasurf.web.workspace import NotFound, Workspace

STATIC = Path(__file__).parent / "static"
_UPLOAD_BATCH = 1 << 20  # bytes an upload hands its hashing/writing thread at a time


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _env() -> Environment:
    # the templates ship with the package: no stat() of the source on every page view
    env = Environment(loader=PackageLoader("nasurf.web", "templates"),
                      autoescape=select_autoescape(["html"]), auto_reload=False)
    env.filters["ts"] = lambda t: time.strftime("%Y-%m-%d %H:%M", time.localtime(t)) if t else ""
    env.filters["num"] = _num
    env.filters["size"] = _size
    return env


def _num(x: Any, fmt: str = "{:.4g}") -> str:
    try:
        if x is None or x != x:
            return "–"
        return fmt.format(float(x))
    except (TypeError, ValueError):
        return str(x)


def _size(n: int) -> str:
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} B"


def error_line(exc: BaseException) -> str:
    """The one line a user sees for an error (the same text the CLI prints)."""
    if isinstance(exc, NasurfError):
        return " ".join(str(exc).split("\n"))
    return f"internal error ({type(exc).__name__}); the server log has details"


def create_app(workspace_dir: str | Path, *, require_token: bool = False,
               max_upload_bytes: int | None = None, seed: bool = True,
               workers: int = 2, job_nice: int | None = None) -> FastAPI:
    """The workbench over the workspace in ``workspace_dir`` (created and seeded if new).

    ``job_nice``: CPU niceness of the background jobs' child processes (default
    :data:`nasurf.web.simproc.BACKGROUND_NICE`)."""
    if job_nice is not None:
        from nasurf.web import simproc

        simproc.BACKGROUND_NICE = int(job_nice)
    ws = Workspace(workspace_dir, **({"max_upload_bytes": max_upload_bytes}
                                     if max_upload_bytes else {}))
    recovery = ws.recover()
    warm = threading.Event()

    env = _env()

    def _warm() -> None:
        # compiled now, not by the first visitor of each page (tens of ms under load)
        for name in env.list_templates():
            env.get_template(name)
        analyses.warm_up()
        # start the fork server (it imports the readers, analyses and simulator once)
        from nasurf.web.simproc import warm_up as warm_children

        warm_children()
        warm.set()

    threading.Thread(target=_warm, name="nasurf-warm-up", daemon=True).start()
    runner = JobRunner(ws, bodies.BODIES, workers=workers)
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        runner.shutdown()

    app = FastAPI(title="nasurf workbench", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None, lifespan=lifespan)
    app.state.ws = ws
    app.state.runner = runner
    app.state.recovery = recovery
    app.state.require_token = require_token
    kb_lock = threading.Lock()
    app.state.kb_lock = kb_lock

    if seed and ws.get_meta("seeded") is None:
        runner.submit("seed", {})
        ws.set_meta("seeded", "submitted")

    def render(request: Request, name: str, **ctx: Any) -> HTMLResponse:
        ctx.update(request=request, version=__version__, workspace=str(ws.root),
                   csrf=request.state.csrf)
        return HTMLResponse(env.get_template(name).render(**ctx))

    # ------------------------------------------------------------ middleware
    app.add_middleware(Guard, check_token=lambda token: security.check_token(ws, token),
                       require_token=require_token)

    @app.exception_handler(NasurfError)
    async def nasurf_error(request: Request, exc: NasurfError):
        status = 404 if isinstance(exc, NotFound) else 403 if isinstance(exc, ForbiddenError) \
            else 400
        if "upload limit" in str(exc):
            status = 413
        line = ws.humanize(error_line(exc))
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": line}, status)
        return render(request, "error.html", message=line)

    @app.exception_handler(Exception)
    async def any_error(request: Request, exc: Exception):
        import logging

        logging.getLogger("nasurf.web").exception("unhandled error on %s", request.url.path)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": error_line(exc)}, 500)
        return HTMLResponse(env.get_template("error.html").render(
            message=error_line(exc), version=__version__, csrf=""), 500)

    # ------------------------------------------------------------ static
    @app.get("/static/plotly.min.js")
    def plotly_js():
        return FileResponse(_plotly_js(), media_type="text/javascript",
                            headers={"Cache-Control": "max-age=86400"})

    @app.get("/static/{name}")
    def static(name: str):
        allowed = {p.name: p for p in STATIC.iterdir()}
        if name not in allowed:
            raise NotFound(f"no static file {name!r}")
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return FileResponse(allowed[name], media_type=media)

    # ------------------------------------------------------------ login
    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request):
        return render(request, "login.html", error=None)

    @app.post("/login")
    async def login(request: Request):
        form = await request.form()
        token = str(form.get("token") or "")
        if security.check_token(ws, token) is None:
            return render(request, "login.html", error="unknown or revoked token")
        resp = RedirectResponse("/", 303)
        resp.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return resp

    # ------------------------------------------------------------ pages
    @app.get("/", response_class=HTMLResponse)
    def index(request: Request):
        return render(request, "index.html", files=ws.list_files()[:10],
                      samples=ws.list_samples(), jobs=runner.list(10), recovery=recovery,
                      results=_results_summary(ws, 10))

    @app.get("/files", response_class=HTMLResponse)
    def files_page(request: Request):
        return render(request, "files.html", files=ws.list_files(),
                      deleted=ws.list_files(deleted=True), samples=ws.list_samples(),
                      limit_mb=ws.max_upload_bytes / 1e6)

    @app.get("/files/{file_id}", response_class=HTMLResponse)
    def file_page(request: Request, file_id: int):
        row = ws.get_file(file_id)
        try:
            overview = analyses.file_overview(ws, row)
            error = None
        except NasurfError as exc:
            overview, error = None, ws.humanize(error_line(exc))
        return render(request, "file.html", f=row, overview=overview, error=error,
                      samples=ws.list_samples(), all_files=ws.list_files(),
                      results=[r for r in _results_summary(ws, 200)
                               if row["id"] in r["file_ids"]])

    @app.get("/samples", response_class=HTMLResponse)
    def samples_page(request: Request):
        return render(request, "samples.html", samples=ws.list_samples(),
                      deleted=ws.list_samples(deleted=True))

    @app.get("/results/{result_id}", response_class=HTMLResponse)
    def result_page(request: Request, result_id: int):
        from nasurf.web.figures import figure_names

        r = ws.get_result(result_id)
        return render(request, f"result_{r['kind']}.html", r=r, doc=r["doc"],
                      figures=figure_names(r["kind"], r["doc"]))

    @app.get("/jobs", response_class=HTMLResponse)
    def jobs_page(request: Request):
        return render(request, "jobs.html", jobs=runner.list(200))

    @app.get("/kb", response_class=HTMLResponse)
    def kb_page(request: Request):
        from nasurf.knowledge import vocabulary as voc

        return render(request, "kb.html", strategies=sorted(voc.STRATEGIES)
                      if hasattr(voc, "STRATEGIES") else [],
                      quantities=sorted(voc.QUANTITIES), classes=sorted(voc.MATERIAL_CLASSES))

    @app.get("/sim", response_class=HTMLResponse)
    def sim_page(request: Request):
        from nasurf.sim import list_materials, list_strategies

        return render(request, "sim.html", materials=list_materials(),
                      strategies=list_strategies(),
                      files=[f for f in ws.list_files()
                             if f.get("technique") not in ("PEIS", "GEIS", "EIS")])

    @app.get("/cv", response_class=HTMLResponse)
    def cv_page(request: Request):
        return render(request, "cv.html", files=ws.list_files())

    @app.get("/report", response_class=HTMLResponse)
    def report(request: Request, sample: int | None = None):
        from nasurf.web.report import workspace_report

        return HTMLResponse(workspace_report(ws, sample_id=sample),
                            headers={"Content-Disposition": 'attachment; filename="nasurf-'
                                     'report.html"'} if request.query_params.get("download")
                            else None)

    # ------------------------------------------------------------ API: files
    @app.post("/api/files")
    async def upload(request: Request, name: str = "upload"):
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > ws.max_upload_bytes:
            return JSONResponse({"error": f"{security_name(name)}: file is larger than the "
                                 f"upload limit of {ws.max_upload_bytes / 1e6:.0f} MB"}, 413)
        import hashlib

        import anyio

        # Stream to a temp file, hashing as the chunks arrive (at most one batch held in
        # memory). Hashing and writing run in a worker thread a batch at a time: both let
        # go of the interpreter lock, so on the event loop they would stall every other
        # request (twenty concurrent 2.4 MB uploads: ~10 ms each), in a thread they run
        # beside it. The last batch, the commit and the temp file's removal share one
        # thread hop: under load each hop waits for the interpreter lock.
        tmp = ws.new_temp()
        digest = hashlib.sha256()
        size = 0
        batch = bytearray()
        fh = open(tmp, "wb")  # noqa: SIM115 (closed in the worker thread or below)

        def sink(data: bytes | bytearray) -> None:
            digest.update(data)
            fh.write(data)

        def finish(data: bytearray) -> tuple[dict, bool]:
            try:
                sink(data)
                fh.close()
                return ws.commit_temp(tmp, digest.hexdigest(), size, name)
            finally:
                tmp.unlink(missing_ok=True)  # a duplicate's bytes (the new ones are renamed)

        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > ws.max_upload_bytes:
                    return JSONResponse({"error": f"{security_name(name)}: file is larger "
                                         f"than the upload limit of "
                                         f"{ws.max_upload_bytes / 1e6:.0f} MB"}, 413)
                batch += chunk
                if len(batch) >= _UPLOAD_BATCH:
                    await anyio.to_thread.run_sync(sink, batch)
                    batch = bytearray()
            row, created = await anyio.to_thread.run_sync(finish, batch)
        finally:
            if not fh.closed:  # refused or broken off before the commit
                fh.close()
                tmp.unlink(missing_ok=True)
        return JSONResponse({"file": _public_file(row), "created": created},
                            201 if created else 200)

    @app.get("/api/files")
    def api_files():
        return {"files": [_public_file(r) for r in ws.list_files()]}

    @app.get("/api/files/{file_id}")
    def api_file(file_id: int):
        return {"file": _public_file(ws.get_file(file_id))}

    @app.get("/api/files/{file_id}/overview")
    def api_overview(file_id: int):
        return analyses.file_overview(ws, ws.get_file(file_id))

    @app.get("/api/files/{file_id}/content")
    def api_content(file_id: int):
        row = ws.get_file(file_id)
        return FileResponse(ws.blob_path(row["sha256"]), media_type="application/octet-stream",
                            headers=_disposition(row["name"]))

    @app.get("/api/files/{file_id}/bdf")
    def api_bdf(file_id: int):
        row = ws.get_file(file_id)
        data = analyses.load(ws, row)
        buf = io.StringIO()
        data.data.to_csv(buf, index=False)
        return Response(buf.getvalue(), media_type="text/csv",
                        headers=_disposition(Path(row["name"]).stem + ".bdf.csv"))

    @app.delete("/api/files/{file_id}")
    def api_delete_file(file_id: int):
        ws.set_deleted("files", file_id, True)
        return {"deleted": file_id, "undo": f"/api/files/{file_id}/restore"}

    @app.post("/api/files/{file_id}/restore")
    def api_restore_file(file_id: int):
        ws.set_deleted("files", file_id, False)
        return {"restored": file_id}

    @app.post("/api/files/{file_id}/sample")
    async def api_assign(file_id: int, request: Request):
        body = await _json(request)
        sid = body.get("sample_id")
        ws.assign_file(file_id, int(sid) if sid not in (None, "") else None)
        return {"file": _public_file(ws.get_file(file_id))}

    # ------------------------------------------------------------ API: samples
    @app.get("/api/samples")
    def api_samples():
        return {"samples": ws.list_samples()}

    @app.post("/api/samples")
    async def api_add_sample(request: Request):
        body = await _json(request)
        return JSONResponse({"sample": ws.add_sample(body, replace=bool(body.get("replace")))},
                            201)

    @app.post("/api/samples/sheet")
    async def api_sample_sheet(request: Request, name: str = "samples.csv"):
        raw = await request.body()
        if len(raw) > ws.max_upload_bytes:
            raise ValidationError("sample sheet larger than the upload limit")
        from nasurf.web.sheets import import_sheet

        return await _in_thread(import_sheet, ws, raw, security_name(name))

    @app.delete("/api/samples/{sample_id}")
    def api_delete_sample(sample_id: int):
        ws.set_deleted("samples", sample_id, True)
        return {"deleted": sample_id, "undo": f"/api/samples/{sample_id}/restore"}

    @app.post("/api/samples/{sample_id}/restore")
    def api_restore_sample(sample_id: int):
        ws.set_deleted("samples", sample_id, False)
        return {"restored": sample_id}

    # ------------------------------------------------------------ API: jobs/results
    @app.post("/api/analyses/{kind}")
    async def api_analyse(kind: str, request: Request, wait: float = 0.0):
        body = await _json(request)
        if kind not in bodies.PUBLIC:
            raise NotFound(f"no analysis called {kind!r}")

        def start() -> tuple[int | None, int | None]:
            # SQLite work (and its lock waits) stays off the event loop
            key, cached = bodies.lookup(ws, kind, body)   # also checks the options
            if cached is not None:
                return None, cached
            return runner.submit(kind, body, key=key), None

        jid, cached = await _in_thread(start)
        if cached is not None:
            return JSONResponse({"job": None, "status": "done", "result_id": cached,
                                 "cached": True}, 200)
        import anyio

        if wait > 0:
            await anyio.to_thread.run_sync(runner.wait, jid, min(wait, 60.0))
        job = await _in_thread(runner.get, jid)
        return JSONResponse({"job": jid, "status": job["status"], "result_id": job["result_id"],
                             "message": job["message"], "cached": False}, 202)

    @app.get("/api/jobs")
    def api_jobs():
        return {"jobs": runner.list(100)}

    @app.get("/api/jobs/{job_id}")
    def api_job(job_id: int):
        return runner.get(job_id)

    @app.post("/api/jobs/{job_id}/cancel")
    def api_cancel(job_id: int):
        return runner.cancel(job_id)

    @app.get("/api/results/{result_id}")
    def api_result(result_id: int):
        return ws.get_result(result_id)

    @app.get("/api/results/{result_id}/download.{fmt}")
    def api_download(result_id: int, fmt: str):
        from nasurf.web.downloads import result_download

        r = ws.get_result(result_id)
        body, media, filename = result_download(r, fmt)
        return Response(body, media_type=media, headers=_disposition(filename))

    @app.get("/api/results/{result_id}/figure/{name}.{fmt}")
    async def api_result_figure(request: Request, result_id: int, name: str, fmt: str):
        """One figure of a result as PDF, SVG or 600 dpi PNG (``write_figure``)."""
        r = ws.get_result(result_id)
        if r["kind"] == "study":
            from nasurf.web.groups import FIGURE_FORMATS, study_figure_file

            body = await _in_thread(study_figure_file, ws, r, name, fmt)
            return Response(body, media_type=FIGURE_FORMATS[fmt],
                            headers=_disposition(f"nasurf-study-{result_id}-{name}.{fmt}"))
        from nasurf.web import figures

        figures._check(name, fmt, figures.figure_names(r["kind"], r["doc"]))
        options = dict(r["options"])
        if request.query_params.get("metric"):      # a sweep's figure: the chosen metric
            metric = request.query_params["metric"]
            if metric not in r["doc"].get("metrics", []):
                raise ValidationError(f"no metric {metric!r} in this sweep", field="metric")
            options["figure_metric"] = metric
        slim = {"kind": r["kind"], "doc": r["doc"], "inputs": r["inputs"], "options": options}
        body = await _in_child(figures.result_figure_file, (str(ws.blobs), slim, name, fmt))
        return Response(body, media_type=figures.FORMATS[fmt],
                        headers=_disposition(f"nasurf-{r['kind']}-{result_id}-{name}.{fmt}"))

    @app.get("/api/kb/figure/{name}.{fmt}")
    async def api_kb_figure(request: Request, name: str, fmt: str):
        """The knowledge-base rate or cycling map with the page's filters, as a file."""
        from nasurf.web import figures
        from nasurf.web.kb import query_kwargs

        figures._check(name, fmt, figures.KB_FIGURES)
        params = dict(request.query_params)
        query_kwargs(params)                        # a bad filter: one line, no child
        body = await _in_child(figures.kb_figure_file, (str(ws.kb_path), params, name, fmt))
        return Response(body, media_type=figures.FORMATS[fmt],
                        headers=_disposition(f"nasurf-kb-{name}.{fmt}"))

    @app.get("/results/{result_id}/report")
    async def study_report_page(request: Request, result_id: int):
        from nasurf.web.groups import study_report

        r = ws.get_result(result_id)
        if r["kind"] != "study":
            raise ValidationError("a study report is made from a group comparison result",
                                  field="result")
        text = await _in_thread(study_report, ws, r)
        return HTMLResponse(text, headers={"Content-Disposition": 'attachment; filename="'
                                           f'nasurf-study-{result_id}.html"'}
                            if request.query_params.get("download") else None)

    # ------------------------------------------------------------ API: knowledge base
    @app.get("/api/kb")
    def api_kb(request: Request):
        from nasurf.web.kb import kb_records

        with kb_lock:
            return kb_records(ws, dict(request.query_params))

    @app.post("/api/kb/records")
    async def api_kb_add(request: Request):
        from nasurf.web.kb import kb_add

        body = await _json(request)
        with kb_lock:
            return JSONResponse(await _in_thread(kb_add, ws, body), 201)

    @app.get("/api/kb/check")
    def api_kb_check():
        from nasurf.web.kb import kb_findings

        with kb_lock:
            return kb_findings(ws)

    # ------------------------------------------------------------ tokens (admin only)
    def _admin(request: Request) -> None:
        # the admin is whoever sits at the server's machine: a request from a loopback
        # address (remote users, even with a valid token, cannot mint or revoke tokens)
        host = request.client.host if request.client else ""
        if not security.is_loopback(host):
            raise ForbiddenError("token management is only available on the server's own "
                            "machine (a loopback address)")

    @app.get("/tokens", response_class=HTMLResponse)
    def tokens_page(request: Request):
        _admin(request)
        return render(request, "tokens.html", tokens=security.list_tokens(ws))

    @app.get("/api/tokens")
    def api_tokens(request: Request):
        _admin(request)
        return {"tokens": security.list_tokens(ws)}

    @app.post("/api/tokens")
    async def api_token_create(request: Request):
        _admin(request)
        body = await _json(request)
        name = str(body.get("name") or "")
        token = security.create_token(ws, name)
        # shown once: only the hash is stored
        return JSONResponse({"name": name.strip(), "token": token}, 201,
                            headers={"Cache-Control": "no-store"})

    @app.delete("/api/tokens/{name:path}")
    def api_token_revoke(request: Request, name: str):
        _admin(request)
        if not security.revoke_token(ws, name):
            raise NotFound(f"no active token named {name!r}")
        return {"revoked": name}

    @app.get("/api/version")
    def api_version():
        return {"version": __version__, "workspace": str(ws.root), "warm": warm.is_set()}

    return app


class ForbiddenError(NasurfError):
    """A request this client may not make (one readable line, HTTP 403)."""


def security_name(name: str) -> str:
    from nasurf.web.workspace import sanitize_display_name

    return sanitize_display_name(name)


async def _in_thread(fn, *args):
    import anyio

    return await anyio.to_thread.run_sync(lambda: fn(*args))


async def _in_child(fn, args: tuple):
    """``fn(*args, progress)`` in a fork-server child at the server's priority (a request
    waits for it; matplotlib and numerics would hold the server's interpreter lock)."""
    import anyio

    from nasurf.web.simproc import run_cancellable

    return await anyio.to_thread.run_sync(
        lambda: run_cancellable(fn, args, lambda fraction, message="": None,
                                background=False))


async def _json(request: Request) -> dict:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise ValidationError("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ValidationError("request body must be a JSON object")
    return body


def _public_file(row: dict) -> dict:
    keep = ("id", "sha256", "name", "size", "format", "technique", "sample_id", "uploaded_at",
            "meta")
    return {k: row.get(k) for k in keep}


def _disposition(filename: str) -> dict[str, str]:
    ascii_name = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                         for c in filename) or "download"
    quoted = urllib.parse.quote(filename, safe="")
    return {"Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                                   f"filename*=UTF-8''{quoted}"}


def _results_summary(ws: Workspace, limit: int) -> list[dict]:
    out = []
    for r in ws.list_results(limit):
        inputs = json.loads(r["inputs_json"])
        out.append({"id": r["id"], "kind": r["kind"], "created_at": r["created_at"],
                    "file_ids": inputs.get("file_ids", []), "label": inputs.get("label", "")})
    return out
