"""Simulated cyclic voltammetry against analytic limits: capacitor (b = 1) and Randles-Sevcik."""

from __future__ import annotations

import numpy as np
import pytest

from nasurf.sim.experiment import Experiment
from nasurf.sim.model import MeshSpec
from nasurf.sim.parameters import R_GAS, F, load_material
from nasurf.sim.simulate import simulate


def _sweep(p, v_from, v_to, rate_mV_s, mesh=None):
    exp = Experiment.from_strings([f"Sweep from {v_from} V to {v_to} V at {rate_mV_s} mV/s"],
                                  initial_voltage=v_from, lower_cutoff_V=-5, upper_cutoff_V=5)
    r = simulate(p, exp, mesh=mesh)
    d = r.echem().data
    return d["Voltage / V"].to_numpy(), d["Current / A"].to_numpy() / (
        r.echem().metadata.active_mass_g * 1e-3), r   # A/kg


def test_capacitive_electrode_b_is_one_and_dunn_fraction_near_one():
    # insertion switched off (k0 -> 0): only the double layer stores charge
    p = load_material("na2ti3o7").with_changes(rate_constant=1e-30, sei_capacity=0.0,
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
    base = load_material("na2ti3o7")
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
