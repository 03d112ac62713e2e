"""Size distribution and electrolyte correction vs PyBaMM, side by side (same half-cell numbers).

As in test_sim_pybamm.py the Na2Ti3O7 working electrode sits in PyBaMM's positive slot with a
metal counter electrode ("working electrode": "positive"); every number is taken from
nasurf's parameter set, with no double layer, SEI, ASR or film resistance on either side.

1. Particle-size distribution vs ``pybamm.lithium_ion.MPM`` (which has a half-cell mode). PyBaMM
   takes a continuous area-weighted lognormal f_a(R) on [R_min, R_max] and integrates over its
   own uniform R-mesh (finite volumes: node values times cell widths, renormalised
   discretely). nasurf is given exactly those classes: radii = PyBaMM's R nodes, mass
   fractions = volume weights R_i f_a(R_i) ΔR_i / Σ (one density, so volume = mass; PyBaMM's
   a = 3ε_s/R_a,mean and j = ∫ f_a j(R) dR give nasurf's a_k = 3w_k/(ρR_k) class by class).
2. Quasi-steady electrolyte correction vs ``pybamm.lithium_ion.SPMe`` (half cell, composite
   conductivity): same separator/electrode thickness, porosities, Bruggeman exponent (applied
   to D_e and κ), constant D_e and κ, t+, thermodynamic factor 1 (nasurf's diffusion potential
   is 2(1 − t+)RT/F·Δln c, i.e. a factor of 1), c_e, and a Na-metal exchange current that does
   not depend on c_e. PyBaMM's SPMe solves the transient electrolyte diffusion; nasurf jumps
   to the steady profile, so they are compared after τ_e = (L_s + L_p)²/D_e,eff.
"""

from __future__ import annotations

import functools

import numpy as np
import pybamm
import pytest

from nasurf.sim.experiment import Experiment
from nasurf.sim.model import MeshSpec, build_model
from nasurf.sim.parameters import R_GAS, F, ParticleSizeDistribution, load_material
from nasurf.sim.simulate import simulate
from pybamm_halfcell import lattice_gas_halfcell
from sim_v0 import frozen

L_EL, EPS_S, AREA = 50e-6, 0.5, 1e-4   # electrode thickness, solid fraction, 1 cm² in PyBaMM
R_MEAN, R_SD = 1.0e-6, 0.3e-6           # area-weighted lognormal: mean and standard deviation
R_MIN, R_MAX, N_R = 0.25e-6, 2.5e-6, 10  # PyBaMM's R-mesh
MESH = MeshSpec(n_core=60, n_shell=40, surface_refinement=4)
ELECTROLYTE = dict(electrolyte_conductivity=0.8, electrolyte_diffusivity=2.5e-10,
                   transference_number=0.45, electrode_thickness=L_EL,
                   electrode_porosity=1 - EPS_S, separator_thickness=25e-6,
                   separator_porosity=0.5, bruggeman=1.5, electrolyte_concentration=1000.0)


@functools.cache
def _nto(electrolyte: bool = False):
    p = load_material(frozen("na2ti3o7"))
    p = p.with_changes(double_layer_capacitance=0.0, sei_capacity=0.0, area_resistance=0.0,
                       electronic_conductivity=1e6, mass_loading=p.density * EPS_S * L_EL)
    return p.with_changes(**ELECTROLYTE) if electrolyte else p


def _current_A(p, c_rate):
    """PyBaMM's applied current [A] (discharge positive = sodiation of the working electrode)."""
    return c_rate * p.capacity_basis_value / 3600.0 * p.mass_loading * AREA


