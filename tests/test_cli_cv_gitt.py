"""``nasurf analyze cv`` and ``nasurf analyze gitt`` through the CLI.

The files are CSVs written to a temporary folder with BDF headers
(``Test Time / s,Voltage / V,Current / A``), the generic format every reader accepts;
their content is the exact synthetic data of methods.md §2 and §5, so the numbers in the
JSON documents are checked against the same truths as the API tests.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nasurf.cli import app
from nasurf.io.table import CURRENT, TIME, VOLTAGE
from test_cv_dunn import (
    E_GRID,
    EXACT_FCAP,
    K1,
    RATES_V_S,
    k2_anodic,
    k2_cathodic,
    section2_loop,
)
from test_gitt import gitt_record, slab_response
from test_randles_sevcik import simulate_reversible_cv

runner = CliRunner()


def write_cv_files(folder):
    paths = []
    for v in RATES_V_S:
        e, i = section2_loop(v)
        # sweep time from |ΔE|/v; the duplicated vertex points get 1 µs
        cols = {TIME: np.concatenate([[0], np.cumsum(np.abs(np.diff(e)) / v + 1e-6)]),
                VOLTAGE: e, CURRENT: i}
        p = folder / f"cv_{v * 1e3:g}mVs.csv"
        pd.DataFrame(cols).to_csv(p, index=False)
        paths.append(str(p))
    return paths


def err(result) -> str:
    """stderr with rich's line wrapping undone."""
    return "".join(result.stderr.split("\n"))


def invoke_json(*args):
    result = runner.invoke(app, ["analyze", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cv_json_contract_and_numbers(tmp_path):
    files = write_cv_files(tmp_path)
    doc = invoke_json("cv", *files, "--vertex-exclusion-mV", "0")
    # rates measured from dE/dt of the files (no settings): 0.1–2 mV/s
    assert doc["conventions"]["scan_rates_mV_s"] == pytest.approx([0.1, 0.2, 0.5, 1, 2],
                                                                  rel=1e-4)
    peaks = {p["branch"]: p for p in doc["peaks"]}
    assert set(peaks) == {"anodic", "cathodic"}
    for p in peaks.values():
        assert len(p["potential_V"]) == 5
        assert p["b"] == pytest.approx(0.5905, abs=5e-4)  # methods.md §1(c)
        assert p["b_stderr"] > 0 and 0.99 < p["r2"] < 1
    assert peaks["anodic"]["potential_V"][0] == pytest.approx(0.5, abs=1e-3)
    dunn = doc["dunn"]
    assert [d["scan_rate_mV_s"] for d in dunn] == pytest.approx([0.1, 0.2, 0.5, 1, 2], rel=1e-4)
    # measured rates differ from the nominal ones by the 1 µs vertex padding (< 1e-6)
    assert [d["capacitive_fraction"] for d in dunn] == pytest.approx(EXACT_FCAP, abs=1e-4)
    assert set(doc["b_map"]) >= {"anodic", "cathodic"}
    assert doc["trasatti"]["q_outer"] > 0
    assert isinstance(doc["warnings"], list)
    assert doc["conventions"]["cycle"] == 2 and doc["conventions"]["baseline"] == "none"


def test_cv_given_rates_mass_and_outputs(tmp_path):
    files = write_cv_files(tmp_path)
    out = tmp_path / "out"
    doc = invoke_json("cv", *files, "--scan-rates", "0.1,0.2,0.5,1,2", "--mass-mg", "2",
                      "--vertex-exclusion-mV", "0", "--out", str(out))
    assert doc["dunn_units"]["k1"] == "F/g"
    # Q_tot (mAh/g) at 0.1 mV/s: ∫|i|dE/(3.6·v·m) of the exact set
    assert doc["dunn"][0]["Q_tot_mAh_g"] == pytest.approx(20.958, rel=1e-3)
    assert doc["conventions"]["mass_source"] == "--mass-mg"
    assert doc["conventions"]["scan_rate_sources"] == ["given"]
    names = {p.name for p in out.iterdir()}
    assert {"cv_kinetics.json", "dunn_fractions.csv", "cv_peaks_fits.csv",
            "cv_capacitive_envelope.png", "cv_capacitive_fraction.png",
            "cv_log_ip_log_v.png", "cv_b_map.png", "cv_trasatti.png"} <= names
    assert json.loads((out / "cv_kinetics.json").read_text())["dunn"][0]["capacitive_fraction"] \
        == pytest.approx(EXACT_FCAP[0], abs=1e-4)


def test_cv_window_and_human_output(tmp_path):
    files = write_cv_files(tmp_path)
    doc = invoke_json("cv", *files, "--window", "0,1", "--vertex-exclusion-mV", "0")
    # methods.md §2 window dependence: 0.781 → ~0.64 at 1 mV/s
    assert doc["dunn"][3]["capacitive_fraction"] == pytest.approx(0.6408, abs=1e-3)
    result = runner.invoke(app, ["analyze", "cv", *files])
    assert result.exit_code == 0, result.output
    assert "Peak b-values" in result.stdout and "Dunn" in result.stdout


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--window", "1"], "Emin,Emax"),
        (["--scan-rates", "0.1,0.2"], "2 scan rates given"),
        (["--baseline", "cubic"], "--baseline"),
        (["--cycle", "7"], "cycle 7 does not exist"),
        (["--mass-mg", "-1"], "must be > 0"),
    ],
)
def test_cv_bad_options_exit_2(tmp_path, extra, fragment):
    files = write_cv_files(tmp_path)
    result = runner.invoke(app, ["analyze", "cv", *files, *extra, "--json"])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert fragment in err(result)


