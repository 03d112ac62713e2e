"""Simulated cyclic voltammetry against analytic limits: capacitor (b = 1) and Randles-Sevcik."""

from __future__ import annotations

import numpy as np
import pytest

from nasurf.sim.experiment import Experiment
from nasurf.sim.model import MeshSpec
from nasurf.sim.parameters import R_GAS, F, load_material
from nasurf.sim.simulate import simulate
from sim_v0 import frozen


def _sweep(p, v_from, v_to, rate_mV_s, mesh=None):
    exp = Experiment.from_strings([f"Sweep from {v_from} V to {v_to} V at {rate_mV_s} mV/s"],
                                  initial_voltage=v_from, lower_cutoff_V=-5, upper_cutoff_V=5)
    r = simulate(p, exp, mesh=mesh)
    d = r.echem().data
    return d["Voltage / V"].to_numpy(), d["Current / A"].to_numpy() / (
        r.echem().metadata.active_mass_g * 1e-3), r   # A/kg


def test_capacitive_electrode_b_is_one_and_dunn_fraction_near_one():
    # insertion switched off (k0 -> 0): only the double layer stores charge
    p = load_material(frozen("na2ti3o7")).with_changes(rate_constant=1e-30, sei_capacity=0.0,
                                                double_layer_capacitance=0.2)
    rates = np.array([0.1, 0.2, 0.5, 1.0, 2.0])  # mV/s
    grid = np.linspace(1.4, 2.1, 50)
    currents = []
    for v in rates:
        E, i, r = _sweep(p, 2.5, 1.0, v)
        order = np.argsort(E)
        currents.append(np.interp(grid, E[order], i[order]))
    currents = np.array(currents)                      # (rates, E)
    b = np.polyfit(np.log10(rates), np.log10(np.abs(currents[:, 25])), 1)[0]
    assert b == pytest.approx(1.0, abs=0.02)
    # i = C a v exactly for a capacitor: check the magnitude too (0.5 %)
    C_area = 0.2 * r.model.area_per_kg[0, 0]
    assert np.abs(currents[:, 25]) == pytest.approx(C_area * rates * 1e-3, rel=5e-3)
    # Dunn split i/√v = k1 √v + k2 at each potential: capacitive fraction ~ 1
    v = rates * 1e-3
    k1, _k2 = np.polyfit(np.sqrt(v), (currents / np.sqrt(v)[:, None]), 1)
    frac = np.sum(np.abs(k1[:, None] * v[None, :]), axis=0) / np.sum(np.abs(currents.T), axis=0)
    assert np.all(frac > 0.98)


def test_diffusion_limited_peak_matches_randles_sevcik():
    # reversible insertion into a huge particle: planar semi-infinite diffusion of the
    # vacancies (c* = c_max), Nernstian lattice gas -> i_p = 0.4463 F c* (F v D / RT)^0.5
    base = load_material(frozen("na2ti3o7"))
    from nasurf.sim.parameters import OCP
    p = base.with_changes(
        ocp=OCP("lattice_gas", E0=1.0, slope_factor=1.0, x_max=1.0),
        particle_radius=1e-3, diffusivity=1e-14, rate_constant=1e-5,
        double_layer_capacitance=0.0, sei_capacity=0.0, area_resistance=0.0,
        counter_exchange_current=1e6, electronic_conductivity=1e9)
    mesh = MeshSpec(n_core=90, n_shell=30, surface_refinement=3000)
    rates = np.array([0.2, 0.5, 1.0])
    peaks = []
    for v in rates:
        _E, i, r = _sweep(p, 1.3, 0.7, v, mesh=mesh)
        peaks.append(np.max(-i) / r.model.area_per_kg[0, 0])      # A per m2 of surface
    peaks = np.array(peaks)
    f = F / (R_GAS * p.temperature)
    rs = 0.4463 * F * p.c_max * np.sqrt(f * rates * 1e-3 * p.diffusivity)
    assert peaks == pytest.approx(rs, rel=0.05)
    b = np.polyfit(np.log10(rates), np.log10(peaks), 1)[0]
    assert b == pytest.approx(0.5, abs=0.03)


