"""No-shell, no-capacitance limit vs PyBaMM's single particle model (same half-cell numbers).

PyBaMM has no Na half-cell set: as in research/sim-bench/halfcell.py the working electrode
sits in PyBaMM's positive slot with a metal counter electrode ("working electrode":
"positive"); every number is taken from nasurf's Na2Ti3O7 parameter set.
"""

from __future__ import annotations

import numpy as np
import pybamm
import pytest

from nasurf.sim.experiment import Experiment
from nasurf.sim.model import MeshSpec
from nasurf.sim.parameters import load_material
from nasurf.sim.simulate import simulate
from pybamm_halfcell import lattice_gas_halfcell
from sim_v0 import frozen

L_EL, EPS_S, AREA = 50e-6, 0.5, 1e-4  # electrode thickness, solid fraction, 1 cm2


def _ours_params():
    p = load_material(frozen("na2ti3o7"))
    loading = p.density * EPS_S * L_EL
    return p.with_changes(double_layer_capacitance=0.0, sei_capacity=0.0, area_resistance=0.0,
                          electronic_conductivity=1e6, mass_loading=loading)


def _pybamm_solution(p, I_A, n_r):
    # the standard law is the consistent one with n = 1 in j0 (the OCP keeps its n)
    n = p.ocp.slope_factor if p.exchange_current_law == "consistent" else 1.0
    pv = lattice_gas_halfcell(p, I_A, electrode_thickness=L_EL, solid_fraction=EPS_S,
                              porosity=1 - EPS_S, j0_exponent=n)
    model = pybamm.lithium_ion.SPM({"working electrode": "positive"})
    sim = pybamm.Simulation(model, parameter_values=pv,
                            var_pts={"r_p": n_r, "x_n": 10, "x_s": 10, "x_p": 10})
    sol = sim.solve(t_eval=[0, 4000], t_interp=np.linspace(0, 4000, 4001))
    return sol["Time [s]"].entries, sol["Voltage [V]"].entries


@pytest.mark.parametrize("law", ["consistent", "standard"])
def test_spm_limit_matches_pybamm_1C(law):
    p = _ours_params().with_changes(exchange_current_law=law)
    mass_kg = p.mass_loading * AREA
    I_kg = p.capacity_basis_value / 3600.0          # 1C in A/kg
    t_pb, V_pb = _pybamm_solution(p, I_kg * mass_kg, n_r=100)
    r = simulate(p, Experiment.from_strings(["Sodiate at 1C until 0.01 V"]),
                 mesh=MeshSpec(n_core=60, n_shell=40, surface_refinement=4))
    d = r.echem().data
    t, V = d["Test Time / s"].to_numpy(), d["Voltage / V"].to_numpy()
    # capacity = time to the cut-off at the same current: within 0.5 %
    assert t[-1] == pytest.approx(t_pb[-1], rel=5e-3)
    # voltage over the common part of the discharge, excluding the last 1 % (the wall)
    m = t < 0.99 * min(t[-1], t_pb[-1])
    rms = float(np.sqrt(np.mean((V[m] - np.interp(t[m], t_pb, V_pb)) ** 2)))
    assert rms < 1e-3