def test_cv_single_rate_is_analysed_per_cycle(tmp_path):
    # one loop at 0.1 mV/s: per-cycle results and a note, not an error. Truth: the loop's
    # anodic current is k1·v + k2(E)·√v, sampled 1 mV apart: the anodic charge is the
    # trapezoid sum of those currents over dt = 1 mV / v (methods.md §2 data)
    files = write_cv_files(tmp_path)
    doc = invoke_json("cv", files[0], "--vertex-exclusion-mV", "0")
    assert doc["mode"] == "single scan rate"
    assert len(doc["cycles"]) == 2               # cv_loop writes two loops
    assert any("two or more scan rates" in n for n in doc["notes"])
    v = RATES_V_S[0]
    ia = K1 * v + k2_anodic(E_GRID) * np.sqrt(v)
    ic = -K1 * v + k2_cathodic(E_GRID) * np.sqrt(v)
    for cyc in doc["cycles"]:
        # ∫ i dt = ∫ i dE / v over the 1 mV grid; the 1 µs vertex steps add < 1e-9 C
        assert cyc["anodic_charge_C"] == pytest.approx(np.trapezoid(ia, E_GRID) / v,
                                                       rel=1e-6)
        assert cyc["cathodic_charge_C"] == pytest.approx(np.trapezoid(ic, E_GRID) / v,
                                                         rel=1e-6)
        assert cyc["anodic_peak_current_A"] == pytest.approx(ia.max(), rel=1e-12)
        assert cyc["cathodic_peak_current_A"] == pytest.approx(ic.min(), rel=1e-12)


def test_cv_missing_file_exit_2(tmp_path):
    result = runner.invoke(app, ["analyze", "cv", str(tmp_path / "nope.csv"), "--json"])
    assert result.exit_code == 2 and "nope.csv" in err(result)
    assert err(result).count("nope.csv") == 1   # the file is named once