def _parameter_values(p, I_A, *, j0_follows_ce=True):
    assert p.exchange_current_law == "consistent"
    # nasurf evaluates (c_e/c_ref)^½ in j0 at the bulk c_e, PyBaMM's SPMe at the
    # electrode-mean electrolyte concentration (j0_follows_ce)
    return lattice_gas_halfcell(
        p, I_A, electrode_thickness=p.electrode_thickness, solid_fraction=EPS_S,
        porosity=p.electrode_porosity, j0_exponent=p.ocp.slope_factor,
        c_e_in_j0=None if j0_follows_ce else p.electrolyte_concentration,
        extra={
            "Separator thickness [m]": p.separator_thickness,
            "Separator porosity": p.separator_porosity,
            "Separator Bruggeman coefficient (electrolyte)": p.bruggeman,
            "Positive electrode Bruggeman coefficient (electrolyte)": p.bruggeman,
            "Electrolyte conductivity [S.m-1]":
                lambda c_e, T: p.electrolyte_conductivity + 0 * c_e,
            "Electrolyte diffusivity [m2.s-1]":
                lambda c_e, T: p.electrolyte_diffusivity + 0 * c_e,
            "Cation transference number": p.transference_number,
            "Thermodynamic factor": 1.0,
            "Initial concentration in electrolyte [mol.m-3]": p.electrolyte_concentration,
            # no solid-phase ohmic drop in either electrode (nasurf: film resistance off)
            "Positive electrode conductivity [S.m-1]": 1e8,
            "Negative electrode conductivity [S.m-1]": 1e8,
            "Positive minimum particle radius [m]": R_MIN,
            "Positive maximum particle radius [m]": R_MAX,
            "Positive area-weighted particle-size distribution [m-1]":
                lambda R: pybamm.lognormal(R, R_MEAN, R_SD),
        })


@functools.cache
def _mpm(c_rate, t_end=None):
    """PyBaMM MPM sodiation: time, voltage, its R nodes, volume weights, per-class mean x."""
    p = _nto()
    t_end = t_end or 1.1 * 3600.0 / c_rate
    # PyBaMM's default IDAKLU tolerances (rtol 1e-4, atol 1e-6) leave the corrector at the
    # edge of convergence on this stiff 10-class case: on an AMD EPYC (AVX2, no AVX-512) its
    # 1C solve failed with IDA_CONV_FAIL at t = 2685 s (h = 2.8e-69) where other CPUs passed.
    # At rtol 1e-8, atol 1e-10 it solves on either kind of rounding (OpenBLAS Haswell or
    # Prescott kernels, numpy with or without its AVX2 loops), in under a second.
    sim = pybamm.Simulation(pybamm.lithium_ion.MPM({"working electrode": "positive"}),
                            parameter_values=_parameter_values(p, _current_A(p, c_rate)),
                            var_pts={"r_p": 100, "R_p": N_R, "x_n": 5, "x_s": 5, "x_p": 5},
                            solver=pybamm.IDAKLUSolver(rtol=1e-8, atol=1e-10))
    sol = sim.solve(t_eval=[0, t_end], t_interp=np.linspace(0, t_end, 2001))
    mesh = sim.mesh["positive particle size"]
    R, dR = mesh.nodes.copy(), mesh.d_edges.copy()
    f_a = np.asarray(
        sol["X-averaged positive area-weighted particle-size distribution [m-1]"].entries)
    f_a = f_a[:, 0] if f_a.ndim == 2 else f_a
    w = R * f_a * dR
    c_k = np.asarray(
        sol["R-averaged positive particle concentration distribution [mol.m-3]"].entries)
    x_k = c_k[:, 0, -1] / p.c_max    # (R, x, t): any x (the MPM is x-averaged), last time
    return sol["Time [s]"].entries, sol["Voltage [V]"].entries, R, w / w.sum(), x_k


def _nasurf_psd(R, w):
    return _nto().with_changes(size_distribution=ParticleSizeDistribution(tuple(R), tuple(w)))


def _curve(p, steps):
    d = simulate(p, Experiment.from_strings(steps), mesh=MESH).echem().data
    return d["Test Time / s"].to_numpy(), d["Voltage / V"].to_numpy()


def _compare(t, V, t_pb, V_pb, t_from=0.0):
    """Capacity ratio − 1 (time to the cut-off at equal current) and voltage RMS [V] over the
    common part of the sodiation after ``t_from``, excluding the last 1 % (the wall)."""
    m = (t > t_from) & (t < 0.99 * min(t[-1], t_pb[-1]))
    rms = float(np.sqrt(np.mean((V[m] - np.interp(t[m], t_pb, V_pb)) ** 2)))
    return t[-1] / t_pb[-1] - 1.0, rms


