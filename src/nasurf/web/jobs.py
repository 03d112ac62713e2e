"""Background jobs: analyses and simulations run on a worker pool, never on a request.

Each job is a row in the workspace (status, progress, message, result id), so a page
reload or a second browser sees the same state, and a server restart marks the jobs it
was running as ``interrupted`` (see :meth:`Workspace.recover`). Cancelling sets a flag
that the job's progress callback checks between steps; simulations run in a child process
that is killed as soon as the flag is seen (:mod:`nasurf.web.simproc`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nasurf.errors import NasurfError
from nasurf.web.workspace import NotFound, Workspace

Progress = Callable[[float, str], None]
# a job body: (workspace, params, progress) -> (inputs, options, document)
JobBody = Callable[[Workspace, dict, Progress], tuple[dict, dict, dict]]


class Cancelled(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised inside a job by its progress callback once a cancel was requested."""


class JobRunner:
    """A bounded worker pool that records every job in the workspace."""

    def __init__(self, ws: Workspace, bodies: dict[str, JobBody], *, workers: int = 2) -> None:
        self.ws = ws
        self.bodies = bodies
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nasurf-job")
        self._events: dict[int, threading.Event] = {}
        self._inflight: dict[str, int] = {}  # identity key -> job computing it
        self._lock = threading.Lock()

    def submit(self, kind: str, params: dict, *, key: str | None = None) -> int:
        """Queue a job; with ``key``, a request identical to one in flight joins that job
        (several users asking for the same analysis of the same file compute it once)."""
        if kind not in self.bodies:
            raise NotFound(f"no analysis called {kind!r}")
        if key is not None:
            with self._lock:
                if key in self._inflight:
                    return self._inflight[key]
        now = time.time()
        with self.ws.transaction() as c:
            jid = int(c.execute(
                "INSERT INTO jobs(kind, params_json, status, created_at, updated_at) "
                "VALUES(?,?, 'queued', ?, ?)", (kind, json.dumps(params), now, now)).lastrowid)
        with self._lock:
            self._events[jid] = threading.Event()
            if key is not None:
                self._inflight[key] = jid
        self.pool.submit(self._run, jid, kind, params, key)
        return jid

    def wait(self, job_id: int, timeout: float) -> None:
        with self._lock:
            ev = self._events.get(job_id)
        if ev is not None and timeout > 0:
            ev.wait(timeout)

    def cancel(self, job_id: int) -> dict:
        with self.ws.transaction() as c:
            row = c.execute("SELECT status FROM jobs WHERE id=?", (job_id,)).fetchone()
            if row is None:
                raise NotFound(f"no job {job_id}")
            if row["status"] in ("queued", "running"):
                c.execute("UPDATE jobs SET cancel_requested=1, updated_at=? WHERE id=?",
                          (time.time(), job_id))
        return self.get(job_id)

    def get(self, job_id: int) -> dict:
        rows = self.ws.query("SELECT * FROM jobs WHERE id=?", (int(job_id),))
        if not rows:
            raise NotFound(f"no job {job_id}")
        r = rows[0]
        r["params"] = json.loads(r.pop("params_json"))
        return r

    def list(self, limit: int = 50) -> list[dict]:
        return self.ws.query("SELECT id, kind, status, progress, message, result_id, created_at,"
                             " updated_at FROM jobs ORDER BY id DESC LIMIT ?", (limit,))

    def _set(self, job_id: int, **values: Any) -> None:
        values["updated_at"] = time.time()
        cols = ", ".join(f"{k}=?" for k in values)
        with self.ws.transaction() as c:
            c.execute(f"UPDATE jobs SET {cols} WHERE id=?", (*values.values(), job_id))

    def _run(self, job_id: int, kind: str, params: dict, key: str | None = None) -> None:
        try:
            if self.get(job_id)["cancel_requested"]:
                raise Cancelled
            self._set(job_id, status="running")

            def check() -> None:
                if self.ws.query("SELECT cancel_requested FROM jobs WHERE id=?",
                                 (job_id,))[0]["cancel_requested"]:
                    raise Cancelled

            def progress(fraction: float, message: str = "") -> None:
                check()
                self._set(job_id, progress=max(0.0, min(1.0, float(fraction))),
                          message=message[:500])

            # a body that runs in a child process polls this without writing progress
            progress.check = check  # type: ignore[attr-defined]

            inputs, options, doc = self.bodies[kind](self.ws, params, progress)
            rid = self.ws.put_result(kind, inputs, options, doc)
            self._set(job_id, status="done", progress=1.0, message="", result_id=rid)
        except Cancelled:
            self._set(job_id, status="cancelled", message="cancelled by the user")
        except NasurfError as exc:
            self._set(job_id, status="failed", message=self.ws.humanize(str(exc))[:2000])
        except Exception as exc:  # a bug must still end the job with one readable line
            self._set(job_id, status="failed",
                      message=f"internal error ({type(exc).__name__}: {exc})"[:2000])
        finally:
            with self._lock:
                ev = self._events.pop(job_id, None)
                if key is not None and self._inflight.get(key) == job_id:
                    del self._inflight[key]
            if ev is not None:
                ev.set()

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
