"""Randles–Sevcik (methods.md §4): constant, forward ip, inverse D, and a physics check.

The physics check simulates a reversible couple under semi-infinite planar diffusion
(Crank–Nicolson finite differences, Nernstian boundary) — an independent truth for the
whole chain: CV loop → branches → peak tracking → b → apparent D.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import solve_banded

from nasurf.analysis.kinetics import (
    CVSet,
    b_value_peaks,
    randles_sevcik_constant,
    randles_sevcik_D,
    randles_sevcik_from_peaks,
    randles_sevcik_peak_current,
)
from nasurf.constants import FARADAY_C_PER_MOL as FARADAY
from nasurf.constants import GAS_CONSTANT_J_PER_MOL_K as GAS_CONSTANT
from nasurf.errors import ValidationError


def test_constant_at_298_and_303_K():
    # methods.md §4 [verified]: 2.6865e5 at 298.15 K, 2.6642e5 at 303.15 K (4-5 digits)
    assert randles_sevcik_constant() == pytest.approx(2.6865e5, rel=5e-5)
    assert randles_sevcik_constant(303.15) == pytest.approx(2.6642e5, rel=5e-5)
    # irreversible form: 2.99e5 at 25 °C (Bard & Faulkner, 3 digits)
    assert randles_sevcik_constant(form="irreversible") == pytest.approx(2.99e5, rel=2e-3)


def test_forward_peak_currents():
    # n = 1, A = 1 cm², C = 0.01 mol/cm³, D = 1e-12 cm²/s → 2.686e-5 A (0.1 mV/s) and
    # 8.495e-5 A (1 mV/s); 4 significant digits published
    ip = randles_sevcik_peak_current(1e-12, np.array([1e-4, 1e-3]), n=1, area_cm2=1.0,
                                     concentration_mol_cm3=0.01)
    np.testing.assert_allclose(ip, [2.686e-5, 8.495e-5], rtol=2e-4)


def test_inverse_worked_example():
    # slope 1.0e-3 A/(V/s)^½, A = 1.13 cm², C = 0.01454 mol/cm³ → D = 5.13e-14 cm²/s
    v = np.array([1e-4, 2e-4, 5e-4, 1e-3, 2e-3])
    res = randles_sevcik_D(v, 1e-3 * np.sqrt(v), area_cm2=1.13, concentration_mol_cm3=0.01454)
    assert res.D_cm2_s == pytest.approx(5.13e-14, rel=1e-3)
    assert res.D_with_intercept_cm2_s == pytest.approx(res.D_cm2_s, rel=1e-9)
    assert res.intercept_A == pytest.approx(0.0, abs=1e-15)
    assert res.warnings == ()


def test_nonlinear_or_non_diffusive_data_warns():
    v = np.array([1e-4, 2e-4, 5e-4, 1e-3, 2e-3])
    res = randles_sevcik_D(v, 0.02 * v, area_cm2=1.0, concentration_mol_cm3=0.01)  # b = 1
    assert any("outside 0.5 ± 0.1" in w for w in res.warnings)
    res = randles_sevcik_D(v, 1e-6 + 1e-4 * np.sqrt(v), area_cm2=1.0,
                           concentration_mol_cm3=0.01)
    assert any("significant intercept" in w for w in res.warnings)
    with pytest.raises(ValidationError, match="alpha_na"):
        randles_sevcik_D(v, np.sqrt(v), area_cm2=1, concentration_mol_cm3=0.01,
                         form="irreversible")


def test_irreversible_form_round_trip():
    ip = randles_sevcik_peak_current(3e-11, np.array([1e-4, 1e-3, 1e-2]), n=1, area_cm2=0.5,
                                     concentration_mol_cm3=0.02, form="irreversible",
                                     alpha_na=0.5)
    res = randles_sevcik_D([1e-4, 1e-3, 1e-2], ip, area_cm2=0.5, concentration_mol_cm3=0.02,
                           form="irreversible", alpha_na=0.5)
    assert res.D_cm2_s == pytest.approx(3e-11, rel=1e-10)


def simulate_reversible_cv(v, D=1e-12, conc=0.01, e0=0.5, half_width=0.3, T=298.15):
    """One CV loop (E0−0.3 → E0+0.3 → E0−0.3 V) of R ⇌ O + e⁻, A = 1 cm², equal D.

    Crank–Nicolson on a uniform grid scaled by the diffusion length √(D·RT/(F·v)), so the
    discretisation is the same at every rate; 40 points per diffusion length and 1 mV
    per time step give the Randles–Sevcik peak function to ~0.1 %.
    """
    f = FARADAY / (GAS_CONSTANT * T)
    delta = math.sqrt(D / (f * v))
    h = delta / 40
    t_total = 4 * half_width / v
    nx = int(6 * math.sqrt(D * t_total) / h) + 2
    dE = 1e-3
    dt = dE / v
    lam = D * dt / h**2
    e_up = np.arange(e0 - half_width, e0 + half_width + dE / 2, dE)
    e_path = np.concatenate([e_up, e_up[::-1]])
    c = np.full(nx, conc)  # reduced species R; O = conc − R everywhere
    n_in = nx - 2  # unknowns 1..nx-2; c[0] Nernst, c[-1] bulk
    ab = np.zeros((3, n_in))
    ab[0, 1:] = -lam / 2
    ab[1, :] = 1 + lam
    ab[2, :-1] = -lam / 2
    cur = np.empty(e_path.size)
    for k, e in enumerate(e_path):
        c_surf = conc / (1 + math.exp(f * (e - e0)))
        rhs = c[1:-1] * (1 - lam) + lam / 2 * (c[:-2] + c[2:])
        rhs[0] += lam / 2 * c_surf
        rhs[-1] += lam / 2 * conc
        c[0] = c_surf
        c[1:-1] = solve_banded((1, 1), ab, rhs)
        # anodic current = F·A·D·∂c_R/∂x at the surface (second-order one-sided)
        cur[k] = FARADAY * D * (-3 * c[0] + 4 * c[1] - c[2]) / (2 * h)
    return e_path, cur


def test_simulated_reversible_cv_gives_b_half_and_recovers_D():
    rates = np.array([0.1, 0.2, 0.5, 1.0, 2.0]) * 1e-3
    D = 1e-12
    sims = [simulate_reversible_cv(v, D=D) for v in rates]
    cvs = CVSet.from_arrays(rates, [s[0] for s in sims], [s[1] for s in sims])
    kin = b_value_peaks(cvs, vertex_exclusion_V=0.0)
    anodic = kin.fits.query("branch == 'anodic'").iloc[0]
    # the simulation is self-similar in v: b = 0.5 up to the 1 mV peak-position grid
    assert anodic["b"] == pytest.approx(0.5, abs=2e-3)
    peaks = kin.peaks.query("peak_id == @anodic.peak_id")
    # reversible peak at E0 + 1.109·RT/F = 0.5285 V (± the 1 mV grid)
    np.testing.assert_allclose(peaks["potential_V"], 0.5 + 1.109 * 0.025693, atol=1.5e-3)
    # Randles–Sevcik from the simulated peaks: D within 1 % (FD error ~0.1 %, peak read
    # on a 1 mV grid: the current is flat to 1e-4 relative within ±1 mV of the maximum)
    rs = randles_sevcik_from_peaks(kin, n=1, area_cm2=1.0, concentration_mol_cm3=0.01)
    assert rs[anodic["peak_id"]].D_cm2_s == pytest.approx(D, rel=0.01)
    assert rs[anodic["peak_id"]].warnings == ()
    # ΔEp of a reversible couple switched 300 mV past E0: ≈ 58 mV (Bard & Faulkner 57–59)
    couples = kin.couples
    assert len(couples) == 5
    np.testing.assert_allclose(couples["delta_Ep_V"], 0.058, atol=0.002)
