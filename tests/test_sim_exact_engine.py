"""The compiled exact galvanostatic engine against the implicit march, on the paths only it has.

The exact engine (closed-form modal solution, compiled cut-off search in
``nasurf.sim.exact_kernel``) is checked against Crank and PyBaMM in test_sim_core and
test_sim_pybamm on the default kinetics. Here: an asymmetric transfer coefficient (Newton
Butler–Volmer), a tabulated k0(x) with constant D, the first-cycle SEI branch, a lattice-gas
OCP whose sites run out beyond c_max, a rest on the log-spaced grid and a step ended by its
duration, each against the independent implicit march (second order), plus the cut-off
location itself (no dependence on the bracketing grid).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nasurf.sim.model import build_model
from nasurf.sim.parameters import load_material
from nasurf.sim.simulate import simulate
from nasurf.sim.solver import Segment, Trace, initial_state, run_segment
from sim_v0 import frozen

STEPS = ["Sodiate at 1C until 0.01 V", "Rest for 30 min", "Desodiate at 1C for 30 min",
         "Desodiate at 1C until 2.5 V"]


def _cases():
    nto = load_material(frozen("na2ti3o7"))
    return {
        "alpha_0.3": nto.with_changes(transfer_coefficient=0.3),
        "k0_table": load_material(frozen("hard_carbon")).with_changes(diffusivity=1e-14),
        "sei_first_cycle": load_material(frozen("anatase_tio2")),
        # sites that run out beyond c_max: the march's closed-form logit OCP does not apply
        "lattice_x_max_1.3": replace(nto, ocp=replace(nto.ocp, x_max=1.3)),
    }


@pytest.mark.parametrize("case", ["alpha_0.3", "k0_table", "sei_first_cycle",
                                  "lattice_x_max_1.3"])
def test_exact_engine_matches_the_implicit_march(case):
    # The exact engine neglects the double layer under current control (documented): the
    # comparison is made without one. The march is second order (BDF2) and ends its steps
    # where the SEI budget runs out, so both solve the same equations.
    p = _cases()[case].with_changes(double_layer_capacitance=0.0)
    # dense exact rows, so that interpolating them to the march's times adds < 0.1 mV
    exact = simulate(p, STEPS, engine="exact", points_per_step=6000)
    march = simulate(p, STEPS, engine="march")
    for se, sm in zip(exact.steps[0], march.steps[0], strict=True):
        # measured ≤ 1.3e-7 mAh/g apart; 1e-5 leaves room for the march's error control
        assert se.charge_mAh_g == pytest.approx(sm.charge_mAh_g, rel=1e-5, abs=1e-6)
        assert se.end_voltage_V == pytest.approx(sm.end_voltage_V, abs=1e-4)
        assert se.ended_by == sm.ended_by
    de, dm = exact.echem().data, march.echem().data
    for step in range(1, len(STEPS) + 1):
        e = de[de["Step Count / 1"] == step]
        m = dm[dm["Step Count / 1"] == step]
        t_e, t_m = e["Test Time / s"].to_numpy(), m["Test Time / s"].to_numpy()
        # the march's rows, away from the cut-off walls (last 5 % of the step), against
        # the exact rows (dense, log-spaced in a rest) interpolated to the same times
        # (and after the first 5 s, whose √t transient falls between the exact rows)
        inner = (t_m <= t_m[0] + 0.95 * (t_m[-1] - t_m[0])) & (t_m >= t_m[0] + 5.0)
        if step == 1 and p.sei_capacity > 0:
            # V jumps where the SEI share of the current stops: both engines put a row
            # there, on either side of the jump; skip the second around it
            t_sei = p.sei_capacity / (p.sei_current_fraction * p.capacity_basis_value / 3600)
            inner &= np.abs(t_m - t_m[0] - t_sei) > 1.0
        if not inner.any():     # a step that ended at once (k0_table's last)
            continue
        v_e = np.interp(t_m[inner], t_e, e["Voltage / V"].to_numpy())
        # measured ≤ 0.35 mV, 1.6 mV on hard carbon's first sodiation (its tabulated OCP
        # and k0 have kinks the march steps across): the march's local error control
        # allows 2 mV per step
        assert np.max(np.abs(m["Voltage / V"].to_numpy()[inner] - v_e)) < 3e-3
    if case == "sei_first_cycle":
        # 40 mAh/g of the first sodiation went into SEI, not into the host
        ice = exact.steps[0][3].charge_mAh_g / -exact.steps[0][0].charge_mAh_g
        assert ice < 0.95
        assert -exact.steps[0][0].charge_mAh_g - p.sei_capacity / 3600 == pytest.approx(
            -simulate(p.with_changes(sei_capacity=0.0), STEPS[:1],
                      engine="exact").steps[0][0].charge_mAh_g, rel=1e-6)


@pytest.mark.parametrize("n_output", [8, 20, 150, 600])
def test_cut_off_does_not_depend_on_the_output_grid(n_output):
    # The stop is located to 1e-11 V on any bracketing grid: stop times agree to 1e-9
    # (dV/dt at the 0.01 V cut-off is ~1e-5 V/s here, so 1e-11 V is ~1e-6 s of 2.6e4 s).
    p = load_material(frozen("hard_carbon")).with_changes(diffusivity=1e-14, rate_constant=5e-11)
    m = build_model(p, batch_size=3)
    seg = Segment("current", current=np.array([-25.0, -250.0, -2500.0]), v_lower=0.01)
    ref = run_segment(m, initial_state(m), seg, Trace())
    st = run_segment(m, initial_state(m), replace(seg, n_output=n_output), Trace())
    np.testing.assert_allclose(st.t, ref.t, rtol=1e-9)
    np.testing.assert_allclose(st.V, 0.01, atol=1e-12)


def test_step_already_beyond_its_cut_off_ends_at_once():
    p = load_material(frozen("na2ti3o7"))
    m = build_model(p)
    seg = Segment("current", current=np.array([-100.0]), v_lower=5.0)   # V starts below 5 V
    trace = Trace()
    st = run_segment(m, initial_state(m), seg, trace)
    assert st.t[0] == 0.0 and st.charge[0] == 0.0
    rows = trace.arrays()
    assert np.isfinite(rows["t"][:, 0]).sum() == 1          # one row: the start itself
