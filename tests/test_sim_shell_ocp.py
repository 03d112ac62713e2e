"""A shell with its own OCP: equal chemical potential at the core/shell interface.

Truths: (1) at rest the interface holds U_core(x_core) = U_shell(x_shell) and the cell
voltage is that common OCP (thermodynamic equilibrium, no model-internal reference);
(2) with the shell's OCP identical to the core's the interface condition must reduce to
the plain harmonic-mean finite volumes, i.e. the run equals the single-OCP run to round-off;
(3) Na is conserved to round-off through the non-symmetric interface operator.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml

from nasurf.errors import ValidationError
from nasurf.sim.model import build_model
from nasurf.sim.parameters import OCP, F, Table1D, load_material, parameter_set_from_dict
from nasurf.sim.simulate import simulate
from nasurf.sim.solver import initial_state
from nasurf.sim.strategies import apply_strategy, load_strategy
from sim_v0 import frozen


def _nto(**kw):
    base = dict(shell_thickness=50e-9, shell_diffusivity=1e-16, sei_capacity=0.0,
                double_layer_capacitance=0.0)
    base.update(kw)
    return load_material(frozen("na2ti3o7")).with_changes(**base)


def _nto_yaml() -> str:
    return Path(frozen("na2ti3o7")).read_text()


def _shell_ocp(E0=0.45, n=1.0):
    return OCP("lattice_gas", E0=E0, slope_factor=n, x_max=1.0, temperature=298.15)


def test_initial_state_is_in_equilibrium_across_the_interface():
    p = _nto(shell_ocp=_shell_ocp())
    m = build_model(p)
    st = initial_state(m)
    nc = m.mesh.n_core
    x_core = st.c[0, 0, :nc] / m.c_max
    x_shell = st.c[0, 0, nc:] / m.c_max
    assert np.allclose(x_core, p.initial_stoichiometry)
    # a shell whose OCP lies 0.15 V above the core's holds far more Na at the same potential
    assert x_shell[0] > 100 * x_core[0]
    assert p.ocp(x_core[-1]) == pytest.approx(float(p.shell_ocp(x_shell[0])), abs=1e-12)
    assert st.V[0] == pytest.approx(float(p.ocp(x_core[-1])), abs=1e-12)


@pytest.mark.parametrize("shell", [_shell_ocp(0.45, 1.0), _shell_ocp(0.2, 1.0),
                                   OCP("table", table=Table1D((0.0, 0.5, 1.0),
                                                              (1.2, 0.35, 0.0)))])
def test_rest_reaches_equal_ocp_and_conserves_sodium(shell):
    p = _nto(shell_ocp=shell)
    r = simulate(p, ["Sodiate at C/2 for 20 minutes or until 0.01 V", "Rest for 20 hours"])
    m, st = r.model, r.final_state
    nc = m.mesh.n_core
    c = st.c[0, 0]
    x_core, x_shell = c[:nc] / m.c_max, c[nc:] / m.c_max
    # each region uniform at rest (diffusion time R²/D = 1000 s << 20 h)
    assert np.ptp(x_core) < 1e-9 and np.ptp(x_shell) < 1e-9
    u_core = float(p.ocp(x_core[-1]))
    u_shell = float(shell(x_shell[0]))
    # equal chemical potential across the interface, and the cell at open circuit reads it
    assert u_core == pytest.approx(u_shell, abs=1e-6)
    assert st.V[0] == pytest.approx(u_core, abs=1e-6)
    # the concentration jumps at the interface when the OCPs differ
    if shell.kind == "lattice_gas" and shell.E0 != p.ocp.E0:
        assert abs(x_shell[0] - x_core[-1]) > 1e-3
    # Na in the host = charge passed (no double layer, no SEI): round-off
    na = (m.sodium_content(st.c) - m.sodium_content(m.initial_concentration()))[0]
    assert na * F == pytest.approx(-st.charge[0], rel=1e-10)


def test_identical_shell_ocp_equals_single_ocp_run_to_round_off():
    # D as a (constant) table puts both runs on the same implicit engine, so any difference
    # can only come from the interface operator, which must then reduce to the harmonic mean
    D_table = Table1D((0.0, 1.0), (1e-15, 1e-15))
    steps = ["Sodiate at 2C until 0.01 V", "Desodiate at 2C until 3.0 V"]
    plain = simulate(_nto(diffusivity=D_table), steps, engine="march")
    same = simulate(_nto(diffusivity=D_table, shell_ocp=load_material(frozen("na2ti3o7")).ocp),
                    steps, engine="march")
    assert not same.model.linear and same.model.shell_ocp is not None
    a, b = plain.echem().data, same.echem().data
    assert len(a) == len(b)
    # 1e-8 V: the shell path's OCP inverse round trip (1e-16 relative) is amplified on the
    # wall at the end of the 2C desodiation (dV/dt there ~1e5 times the plateau's)
    assert np.max(np.abs(a["Voltage / V"].to_numpy() - b["Voltage / V"].to_numpy())) < 1e-8
    assert np.max(np.abs(a["Test Time / s"].to_numpy() - b["Test Time / s"].to_numpy())) \
        < 1e-9 * a["Test Time / s"].iloc[-1]


def test_cycling_with_a_separate_shell_ocp_conserves_sodium():
    p = _nto(shell_ocp=_shell_ocp(0.25, 0.8))
    r = simulate(p, ["Sodiate at 1C until 0.01 V", "Desodiate at 1C until 3.0 V",
                     "Sodiate at 5C until 0.01 V"])
    assert [s.ended_by for s in r.steps[0]] == ["cutoff"] * 3
    assert -r.steps[0][0].charge_mAh_g > 100
    m, st = r.model, r.final_state
    na = (m.sodium_content(st.c) - m.sodium_content(m.initial_concentration()))[0]
    assert na * F == pytest.approx(-st.charge[0], rel=1e-9, abs=1e-9 * np.max(np.abs(
        [s.charge_mAh_g * 3600 for s in r.steps[0]])))


def test_shell_ocp_from_material_and_strategy_files(tmp_path):
    mat = tmp_path / "m.yaml"
    nto_text = _nto_yaml()
    extra = textwrap.dedent("""
        shell_ocp:
          kind: lattice_gas
          E0: 0.45
          slope_factor: 1.0
          source: "assumption for the test"
        """)
    text = nto_text.replace("parameters:\n", extra + "parameters:\n", 1)
    text += "  shell_thickness: {value: 20, unit: nm, source: test}\n"
    mat.write_text(text)
    from nasurf.sim.parameters import load_material_file
    p = load_material_file(mat)
    assert p.shell_ocp is not None and p.shell_ocp.E0 == 0.45
    assert p.sources["shell_ocp"] == "assumption for the test"
    assert p.to_dict()["shell_ocp"]["E0"] == 0.45

    strat = tmp_path / "s.yaml"
    strat.write_text(textwrap.dedent("""
        coated:
          title: a coating with its own OCP
          changes:
            - {field: shell_thickness, op: set, value: 10, unit: nm, basis: test}
          shell_ocp: {kind: lattice_gas, E0: 0.5, slope_factor: 1.2, source: "test shell"}
        """))
    s = load_strategy(strat)
    q = apply_strategy(load_material(frozen("na2ti3o7")), s)
    assert q.shell_ocp is not None and q.shell_ocp.E0 == 0.5
    assert q.shell_ocp.temperature == q.temperature
    assert "test shell" in q.sources["shell_ocp"]
    assert build_model(q).surface_ocp is q.shell_ocp


def test_shell_ocp_errors_name_the_field(tmp_path):
    with pytest.raises(ValidationError, match="needs a shell") as exc:
        load_material(frozen("na2ti3o7")).with_changes(shell_ocp=_shell_ocp())
    assert exc.value.field == "shell_ocp"
    doc = yaml.safe_load(_nto_yaml())
    doc["parameters"]["shell_thickness"] = {"value": 20, "unit": "nm", "source": "s"}
    doc["shell_ocp"] = {"kind": "parabola", "source": "s"}
    with pytest.raises(ValidationError) as exc:
        parameter_set_from_dict(doc, file="user.yaml")
    assert exc.value.field == "shell_ocp" and exc.value.file == "user.yaml"
    assert "parabola" in str(exc.value)