# --- the same truths through nasurf.analysis and `nasurf analyze cv` ---------------------

CAP_RATES_mV_s = (0.1, 0.2, 0.5, 1.0, 2.0)


def _capacitor_cvs(tmp_path=None):
    from nasurf.sim import cyclic_voltammetry, write_echem_csv

    # k0 = 1e-22 m/s: insertion is ~1e-6 of the double-layer current over the window (a
    # fully blocked host, k0 -> 0, behaves the same: test_fully_blocked_host_...)
    p = load_material(frozen("na2ti3o7")).with_changes(rate_constant=1e-22, sei_capacity=0.0,
                                                double_layer_capacitance=0.2)
    data, paths = [], []
    for v in CAP_RATES_mV_s:
        d = simulate(p, cyclic_voltammetry(v, high_V=2.5, low_V=1.0, cycles=1)).echem()
        data.append(d)
        if tmp_path is not None:
            paths.append(write_echem_csv(d, tmp_path / f"cv_{v:g}.csv"))
    return data, paths


def test_capacitor_through_nasurf_analysis_and_cli(tmp_path):
    import json

    from typer.testing import CliRunner

    from nasurf.analysis import CVSet, b_value_map, dunn_analysis, prepare_branches
    from nasurf.cli import app as nasurf_app

    data, paths = _capacitor_cvs(tmp_path)
    prep = prepare_branches(CVSet.from_echem(data))
    bmap = b_value_map(prep).table
    b = bmap["b"].dropna().to_numpy()
    assert b.size > 100 and np.median(b) == pytest.approx(1.0, abs=0.02)
    dunn = dunn_analysis(prep, mass_g=data[0].metadata.active_mass_g)
    assert np.all(dunn.fractions["capacitive_fraction"].to_numpy() > 0.97)
    # the CSV files, read with mass and scan rate from their sidecars, through the CLI
    res = CliRunner().invoke(nasurf_app, ["analyze", "cv", *map(str, paths), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    fr = [d["capacitive_fraction"] for d in doc["dunn"]]
    assert [d["scan_rate_mV_s"] for d in doc["dunn"]] == pytest.approx(list(CAP_RATES_mV_s))
    assert np.all(np.array(fr) > 0.97)


def test_diffusion_limited_peaks_through_nasurf_analysis():
    from nasurf.analysis import CVSet, b_value_peaks, prepare_branches, randles_sevcik_peak_current
    from nasurf.sim.parameters import OCP

    p = load_material(frozen("na2ti3o7")).with_changes(
        ocp=OCP("lattice_gas", E0=1.0, slope_factor=1.0, x_max=1.0),
        particle_radius=1e-3, diffusivity=1e-14, rate_constant=1e-5,
        double_layer_capacitance=0.0, sei_capacity=0.0, area_resistance=0.0,
        counter_exchange_current=1e6, electronic_conductivity=1e9)
    mesh = MeshSpec(n_core=90, n_shell=30, surface_refinement=3000)
    rates = (0.2, 0.5, 1.0)
    data = []
    for v in rates:
        exp = Experiment.from_strings([f"Sweep from 1.3 V to 0.7 V at {v} mV/s",
                                       f"Sweep from 0.7 V to 1.3 V at {v} mV/s"],
                                      initial_voltage=1.3, lower_cutoff_V=-5, upper_cutoff_V=5)
        r = simulate(p, exp, mesh=mesh)
        data.append(r.echem())
    peaks = b_value_peaks(prepare_branches(CVSet.from_echem(data)))
    cat = peaks.fits[peaks.fits["branch"] == "cathodic"]
    assert len(cat) == 1
    assert float(cat["b"].iloc[0]) == pytest.approx(0.5, abs=0.03)
    # Randles-Sevcik with the particle surface as the area and c_max as the concentration
    mass_g = data[0].metadata.active_mass_g
    area_cm2 = r.model.area_per_kg[0, 0] * mass_g * 1e-3 * 1e4
    ip = randles_sevcik_peak_current(p.diffusivity * 1e4, np.array(rates) * 1e-3,
                                     area_cm2=area_cm2, concentration_mol_cm3=p.c_max * 1e-6)
    measured = np.array([-d.data["Current / A"].min() for d in data])
    assert measured == pytest.approx(ip, rel=0.05)


def test_simulate_cv_then_analyze_cv_end_to_end(tmp_path):
    import json

    from typer.testing import CliRunner

    from nasurf.cli import app as nasurf_app

    runner = CliRunner()
    out = tmp_path / "cv"
    res = runner.invoke(nasurf_app, ["simulate", "cv", "--material", "anatase_tio2",
                                     "--strategy", "surface_functionalisation",
                                     "--scan-rates", "0.2,0.5,1,2", "--high", "2.5",
                                     "--low", "0.05", "--cycles", "1", "--out", str(out),
                                     "--json"])
    assert res.exit_code == 0, res.output
    files = sorted(str(f) for f in out.glob("*.csv"))
    assert len(files) == 4
    res = runner.invoke(nasurf_app, ["analyze", "cv", *files, "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    fr = np.array([d["capacitive_fraction"] for d in doc["dunn"]])
    assert fr.shape == (4,) and np.all((fr > 0.5) & (fr < 1.05))
    assert any(np.isfinite(pk["b"]) for pk in doc["peaks"] if pk.get("b") is not None)


@pytest.mark.parametrize("law", ["consistent", "standard"])
@pytest.mark.parametrize("k0", [1e-22, 1e-30])
def test_fully_blocked_host_is_a_capacitor_over_the_whole_window(k0, law):
    # A blocked host (the faradaic current is round-off next to the double layer) must run
    # both sweeps to the end, down to 0.01 V and back, and carry i = C_dl·a·v exactly
    # (truth: an ideal capacitor). Before the current-form Butler-Volmer residual for a
    # blocked host (solver._implicit_step) Newton stalled or ended the sweep at once.
    from nasurf.sim.experiment import cyclic_voltammetry
    p = load_material(frozen("na2ti3o7")).with_changes(rate_constant=k0, sei_capacity=0.0,
                                                double_layer_capacitance=0.2,
                                                exchange_current_law=law)
    r = simulate(p, cyclic_voltammetry(1.0, high_V=2.5, low_V=0.01, cycles=1))
    assert [s.ended_by for s in r.steps[0]] == ["sweep_end", "sweep_end"]
    assert [s.duration_s for s in r.steps[0]] == pytest.approx([2490.0, 2490.0], rel=1e-9)
    d = r.echem().data
    i = d["Current / A"].to_numpy() / (r.echem().metadata.active_mass_g * 1e-3)
    t = d["Test Time / s"].to_numpy()
    i_cap = 0.2 * r.model.area_per_kg[0, 0] * 1e-3           # A/kg at 1 mV/s
    down = (t > 50) & (t < 2450)
    up = (t > 2540) & (t < 4940)
    assert np.allclose(i[down], -i_cap, rtol=5e-3)
    assert np.allclose(i[up], i_cap, rtol=5e-3)


@pytest.mark.parametrize("material", ["na2ti3o7", "anatase_tio2"])
def test_sweep_from_a_high_potential_starts_at_equilibrium(material):
    # 2.5 V lies above these hosts' OCP at x = 1e-9: the start state is equilibrated at
    # the initial voltage (x0 = 1e-62 for Na2Ti3O7), so the first rows carry only the
    # double-layer current C_dl·a·v, not a desodiation spike (it was 16–21 A/g when x0 was
    # clipped at 1e-9).
    p = load_material(material)
    E, i, r = _sweep(p, 2.5, 0.05, 1.0)
    assert float(r.model.x0[0]) < 1e-9
    C_av = p.double_layer_capacitance * r.model.area_per_kg[0, 0] * 1e-3   # A/kg
    first = E > 2.4
    assert np.max(np.abs(i[first])) < 1.01 * C_av
    assert np.max(np.abs(i)) > 50 * C_av            # the insertion peak is still there
