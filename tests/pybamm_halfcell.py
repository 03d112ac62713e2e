"""PyBaMM ParameterValues of a nasurf lattice-gas half cell (shared by the PyBaMM tests).

PyBaMM has no Na half-cell set: as in research/sim-bench/halfcell.py the working electrode
sits in PyBaMM's positive slot with a metal counter electrode ("working electrode":
"positive"). The OCP and the exchange current are written out here independently of
nasurf's code, from the formulas in docs/simulation.md.
"""

from __future__ import annotations

from typing import Any

import pybamm

from nasurf.sim.parameters import R_GAS, F, ParameterSet


def lattice_gas_halfcell(p: ParameterSet, current_A: float, *, electrode_thickness: float,
                         solid_fraction: float, porosity: float, j0_exponent: float,
                         c_e_in_j0: float | None = None,
                         extra: dict[str, Any] | None = None) -> pybamm.ParameterValues:
    """Chayambuka2022 with nasurf's host in the positive slot, sodiated at ``current_A``.

    j0 = F·k0·(c_e/1000)^½·(c_max/2)·(4x(1 − x))^(n/2): nasurf's "consistent" law for a
    lattice-gas OCP of slope factor n (``j0_exponent``; n = 1 is PyBaMM's SPM form and the
    "standard" law), normalised at half filling. ``c_e_in_j0`` fixes the c_e it sees (nasurf
    uses the bulk value), else PyBaMM's local/averaged c_e is used. ``extra`` adds or
    overrides entries (electrolyte, separator, size distribution).
    """
    ocp, T = p.ocp, p.temperature
    assert ocp.kind == "lattice_gas" and ocp.x_max == 1.0 and p.transfer_coefficient == 0.5

    def U(sto):
        return ocp.E0 + ocp.slope_factor * R_GAS * T / F * pybamm.log((ocp.x_max - sto) / sto)

    def j0(c_e, c_s_surf, c_s_max, T):
        x = c_s_surf / c_s_max
        ce = c_e if c_e_in_j0 is None else c_e_in_j0
        return F * p.rate_constant * (ce / 1000.0) ** 0.5 * 0.5 * c_s_max \
            * (4.0 * x * (1.0 - x)) ** (0.5 * j0_exponent)

    pv = pybamm.ParameterValues("Chayambuka2022")
    pv.update({
        "Positive particle radius [m]": p.particle_radius,
        "Positive electrode thickness [m]": electrode_thickness,
        "Positive electrode active material volume fraction": solid_fraction,
        "Positive electrode porosity": porosity,
        "Electrode height [m]": 0.01, "Electrode width [m]": 0.01,
        "Maximum concentration in positive electrode [mol.m-3]": p.c_max,
        "Initial concentration in positive electrode [mol.m-3]":
            p.initial_stoichiometry * p.c_max,
        "Positive particle diffusivity [m2.s-1]": p.diffusivity,
        "Positive electrode OCP [V]": U,
        "Positive electrode exchange-current density [A.m-2]": j0,
        "Positive electrode charge transfer coefficient": 0.5,
        "Exchange-current density for lithium metal electrode [A.m-2]":
            lambda c_e, c_Na, T: p.counter_exchange_current + 0 * c_e,
        "Lithium metal partial molar volume [m3.mol-1]": 23.7e-6,
        "Negative electrode OCP [V]": 0.0,
        "Current function [A]": current_A,
        "Lower voltage cut-off [V]": 0.01, "Upper voltage cut-off [V]": 3.5,
        "Open-circuit voltage at 0% SOC [V]": 0.0, "Open-circuit voltage at 100% SOC [V]": 3.5,
        "Ambient temperature [K]": T, "Initial temperature [K]": T,
        "Reference temperature [K]": T,
        **(extra or {}),
    }, check_already_exists=False)
    return pv