# --------------------------------------------------------------------------------------------
# 1. size distribution vs MPM
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("c_rate", [1, 5])
def test_size_distribution_matches_pybamm_mpm(c_rate):
    t_pb, V_pb, R, w, _ = _mpm(c_rate)
    assert len(R) == N_R and R[0] > R_MIN and R[-1] < R_MAX
    t, V = _curve(_nasurf_psd(R, w), [f"Sodiate at {c_rate}C until 0.01 V"])
    cap_err, rms = _compare(t, V, t_pb, V_pb)
    # Measured: 1C +0.039 %, 0.19 mV; 5C −0.005 %, 0.13 mV (with the implicit engine's
    # former backward Euler: +0.14 %, 0.78 mV). Asserted: 0.2 %, 0.5 mV, inside the
    # single-particle comparison's bar (0.5 %, 1 mV).
    assert abs(cap_err) < 2e-3
    assert rms < 5e-4
    # the comparison sees the distribution: one 1 µm particle misses PyBaMM's MPM by
    # 2.2 % (1C) and 8.3 % (5C) in capacity (9.3 and 1.4 mV RMS)
    t1, V1 = _curve(_nto(), [f"Sodiate at {c_rate}C until 0.01 V"])
    assert abs(_compare(t1, V1, t_pb, V_pb)[0]) > 1.5e-2


@pytest.mark.parametrize(("steps", "tol"), [
    (["Sodiate at 1C for 30 min"], 2e-4),            # one step, default step control
    (["Sodiate at 1C for 20 seconds"] * 90, 2e-5)])  # 90 segments of 20 s
def test_size_classes_fill_as_in_pybamm_mpm(steps, tol):
    # 1C for 30 min: per-class mean stoichiometry (smallest particles fill first). Measured
    # |Δx| ≤ 4.2e-5 with the default step control and 2.4e-6 in 20-s segments (the implicit
    # engine's BDF2; its former backward Euler left the smallest class 4.9e-3 low in one
    # step and 6e-5 in 20-s steps).
    *_, R, w, x_pb = _mpm(1, t_end=1800.0)
    r = simulate(_nasurf_psd(R, w), steps, mesh=MESH)
    m, st = r.model, r.final_state
    assert st.t[0] == pytest.approx(1800.0)
    x_k = np.sum(st.c * m.volumes, axis=-1)[0] / np.sum(m.volumes, axis=-1)[0] / m.c_max
    assert x_pb[0] - x_pb[-1] > 0.5                      # a wide spread to get right
    assert np.max(np.abs(x_k - x_pb)) < tol
    # both conserve Na: the mass-weighted mean is the charge passed
    assert np.sum(w * x_pb) == pytest.approx(np.sum(w * x_k), abs=1e-9)


# --------------------------------------------------------------------------------------------
# 2. electrolyte correction vs SPMe
# --------------------------------------------------------------------------------------------

def _tau_e(p):
    d_eff = p.electrolyte_diffusivity * min(p.electrode_porosity, p.separator_porosity) \
        ** p.bruggeman
    return (p.separator_thickness + p.electrode_thickness) ** 2 / d_eff


@functools.cache
def _spme(c_rate, j0_follows_ce):
    p = _nto(electrolyte=True)
    t_end = 1.1 * 3600.0 / c_rate
    sim = pybamm.Simulation(
        pybamm.lithium_ion.SPMe({"working electrode": "positive"}),
        parameter_values=_parameter_values(p, _current_A(p, c_rate),
                                           j0_follows_ce=j0_follows_ce),
        var_pts={"r_p": 100, "x_n": 20, "x_s": 20, "x_p": 20})
    sol = sim.solve(t_eval=[0, t_end], t_interp=np.linspace(0, t_end, 4001))
    c_bar = sol["X-averaged positive electrolyte concentration [mol.m-3]"].entries
    return sol["Time [s]"].entries, sol["Voltage [V]"].entries, c_bar


@functools.cache
def _ours_electrolyte(c_rate, electrolyte=True):
    p = _nto(electrolyte=True)
    if not electrolyte:
        p = p.with_changes(electrolyte_conductivity=0.0)
    # a first step of 5τ_e gives dense output over the electrolyte transient
    return _curve(p, [f"Sodiate at {c_rate}C for {5 * _tau_e(p):.0f} seconds",
                      f"Sodiate at {c_rate}C until 0.01 V"])


def _salt_shift(p, c_rate):
    """nasurf's quasi-steady salt shift q = I_A·Δc/I (anodic positive) and its split s."""
    m = build_model(p)
    return (-_current_A(p, c_rate) / AREA * m.electrolyte_dc_per_current[0],
            m.electrolyte_split[0])