def test_gitt_json_contract_and_numbers(tmp_path):
    rec = gitt_record(slab_response, 600.0)
    p = tmp_path / "gitt.csv"
    rec.data.to_csv(p, index=False)
    out = tmp_path / "out"
    doc = invoke_json("gitt", str(p), "--length-um", "1", "--out", str(out))
    pulses = doc["pulses"]
    assert len(pulses) == 3
    for q in pulses:
        # methods.md §5 slab at τ = 600 s: D_WH/D = 1.0000 for both forms (D = 1e-12)
        assert q["D_L2_cm2_s"] == pytest.approx(1e-12, rel=1e-4)
        assert q["D_sqrt_t_cm2_s"] == pytest.approx(1e-12, rel=1e-4)
        assert q["tau_s"] == pytest.approx(600.0)
        assert q["flags"] == []
        assert {"soc", "ir_drop_V"} <= set(q)
    assert [q["soc"] for q in pulses] == pytest.approx([1 / 6, 1 / 2, 5 / 6])
    assert doc["summary"]["n_pulses"] == 3
    assert doc["diffusion_length_cm"] == pytest.approx(1e-4)
    assert {"gitt_pulses.csv", "gitt.json", "gitt_D_vs_soc.png", "gitt_pulse_1.png"} <= {
        f.name for f in out.iterdir()}
    result = runner.invoke(app, ["analyze", "gitt", str(p), "--radius-um", "3"])
    assert result.exit_code == 0 and "GITT pulses" in result.stdout


def test_gitt_material_route_and_errors(tmp_path):
    rec = gitt_record(slab_response, 600.0)
    p = tmp_path / "gitt.csv"
    rec.data.to_csv(p, index=False)
    # L = m/(ρ·S) = 2e-4 g/(2 g/cm³ · 1 cm²) = 1 µm → the same D as --length-um 1
    doc = invoke_json("gitt", str(p), "--mass-mg", "0.2", "--density", "2", "--area-cm2", "1")
    assert doc["pulses"][0]["D_L2_cm2_s"] == pytest.approx(1e-12, rel=1e-4)
    assert doc["area_kind"] == "geometric"
    result = runner.invoke(app, ["analyze", "gitt", str(p), "--mass-mg", "0.2", "--density",
                                 "2", "--molar-volume", "10", "--area-cm2", "1", "--json"])
    assert result.exit_code == 2 and "not both" in err(result) and result.stdout == ""
    result = runner.invoke(app, ["analyze", "gitt", str(p), "--area-kind", "surface",
                                 "--area-cm2", "1", "--json"])
    assert result.exit_code == 2 and "area_kind" in err(result)


def test_demo_kinetics_section_reports_known_answers():
    from nasurf.report.kinetics_section import demo_kinetics_section

    title, body = demo_kinetics_section()
    assert title == "CV kinetics and GITT"
    # the demo runs on the methods.md known-answer sets: b = 0.5905, f_cap 0.5302 …,
    # slab GITT D = 1e-11 cm²/s
    assert "b = 0.5905" in body and "0.5302" in body and "1.0000e-11" in body
    assert body.count("<svg") == 5


def test_cv_randles_sevcik_from_simulated_reversible_couple(tmp_path):
    # finite-difference reversible CVs (D = 1e-12 cm²/s, A = 1 cm², C = 0.01 mol/cm³)
    # written as files; the CLI must recover D to 1 % from the anodic peaks
    files = []
    for v in (1e-4, 2e-4, 5e-4, 1e-3, 2e-3):
        e, i = simulate_reversible_cv(v)
        t = np.concatenate([[0], np.cumsum(np.abs(np.diff(e)) / v + 1e-6)])
        p = tmp_path / f"sim_{v * 1e3:g}.csv"
        pd.DataFrame({TIME: t, VOLTAGE: e, CURRENT: i}).to_csv(p, index=False)
        files.append(str(p))
    doc = invoke_json("cv", *files, "--vertex-exclusion-mV", "0", "--rs-area-cm2", "1",
                      "--rs-conc", "0.01")
    anodic = next(p["peak_id"] for p in doc["peaks"] if p["branch"] == "anodic")
    assert doc["randles_sevcik"][anodic]["D_cm2_s"] == pytest.approx(1e-12, rel=0.01)
    result = runner.invoke(app, ["analyze", "cv", *files, "--rs-area-cm2", "1", "--json"])
    assert result.exit_code == 2 and "--rs-conc" in err(result)
