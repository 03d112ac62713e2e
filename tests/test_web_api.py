"""Web workbench API against a real ``nasurf serve`` process (httpx over loopback).

Truths: the numbers the page serves are the Python API's numbers on the same file
(``cycling_summary``, ``analyze_eis``), exactly (the JSON round trip keeps float64); the CV
set reproduces the methods.md §1(c)/§2 known answers (b = 0.5905, exact Dunn fractions);
stored files are byte-identical to the uploads (sha256).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
import subprocess
import sys
import urllib.parse

import httpx
import numpy as np
import pandas as pd
import pytest

from web_server import REPO, analyse, server_fixture, wait_job

pytestmark = [pytest.mark.realdata, pytest.mark.xdist_group("web")]

NA_MPR = "navani/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
PEIS = "yadg/peis.mpr"


server = server_fixture("--no-seed", "--max-upload-mb", "5")


def upload(client, path, name=None):
    r = client.post("/api/files", params={"name": name or path.name}, content=path.read_bytes())
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_upload_is_content_addressed_and_detected_by_content(client, server, realdata):
    src = realdata / NA_MPR
    first = upload(client, src, "renamed.txt")          # the extension lies; content decides
    assert first["created"] and first["file"]["format"] == "biologic-mpr"
    again = upload(client, src, "again.mpr")
    assert not again["created"] and again["file"]["id"] == first["file"]["id"]
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    assert first["file"]["sha256"] == sha
    blob = server.workspace / "blobs" / sha[:2] / sha
    assert blob.read_bytes() == src.read_bytes()
    names = [f["name"] for f in client.get("/api/files").json()["files"]]
    assert names.count("renamed.txt") == 1 and "again.mpr" not in names


def test_cycling_numbers_equal_python_api_and_downloads(client, realdata):
    from nasurf.analysis import cycling_summary
    from nasurf.io import read

    fid = upload(client, realdata / NA_MPR)["file"]["id"]
    res = analyse(client, "cycling", {"file_ids": [fid], "options": {"mass_mg": "10"}})
    doc = res["doc"]
    data = read(realdata / NA_MPR, active_mass_g=0.01)
    ref = cycling_summary(data, active_mass_g=0.01)
    assert doc["capacity_unit"] == "mAh/g"
    assert doc["initial_coulombic_efficiency"] == ref.initial_coulombic_efficiency
    got = pd.DataFrame(doc["cycles"])
    for col in ("sodiation_mAh_g", "desodiation_mAh_g", "sodiation_cv_mAh",
                "coulombic_efficiency"):
        np.testing.assert_array_equal(got[col].to_numpy(float), ref.cycles[col].to_numpy(float))
    assert res["options"]["mass_mg"] == 10.0 and res["version"]
    # the CSV download holds the same numbers
    csv = client.get(f"/api/results/{res['id']}/download.csv")
    assert csv.status_code == 200 and "attachment" in csv.headers["content-disposition"]
    table = pd.read_csv(io.StringIO(csv.text))
    np.testing.assert_allclose(table["desodiation_mAh_g"], ref.cycles["desodiation_mAh_g"],
                               rtol=1e-12)
    xlsx = client.get(f"/api/results/{res['id']}/download.xlsx")
    sheets = pd.read_excel(io.BytesIO(xlsx.content), sheet_name=None)
    np.testing.assert_allclose(sheets["cycles"]["sodiation_mAh_g"],
                               ref.cycles["sodiation_mAh_g"], rtol=1e-12)
    full = client.get(f"/api/results/{res['id']}/download.json").json()
    assert full["options"]["mass_mg"] == 10.0 and full["nasurf_version"]
    # the same request again reopens the stored result
    again = client.post("/api/analyses/cycling", json={"file_ids": [fid],
                                                        "options": {"mass_mg": 10}})
    assert again.json()["cached"] and again.json()["result_id"] == res["id"]
    page = client.get(f"/results/{res['id']}")
    assert page.status_code == 200 and "cycles-table" in page.text
    bdf = client.get(f"/api/files/{fid}/bdf")
    assert bdf.status_code == 200 and bdf.text.startswith("Test Time / s")


def test_eis_fit_equals_python_api(client, realdata):
    from nasurf.analysis.eis import Circuit, analyze_eis
    from nasurf.io import read

    fid = upload(client, realdata / PEIS)["file"]["id"]
    res = analyse(client, "eis", {"file_ids": [fid], "options": {"circuit": "R0-p(R1,CPE1)"}})
    ref = analyze_eis(read(realdata / PEIS), Circuit("R0-p(R1,CPE1)"))
    got = res["doc"]["spectra"][0]
    want = ref.to_dict()["spectra"][0]
    params, expected = got["parameters"], want["parameters"]
    assert params.keys() == expected.keys()
    for k in params:
        assert params[k]["value"] == pytest.approx(expected[k]["value"], rel=1e-9)
        assert params[k]["ci95"] == pytest.approx(expected[k]["ci95"], rel=1e-9)
    assert res["doc"]["fit_curves"][0]["re"]


def test_cv_set_reproduces_known_b_value(client, tmp_path):
    from pathlib import Path

    from test_cli_cv_gitt import write_cv_files
    from test_cv_dunn import EXACT_FCAP

    ids = [upload(client, Path(p))["file"]["id"] for p in write_cv_files(tmp_path)]
    res = analyse(client, "cv", {"file_ids": ids, "options": {"vertex_exclusion_mV": "0"}})
    peaks = {p["branch"]: p for p in res["doc"]["peaks"]}
    assert set(peaks) == {"anodic", "cathodic"}
    for p in peaks.values():
        assert p["b"] == pytest.approx(0.5905, abs=5e-4)  # methods.md §1(c)
    fcap = [d["capacitive_fraction"] for d in res["doc"]["dunn"]]
    assert fcap == pytest.approx(EXACT_FCAP, abs=1e-4)  # as test_cli_cv_gitt
    # file names, not the store's hash paths, name the inputs
    assert all("blobs" not in f for f in res["doc"]["conventions"]["files"])


def test_bad_input_gives_one_line_errors(client, tmp_path):
    junk = tmp_path / "junk.mpr"
    junk.write_bytes(b"this is not a measurement\n" * 10)
    f = upload(client, junk)["file"]
    assert f["format"] is None and f["meta"]["error"]
    page = client.get(f"/files/{f['id']}")
    assert page.status_code == 200 and "Traceback" not in page.text
    assert "error-line" in page.text
    job = analyse(client, "cycling", {"file_ids": [f["id"]]})["failed"]
    assert job["status"] == "failed" and "\n" not in job["message"]
    assert "Traceback" not in job["message"] and "junk.mpr" in job["message"]
    r = client.post("/api/analyses/cycling", json={"file_ids": [f["id"]],
                                                   "options": {"mass_mg": "-1"}})
    assert r.status_code == 400 and "mass_mg" in r.json()["error"]
    r = client.post("/api/analyses/cycling", json={"file_ids": [99999]})
    assert r.status_code == 404
    r = client.post("/api/analyses/nonsense", json={})
    assert r.status_code == 404
    r = client.post("/api/samples", content=b"{not json")
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = client.get("/files/123456")
    assert r.status_code == 200 and "no file 123456" in r.text


def test_upload_limit_keeps_nothing(client, server):
    before = len(client.get("/api/files").json()["files"])
    big = b"x" * (5 * 1000 * 1000 + 10)
    r = client.post("/api/files", params={"name": "big.bin"}, content=big)
    assert r.status_code == 413 and "upload limit of 5 MB" in r.json()["error"]

    def chunks():  # no Content-Length: the streamed size is checked
        for _ in range(6):
            yield b"y" * 1_000_000

    r = client.post("/api/files", params={"name": "stream.bin"}, content=chunks())
    assert r.status_code == 413
    assert len(client.get("/api/files").json()["files"]) == before
    assert not list((server.workspace / "tmp").iterdir())


@pytest.mark.parametrize("name", ["../../x", "/etc/passwd", "a\x00b.mpr", "é" * 3000,
                                  "数据 ünïcødé.mpt", "..", "C:\\temp\\evil.mpr"])
def test_file_names_are_never_paths(client, server, name, tmp_path):
    tag = int(hashlib.sha256(name.encode()).hexdigest()[:6], 16)  # distinct content per name
    payload = f"Test Time / s,Voltage / V,Current / A\n0,1,0\n1,1.1,{tag}e-9\n"
    r = client.post("/api/files", params={"name": name}, content=payload.encode())
    assert r.status_code in (200, 201), r.text
    f = r.json()["file"]
    shown = f["name"]  # kept as text (escaped wherever shown), never a path
    assert shown == name.replace("\x00", "")[:200]
    ws = server.workspace
    for p in ws.rglob("*"):
        assert p.resolve().is_relative_to(ws.resolve())
        if p.parent.parent.name == "blobs":
            assert len(p.name) == 64
    page = client.get(f"/files/{f['id']}")
    assert page.status_code == 200
    dl = client.get(f"/api/files/{f['id']}/content")
    assert dl.content == payload.encode()


XSS = "<script>alert(1)</script>"


def test_user_text_is_escaped_everywhere(client, realdata):
    r = client.post("/api/samples", json={"name": XSS, "grp": XSS, "material": XSS,
                                          "strategy": XSS, "notes": XSS, "electrode": XSS})
    assert r.status_code == 201
    sid = r.json()["sample"]["id"]
    f = upload(client, realdata / "yadg/peis.issue_225.no_ece.mpt", XSS + ".mpr")["file"]
    assert f["name"] == XSS + ".mpr"
    client.post(f"/api/files/{f['id']}/sample", json={"sample_id": sid})
    res = analyse(client, "eis", {"file_ids": [f["id"]], "options": {"circuit": XSS}})
    assert "failed" in res and XSS in res["failed"]["message"]  # named, not evaluated
    kb = client.post("/api/kb/records", json={"row": {
        "material": XSS, "host": "carbon", "material_class": "adsorption_insertion",
        "strategy": "none", "quantity": "reversible_capacity", "value": "300",
        "unit": "mA h g-1", "citation": XSS, "note": XSS}})
    assert kb.status_code == 201, kb.text
    for path in ("/", "/files", f"/files/{f['id']}", "/samples", "/jobs", "/report",
                 f"/report?sample={sid}"):
        text = client.get(path).text
        assert XSS not in text, path
        assert "&lt;script&gt;" in text, path
    # JSON embedded in pages is escaped for HTML too
    rid = analyse(client, "eis", {"file_ids": [f["id"]],
                                  "options": {"circuit": "R0-p(R1,CPE1)"}})["id"]
    text = client.get(f"/results/{rid}").text
    assert XSS not in text and "\\u003cscript\\u003e" in text
    recs = client.get("/api/kb", params={"origin": "user"}).json()["records"]
    assert any(r["material"] == XSS for r in recs)


def test_state_changes_need_csrf_and_same_origin(server):
    with httpx.Client(base_url=server.url) as raw:
        r = raw.post("/api/samples", json={"name": "x"})
        assert r.status_code == 403 and "CSRF" in r.json()["error"]
        raw.get("/")
        tok = raw.cookies["nasurf_csrf"]
        r = raw.post("/api/samples", json={"name": "x"},
                     headers={"X-CSRF-Token": tok, "Origin": "http://evil.example"})
        assert r.status_code == 403 and "cross-site" in r.json()["error"]
        r = raw.post("/api/samples", json={"name": "csrf-ok"}, headers={"X-CSRF-Token": tok})
        assert r.status_code == 201
        r = raw.delete(f"/api/samples/{r.json()['sample']['id']}")
        assert r.status_code == 403


def test_every_response_carries_the_guard_headers(server):
    """The guard (web/guard.py) on pages, the API and its own refusals: the CSRF cookie
    once, the security headers, and the app time the load benchmark reads."""
    with httpx.Client(base_url=server.url) as raw:
        first = raw.get("/")
        cookie = first.headers["set-cookie"]
        assert cookie.startswith("nasurf_csrf=") and "SameSite=strict" in cookie
        assert "HttpOnly" not in cookie                     # the page's script reads it
        again = raw.get("/api/files")
        refused = raw.post("/api/samples", json={"name": "no-csrf"})
        assert refused.status_code == 403
        assert "set-cookie" not in again.headers           # the browser has it already
        for r in (first, again, refused):
            assert r.headers["x-content-type-options"] == "nosniff"
            assert r.headers["x-frame-options"] == "DENY"
            assert r.headers["content-security-policy"].startswith("default-src 'self'")
            assert re.fullmatch(r"app;dur=\d+\.\d", r.headers["server-timing"])


def test_streamed_upload_in_uneven_chunks_is_stored_byte_exact(client, server):
    """An upload is hashed and written in batches off the event loop: chunks that straddle
    the batch boundary must arrive whole and in order (sha256 and bytes compared)."""
    rng = np.random.default_rng(15)
    body = rng.integers(0, 256, 3_000_001, dtype=np.uint8).tobytes()
    sizes = [1, 65_535, 1_048_577, 7, 999_999]

    def chunks():  # no Content-Length: the server sees the chunks as they come
        at = 0
        for n in sizes:
            yield body[at:at + n]
            at += n
        yield body[at:]

    r = client.post("/api/files", params={"name": "noise.bin"}, content=chunks())
    assert r.status_code == 201, r.text
    sha = hashlib.sha256(body).hexdigest()
    assert r.json()["file"]["sha256"] == sha and r.json()["file"]["size"] == len(body)
    assert (server.workspace / "blobs" / sha[:2] / sha).read_bytes() == body
    assert not list((server.workspace / "tmp").iterdir())
    client.delete(f"/api/files/{r.json()['file']['id']}")


def test_delete_asks_and_can_be_undone(client, realdata):
    sid = client.post("/api/samples", json={"name": "to-delete", "grp": "g"}).json()["sample"]["id"]
    assert client.delete(f"/api/samples/{sid}").json()["undo"].endswith("/restore")
    assert all(s["id"] != sid for s in client.get("/api/samples").json()["samples"])
    assert "undo delete" in client.get("/samples").text
    client.post(f"/api/samples/{sid}/restore")
    assert any(s["id"] == sid for s in client.get("/api/samples").json()["samples"])


def test_kb_add_uses_kb_validation(client):
    r = client.post("/api/kb/records", json={"row": {
        "material": "my carbon", "host": "carbon", "material_class": "adsorption_insertion",
        "strategy": "none", "quantity": "rate_capacity", "value": "250", "unit": "mA h g-1",
        "current": "1 A g-1"}})
    assert r.status_code == 400 and "citation" in r.json()["error"]
    r = client.post("/api/kb/records", json={"row": {
        "material": "my carbon", "host": "carbon", "material_class": "adsorption_insertion",
        "strategy": "none", "quantity": "rate_capacity", "value": "250", "unit": "furlongs",
        "current": "1 A g-1", "citation": "me"}})
    assert r.status_code == 400 and "unit" in r.json()["error"]
    csv = ("material,host,material_class,strategy,quantity,value,unit,current,citation\n"
           "csv carbon,carbon,adsorption_insertion,none,rate_capacity,210,mA h g-1,2 A g-1,me\n")
    r = client.post("/api/kb/records", json={"csv": csv, "name": "mine.csv"})
    assert r.status_code == 201 and len(r.json()["added"]) == 1
    recs = client.get("/api/kb", params={"material": "csv carbon"}).json()["records"]
    assert recs[0]["current_mA_g"] == 2000 and recs[0]["value"] == 210
    heter = client.get("/api/kb", params={"strategy": "heterointerfaces"}).json()
    assert heter["count"] > 0 and {r["strategy"] for r in heter["records"]} == {"heterointerfaces"}


# replicate cells with exactly known capacities (mAh): sodiation, desodiation per cycle
CELLS = {"A1": ("alpha", 1.0, [0.40, 0.31, 0.30], [0.30, 0.29, 0.28]),
         "A2": ("alpha", 1.2, [0.48, 0.38, 0.37], [0.372, 0.36, 0.348]),
         "B1": ("beta", 1.0, [0.33, 0.26, 0.25], [0.25, 0.24, 0.23]),
         "B2": ("beta", 1.0, [0.34, 0.27, 0.26], [0.26, 0.25, 0.24])}


def write_cells(folder):
    from nasurf.analysis import synthetic_cycling

    paths = []
    for name, (_, _, sod, des) in CELLS.items():
        p = folder / f"{name}.csv"
        synthetic_cycling(sod, des).data.to_csv(p, index=False)
        paths.append(p)
    return paths


def sheet_text(cells=CELLS):
    rows = ["sample,group,file,mass_mg,notes"]
    rows += [f"{n},{g},{n}.csv,{m},cell {n}" for n, (g, m, _, _) in cells.items()]
    return "\n".join(rows) + "\n"


def test_sample_sheet_and_group_comparison(client, tmp_path):
    for p in write_cells(tmp_path):
        upload(client, p)
    bad = sheet_text().replace("A2,alpha,A2.csv,1.2", "A2,alpha,A2.csv,1200000")
    r = client.post("/api/samples/sheet", params={"name": "bad.csv"}, content=bad.encode())
    assert r.status_code == 400 and "bad.csv" in r.json()["error"]
    assert "line 3" in r.json()["error"] and "mass_mg" in r.json()["error"]
    assert "A1" not in [s["name"] for s in client.get("/api/samples").json()["samples"]]
    missing = sheet_text() + "C1,gamma,nowhere.csv,1.0,\n"
    r = client.post("/api/samples/sheet", params={"name": "m.csv"}, content=missing.encode())
    assert r.status_code == 400 and "nowhere.csv" in r.json()["error"]
    assert "/tmp" not in r.json()["error"]
    r = client.post("/api/samples/sheet", params={"name": "sheet.csv"},
                    content=sheet_text().encode())
    assert r.status_code == 200, r.text
    assert r.json()["groups"] == ["alpha", "beta"] and r.json()["files_linked"] == 4
    # the study covers every sample with files; drop the other tests' samples from it
    for s in client.get("/api/samples").json()["samples"]:
        if s["name"] not in CELLS:
            client.delete(f"/api/samples/{s['id']}")
    res = analyse(client, "study", {})
    doc = res["doc"]
    groups = {(g["group"], g["metric"], g["key"]): g for g in doc["groups"]}
    for grp in ("alpha", "beta"):
        cells = [c for c in CELLS.values() if c[0] == grp]
        for k in range(3):
            per_g = [c[3][k] / (c[1] / 1e3) for c in cells]  # mAh per g
            g = groups[(grp, "desodiation_capacity", k + 1)]
            assert g["n"] == 2
            assert g["mean"] == pytest.approx(np.mean(per_g), rel=1e-9)
            assert g["sd"] == pytest.approx(np.std(per_g, ddof=1), rel=1e-9)
        ice = [c[3][0] / c[2][0] for c in cells]
        assert groups[(grp, "initial_coulombic_efficiency", None)]["mean"] == pytest.approx(
            np.mean(ice), rel=1e-9)
    diff = {(d["group"], d["metric"], d["key"]): d for d in doc["differences"]}
    want = np.mean([250, 260]) - np.mean([300, 310])
    assert diff[("beta", "desodiation_capacity", 1)]["difference"] == pytest.approx(want)
    page = client.get(f"/results/{res['id']}")
    assert page.status_code == 200 and "groups-table" in page.text
    csv = pd.read_csv(io.StringIO(client.get(f"/api/results/{res['id']}/download.csv").text))
    assert {"group", "metric", "mean", "sd"} <= set(csv.columns)
    # paper figures as PDF/SVG/PNG (nasurf.figures savers) and a self-contained study report
    pdf = client.get(f"/api/results/{res['id']}/figure/capacity_ce.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert pdf.headers["content-type"] == "application/pdf"
    svg = client.get(f"/api/results/{res['id']}/figure/capacity_ce.svg").text
    assert "<svg" in svg and "alpha" in svg and "beta" in svg
    png = client.get(f"/api/results/{res['id']}/figure/capacity_ce.png").content
    assert png.startswith(b"\x89PNG")
    nope = client.get(f"/api/results/{res['id']}/figure/nyquist.pdf")
    assert nope.status_code == 400 and "capacity_ce" in nope.json()["error"]
    report = client.get(f"/results/{res['id']}/report").text
    # nothing loaded from elsewhere (SVG's internal xlink:href="#id" references are fine)
    assert "<script" not in report and " src=" not in report
    assert not re.search(r'href="(?!#)', report)
    assert report.count("<svg") >= 2
    for grp in ("alpha", "beta"):
        cells = [c for c in CELLS.values() if c[0] == grp]
        ice = np.mean([c[3][0] / c[2][0] for c in cells])
        row = re.search(rf"<tr><td>{grp}</td><td>initial_coulombic_efficiency</td><td>2</td>"
                        r"<td>\d+</td><td>([^<]+)</td>", report)
        assert row and float(row.group(1)) == pytest.approx(ice, rel=1e-3)  # 4 figures shown


def test_strategy_comparison_job_progress_and_cancel(client):
    res = analyse(client, "sim_compare", {"options": {"protocol": "rate",
                                                      "strategies": ["none"]}})
    assert res["doc"]["runs"][0]["strategy"] == "none"
    table = res["doc"]["runs"][0]["table"]
    from nasurf.sim import rate_capability, simulate
    from nasurf.sim.cli import rate_table

    want = rate_table(simulate("hard_carbon", rate_capability(), strategy="none"))
    assert [t["desodiation_mAh_g"] for t in table] == pytest.approx(
        [t["desodiation_mAh_g"] for t in want], rel=1e-9)
    r = client.post("/api/analyses/sim_compare", json={"options": {
        "protocol": "cycling", "cycles": 20, "strategies": ["heterointerfaces",
                                                             "2d_superlattices",
                                                             "surface_structural_disorder"]}})
    jid = r.json()["job"]
    client.post(f"/api/jobs/{jid}/cancel")
    j = wait_job(client, jid, timeout=300)
    # checked between strategies: at most the first one ran
    assert j["status"] == "cancelled" and j["result_id"] is None
    r = client.post("/api/analyses/sim_compare", json={"options": {"strategies": ["nope"]}})
    assert r.status_code == 400 and "nope" in r.json()["error"]


def test_non_loopback_needs_token(tmp_path):
    ws = tmp_path / "ws"
    out = subprocess.run([sys.executable, "-c", "from nasurf.cli import main; main()", "serve",
                          "--host", "0.0.0.0", "--workspace", str(ws), "--no-seed"],
                         capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 2
    assert "without an access token" in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_token_auth_hashing_and_revocation(tmp_path):
    from fastapi.testclient import TestClient

    from nasurf.web import security
    from nasurf.web.app import create_app
    from nasurf.web.workspace import Workspace

    ws = Workspace(tmp_path / "ws")
    tok = security.create_token(ws, "alice")
    tok2 = security.create_token(ws, "bob")
    with pytest.raises(Exception, match="exists"):
        security.create_token(ws, "alice")
    db = sqlite3.connect(ws.db_path)
    stored = [h for (h,) in db.execute("SELECT hash FROM tokens")]
    assert tok not in stored and security.hash_token(tok) in stored
    app = create_app(tmp_path / "ws", require_token=True, seed=False)
    with TestClient(app, base_url="http://127.0.0.1") as c:
        assert c.get("/api/files").status_code == 401
        assert c.get("/", follow_redirects=False).status_code == 303
        h = {"Authorization": f"Bearer {tok}"}
        assert c.get("/api/files", headers=h).status_code == 200
        assert c.post("/api/samples", json={"name": "t"}, headers=h).status_code == 201
        assert security.revoke_token(ws, "alice")
        assert c.get("/api/files", headers=h).status_code == 401
        assert c.get("/api/files", headers={"Authorization": f"Bearer {tok2}"}).status_code == 200
        r = c.post("/login", data={"token": tok2}, follow_redirects=False)
        assert r.status_code == 303 and c.get("/api/files").status_code == 200
    assert [t["name"] for t in security.list_tokens(ws)] == ["alice", "bob"]
    assert json.dumps(security.list_tokens(ws)).count("nst_") == 0


def test_gitt_reproduces_slab_known_answer(client, tmp_path):
    from test_gitt import gitt_record, slab_response

    p = tmp_path / "gitt.csv"
    gitt_record(slab_response, 600.0).data.to_csv(p, index=False)
    fid = upload(client, p)["file"]["id"]
    res = analyse(client, "gitt", {"file_ids": [fid], "options": {"length_um": "1"}})
    pulses = res["doc"]["pulses"]
    assert len(pulses) == 3
    for q in pulses:  # methods.md §5 planar slab, D = 1e-12 cm²/s
        assert q["D_L2_cm2_s"] == pytest.approx(1e-12, rel=1e-4)
    assert "gitt.csv" in client.get(f"/results/{res['id']}").text


def test_token_commands(tmp_path):
    from typer.testing import CliRunner

    from nasurf.cli import build_app

    runner = CliRunner()
    ws = str(tmp_path / "ws")
    out = runner.invoke(build_app("token"), ["token", "create", "lab-pc", "--workspace", ws])
    assert out.exit_code == 0 and out.stdout.startswith("nst_")
    token = out.stdout.strip()
    listed = runner.invoke(build_app("token"), ["token", "list", "--workspace", ws]).stdout
    assert "lab-pc\tactive" in listed and token not in listed
    assert runner.invoke(build_app("token"), ["token", "revoke", "lab-pc",
                                              "--workspace", ws]).exit_code == 0
    assert "lab-pc\trevoked" in runner.invoke(build_app("token"),
                                              ["token", "list", "--workspace", ws]).stdout
    again = runner.invoke(build_app("token"), ["token", "revoke", "lab-pc", "--workspace", ws])
    assert again.exit_code == 2 and "no active token" in again.stderr


def test_token_page_creates_once_lists_revokes_admin_only(client, server):
    from nasurf.web import security
    from nasurf.web.workspace import Workspace

    name = "<script>alert(1)</script> laptop"
    no_csrf = httpx.post(server.url + "/api/tokens", json={"name": name})
    assert no_csrf.status_code == 403 and "CSRF" in no_csrf.json()["error"]
    r = client.post("/api/tokens", json={"name": name})
    assert r.status_code == 201 and r.headers["cache-control"] == "no-store"
    token = r.json()["token"]
    ws = Workspace(server.workspace)
    assert security.check_token(ws, token) == name            # the shown token works
    listed = client.get("/api/tokens").text
    assert "laptop" in listed
    assert token not in listed and security.hash_token(token) not in listed
    page = client.get("/tokens").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; laptop" in page and token not in page
    dup = client.post("/api/tokens", json={"name": name})
    assert dup.status_code == 400 and "exists" in dup.json()["error"]
    assert client.delete("/api/tokens/" + urllib.parse.quote(name, safe="")).status_code == 200
    assert security.check_token(ws, token) is None             # revoked at once
    again = client.delete("/api/tokens/" + urllib.parse.quote(name, safe=""))
    assert again.status_code == 404


def test_token_management_refused_off_the_server_machine(tmp_path):
    import anyio

    from nasurf.web.app import create_app

    app = create_app(tmp_path / "ws", seed=False)

    async def go():
        transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://wb") as c:
            await c.get("/")
            c.headers["X-CSRF-Token"] = c.cookies["nasurf_csrf"]
            return [(await c.get("/api/tokens")),
                    (await c.post("/api/tokens", json={"name": "mallory"})),
                    (await c.get("/tokens"))]

    listed, made, page = anyio.run(go)
    assert listed.status_code == made.status_code == 403
    assert "server's own machine" in made.json()["error"]
    assert "own machine" in page.text and "Traceback" not in page.text
