"""Particle-size distribution (a few radius classes sharing the electrode potential).

Truths: (1) a distribution whose classes all have the same radius is the single-size
particle (to round-off: the classes see identical equations and the current splits by mass
fraction); (2) when nothing couples the classes but the applied potential (voltage control,
no ohmic, film or counter-electrode drop), each class responds as a single particle at that
potential, so the electrode current is the mass-weighted sum of single-particle currents
(area per kg a_k = 3 w_k/(ρ R_k)); the comparison converges as the step shrinks.
"""

from __future__ import annotations

import numpy as np
import pytest

from nasurf.errors import ValidationError
from nasurf.sim.model import build_model
from nasurf.sim.parameters import ParticleSizeDistribution, load_material
from nasurf.sim.simulate import simulate
from nasurf.sim.solver import Segment, Trace, initial_state, run_segment
from sim_v0 import frozen


def _nto(**kw):
    base = dict(sei_capacity=0.0)
    base.update(kw)
    return load_material(frozen("na2ti3o7")).with_changes(**base)


def test_identical_radii_equal_the_single_size_run():
    steps = ["Sodiate at 2C until 0.01 V", "Rest for 10 minutes", "Desodiate at 2C until 3.0 V"]
    R = 1e-6
    single = simulate(_nto(), steps, engine="march")
    psd = simulate(_nto(size_distribution=ParticleSizeDistribution((R, R, R), (0.2, 0.3, 0.5))),
                   steps, engine="march")
    assert psd.model.K == 3
    a, b = single.echem().data, psd.echem().data
    assert len(a) == len(b)
    for col in ("Voltage / V", "Test Time / s", "Current / A"):
        x, y = a[col].to_numpy(), b[col].to_numpy()
        assert np.max(np.abs(x - y)) <= 1e-9 * np.max(np.abs(x)), col
    for s1, s2 in zip(single.steps[0], psd.steps[0], strict=True):
        assert s2.charge_mAh_g == pytest.approx(s1.charge_mAh_g, rel=1e-9, abs=1e-12)


def _sweep_charge(p, sweep_step):
    """Charge [C/kg] of a 0.5 mV/s sweep from rest down to 0.05 V."""
    m = build_model(p)
    st = initial_state(m)
    rate = -5e-4
    seg = Segment("voltage", v_start=st.V.copy(), sweep_rate=np.array([rate]),
                  duration=np.array([(st.V[0] - 0.05) / -rate]), sweep_step=sweep_step)
    # both sides of the comparison on the implicit engine, so their step errors match (the
    # single-class runs would otherwise take the converged modal sweep engine)
    return run_segment(m, st, seg, Trace(), engine="march").charge[0]


def test_two_classes_are_the_mass_weighted_single_particles_under_voltage_control():
    # no drop between the applied voltage and each class's interface: the classes decouple
    base = _nto(area_resistance=0.0, counter_exchange_current=1e12,
                electronic_conductivity=1e9, initial_stoichiometry=0.01)
    R1, R2, w1 = 0.4e-6, 1.5e-6, 0.35
    psd_p = base.with_changes(size_distribution=ParticleSizeDistribution((R1, R2), (w1, 1 - w1)))
    errors = []
    for step in (0.005, 0.00125):
        q = _sweep_charge(psd_p, step)
        q1 = _sweep_charge(base.with_changes(particle_radius=R1), step)
        q2 = _sweep_charge(base.with_changes(particle_radius=R2), step)
        errors.append(abs(q - (w1 * q1 + (1 - w1) * q2)) / abs(q))
        # the two sizes differ enough for the test to see a wrong weighting
        assert abs(q1 - q2) > 0.05 * abs(q)
    # backward Euler with adaptive steps: each run carries its own O(dt) error, so the
    # match is at the discretisation level and must shrink with the step
    assert errors[0] < 1e-3
    assert errors[1] < 1e-4
    assert errors[1] < 0.25 * errors[0]


def test_current_control_splits_the_current_by_kinetics():
    # under current control the classes share Φ: the small particles take more than their
    # mass share early on (larger area per kg), and the total still balances
    p = _nto(size_distribution=ParticleSizeDistribution((0.3e-6, 2e-6), (0.5, 0.5)))
    r = simulate(p, ["Sodiate at 1C for 5 minutes"])
    m, st = r.model, r.final_state
    x_k = np.sum(st.c * m.volumes, axis=-1)[0] / np.sum(m.volumes, axis=-1)[0] / m.c_max
    assert x_k[0] > x_k[1] + 0.01
    assert m.average_stoichiometry(st.c)[0] == pytest.approx(
        0.5 * x_k[0] + 0.5 * x_k[1], rel=1e-12)


def test_bad_size_distribution_names_the_field():
    with pytest.raises(ValidationError) as exc:
        _nto(size_distribution=ParticleSizeDistribution((1e-6, 2e-6), (0.5, 0.4)))
    assert exc.value.field == "size_distribution"
