"""Splitting a file into CVs by the instrument's columns, and single-rate files per cycle.

Truths: analytic CVs (a capacitor, i = ±C·v, plus a Gaussian peak of known height and
position), the instrument's own columns of real files (EC-Lab ``control/V``, Gamry's
``CYCLES`` setting and CURVE tables, PalmSens' method scan rates), and dE/dt of the
measured potential as an independent check of each rate.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nasurf.analysis.kinetics import (
    CVSet,
    cycle_count,
    cycle_summary,
    prepare_branches,
    split_sweeps,
)
from nasurf.cli import app
from nasurf.errors import ValidationError
from nasurf.io import CURRENT, CYCLE, TIME, VOLTAGE, read
from nasurf.io.table import EchemData, Metadata

C_F = 2e-3           # capacitance (F)
E_LO, E_HI = 0.0, 1.0
PEAK_E, PEAK_A, PEAK_W = 0.6, 5e-4, 0.03


def capacitor_cv(rate: float, cycles: int, *, step: float = 1e-3, start: float | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, E, i) of ``cycles`` loops low→high→low at ``rate``: i = ±C·v plus a Gaussian
    anodic peak at PEAK_E and its mirror (−) on the cathodic sweep at PEAK_E − 0.05 V."""
    up = np.arange(E_LO, E_HI + step / 2, step)
    e_parts, i_parts = [], []
    for _ in range(cycles):
        ia = C_F * rate + PEAK_A * np.exp(-((up - PEAK_E) / PEAK_W) ** 2 / 2)
        ic = -C_F * rate - PEAK_A * np.exp(-((up - PEAK_E + 0.05) / PEAK_W) ** 2 / 2)
        # each vertex appears twice (end of one sweep, start of the next, 0 s apart):
        # the current jumps there, and every sweep holds its full grid E_LO..E_HI
        e_parts += [up, up[::-1]]
        i_parts += [ia, ic[::-1]]
    e = np.concatenate(e_parts)
    i = np.concatenate(i_parts)
    if start is not None:   # begin with an approach sweep from `start` down to E_LO
        ramp = np.arange(start, E_LO, -step)
        e = np.concatenate([ramp, e])
        i = np.concatenate([np.full(ramp.size, -C_F * rate), i])
    t = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(e)) / rate)])
    return t, e, i


def three_rate_record(with_counters: bool) -> EchemData:
    """20, 200 and 50 mV/s (the issue's CVA order), 2 loops each, one record."""
    ts, es, is_, cyc = [], [], [], []
    t0 = 0.0
    for k, v in enumerate((0.02, 0.2, 0.05)):
        t, e, i = capacitor_cv(v, 2)
        ts.append(t + t0 + (1.0 if k else 0.0))
        t0 = ts[-1][-1]
        es.append(e)
        is_.append(i)
        cyc.append(np.full(e.size, k + 1))
    df = pd.DataFrame({TIME: np.concatenate(ts), VOLTAGE: np.concatenate(es),
                       CURRENT: np.concatenate(is_)})
    md = Metadata(source="three-rates")
    if with_counters:
        df[CYCLE] = np.concatenate(cyc).astype(np.int64)
        md = Metadata(source="three-rates", scan_rate_V_s=0.02,
                      scan_rates_V_s=(0.02, 0.2, 0.05))
    return EchemData(df, md)


@pytest.mark.parametrize("with_counters", [True, False])
def test_three_rates_in_one_record(with_counters):
    cvset = CVSet.from_echem(three_rate_record(with_counters))
    assert cvset.scan_rates_V_s == pytest.approx([0.02, 0.05, 0.2], rel=1e-9)
    assert [cycle_count(c) for c in cvset.cvs] == [2, 2, 2]
    how = {c.scan_rate_source for c in cvset.cvs}
    assert how == ({"metadata"} if with_counters else {"data"})
    # the b-value of a pure capacitor is 1: the prepared currents scale with v exactly
    prep = prepare_branches(cvset, vertex_exclusion_V=0.05)
    ratio = prep.currents["anodic"][2] / prep.currents["anodic"][0]
    far = np.abs(prep.grids["anodic"] - PEAK_E) > 0.3   # Gaussian < 1e-21 A there
    assert ratio[far] == pytest.approx(10.0, rel=1e-9)


