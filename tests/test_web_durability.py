"""SIGKILL during uploads and jobs, restart, and check the workspace is consistent.

Consistent means: every listed file's stored bytes hash to its name and size; no stored
blob without a row and no temp file; SQLite integrity and foreign keys intact; the job
that was running is marked ``interrupted``; every upload the server acknowledged before
the kill is listed; and the restarted server accepts new uploads.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time

import httpx
import pytest

from web_server import Server, wait_job

pytestmark = [pytest.mark.realdata, pytest.mark.slow, pytest.mark.xdist_group("web")]


def test_sigkill_during_uploads_and_jobs_restarts_consistent(tmp_path, realdata):
    ws = tmp_path / "workspace"
    server = Server(ws, "--no-seed").start()
    base = (realdata / "navani/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr").read_bytes()
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    client = server.client()
    # readers run in fork-server children; wait until the fork server has started
    deadline = time.monotonic() + 120
    while not client.get("/api/version").json()["warm"] and time.monotonic() < deadline:
        time.sleep(0.2)
    # a slow CV on every preset: ~8 s alone, so it still runs at the kill (a 200-cycle
    # comparison ends in ~1 s since the engines got faster)
    long_job = client.post("/api/analyses/sim_compare", json={"options": {
        "protocol": "cv", "scan_rate_mV_s": 0.005,
        "strategies": ["none", "surface_oxygen_vacancies", "heterointerfaces",
                       "2d_superlattices", "surface_structural_disorder",
                       "surface_functionalisation", "interfacial_chemical_bonds"]}}).json()["job"]

    def uploader(k: int) -> None:
        c = server.client()
        i = 0
        while not stop.is_set():
            body = base + f"variant {k}-{i}".encode()  # distinct content each time
            i += 1
            try:
                r = c.post("/api/files", params={"name": f"u{k}-{i}.mpr"}, content=body)
            except httpx.HTTPError:
                return
            if r.status_code == 201:
                with lock:
                    acknowledged.append(hashlib.sha256(body).hexdigest())

    threads = [threading.Thread(target=uploader, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    # kill as soon as uploads are being acknowledged (at most 3 s), mid-job
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        time.sleep(0.25)
        with lock:
            if len(acknowledged) >= 4:
                break
    assert client.get(f"/api/jobs/{long_job}").json()["status"] == "running"
    server.kill()
    stop.set()
    for t in threads:
        t.join(30)
    client.close()
    assert acknowledged, "no upload finished before the kill"

    restarted = Server(ws, "--no-seed").start()
    try:
        c = restarted.client()
        job = c.get(f"/api/jobs/{long_job}").json()
        assert job["status"] == "interrupted" and "stopped" in job["message"]
        assert "interrupted" in c.get("/").text
        files = c.get("/api/files").json()["files"]
        listed = {f["sha256"] for f in files}
        assert set(acknowledged) <= listed
        for f in files:
            blob = ws / "blobs" / f["sha256"][:2] / f["sha256"]
            data = blob.read_bytes()
            assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size"]
        blobs = {p.name for p in (ws / "blobs").glob("*/*")}
        assert blobs == listed
        assert not list((ws / "tmp").iterdir())
        db = sqlite3.connect(ws / "workspace.sqlite")
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert db.execute("SELECT COUNT(*) FROM jobs WHERE status IN ('queued','running')"
                          ).fetchone()[0] == 0
        db.close()
        # the workspace keeps working
        r = c.post("/api/files", params={"name": "after.mpr"}, content=base + b"after")
        assert r.status_code == 201
        fid = c.post("/api/files", params={"name": "orig.mpr"}, content=base).json()["file"]["id"]
        j = c.post("/api/analyses/cycling?wait=60", json={"file_ids": [fid]}).json()
        if j["status"] != "done":
            j = wait_job(c, j["job"])
        assert j["status"] == "done"
        c.close()
    finally:
        restarted.stop()
