"""``nasurf analyze eis`` through typer's CliRunner: the JSON contract (parameters by element
name with stderr, ci95, units), series of spectra, real instrument files, outputs, errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from nasurf.analysis.eis import Circuit, sigma_from_diffusion
from nasurf.cli import app

TRUTH = {"R0": 5.0, "R1": 50.0, "CPE1_0": 2e-5, "CPE1_1": 0.9, "W1": 16.663}
F = np.logspace(5, -3, 81)


@pytest.fixture(scope="module")
def runner() -> CliRunner:
    return CliRunner()


def _frame(truth, seed, cycle=None):
    Z = Circuit("R0-p(R1,CPE1)-W1").impedance(truth, F)
    rng = np.random.default_rng(seed)
    Z = Z + 0.003 * np.abs(Z) * (rng.normal(size=Z.size) + 1j * rng.normal(size=Z.size))
    d = {"Frequency / Hz": F, "Z Real / Ohm": Z.real, "Z Imag / Ohm": Z.imag}
    if cycle is not None:
        d["Cycle Count / 1"] = cycle
    return pd.DataFrame(d)


@pytest.fixture
def one_spectrum(tmp_path):
    path = tmp_path / "peis.csv"
    _frame(TRUTH, 0).to_csv(path, index=False)
    return path


@pytest.fixture
def three_spectra(tmp_path):
    path = tmp_path / "series.csv"
    frames = [_frame(dict(TRUTH, R1=50.0 + 25.0 * k), k, cycle=k + 1) for k in range(3)]
    pd.concat(frames).to_csv(path, index=False)
    return path


def _json(result):
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_parameters_by_element_name(runner, one_spectrum):
    doc = _json(runner.invoke(app, [
        "analyze", "eis", str(one_spectrum), "--circuit", "R0-p(R1,CPE1)-W1",
        "--area-cm2", "1.13", "--concentration-mol-cm3", "0.01",
        "--molar-volume-cm3-mol", "9", "--dE-dx-V", "0.5", "--json"]))
    assert doc["n_spectra"] == 1
    assert list(doc["parameters"]) == ["R0", "R1", "CPE1_0", "CPE1_1", "W1"]
    for name, v in TRUTH.items():
        p = doc["parameters"][name]
        assert set(p) >= {"value", "stderr", "ci95", "unit"}
        lo, hi = p["ci95"]
        assert lo <= v <= hi, name                      # 0.3 % noise: truth inside the CI
    assert doc["parameters"]["W1"]["unit"] == "Ohm s^-1/2"
    assert doc["chi2"] > 0 and doc["linkk"]["verdict"] == "valid"
    w = doc["warburg"]
    assert w["window_source"] == "auto"
    assert w["sigma_Ohm_s_half"] == pytest.approx(16.663, rel=0.02)
    assert {d["form"] for d in w["diffusion"]} == {"nernstian_R2T2", "ho_raistrick_huggins"}
    d = doc["derived"]
    assert d["R_ct_Ohm"] == pytest.approx(50.0, rel=0.02)
    assert d["R_ct_area_Ohm_cm2"] == pytest.approx(d["R_ct_Ohm"] * 1.13)
    # D from the fitted W1 (σ = 16.663 was made from D = 1e-12 cm²/s, A 1.13, C 0.01)
    s = sigma_from_diffusion(1e-12, area_cm2=1.13, concentration_mol_cm3=0.01)
    assert s == pytest.approx(16.663, abs=1e-3)
    assert d["diffusion"]["W1"]["D_cm2_s"] == pytest.approx(1e-12, rel=0.05)


def test_series_of_spectra(runner, three_spectra):
    doc = _json(runner.invoke(app, ["analyze", "eis", str(three_spectra), "--json"]))
    assert doc["n_spectra"] == 3
    assert [s["spectrum"] for s in doc["spectra"]] == [1, 2, 3]
    assert [s["start_origin"] for s in doc["spectra"]] == [
        "spectrum", "previous spectrum", "previous spectrum"]
    r1 = [s["parameters"]["R1"]["value"] for s in doc["spectra"]]
    assert r1 == pytest.approx([50.0, 75.0, 100.0], rel=0.02)
    one = _json(runner.invoke(app, ["analyze", "eis", str(three_spectra), "--spectrum", "2",
                                    "--json"]))
    assert one["n_spectra"] == 1 and one["spectrum"] == 2
    assert one["parameters"]["R1"]["value"] == pytest.approx(75.0, rel=0.02)


def test_human_output_and_files(runner, three_spectra, tmp_path):
    out = tmp_path / "out"
    res = runner.invoke(app, ["analyze", "eis", str(three_spectra), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "R0-p(R1,CPE1)-W1" in res.stdout
    names = {p.name for p in out.iterdir()}
    for k in (1, 2, 3):
        assert {f"eis_s{k}_parameters.csv", f"eis_s{k}_nyquist.png", f"eis_s{k}_bode.png",
                f"eis_s{k}_residuals.csv"} <= names
    assert {"eis_series.csv", "eis_series.png", "eis_result.json"} <= names
    table = pd.read_csv(out / "eis_series.csv")
    assert list(table["spectrum"]) == [1, 2, 3]


def test_fit_options(runner, one_spectrum):
    doc = _json(runner.invoke(app, [
        "analyze", "eis", str(one_spectrum), "--initial-guess", "R0=4, R1=60",
        "--constants", "W1=16.663", "--bounds", "CPE1_1=0.5:1", "--weighting", "unit",
        "--fmin", "1e-2", "--fmax", "1e4", "--warburg-window", "0.01:0.1", "--no-linkk",
        "--json"]))
    assert doc["parameters"]["W1"] == {"value": 16.663, "stderr": 0.0,
                                       "ci95": [16.663, 16.663], "unit": "Ohm s^-1/2",
                                       "fixed": True}
    assert doc["weighting"] == "unit"
    assert doc["linkk"] is None
    assert doc["frequency_range_Hz"][0] >= 1e-2 and doc["frequency_range_Hz"][1] <= 1e4
    assert doc["warburg"]["window_source"] == "user"


@pytest.mark.realdata
def test_real_biologic_file_matches_impedance_py(runner, realdata):
    # impedance.py 1.7.1, weight_by_modulus=True, on the same 39 points (see test_eis_fit.py)
    ref = {"R0": 63.45846, "R1": 48.37455, "CPE1_0": 0.00929192, "CPE1_1": 0.9111764}
    doc = _json(runner.invoke(app, [
        "analyze", "eis", str(realdata / "impedance.py" / "exampleDataBioLogic.mpt"),
        "--json"]))
    assert doc["n_points"] == 39
    assert any("inductive points" in n for n in doc["notes"])
    for n, v in ref.items():
        assert doc["parameters"][n]["value"] == pytest.approx(v, rel=0.01), n
    assert any("W1" in w and "do not determine" in w for w in doc["warnings"])


@pytest.mark.realdata
def test_real_multi_spectrum_mpr_is_fitted_as_series(runner, realdata):
    doc = _json(runner.invoke(app, [
        "analyze", "eis", str(realdata / "aurora-cycler-manager" / "PEIS.mpr"),
        "--circuit", "R0-p(R1,CPE1)-p(R2,CPE2)-W1", "--no-linkk", "--json"]))
    # the file's EC-Lab sweep counter holds 4 sweeps of 61 points (SOURCES.md says 5 spectra;
    # the data hold 4 complete sweeps)
    assert doc["n_spectra"] == 4
    assert all(s["n_points"] == 61 for s in doc["spectra"])
    # two arcs plus diffusion describe these battery spectra to ~1-2 % of |Z|
    assert all(s["relative_rmse"] < 0.03 for s in doc["spectra"])


@pytest.mark.realdata
def test_real_61_spectrum_geis_series(runner, realdata):
    # yadg/geis.mpr: 61 GEIS sweeps; the 29 current-step rows (f = 0) are left out and the
    # artefact-laden points above 100 kHz cut with --fmax.
    doc = _json(runner.invoke(app, [
        "analyze", "eis", str(realdata / "yadg" / "geis.mpr"), "--fmax", "1e5",
        "--no-linkk", "--json"]))
    assert doc["n_spectra"] == 61
    assert any("29 rows without an impedance point" in n for n in doc["notes"])
    spectra = doc["spectra"]
    assert [s["spectrum"] for s in spectra] == list(range(1, 62))
    assert sum(s["start_origin"] == "previous spectrum" for s in spectra) >= 55
    rmse = sorted(s["relative_rmse"] for s in spectra)
    assert rmse[30] < 0.05                  # median misfit below 5 % of |Z|
    # the cell ages: R0 and R1 grow from the first to the tenth-last sweep
    r0 = [s["parameters"]["R0"]["value"] for s in spectra]
    r1 = [s["parameters"]["R1"]["value"] for s in spectra]
    assert r0[50] > 1.5 * r0[0] and r1[50] > 1.2 * r1[0]


@pytest.mark.parametrize(("args", "message"), [
    (["--circuit", "R0-p(R1"], "expected"),
    (["--circuit", "R0-Q1"], "unknown element"),
    (["--initial-guess", "R0:5"], "NAME=VALUE"),
    (["--initial-guess", "R9=5"], "unknown parameter"),
    (["--bounds", "R1=5"], "NAME=LOW:HIGH"),
    (["--spectrum", "7"], "not in the file"),
    (["--spectrum", "x"], "sweep number"),
    (["--weighting", "sqrt"], "not one of"),
    (["--fmin", "10", "--fmax", "1"], "below --fmax"),
    (["--fmin", "1e6"], "usable points"),
    (["--area-cm2", "-1"], "must be > 0"),
    (["--warburg-window", "1:0.1"], "FMIN < FMAX"),
])
def test_errors_exit_2_with_message(runner, one_spectrum, args, message):
    res = runner.invoke(app, ["analyze", "eis", str(one_spectrum), *args, "--json"])
    assert res.exit_code == 2, res.output
    assert message in res.stderr
    assert res.stdout == ""


def test_missing_file_and_non_impedance_file(runner, tmp_path):
    res = runner.invoke(app, ["analyze", "eis", str(tmp_path / "nope.csv")])
    assert res.exit_code == 2 and "no such file" in res.stderr
    gcpl = tmp_path / "gcpl.csv"
    pd.DataFrame({"Test Time / s": [0.0, 1.0, 2.0], "Voltage / V": [1.0, 0.9, 0.8],
                  "Current / A": [-1e-4] * 3}).to_csv(gcpl, index=False)
    res = runner.invoke(app, ["analyze", "eis", str(gcpl)])
    assert res.exit_code == 2 and "impedance" in res.stderr


def test_help(runner):
    res = runner.invoke(app, ["analyze", "eis", "--help"])
    assert res.exit_code == 0
    for opt in ("--circuit", "--initial-guess", "--area-cm2", "--concentration-mol-cm3",
                "--fmin", "--fmax", "--spectrum", "--out", "--json"):
        assert opt in res.stdout