def test_ec_lab_control_potential_rates_and_transition(tmp_path):
    # an EC-Lab-like record whose set rate changes mid-sweep (as in yadg cva.issue_135):
    # 20 mV/s loops, then 10 mV/s for part of a cathodic sweep, then 5 mV/s loops
    t1, e1, i1 = capacitor_cv(0.02, 2)
    part = np.arange(E_LO + 0.999, 0.5, -1e-3)           # 1.0 -> 0.5 V at 10 mV/s
    t2 = t1[-1] + np.cumsum(np.full(part.size, 1e-3 / 0.01))
    e2 = part
    i2 = np.full(part.size, -C_F * 0.01)
    t3, e3, i3 = capacitor_cv(0.005, 2)
    t3 = t2[-1] + 1e-3 / 0.005 + t3
    # make the record continuous: the 20 mV/s part ends at E_LO, go up to 1.0 first
    up = np.arange(E_LO + 1e-3, E_HI, 1e-3)
    tu = t1[-1] + np.cumsum(np.full(up.size, 1e-3 / 0.02))
    t2 = t2 - t1[-1] + tu[-1]
    t3 = t3 - t1[-1] + tu[-1]
    t = np.concatenate([t1, tu, t2, t3])
    e = np.concatenate([e1, up, e2, e3])
    i = np.concatenate([i1, np.full(up.size, C_F * 0.02), i2, i3])
    df = pd.DataFrame({TIME: t, VOLTAGE: e, CURRENT: i, "control/V": e})
    d = EchemData(df, Metadata(source="cva-like"))
    from nasurf.io.biologic import control_rate_runs

    runs = control_rate_runs(t, e)
    assert [r for *_, r in runs] == [0.02, 0.01, 0.005]
    cvset = CVSet.from_echem(d)
    assert cvset.scan_rates_V_s == pytest.approx([0.005, 0.02])
    assert {c.scan_rate_source for c in cvset.cvs} == {"control potential"}
    left = [w for w in cvset.warnings if "10 mV/s hold no complete cycle" in w]
    assert len(left) == 1
    n10 = runs[1][1] - runs[1][0]
    assert f"{n10} rows left out" in left[0]


@pytest.mark.realdata
def test_cva_issue_135_rates_and_cvs(realdata):
    path = realdata / "yadg" / "cva.issue_135.mpr"
    d = read(path)
    assert d.metadata.scan_rates_V_s == (0.02, 0.01, 0.005)
    assert d.metadata.scan_rate_V_s == 0.02
    cvset = CVSet.from_echem(d)
    assert cvset.scan_rates_V_s == pytest.approx([0.005, 0.02])
    # every CV has a complete cycle: no transition stretch became a CV
    assert all(cycle_count(c) >= 1 for c in cvset.cvs)
    # independent check of each rate: a straight-line fit of the *measured* potential
    # against time over each complete sweep (the control/V column gave the rate)
    # (median over sweeps: a few 20 mV/s sweeps hold the potential between cycles)
    for c in cvset.cvs:
        e, t = c.potential_V, c.time_s
        slopes = [abs(np.polyfit(t[sl] - t[sl][0], e[sl], 1)[0])
                  for sl, _ in split_sweeps(e) if np.ptp(e[sl]) >= 0.9 * np.ptp(e)]
        assert np.median(slopes) == pytest.approx(c.scan_rate_V_s, rel=0.01)
    # the rows not used are counted: the 10 mV/s stretch and the second 20 mV/s run
    used = sum(c.rows[1] - c.rows[0] for c in cvset.cvs)
    counted = 0
    for w in cvset.warnings:
        if "rows left out" in w:
            counted += int(w.split(" rows left out")[0].rsplit(" ", 1)[1])
        elif "are left out" in w:
            counted += int(w.split(" rows) are left out")[0].rsplit("(", 1)[1])
    assert used + counted == len(d)


