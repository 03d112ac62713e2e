"""The one protocol driver (nasurf.sim.protocol) behind ``simulate`` and the sweeps.

Truths: ``simulate()`` (whose numbers the snapshot tests pin) for the same parameter set
and protocol, which the batch driver of the sweeps must now reproduce exactly, also for
GITT (before the merge the sweep's copy of the loop refused it) and for cycling with
degradation; the loss law recomputed by hand from the recorded sodiation charges; the
canonical table contract (``nasurf.io.table.validate``) that every reader's output meets.
"""

from __future__ import annotations

import numpy as np
import pytest

from nasurf.errors import ValidationError
from nasurf.io.table import validate
from nasurf.sim.experiment import cyclic_voltammetry, galvanostatic_cycling, gitt
from nasurf.sim.parameters import load_material
from nasurf.sim.protocol import lam_factor, susceptible_fraction
from nasurf.sim.simulate import simulate
from nasurf.sim.sweep import make_protocol, run_batch, run_chunk
from sim_v0 import frozen


@pytest.fixture(scope="module")
def nto():
    return load_material(frozen("na2ti3o7"))


@pytest.fixture(scope="module")
def sb():
    return load_material(frozen("sb"))


def test_batch_driver_follows_the_gitt_stop_rule_of_simulate(nto):
    exp = gitt("200 mA g-1", pulse="10 minutes", rest="10 minutes", pulses=40)
    sim = simulate(nto, exp)
    recs = sim.steps[0]
    # the stop rule acted: the run ended before all pulses, at a pulse's cut-off
    assert len(recs) < 2 * 40
    assert recs[-1].kind == "sodiate" and recs[-1].ended_by == "cutoff"
    # keep_trace: the same output grid (150 rows a step) as simulate, so the same numbers
    run = run_batch(nto, exp, keep_trace=True)
    assert len(run.steps) == len(recs)
    np.testing.assert_allclose(run.charge_mAh_g[:, 0], [r.charge_mAh_g for r in recs],
                               rtol=1e-12, atol=0.0)
    np.testing.assert_allclose(run.end_voltage_V[:, 0], [r.end_voltage_V for r in recs],
                               rtol=1e-12, atol=0.0)
    assert [s.cycle for s in run.steps] == [r.cycle for r in recs]
    assert [s.half_cycle for s in run.steps] == [r.half_cycle for r in recs]


def test_sweep_cycling_metrics_equal_simulate_with_degradation(sb):
    # Sb loses active material every cycle (LAM law): the sweep's cycling metrics must be
    # simulate()'s per-cycle capacities for the same parameter set
    proto = make_protocol("cycling", currents_mA_g=(500.0,), cycles=4)
    row = run_chunk(sb, ["k0"], np.array([[sb.rate_constant]]), 0, proto).iloc[0]
    cyc = simulate(sb, proto.experiment()).cycle_capacities()
    first, last = cyc["desodiation_mAh_g"].iloc[0], cyc["desodiation_mAh_g"].iloc[-1]
    assert last < first   # it does fade
    assert row["desodiation_mAh_g_first"] == pytest.approx(first, rel=1e-6)
    assert row["desodiation_mAh_g_last"] == pytest.approx(last, rel=1e-6)
    assert row["fade_percent"] == pytest.approx(100 * (1 - last / first), rel=1e-5)


def test_final_state_carries_the_degradation_of_every_cycle(sb):
    res = simulate(sb, galvanostatic_cycling("500 mA g-1", cycles=3))
    cyc = res.cycle_capacities()
    host_mAh_g = sb.host_capacity / 3600.0
    kept = 1.0
    for q in cyc["sodiation_mAh_g"]:
        # the fade law depends on what is still connected (it saturates for an alloy)
        kept *= float(lam_factor(res.model.lam_rate, q / host_mAh_g, kept,
                                 susceptible_fraction(sb.volume_change))[0])
    # the last cycle's loss is in the final state too (the electrode after 3 cycles)
    assert kept < 1.0
    assert res.final_state.active[0] == pytest.approx(kept, rel=1e-12)


def test_engine_names_are_checked(nto):
    with pytest.raises(ValidationError, match=r"unknown engine .exakt..*.exact."):
        simulate(nto, ["Sodiate at 1C until 0.01 V"], engine="exakt")
    with pytest.raises(ValidationError, match="unknown engine"):
        run_batch(nto, ["Sodiate at 1C until 0.01 V"], engine="fast")
    # the exact engine takes current-controlled steps only: a CV is refused in one line
    # (it used to come back as a table of NaN without a warning)
    with pytest.raises(ValidationError, match=r"engine .exact. cannot run step 1.*voltage"):
        simulate(nto, cyclic_voltammetry(1.0, cycles=1), engine="exact")


