"""The simulator in the workbench: fit, sweep, GITT/CV protocols, literature validation and
cancelling mid-simulation, each checked against the same call of the Python API.

Truths: ``nasurf.sim`` itself (``fit_parameters``, ``sweep``, ``simulate``,
``validate_literature``) on the same input; the web adds nothing to the numbers, so they must
agree to round-off (rel 1e-9), except the fit (an iterative optimiser run again in another
process: rel 1e-6). The fit's overlay is the fit's own comparison, so its residuals must
reproduce the reported residual RMS (within the solver's batch noise).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from web_server import analyse, server_fixture, wait_job

pytestmark = [pytest.mark.xdist_group("web")]


server = server_fixture("--no-seed")


@pytest.fixture(scope="module")
def discharge_csv(tmp_path_factory):
    """A noisy simulated sodiation of hard carbon with the table's k(c) doubled (2 mV noise)."""
    from nasurf.io.table import CURRENT, TIME, VOLTAGE
    from nasurf.sim import simulate

    d = simulate("hard_carbon", ["Sodiate at 200 mA g-1 until 0.01 V"], strategy="none").echem()
    rng = np.random.default_rng(5)
    d.data[VOLTAGE] = d.data[VOLTAGE] + rng.normal(0.0, 2e-3, len(d.data))
    path = tmp_path_factory.mktemp("data") / "hc_sodiation.csv"
    d.data[[TIME, VOLTAGE, CURRENT]].to_csv(path, index=False)
    return path, d.metadata.active_mass_g * 1e3


def test_fit_equals_python_api_and_overlays_measured_data(client, discharge_csv):
    from nasurf.io import read
    from nasurf.sim import fit_parameters

    path, mass_mg = discharge_csv
    r = client.post("/api/files", params={"name": path.name}, content=path.read_bytes())
    fid = r.json()["file"]["id"]
    opts = {"material": "hard_carbon", "params": "D", "bounds": "D=0.1:10:log",
            "mass_mg": mass_mg, "starts": 1}
    res = analyse(client, "sim_fit", {"file_ids": [fid], "options": opts})
    assert "failed" not in res, res
    doc = res["doc"]
    want = fit_parameters(read(path, active_mass_g=mass_mg * 1e-3), material="hard_carbon",
                          strategy="none", parameters={"D": (0.1, 10.0, "log")},
                          active_mass_g=mass_mg * 1e-3, n_starts=1, seed=0)
    (p,) = doc["parameters"]
    assert p["value"] == pytest.approx(want.values["D"], rel=1e-6)
    assert p["ci95"] == pytest.approx(list(want.ci95["D"]), rel=1e-6)
    assert p["ci95"][0] <= 1.0 <= p["ci95"][1]          # the data were made with factor 1
    o = doc["overlay"]
    r = np.asarray(o["simulated_V"]) - np.asarray(o["measured_V"])
    assert len(r) == doc["n_residuals"]
    # the fit evaluates batches of parameter sets; the overlay re-runs the optimum alone, and
    # the adaptive solver's step control differs with the batch (~0.1 mV here): 10 % on RMS
    assert math.sqrt(np.mean(r ** 2)) == pytest.approx(doc["residual_rms"], rel=0.1)
    assert np.max(np.abs(r)) < 5 * 2e-3                 # 2 mV noise: no systematic misfit
    page = client.get(f"/results/{res['id']}").text
    assert "fit-plot" in page and "95 % CI" in page
    csv = client.get(f"/api/results/{res['id']}/download.csv").text
    assert csv.splitlines()[0].startswith("name,field,scale,unit,value")
    bad = client.post("/api/analyses/sim_fit", json={"file_ids": [fid], "options": {
        "params": "nope"}})
    assert bad.status_code == 400 and "nope" in bad.json()["error"]