@pytest.mark.realdata
def test_gamry_single_rate_cv_per_cycle(realdata):
    path = realdata / "chemotion-converter-app" / "DHM-15-CV-Demo.DTA"
    d = read(path)
    cvset = CVSet.from_echem(d)
    assert len(cvset) == 1
    cv = cvset.cvs[0]
    # CYCLES 3 in the file's settings; SCANRATE 99.9998 mV/s
    assert cycle_count(cv) == 3 == int(d.metadata.header["CYCLES"])
    assert cv.scan_rate_V_s == pytest.approx(0.0999998)
    summary = cycle_summary(cv)
    tab = summary.table
    assert len(tab) == 3
    # the peaks of a repeated CV agree within the 5 mV step (STEPSIZE 5 mV)
    assert np.ptp(tab["anodic_peak_potential_V"]) <= 0.005 + 1e-9
    assert np.ptp(tab["cathodic_peak_potential_V"]) <= 0.010 + 1e-9
    assert summary.notes and "two or more scan rates" in summary.notes[0]


def test_cycle_summary_analytic_peaks_and_charges():
    v = 0.01
    t, e, i = capacitor_cv(v, 3)
    cvset = CVSet.from_echem(EchemData(pd.DataFrame({TIME: t, VOLTAGE: e, CURRENT: i}),
                                       Metadata(source="cap")))
    s = cycle_summary(cvset.cvs[0], vertex_exclusion_V=0.02)
    assert len(s.table) == 3
    # each anodic sweep holds the rows from E_LO to E_HI: ∫ i dt = C·ΔE + A·w·√(2π)/v
    # (the Gaussian is within 13 w of both ends: its tails are < 1e-30)
    q_exact = C_F * (E_HI - E_LO) + PEAK_A * PEAK_W * np.sqrt(2 * np.pi) / v
    for _, row in s.table.iterrows():
        assert row["anodic_peak_potential_V"] == pytest.approx(PEAK_E, abs=1e-9)
        assert row["cathodic_peak_potential_V"] == pytest.approx(PEAK_E - 0.05, abs=1e-9)
        assert row["anodic_peak_current_A"] == pytest.approx(C_F * v + PEAK_A, rel=1e-12)
        assert row["cathodic_peak_current_A"] == pytest.approx(-C_F * v - PEAK_A, rel=1e-12)
        # trapezoid on a 1 mV grid against the integral: error ~ h²·f''/12 per unit length
        assert row["anodic_charge_C"] == pytest.approx(q_exact, rel=1e-5)
        assert row["cathodic_charge_C"] == pytest.approx(-q_exact, rel=1e-5)
        assert row["charge_ratio"] == pytest.approx(1.0, rel=1e-6)
        assert row["peak_separation_V"] == pytest.approx(0.05, abs=1e-9)


def test_no_complete_cycle_names_the_sweeps_and_the_file_once(tmp_path):
    t, e, i = capacitor_cv(0.01, 1)
    half = e.size // 2 + 5          # only the anodic sweep and a bit of the return
    p = tmp_path / "half.csv"
    pd.DataFrame({TIME: t[:half], VOLTAGE: e[:half], CURRENT: i[:half]}).to_csv(p,
                                                                                index=False)
    with pytest.raises(ValidationError, match="1 full anodic, 0 full cathodic"):
        cycle_summary(CVSet.from_echem(read(p)).cvs[0])
    result = CliRunner().invoke(app, ["analyze", "cv", str(p), "--json"])
    assert result.exit_code == 2
    line = "".join(result.stderr.split("\n"))
    assert line.count(str(p)) == 1 and "no complete cycle" in line


@pytest.mark.realdata
def test_pstrace_export_needs_rates_and_session_rates_come_from_the_method(realdata):
    base = realdata / "chemotion-converter-app"
    with pytest.raises(ValidationError, match="scan rate is unknown"):
        CVSet.from_echem(read(base / "p-Br-Ph-CO2Me_MeCN.xlsx"))
    s = CVSet.from_echem(read(base / "p-Br-Ph-CO2Me_MeCN.pssession"))
    assert sorted({round(c.scan_rate_V_s, 6) for c in s.cvs}) == [0.05, 0.1, 0.2]
    assert all(c.scan_rate_source == "metadata" for c in s.cvs)


