"""PalmSens PSTrace .pssession and its Excel export.

Truths: row counts asserted upstream by chemotion-converter-app (File053: 3 tables of 724
rows; p-Br-Ph-CO2Me_MeCN: 6 tables of 944, 944, 944, 904, 904, 904), the session's own
charge counter against Σ I·Δt over our time and current columns, the method's set scan
rate against dE/dt of the data, and the Excel export against the session (same curves).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from nasurf.errors import FileFormatError
from nasurf.io import CURRENT, CYCLE, TIME, VOLTAGE, detect_format, read

pytestmark = pytest.mark.realdata

CHEM = "chemotion-converter-app"


def test_file053_three_measurements_as_upstream_asserts(realdata):
    e = read(realdata / CHEM / "File053.pssession")
    assert detect_format(realdata / CHEM / "File053.pssession") == "palmsens-pssession"
    md = e.metadata
    assert md.technique == "CV"
    assert list(md.header["tables"].values()) == [724, 724, 724]
    assert e.data.groupby(CYCLE).size().tolist() == [724, 724, 724]
    assert md.scan_rates_V_s == (0.2, 0.2, 0.2) and md.scan_rate_V_s == 0.2
    # the first point of the first measurement, µA -> A
    first = e.data.iloc[0]
    assert first[VOLTAGE] == pytest.approx(4.99413e-05)
    assert first[CURRENT] == pytest.approx(-0.320318e-6)
    # one time-ordered record; measurements start at their timestamps (ticks / 1e7)
    t = e.data[TIME].to_numpy()
    assert (np.diff(t) >= 0).all()
    starts = e.data.groupby(CYCLE)[TIME].min().to_numpy()
    assert starts[1] == pytest.approx((636506820115876452 - 636506816837276482) / 1e7)


@pytest.mark.parametrize("name", ["File053.pssession", "p-Br-Ph-CO2Me_MeCN.pssession"])
def test_charge_counter_and_scan_rate_agree_with_the_data(realdata, name):
    e = read(realdata / CHEM / name)
    rates = e.metadata.scan_rates_V_s
    for k, g in e.data.groupby(CYCLE):
        t, i, e_v = (g[c].to_numpy() for c in (TIME, CURRENT, VOLTAGE))
        # the session's charge after each point is the running sum of I·Δt (right sum):
        # agreement to the 6 printed digits, relative to the charge span
        q = g["Charge / C"].to_numpy()
        q_sum = np.cumsum(i * np.diff(t, append=t[-1] + (t[1] - t[0])))
        assert np.max(np.abs(q - q_sum)) <= 2e-3 * np.ptp(q_sum)
        # dE/dt of the data equals the method's SCAN_RATE (staircase: 10 mV steps)
        rate = np.median(np.abs(np.diff(e_v)) / np.diff(t))
        assert rate == pytest.approx(rates[k - 1], rel=0.01)


def test_pbr_session_six_measurements(realdata):
    e = read(realdata / CHEM / "p-Br-Ph-CO2Me_MeCN.pssession")
    assert e.data.groupby(CYCLE).size().tolist() == [944, 944, 944, 904, 904, 904]
    assert e.metadata.scan_rates_V_s == (0.2, 0.1, 0.05, 0.2, 0.1, 0.1)


def test_session_current_is_anodic_positive(realdata):
    d = read(realdata / CHEM / "p-Br-Ph-CO2Me_MeCN.pssession").data
    rising = np.gradient(d[VOLTAGE].to_numpy()) > 0
    i = d[CURRENT].to_numpy()
    assert np.median(i[rising]) > np.median(i[~rising])


def test_excel_export_holds_the_same_curves_as_the_session(realdata):
    x = read(realdata / CHEM / "p-Br-Ph-CO2Me_MeCN.xlsx")
    s = read(realdata / CHEM / "p-Br-Ph-CO2Me_MeCN.pssession")
    assert x.metadata.file_format == "pstrace-xlsx"
    assert x.data.groupby(CYCLE).size().tolist() == [944, 944, 944, 904, 904, 904]
    for col in (VOLTAGE, CURRENT):
        np.testing.assert_allclose(x.data[col].to_numpy(), s.data[col].to_numpy(),
                                   rtol=1e-5, atol=1e-12)
    assert x.metadata.header["time_is_index"] is True
    assert any("no time and no scan rate" in w for w in x.metadata.warnings)


def _session_bytes(doc: dict) -> bytes:
    return json.dumps(doc).encode("utf-16")


def test_status_flags_counted_and_broken_json_one_line(realdata, tmp_path):
    e = read(realdata / CHEM / "File053.pssession")
    flagged = e.data.groupby(CYCLE)["Status"].apply(lambda s: int((s != 0).sum())).tolist()
    warns = [w for w in e.metadata.warnings if "reading status" in w]
    assert [int(w.split(": ")[1].split(" of ")[0]) for w in warns] == flagged
    bad = tmp_path / "broken.pssession"
    raw = (realdata / CHEM / "File053.pssession").read_bytes()
    bad.write_bytes(raw[: len(raw) // 2 * 2 // 2 * 2 - 4000])
    with pytest.raises(FileFormatError) as info:
        read(bad)
    assert str(bad) in str(info.value) and "\n" not in str(info.value)


def test_measurements_out_of_time_order_refused(realdata, tmp_path):
    raw = (realdata / CHEM / "File053.pssession").read_bytes().decode("utf-16")
    doc = json.loads(raw[: raw.rfind("}") + 1])
    doc["measurements"][1]["timestamp"] = doc["measurements"][0]["timestamp"] + 10
    p = tmp_path / "order.pssession"
    p.write_bytes(_session_bytes(doc))
    with pytest.raises(FileFormatError) as info:
        read(p)
    assert "time-ordered" in str(info.value) and str(p) in str(info.value)


def test_measurement_without_timestamp_is_chained_with_a_warning(realdata, tmp_path):
    raw = (realdata / CHEM / "File053.pssession").read_bytes().decode("utf-16")
    doc = json.loads(raw[: raw.rfind("}") + 1])
    del doc["measurements"][1]["timestamp"]
    p = tmp_path / "nostamp.pssession"
    p.write_bytes(_session_bytes(doc))
    e = read(p)
    g = e.data.groupby(CYCLE)[TIME]
    # measurement 2 starts one sample (0.05 s) after measurement 1 ends
    assert g.min()[2] == pytest.approx(g.max()[1] + 0.05)
    assert any("has no timestamp" in w for w in e.metadata.warnings)
    assert (np.diff(e.data[TIME].to_numpy()) >= 0).all()
