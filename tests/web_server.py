"""A real ``nasurf serve`` process on loopback for the web tests (httpx and Playwright)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``nasurf serve`` in a subprocess; ``client()`` gives an httpx client with the CSRF header."""

    def __init__(self, workspace: Path, *args: str) -> None:
        self.workspace = Path(workspace)
        self.args = args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = self.workspace.parent / f"server-{self.port}.log"

    def start(self, timeout: float = 60.0) -> Server:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
        with open(self.log, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from nasurf.cli import main; main()", "serve",
                 "--port", str(self.port), "--workspace", str(self.workspace), *self.args],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/api/version", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start")

    def client(self, **kw) -> httpx.Client:
        c = httpx.Client(base_url=self.url, timeout=120, **kw)
        c.get("/")
        c.headers["X-CSRF-Token"] = c.cookies["nasurf_csrf"]
        return c

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def wait_job(client: httpx.Client, job_id: int, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        j = client.get(f"/api/jobs/{job_id}").json()
        if j["status"] not in ("queued", "running"):
            return j
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")


def analyse(client: httpx.Client, kind: str, body: dict) -> dict:
    """Run an analysis to completion; returns the stored result (or the failed job)."""
    r = client.post(f"/api/analyses/{kind}?wait=60", json=body)
    assert r.status_code in (200, 202), r.text
    j = r.json()
    if j["status"] in ("queued", "running"):
        j = wait_job(client, j["job"])
    if j["status"] != "done" or not j.get("result_id"):
        return {"failed": j}
    return client.get(f"/api/results/{j['result_id']}").json()


def server_fixture(*args: str):
    """A module-scoped pytest fixture ``server``: a real ``nasurf serve`` on a fresh workspace
    with the extra ``args``, stopped after the module (``server = server_fixture(...)``)."""
    import pytest

    @pytest.fixture(scope="module")
    def server(tmp_path_factory):
        s = Server(tmp_path_factory.mktemp("ws") / "workspace", *args).start()
        yield s
        s.stop()

    return server