@pytest.mark.parametrize("experiment", [
    cyclic_voltammetry(2.0, cycles=1),
    gitt("100 mA g-1", pulse="5 minutes", rest="5 minutes", pulses=3),
    galvanostatic_cycling("1C", cycles=2),
])
def test_simulated_tables_meet_the_canonical_contract(nto, experiment):
    res = simulate(nto, experiment)
    for data in res.data:
        assert validate(data) is data
        assert len(data.data) > 0


def test_capacities_only_record_keeps_the_numbers_not_the_curves(nto):
    exp = galvanostatic_cycling("1C", cycles=2)
    full = simulate(nto, exp)
    caps = simulate(nto, exp, record="capacities")
    # the same solve: equal to the last bit, and the same summary
    assert [r.charge_mAh_g for r in caps.steps[0]] == [r.charge_mAh_g for r in full.steps[0]]
    assert caps.summary() == full.summary()
    with pytest.raises(ValidationError, match="record='capacities'"):
        caps.echem()
    with pytest.raises(ValidationError, match="unknown record 'all'"):
        simulate(nto, exp, record="all")


def test_step_records_are_the_frozen_dataclass_they_claim(nto):
    # the recorder builds its StepRecords without the dataclass __init__ (speed): each
    # must be the object StepRecord(...) builds from the same values, frozen as it
    import dataclasses

    from nasurf.sim.protocol import StepRecord

    r = simulate(nto, galvanostatic_cycling("1C", cycles=2), record="capacities")
    recs = [x for member in r.steps for x in member]
    assert len(recs) == 4
    for x in recs:
        again = StepRecord(*(getattr(x, f.name) for f in dataclasses.fields(StepRecord)))
        assert type(x) is StepRecord and x == again and hash(x) == hash(again)
        assert x.__dict__ == again.__dict__
        assert list(x.__dict__) == list(again.__dict__)       # the fields' order (summary)
        with pytest.raises(dataclasses.FrozenInstanceError):
            x.charge_mAh_g = 0.0


@pytest.mark.parametrize("engine", ["exact", "compiled_march"])
def test_a_run_keeping_no_trace_builds_only_the_rows_a_recorder_reads(nto, engine):
    # keep_trace=False: the rows are built only for a recorder that reads them (one that
    # does not say is taken to); the steps' states are the same either way
    from nasurf.sim.experiment import as_experiment
    from nasurf.sim.model import build_model
    from nasurf.sim.protocol import run_protocol

    class Spy:
        def __init__(self, reads):
            self.blocks = []
            if reads is not None:
                self.reads_rows = lambda model: reads

        def step(self, run):
            self.blocks.append(len(run.trace.t) - run.trace_start)

    model = build_model(nto)
    exp = as_experiment(["Sodiate at 1C until 0.5 V", "Desodiate at 1C until 2.5 V"])
    runs = {}
    for reads in (None, True, False):
        spy = Spy(reads)
        runs[reads] = run_protocol(model, exp, (spy,), engine=engine, keep_trace=False)
        assert spy.blocks == ([0, 0] if reads is False else [1, 1])
    for f in ("t", "c", "V", "charge"):
        assert getattr(runs[False].final_state, f).tobytes() \
            == getattr(runs[None].final_state, f).tobytes()


def test_step_segments_are_the_frozen_dataclass_they_claim():
    # step_segment builds its Segments without the dataclass __init__ (speed): each must
    # be the object Segment(...) builds from the same fields, frozen as it
    import dataclasses

    from nasurf.sim.experiment import as_experiment
    from nasurf.sim.protocol import step_segment
    from nasurf.sim.state import CAPACITIES_CONTROL, Segment

    exp = as_experiment(["Sodiate at 1C until 0.01 V", "Desodiate at 50 mA g-1 for 1 h",
                         "Rest for 10 min", "Hold at 0.5 V for 5 min",
                         "Sweep from 0.5 V to 2 V at 1 mV/s"])
    scale = np.array([0.5, 2.0])
    for kw in ({}, {"n_output": 20, "control": CAPACITIES_CONTROL}):
        for count, step in enumerate(exp.steps, start=1):
            seg = step_segment(step, exp, 1e6, scale, count, 2, **kw)
            again = Segment(**{f.name: getattr(seg, f.name)
                               for f in dataclasses.fields(Segment)})
            assert type(seg) is Segment and seg.__dict__.keys() == again.__dict__.keys()
            for k, v in seg.__dict__.items():
                assert np.array_equal(v, again.__dict__[k]) if isinstance(v, np.ndarray) \
                    else v == again.__dict__[k]
            if step.kind in ("sodiate", "desodiate"):      # sign × (magnitude × scale)
                sign = -1.0 if step.kind == "sodiate" else 1.0
                want = sign * (step.current_magnitude(1e6) * scale)
                assert seg.current.tobytes() == want.tobytes()
            with pytest.raises(dataclasses.FrozenInstanceError):
                seg.index = 0
