"""SPMe-class electrolyte correction against the steady electrolyte under a constant current.

Truth: the steady one-dimensional binary electrolyte of a Na-metal half cell (separator
0 < x < L_s, working electrode L_s < x < L_s + L_p with a uniform reaction): the ionic
current i_e(x) falls linearly to zero across the electrode, the salt flux obeys
D_eff dc/dx = −(1 − t+) i_e/F (no anion flux at steady state), the porosity-weighted mean
of c stays c_e (salt conservation) and the electrolyte potential obeys
dφ_e/dx = −i_e/κ_eff + 2(1 − t+)(RT/F) d ln c/dx. Integrated here numerically on a fine grid
(no closed form shared with the model), the overpotential the reaction sees is φ_e averaged
over the electrode minus φ_e at the metal; D_eff = D ε^b, κ_eff = κ ε^b (Bruggeman).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import cumulative_trapezoid

from nasurf.sim.model import build_model
from nasurf.sim.parameters import R_GAS, F, load_material
from nasurf.sim.simulate import DEFAULT_AREA_CM2, simulate
from sim_v0 import frozen

KAPPA = 0.8  # S/m, a carbonate NaPF6 electrolyte


def _params(**kw):
    base = dict(electrolyte_conductivity=KAPPA, sei_capacity=0.0, double_layer_capacitance=0.0,
                electrode_thickness=80e-6, separator_thickness=25e-6,
                electrode_porosity=0.35, separator_porosity=0.55, electrolyte_diffusivity=2e-10,
                transference_number=0.4)
    base.update(kw)
    return load_material(frozen("na2ti3o7")).with_changes(**base)


def steady_electrolyte_overpotential(p, I_A, n=20001):
    """Electrolyte share of V − Φ at steady state for areal current I_A (anodic positive)."""
    Ls, Lp = p.separator_thickness, p.electrode_thickness
    t = p.transference_number
    b = p.bruggeman
    # one grid per region (the point x = L_s belongs to both, with each region's porosity)
    xs = np.linspace(0.0, Ls, n // 4)
    xe = np.linspace(Ls, Ls + Lp, n)
    i_s = np.full_like(xs, -I_A)                           # + toward the electrode
    i_el = -I_A * (1 - (xe - Ls) / Lp)
    eps_s, eps_e = p.separator_porosity, p.electrode_porosity
    De = p.electrolyte_diffusivity
    kap = p.electrolyte_conductivity
    dc_s = cumulative_trapezoid(-(1 - t) * i_s / (F * De * eps_s ** b), xs, initial=0.0)
    dphi_s = cumulative_trapezoid(-i_s / (kap * eps_s ** b), xs, initial=0.0)
    dc_e = dc_s[-1] + cumulative_trapezoid(-(1 - t) * i_el / (F * De * eps_e ** b), xe,
                                           initial=0.0)
    dphi_e = dphi_s[-1] + cumulative_trapezoid(-i_el / (kap * eps_e ** b), xe, initial=0.0)
    dc = np.concatenate([dc_s, dc_e[1:]])
    # salt conservation fixes c at the metal
    w_sep = eps_s * np.trapezoid(dc_s, xs)
    w_el = eps_e * np.trapezoid(dc_e, xe)
    c_metal = p.electrolyte_concentration - (w_sep + w_el) / (eps_s * Ls + eps_e * Lp)
    c = c_metal + dc
    c_el = c_metal + dc_e
    f = F / (R_GAS * p.temperature)
    phi_el = dphi_e + 2 * (1 - t) / f * (np.log(c_el) - np.log(c_metal))
    # V = Φ_WE − Φ_metal; the reaction sees φ_e averaged over the electrode (uniform rate)
    eta = np.trapezoid(phi_el, xe) / Lp
    return eta, c_metal, np.trapezoid(c_el, xe) / Lp, c, (xe - Ls) / Lp, c_el


def _electrolyte_part(p, I_A):
    with_el = build_model(p)
    without = build_model(p.with_changes(electrolyte_conductivity=0.0))
    I_g = np.array([I_A / p.mass_loading])
    return float(with_el.cell_overpotential(I_g)[0][0] - without.cell_overpotential(I_g)[0][0])


@pytest.mark.parametrize("I_A", [-5.0, -30.0, 30.0, -80.0])   # A/m², up to ~0.4 c_e across
def test_electrolyte_overpotential_matches_the_steady_profile(I_A):
    p = _params()
    eta_true, _c_metal, c_bar, c, x_el, c_el = steady_electrolyte_overpotential(p, I_A)
    # the currents span a small to a large concentration swing
    assert 0.005 < (c.max() - c.min()) / p.electrolyte_concentration < 0.7
    ours = _electrolyte_part(p, I_A)
    # The model takes ln of the electrode-mean concentration, the profile averages ln c:
    # they differ by the second-order term 2(1 − t+)/f·(ln c̄ − mean ln c) ≈ var(c)/(2c̄²),
    # computed here from the profile; everything else (ohmic drop through the separator
    # and the electrode, salt split by conservation, diffusion potential) must agree to
    # quadrature accuracy.
    f = F / (R_GAS * p.temperature)
    mean_ln = np.trapezoid(np.log(c_el), x_el)
    second_order = 2 * (1 - p.transference_number) / f * (np.log(c_bar) - mean_ln)
    assert ours == pytest.approx(eta_true + second_order, abs=1e-8)
    # ... and that term is a small share of the correction (1.2 % at a 60 % swing)
    assert abs(second_order) < 0.015 * abs(eta_true)
    # and the sign: sodiation (I < 0) lowers V, desodiation raises it
    assert np.sign(ours) == np.sign(I_A)


def test_metal_and_electrode_mean_concentrations_match_the_profile():
    p = _params()
    I_A = -40.0
    _, c_metal, c_bar, *_ = steady_electrolyte_overpotential(p, I_A)
    m = build_model(p)
    q = I_A * m.electrolyte_dc_per_current[0]
    s = m.electrolyte_split[0]
    # salt piles up at the metal on sodiation (Na+ made there, consumed in the electrode)
    assert c_metal > p.electrolyte_concentration > c_bar
    assert p.electrolyte_concentration - s * q == pytest.approx(c_metal, rel=1e-6)
    assert p.electrolyte_concentration + (1 - s) * q == pytest.approx(c_bar, rel=1e-6)


def test_galvanostatic_run_shifts_by_the_electrolyte_overpotential():
    # h depends on the current only: at constant current the whole curve shifts by η_el
    p = _params()
    steps = ["Sodiate at 2C until 0.01 V"]
    a = simulate(p.with_changes(electrolyte_conductivity=0.0), steps).echem().data
    b = simulate(p, steps).echem().data
    t_a, v_a = a["Test Time / s"].to_numpy(), a["Voltage / V"].to_numpy()
    t_b, v_b = b["Test Time / s"].to_numpy(), b["Voltage / V"].to_numpy()
    I_A = b["Current / A"].iloc[1] / (DEFAULT_AREA_CM2 * 1e-4)  # A per m² of electrode
    eta, *_ = steady_electrolyte_overpotential(p, I_A)
    assert eta < -1e-3                                     # large enough to be seen
    mid = (t_b > 0.1 * t_b[-1]) & (t_b < 0.8 * t_b[-1])
    shift = v_b[mid] - np.interp(t_b[mid], t_a, v_a)
    # the same exact-engine curve shifted by a constant: 0.5 % of η (second-order term)
    assert np.allclose(shift, eta, rtol=5e-3, atol=1e-6)
    assert t_b[-1] < t_a[-1]                               # the cut-off comes earlier


def test_depleted_electrolyte_is_reported():
    # Where the quasi-steady profile would empty the salt at one end the correction is held
    # at 1 % of c_e (model.cell_overpotential): the run warns, naming the step; just below
    # that current it does not.
    p = _params()
    m = build_model(p)
    s = float(m.electrolyte_split[0])
    I_lim = 0.99 * p.electrolyte_concentration / max(s, 1 - s) \
        / (p.mass_loading * float(m.electrolyte_dc_per_current[0]))      # A/kg = mA/g
    assert bool(m.electrolyte_depleted(np.array([1.01 * I_lim]))[0])
    assert not bool(m.electrolyte_depleted(np.array([0.99 * I_lim]))[0])
    above = simulate(p, [f"Sodiate at {1.05 * I_lim:.6g} mA g-1 for 5 s"])
    assert any("emptied" in w and "step 1" in w for w in above.warnings)
    # the warning reads the step's rows: a capacities-only run builds them for it
    caps = simulate(p, [f"Sodiate at {1.05 * I_lim:.6g} mA g-1 for 5 s"], record="capacities")
    assert caps.warnings == above.warnings
    below = simulate(p, [f"Sodiate at {0.9 * I_lim:.6g} mA g-1 for 5 s"])
    assert not any("emptied" in w for w in below.warnings)
    # no electrolyte correction (κ = 0): nothing to deplete
    assert not bool(build_model(_params(electrolyte_conductivity=0.0))
                    .electrolyte_depleted(np.array([10 * I_lim]))[0])