@pytest.mark.parametrize("c_rate", [1, 3])
def test_electrolyte_correction_matches_pybamm_spme_after_the_transient(c_rate):
    # PyBaMM's j0 is given the bulk c_e here (nasurf's assumption; the next test lifts it), so
    # after τ_e both solve the same steady electrolyte: ohmic drop through separator and
    # electrode, salt split by conservation, diffusion potential. They differ only by
    # nasurf's ln(mean c) for PyBaMM's mean(ln c) over the electrode (second order, ~1e-3 of
    # the correction) and PyBaMM's x-mesh (20 → 40 points changes the RMS by 3 µV).
    # Measured: 1C 2 µV RMS, capacity +2e-6; 3C 10 µV, +2.5e-5.
    p = _nto(electrolyte=True)
    tau = _tau_e(p)
    t_pb, V_pb, _ = _spme(c_rate, j0_follows_ce=False)
    t, V = _ours_electrolyte(c_rate)
    cap_err, rms = _compare(t, V, t_pb, V_pb, t_from=5 * tau)
    assert abs(cap_err) < 5e-4
    assert rms < 1e-4
    # the correction is large enough to be seen: −3.4 mV at 1C, −10.1 mV at 3C
    t0, V0 = _ours_electrolyte(c_rate, electrolyte=False)
    late = (t > 5 * tau) & (t < 0.9 * t[-1])
    shift = np.median(V[late] - np.interp(t[late], t0, V0))
    assert shift < -3e-3
    # the transient: nasurf puts the whole steady concentration overpotential on at t = 0,
    # PyBaMM builds it up as the salt profile forms (the ohmic part is instantaneous in both):
    # at PyBaMM's first output after t = 0 (1 s at 1C, 0.33 s at 3C) the difference is 50 %
    # (1C: of 1.15 mV) and 73 % (3C: of 3.37 mV) of nasurf's concentration term, 10 % after
    # 7 s, and at most 0.23 % (1C) and 0.31 % (3C) from τ_e = 64 s on.
    q, s = _salt_shift(p, c_rate)
    c0 = p.electrolyte_concentration
    eta_conc = 2 * (1 - p.transference_number) * R_GAS * p.temperature / F \
        * np.log((c0 + (1 - s) * q) / (c0 - s * q))
    share = (np.interp(t_pb, t, V) - V_pb) / eta_conc   # nasurf's output is dense early on
    assert 0.3 < share[1] < 1.0
    assert np.all(np.abs(share[(t_pb > tau) & (t_pb < 5 * tau)]) < 0.02)


@pytest.mark.parametrize("c_rate", [1, 3])
def test_electrolyte_correction_vs_pybamm_spme_with_concentration_dependent_j0(c_rate):
    # PyBaMM's SPMe as it stands: j0 ∝ (c̄_e,electrode/c_ref)^½. nasurf keeps the bulk c_e in
    # j0, so on sodiation (the electrode side is depleted: c̄ = 990 at 1C, 971 mol/m³ at 3C)
    # PyBaMM's kinetic overpotential is larger. Measured: 1C 0.24 mV RMS, capacity +3e-5;
    # 3C 0.76 mV, +0.30 % (within the SPM bar of 1 mV and 0.5 %). Evaluating nasurf's j0 at
    # its own quasi-steady c̄ brings both to < 0.02 mV and < 1e-4 (see docs/simulation.md).
    p = _nto(electrolyte=True)
    tau = _tau_e(p)
    t_pb, V_pb, c_bar_pb = _spme(c_rate, j0_follows_ce=True)
    t, V = _ours_electrolyte(c_rate)
    cap_err, rms = _compare(t, V, t_pb, V_pb, t_from=5 * tau)
    assert abs(cap_err) < 5e-3
    assert rms < 1e-3
    # nasurf's quasi-steady electrode-mean salt concentration is PyBaMM's after τ_e
    q, s = _salt_shift(p, c_rate)
    c_bar = p.electrolyte_concentration + (1 - s) * q
    mid = (t_pb > 5 * tau) & (t_pb < 0.9 * t_pb[-1])
    assert c_bar < p.electrolyte_concentration - 5.0 * c_rate
    assert np.max(np.abs(c_bar_pb[mid] - c_bar)) < 0.1   # mol/m³ (measured 0.03)