@pytest.mark.realdata
def test_read_reports_every_scan_rate(realdata):
    result = CliRunner().invoke(app, ["read", str(realdata / "yadg" / "cva.issue_135.mpr"),
                                      "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    summary = doc[0] if isinstance(doc, list) else doc
    found = summary.get("scan_rates_V_s") or summary.get("summary", {}).get("scan_rates_V_s")
    assert found == [0.02, 0.01, 0.005]


def test_single_scan_starting_inside_the_window_is_closed_into_one_cycle():
    # E_begin 0.4 V -> 1.0 -> 0.0 -> 0.4 V (one PSTrace-style scan): the anodic branch is
    # split between the start and the end; rotated, it is one cycle with the exact charges
    v = 0.01
    up = np.round(np.arange(0.0, 1.0 + 5e-4, 1e-3), 6)
    k0 = 400
    e = np.concatenate([up[k0:], up[::-1][1:], up[1:k0 + 1]])
    direction = np.sign(np.diff(e, append=e[-1] + 1e-3))
    i = C_F * v * direction
    t = np.concatenate([[0.0], np.cumsum(np.abs(np.diff(e)) / v)])
    d = EchemData(pd.DataFrame({TIME: t, VOLTAGE: e, CURRENT: i}), Metadata(source="scan"))
    cvset = CVSet.from_echem(d)
    cv = cvset.cvs[0]
    assert cycle_count(cv) == 1
    assert any("put before its first" in w for w in cv.warnings)
    assert (np.diff(cv.time_s) > 0).all()
    s = cycle_summary(cv, vertex_exclusion_V=0.02)
    row = s.table.iloc[0]
    # |∫ i dt| over each full sweep = C·ΔE (1 V window), less at most one 1 mV step at each
    # end (a vertex row belongs to the sweep that ends there; the junction of the rotated
    # branch repeats E_begin): tolerance 2·C·1 mV
    step_q = C_F * 1e-3
    assert row["anodic_charge_C"] == pytest.approx(C_F * 1.0, abs=2 * step_q + 1e-15)
    assert row["cathodic_charge_C"] == pytest.approx(-C_F * 1.0, abs=2 * step_q + 1e-15)


@pytest.mark.realdata
def test_pbr_session_three_rates_from_one_window(realdata):
    d = read(realdata / "chemotion-converter-app" / "p-Br-Ph-CO2Me_MeCN.pssession")
    cvset = CVSet.from_echem(d)
    assert cvset.scan_rates_V_s == pytest.approx([0.05, 0.1, 0.2])
    # the three measurements of the -2.7 V window (method E_VTX1) are the ones used: the
    # repeats at -2.5 V are left out and counted
    meas = d.metadata.header["measurements"]
    assert all(c.rows[0] < 3 * 944 for c in cvset.cvs)
    assert {round(m["E_vertex1_V"], 3) for m in meas[:3]} == {-2.7}
    assert all(cycle_count(c) == 1 for c in cvset.cvs)
    assert sum("left out" in w for w in cvset.warnings) == 3


@pytest.mark.realdata
def test_session_with_three_measurements_at_one_rate_gives_three_runs(realdata):
    # File053: 3 measurements of 724 rows at 200 mV/s (chemotion asserts the 3 x 724);
    # all three are analysed per cycle, none silently dropped
    path = realdata / "chemotion-converter-app" / "File053.pssession"
    result = CliRunner().invoke(app, ["analyze", "cv", str(path), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["mode"] == "single scan rate"
    assert [c["run_rows"] for c in doc["cycles"]] == ["0-723", "724-1447", "1448-2171"]
    assert doc["conventions"]["scan_rates_mV_s"] == [200.0]
    assert any("3 runs at 200 mV/s" in n for n in doc["notes"])
    assert not any("left out" in w for w in doc["warnings"])


def _three_rate_csv(tmp_path, with_counters: bool):
    d = three_rate_record(with_counters)
    p = tmp_path / ("counters.csv" if with_counters else "plain.csv")
    d.data.to_csv(p, index=False)
    return p


def test_cli_three_rates_one_file_and_given_rates(tmp_path):
    # the issue's case: one file with 20, 200 and 50 mV/s. Without counters the rates come
    # from dE/dt; --scan-rates in file order must then match the three CVs found
    p = _three_rate_csv(tmp_path, with_counters=False)
    runner = CliRunner()
    res = runner.invoke(app, ["analyze", "cv", str(p), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["conventions"]["scan_rates_mV_s"] == pytest.approx([20, 50, 200], rel=1e-6)
    res = runner.invoke(app, ["analyze", "cv", str(p), "--scan-rates", "20,200,50", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["conventions"]["scan_rates_mV_s"] == pytest.approx([20, 50, 200])
    assert doc["conventions"]["scan_rate_sources"] == ["given"]
    res = runner.invoke(app, ["analyze", "cv", str(p), "--scan-rates", "20,200", "--json"])
    assert res.exit_code == 2
    assert "2 scan rates given but the data hold 3 CVs" in "".join(res.stderr.split("\n"))


def test_blocks_matched_to_the_nearest_set_rate():
    # counters (cycle number per loop, 6 blocks) but only the 3 set rates: each block's
    # measured rate is matched to the nearest set rate
    d = three_rate_record(with_counters=True)
    df = d.data.copy()
    loop = np.zeros(len(df), dtype=np.int64)
    e = df[VOLTAGE].to_numpy()
    # a new cycle number at every return to E_LO from above (one per loop)
    starts = np.flatnonzero((e[1:] == E_LO) & (e[:-1] > E_LO)) + 1
    for s in starts:
        loop[s:] += 1
    df[CYCLE] = loop + 1
    cvset = CVSet.from_echem(EchemData(df, d.metadata))
    assert cvset.scan_rates_V_s == pytest.approx([0.02, 0.05, 0.2])
    assert {c.scan_rate_source for c in cvset.cvs} == {"metadata"}


def test_settings_rates_in_run_order_and_extra_settings_named():
    # dE/dt settings listing 50, 5, 20 and 10 mV/s; the control potential runs 20, then 5:
    # scan_rates_V_s holds the set values in run order; the never-run rates are named
    from nasurf.io.biologic import _cv_rates_metadata

    t1, e1, _ = capacitor_cv(0.02, 1)
    t2, e2, _ = capacitor_cv(0.005, 1)
    t = np.concatenate([t1, t1[-1] + 1e-3 / 0.005 + t2])
    e = np.concatenate([e1, e2])
    df = pd.DataFrame({TIME: t, VOLTAGE: e, CURRENT: np.zeros(e.size), "control/V": e})
    md = Metadata(source="s", technique="CVA", scan_rate_V_s=0.05,
                  scan_rates_V_s=(0.05, 0.005, 0.02, 0.01))
    out = _cv_rates_metadata(df, md)
    assert out.scan_rates_V_s == (0.02, 0.005)
    assert out.scan_rate_V_s == 0.02
    assert any("50, 10 mV/s" in n and "never sweeps" in n for n in out.notes)
    # a control rate the settings do not list is a warning; the measured rates are used
    md2 = Metadata(source="s", technique="CVA", scan_rate_V_s=0.02, scan_rates_V_s=(0.02,))
    out2 = _cv_rates_metadata(df, md2)
    assert out2.scan_rates_V_s == (0.02, 0.005)
    assert any("do not list" in w for w in out2.warnings)


@pytest.mark.realdata
def test_pstrace_export_with_given_rates(realdata):
    # the Excel export has no clock: its six curves stay six CVs, one per given rate; the
    # three of the first window carry the session's rates 200, 100, 50 mV/s
    d = read(realdata / "chemotion-converter-app" / "p-Br-Ph-CO2Me_MeCN.xlsx")
    first = d.data[d.data[CYCLE] <= 3]
    s = CVSet.from_echem(EchemData(first.reset_index(drop=True), d.metadata),
                         scan_rates_V_s=[0.2, 0.1, 0.05])
    assert s.scan_rates_V_s == pytest.approx([0.05, 0.1, 0.2])
    assert [c.rows for c in sorted(s.cvs, key=lambda c: c.rows)] == [(0, 944), (944, 1888),
                                                                      (1888, 2832)]
    assert all(cycle_count(c) == 1 for c in s.cvs)    # each single scan closed
    with pytest.raises(ValidationError, match="2 scan rates given but the data hold 3 CVs"):
        CVSet.from_echem(EchemData(first.reset_index(drop=True), d.metadata),
                         scan_rates_V_s=[0.2, 0.1])


@pytest.mark.realdata
def test_same_rate_twice_names_the_file_once(realdata):
    path = realdata / "yadg" / "cva.issue_135.mpr"
    res = CliRunner().invoke(app, ["analyze", "cv", str(path), "--scan-rates", "20,20"])
    assert res.exit_code == 2
    line = "".join(res.stderr.split("\n"))
    assert line.count(str(path)) == 1
    assert "rows 0-47551 and rows 48689-52375" in line
