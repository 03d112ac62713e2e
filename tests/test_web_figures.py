"""Figure files of every result kind, and the measured overlay on simulation comparisons.

Truths: a cycling figure file is byte-for-byte the SVG that the library's own figure
function (``plots_cycling``) gives for the same file through ``write_figure`` (SVG is
deterministic: no date, salted ids); the knowledge-base map equals ``knowledge.plots`` on
the same filtered query; a PNG is 600 dpi (its pHYs chunk); the measured overlay's numbers
equal ``cycling_summary`` of the measured file (rate steps, per-cycle capacities) and its
current per gram equals the canonical current / the active mass.
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

import numpy as np
import pytest

from web_server import analyse, server_fixture

pytestmark = [pytest.mark.realdata, pytest.mark.xdist_group("web")]

NA_MPR = "navani/jdb11-1_c3_gcpl_5cycles_2V-3p8V_C-24_data_C09.mpr"
PEIS = "yadg/peis.mpr"
MAGIC = {"pdf": b"%PDF", "svg": b"<?xml", "png": b"\x89PNG"}


server = server_fixture("--no-seed")


def upload(client, path):
    r = client.post("/api/files", params={"name": path.name}, content=path.read_bytes())
    assert r.status_code in (200, 201), r.text
    return r.json()["file"]["id"]


def _svg(fig) -> bytes:
    from nasurf.figures.style import write_figure

    with tempfile.TemporaryDirectory() as tmp:
        return write_figure(fig, Path(tmp) / "f.svg").read_bytes()


def _png_dpi(body: bytes) -> float:
    i = body.index(b"pHYs")
    x_per_m, _, unit = struct.unpack(">IIB", body[i + 4:i + 13])
    assert unit == 1
    return x_per_m * 0.0254


def test_cycling_figure_files_are_the_library_figures(client, realdata):
    from nasurf.analysis import plots_cycling as pc
    from nasurf.analysis.cycling import cycling_summary
    from nasurf.io import read

    fid = upload(client, realdata / NA_MPR)
    res = analyse(client, "cycling", {"file_ids": [fid]})
    page = client.get(f"/results/{res['id']}").text
    for name in ("capacity_ce", "voltage_profiles", "dqdv"):
        for fmt in ("pdf", "svg", "png"):
            assert f"/api/results/{res['id']}/figure/{name}.{fmt}" in page
            r = client.get(f"/api/results/{res['id']}/figure/{name}.{fmt}")
            assert r.status_code == 200, r.text
            assert r.content.startswith(MAGIC[fmt]), (name, fmt)
            assert "attachment" in r.headers["content-disposition"]
            if fmt == "png":
                assert _png_dpi(r.content) == pytest.approx(600, abs=0.1)
    want = _svg(pc.capacity_ce_figure(cycling_summary(read(realdata / NA_MPR))))
    got = client.get(f"/api/results/{res['id']}/figure/capacity_ce.svg").content
    assert got == want
    bad = client.get(f"/api/results/{res['id']}/figure/capacity_ce.gif")
    assert bad.status_code == 400 and "expected one of pdf, svg, png" in bad.json()["error"]
    bad = client.get(f"/api/results/{res['id']}/figure/nyquist.pdf")
    assert bad.status_code == 400 and "capacity_ce" in bad.json()["error"]


def test_eis_figure_files(client, realdata):
    fid = upload(client, realdata / PEIS)
    res = analyse(client, "eis", {"file_ids": [fid], "options": {"circuit": "R0-p(R1,CPE1)"}})
    for name in ("nyquist", "bode"):
        r = client.get(f"/api/results/{res['id']}/figure/{name}.pdf")
        assert r.status_code == 200 and r.content.startswith(b"%PDF"), r.text[:300]


def test_kb_map_files_follow_the_filters(client, server):
    from nasurf.knowledge import KnowledgeBase, plots, query

    r = client.get("/api/kb/figure/rate_map.svg", params={"strategy": "heterointerfaces"})
    assert r.status_code == 200, r.text
    with KnowledgeBase.open(server.workspace / "kb.sqlite") as kb:
        df = query(kb, strategy="heterointerfaces", distinct=False)
    assert r.content == _svg(plots.rate_map(df))
    assert client.get("/api/kb/figure/cycling_map.pdf").content.startswith(b"%PDF")
    bad = client.get("/api/kb/figure/rate_map.pdf", params={"min_current_mA_g": "x"})
    assert bad.status_code == 400 and "min_current_mA_g" in bad.json()["error"]


def test_measured_data_overlaid_on_simulated_rate_and_cycling(client, realdata):
    from nasurf.analysis.cycling import cycling_summary
    from nasurf.io import read

    fid = upload(client, realdata / NA_MPR)
    data = read(realdata / NA_MPR)
    truth = cycling_summary(data)
    for protocol in ("rate", "cycling"):
        res = analyse(client, "sim_compare", {"options": {
            "protocol": protocol, "strategies": ["none"], "cycles": "3",
            "measured_file_id": str(fid)}})
        assert "failed" not in res, res
        m = res["doc"]["measured"]
        assert m["file"]["id"] == fid and m["active_mass_g"] == data.metadata.active_mass_g
        if protocol == "rate":
            rs = truth.rate_steps
            assert m["current_mA_g"] == pytest.approx(np.abs(rs["current_mA_g"]), rel=1e-12)
            assert m["capacity_mAh_g"] == pytest.approx(list(rs["mean_capacity"]), rel=1e-12)
        else:
            c = truth.cycles[truth.cycles["cycle"] >= 1]
            assert m["cycle"] == list(c["cycle"])
            col = f"{m['process']}_mAh_g"
            assert m["capacity_mAh_g"] == pytest.approx(list(c[col]), rel=1e-12)
        r = client.get(f"/api/results/{res['id']}/figure/comparison.pdf")
        assert r.status_code == 200 and r.content.startswith(b"%PDF")
        assert "measured-note" in client.get(f"/results/{res['id']}").text


def test_measured_overlay_cv_per_gram_and_a_missing_mass_is_one_line(client, realdata,
                                                                      tmp_path):
    from nasurf.io import read

    fid = upload(client, realdata / NA_MPR)
    res = analyse(client, "sim_compare", {"options": {
        "protocol": "cv", "strategies": ["none"], "measured_file_id": str(fid),
        "measured_mass_mg": "20"}})
    m = res["doc"]["measured"]
    d = read(realdata / NA_MPR).data
    step = int(np.ceil(len(d) / 4000))
    assert m["active_mass_g"] == 0.02
    assert m["current_A_g"] == pytest.approx(d["Current / A"].to_numpy()[::step] / 0.02,
                                             rel=1e-12)
    # the rows left out of the figure are said, with the file's row count
    assert step > 1
    assert f"every {step}th of the file's {len(d)} rows" in " ".join(m["warnings"])
    # a file without a mass cannot be put per gram: one line naming what to give
    csv = tmp_path / "nomass.csv"
    t = np.arange(0, 100.0)
    csv.write_text("Test Time / s,Voltage / V,Current / A\n"
                   + "".join(f"{a},{0.5 + a / 1e3},{1e-3}\n" for a in t))
    fid2 = upload(client, csv)
    r = client.post("/api/analyses/sim_compare?wait=60", json={"options": {
        "protocol": "cv", "strategies": ["none"], "measured_file_id": str(fid2)}})
    j = r.json()
    if j["status"] in ("queued", "running"):
        from web_server import wait_job

        j = wait_job(client, j["job"])
    assert j["status"] == "failed" and "measured_mass_mg" in j["message"]
    assert "\n" not in j["message"]