def test_sweep_equals_python_api_with_progress(client):
    from nasurf.sim import sweep

    r = client.post("/api/analyses/sim_sweep", json={"options": {
        "material": "hard_carbon", "protocol": "discharge", "axes": "k0=0.1:10:log:4",
        "currents_mA_g": "100"}})
    assert r.status_code == 202, r.text
    jid = r.json()["job"]
    seen = set()
    while True:
        j = client.get(f"/api/jobs/{jid}").json()
        seen.add(j["message"])
        if j["status"] not in ("queued", "running"):
            break
    assert j["status"] == "done", j
    assert any("of 4 parameter sets" in m for m in seen if m)
    doc = client.get(f"/api/results/{j['result_id']}").json()["doc"]
    from nasurf.sim.sweep import make_protocol

    want = sweep("hard_carbon", {"k0": np.geomspace(0.1, 10, 4)},
                 make_protocol("discharge", currents_mA_g=[100.0]), progress=False,
                 chunk_size=1)          # the web runs small chunks (batches change round-off)
    assert doc["metrics"] and doc["failed"] == 0
    for m in doc["metrics"]:
        assert [row[m] for row in doc["rows"]] == pytest.approx(want[m].tolist(), rel=1e-9)
    too_big = client.post("/api/analyses/sim_sweep", json={"options": {
        "axes": "k0=0.1:10:log:30\nD=0.1:10:log:30"}})
    assert too_big.status_code == 400 and "at most" in too_big.json()["error"]


def test_gitt_and_cv_protocols_equal_python_api(client):
    from nasurf.sim import cyclic_voltammetry, gitt, simulate

    res = analyse(client, "sim_compare", {"options": {"protocol": "gitt", "pulses": 4,
                                                      "strategies": ["none"]}})
    run = res["doc"]["runs"][0]
    want = simulate("hard_carbon", gitt(pulses=4), strategy="none").echem().data
    assert run["series"]["voltage_V"] == pytest.approx(want["Voltage / V"].tolist(), rel=1e-9)
    res = analyse(client, "sim_compare", {"options": {"protocol": "cv", "scan_rate_mV_s": 2,
                                                      "strategies": ["none"]}})
    e = simulate("hard_carbon", cyclic_voltammetry(2.0, cycles=1), strategy="none").echem()
    got = res["doc"]["runs"][0]["series"]["current_A_g"]
    assert got == pytest.approx((e.data["Current / A"] / e.metadata.active_mass_g).tolist(),
                                rel=1e-9)


def test_literature_validation_equals_python_api(client, server):
    from nasurf.sim.validate import validate_literature

    res = analyse(client, "sim_validate", {"options": {"hosts": "TiO2"}})
    assert "failed" not in res, res
    doc = res["doc"]
    want = validate_literature(server.workspace / "kb.sqlite", hosts=["TiO2"]).to_dict()
    assert doc["summary"]["records"] == want["summary"]["records"] > 0
    nan = float("nan")
    got = [nan if r["simulated_mAh_g"] is None else r["simulated_mAh_g"] for r in doc["rows"]]
    ref = [nan if r["simulated_mAh_g"] is None else r["simulated_mAh_g"] for r in want["rows"]]
    assert any(math.isfinite(v) for v in ref)
    assert got == pytest.approx(ref, rel=1e-9, nan_ok=True)
    assert [r["status"] for r in doc["rows"]] == [r["status"] for r in want["rows"]]
    page = client.get(f"/results/{res['id']}").text
    assert "validate-table" in page and "median |relative error|" in page


def test_cancel_stops_a_simulation_mid_run(client):
    # one strategy, one slow CV (~1 s; 200 cycles now end in ~0.2 s): the old
    # between-strategies check could only stop it at the end
    r = client.post("/api/analyses/sim_compare", json={"options": {
        "protocol": "cv", "scan_rate_mV_s": 0.005, "strategies": ["heterointerfaces"]}})
    jid = r.json()["job"]
    while client.get(f"/api/jobs/{jid}").json()["message"] == "":
        pass                                            # wait until the child reports
    client.post(f"/api/jobs/{jid}/cancel")
    j = wait_job(client, jid, timeout=60)
    assert j["status"] == "cancelled" and j["result_id"] is None
    assert j["progress"] < 1.0
    # the server still runs simulations afterwards (the fork server survived the kill)
    res = analyse(client, "sim_compare", {"options": {"protocol": "rate",
                                                      "strategies": ["none"]}})
    assert res["doc"]["runs"][0]["table"]
