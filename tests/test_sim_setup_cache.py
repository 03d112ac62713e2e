"""The built-model cache of simulate() cannot go stale or be corrupted by a caller.

Truth: the same simulation with the cache switched off (every call builds its model, as
before the cache existed), compared bit for bit; and, where a change must show, a
difference from the answer of the parameter set, mesh or batch it replaced.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nasurf.sim import model_cache, protocol
from nasurf.sim.model import MeshSpec, build_model
from nasurf.sim.parameters import load_material
from nasurf.sim.simulate import resolve_parameters, simulate

RATES = np.array([0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0])
STEP = ["Sodiate at 1C until 0.01 V"]


def _caps(r) -> np.ndarray:
    """Every member's per-step charge, duration and end voltage, and the final state."""
    steps = np.array([[(s.charge_mAh_g, s.duration_s, s.end_voltage_V) for s in member]
                      for member in r.steps])
    fs = r.final_state
    return np.concatenate([steps.ravel(), fs.c.ravel(), fs.V, fs.t, fs.charge])


def _run(p, **kw):
    kw.setdefault("current_scale", RATES)
    return simulate(p, STEP, record="capacities", step_control="capacities", **kw)


def _uncached(monkeypatch, p, **kw):
    """The same run with the cache switched off: the model is built for this call only."""
    with monkeypatch.context() as m:
        _switch_off(m)
        return _run(p, **kw)


def _switch_off(m) -> None:
    # an empty cache that keeps nothing: no lookup can hit (the real cache is restored)
    m.setattr(model_cache, "_CACHE", type(model_cache._CACHE)())
    m.setattr(model_cache, "MAX_CACHED_BYTES", -1)
    m.setattr(protocol, "_EQUILIBRATED", {})     # and a fresh equilibrium start


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.tobytes() == b.tobytes()


def _segment_end_and_other_start(p, run):
    """For the start-memo tests: ``end(model, st)``, the end state of the 7-rate sodiation
    run by the engine ``run`` from ``st`` as one array, and ``other(model)``, a start half
    as full as the equilibrium one (another surface, hence other logits)."""
    from nasurf.sim.experiment import Experiment
    from nasurf.sim.protocol import step_segment
    from nasurf.sim.state import Trace, initial_state

    exp = Experiment.from_strings(STEP)
    seg = step_segment(exp.steps[0], exp, p.capacity_basis_value, RATES, 1, len(RATES))

    def end(model, st):
        new = run(model, st, seg, Trace())
        return np.concatenate([new.c.ravel(), new.V, new.t, new.phi.ravel()])

    def other(model):
        st = initial_state(model)
        st.c = st.c * 0.5
        return st

    return end, other


@pytest.fixture(autouse=True)
def _empty_cache():
    model_cache.clear_model_cache()
    yield
    model_cache.clear_model_cache()


@pytest.mark.parametrize("host", ["red_p", "hard_carbon"])   # exact engine, compiled march
def test_same_parameter_set_twice_is_bit_identical_to_an_uncached_build(monkeypatch, host):
    p = load_material(host)
    truth = _caps(_uncached(monkeypatch, p))
    assert not model_cache._CACHE           # switched off: nothing was kept
    assert _same(truth, _caps(_uncached(monkeypatch, p)))
    first, second = _run(p), _run(p)
    assert len(model_cache._CACHE) == 1     # the second run was a hit
    assert _same(_caps(first), truth) and _same(_caps(second), truth)
    assert first.model is not second.model


def test_a_replaced_parameter_set_gets_its_own_model(monkeypatch):
    p = load_material("red_p")
    old = _caps(_run(p))
    q = dataclasses.replace(p, particle_radius=2.0 * p.particle_radius)
    new = _caps(_run(q))
    assert _same(new, _caps(_uncached(monkeypatch, q)))
    assert not _same(new, old)              # a stale model would have given the old answer
    assert new.size == old.size
    # the old set still gets its own answer afterwards
    assert _same(_caps(_run(p)), old)


def test_overrides_mesh_and_batch_size_are_part_of_the_key(monkeypatch):
    p = load_material("red_p")
    base = _caps(_run(p))
    radius = p.particle_radius * np.array([1, 1, 1, 2, 2, 2, 3.0])
    ov = _caps(_run(p, overrides={"particle_radius": radius}))
    assert _same(ov, _caps(_uncached(monkeypatch, p, overrides={"particle_radius": radius})))
    assert not _same(ov, base)
    # the same override names with other values
    radius2 = radius.copy()
    radius2[-1] *= 1.5
    ov2 = _caps(_run(p, overrides={"particle_radius": radius2}))
    assert not _same(ov2, ov)
    assert _same(ov2, _caps(_uncached(monkeypatch, p, overrides={"particle_radius": radius2})))
    mesh = MeshSpec(n_core=30, n_shell=12)
    fine = _run(p, mesh=mesh)
    assert fine.model.N == 42 and fine.model.mesh == mesh
    assert _same(_caps(fine), _caps(_uncached(monkeypatch, p, mesh=mesh)))
    # another batch size, and the same size with other currents (the model is shared,
    # the currents are not)
    three = _run(p, current_scale=np.array([0.5, 1.0, 2.0]))
    assert three.model.B == 3
    assert _same(_caps(three), _caps(_uncached(monkeypatch, p,
                                                current_scale=np.array([0.5, 1.0, 2.0]))))
    other = _run(p, current_scale=RATES[::-1].copy())
    assert _same(_caps(other), _caps(_uncached(monkeypatch, p,
                                                current_scale=RATES[::-1].copy())))
    assert [s[0].charge_mAh_g for s in other.steps] \
        == [s[0].charge_mAh_g for s in _run(p).steps][::-1]


def _arrays(v):
    """Every array in v (an array, or dicts/tuples/lists of them)."""
    if isinstance(v, np.ndarray):
        return [v]
    items = v.values() if isinstance(v, dict) else v if isinstance(v, tuple | list) else ()
    return [a for x in items for a in _arrays(x)]


@pytest.mark.parametrize("host", ["red_p", "hard_carbon"])   # exact engine, compiled march
def test_a_caller_cannot_write_into_its_model_and_changes_nothing_cached(monkeypatch, host):
    p = resolve_parameters(host, "heterointerfaces")
    truth = _caps(_uncached(monkeypatch, p))
    _run(p)
    m = _run(p).model                      # a hit: the derived engine caches came along
    derived = ("exact_constants", "exact_kernel_inputs") if m.linear \
        else ("_compiled_march_inputs",)
    assert all(k in m.__dict__ for k in (*derived, "_equilibrium_start"))
    arrays = _arrays(m.__dict__)
    assert len(arrays) > 40
    for arr in arrays:                     # every array, the derived caches' included
        with pytest.raises(ValueError, match="read-only"):
            arr[...] = np.nan
    # what a caller may change is its own: attributes and the overrides' items (one dict
    # shared with the cache would reach the next run); the compiled march's inputs are a
    # read-only mapping (shared as it is), which a caller can only replace as a whole
    m.x0 = np.zeros(m.B)
    m.overrides["particle_radius"] = np.ones(m.B)
    m.loading = -m.loading
    inputs = m.__dict__.get("_compiled_march_inputs")
    if inputs is not None:
        with pytest.raises(TypeError):
            inputs["con"] = np.full_like(inputs["con"], np.nan)     # type: ignore[index]
        m.__dict__["_compiled_march_inputs"] = {k: np.full_like(v, np.nan) if k in
                                                ("con", "par") else v for k, v in inputs.items()}
    again = _run(p)
    assert _same(_caps(again), truth)
    assert not again.model.overrides


def test_the_model_never_holds_the_callers_override_arrays(monkeypatch):
    # the model's read-only arrays are its own: an override array the caller changes
    # afterwards (and can still change) alters no cached model
    p = load_material("red_p")
    given = p.particle_radius * np.array([1, 1, 1, 2, 2, 2, 3.0])
    kept = given.copy()
    truth = _caps(_uncached(monkeypatch, p, overrides={"particle_radius": kept}))
    first = _run(p, overrides={"particle_radius": given})
    given *= 5.0                           # still the caller's writable array
    assert not np.shares_memory(first.model.radius, given)
    assert _same(_caps(_run(p, overrides={"particle_radius": kept})), truth)


def test_derived_engine_constants_are_shared_read_only():
    from nasurf.sim.engine_exact import exact_constants

    p = load_material("red_p")
    r = _run(p)
    (_, master, *_), = model_cache._CACHE.values()
    # the exact engine's constants computed in the first run are kept for the next model
    assert "exact_constants" in master.__dict__
    nxt = _run(p).model
    assert exact_constants(nxt) is master.__dict__["exact_constants"]
    for a, b in zip(exact_constants(r.model), exact_constants(nxt), strict=True):
        assert a is b and not a.flags.writeable


@pytest.mark.parametrize("host", ["red_p", "hard_carbon"])   # exact engine, compiled march
def test_kernels_see_the_same_array_flags_built_cached_or_uncached(host):
    # numba compiles a kernel again for a read-only array where it had a writable one:
    # the first run (derived caches computed), a hit (shared) and an uncached build must
    # all call each kernel with the same signature
    from nasurf.sim import exact_kernel, march_kernel

    kernels = (exact_kernel.galvanostatic_rows, march_kernel.march_current)
    p = dataclasses.replace(load_material(host))       # a new set: a new model
    _run(p)
    seen = [len(k.signatures) for k in kernels]
    _run(p)
    with model_cache.uncached():
        _run(p)
    assert [len(k.signatures) for k in kernels] == seen


def test_eviction_and_id_reuse_never_mix_models(monkeypatch):
    # a one-entry cache alternating between sets, some of them garbage as soon as used
    # (their ids are reused by the next set): every answer is the uncached one
    monkeypatch.setattr(model_cache, "CACHE_SIZE", 1)
    p = load_material("red_p")
    truths = {}
    for k in (1.0, 1.5, 1.0, 2.0, 1.5):
        q = dataclasses.replace(p, particle_radius=k * p.particle_radius)
        got = _caps(_run(q))
        truths.setdefault(k, got)
        assert _same(got, truths[k])
        del q
    with monkeypatch.context() as m:
        _switch_off(m)
        for k, want in truths.items():
            q = dataclasses.replace(p, particle_radius=k * p.particle_radius)
            assert _same(_caps(_run(q)), want)


def test_a_cv_rerun_reuses_its_equilibrated_set_and_model(monkeypatch):
    from nasurf.sim.experiment import Experiment

    p = load_material("na2ti3o7")
    steps = ["Sweep from 2.5 V to 0.3 V at 1 mV/s", "Sweep from 0.3 V to 2.5 V at 1 mV/s"]
    exp = Experiment.from_strings(steps, initial_voltage=2.5, lower_cutoff_V=-5,
                                  upper_cutoff_V=5)

    def cv(q, e=exp):
        r = simulate(q, e)
        return r, np.concatenate([r.echem().data.select_dtypes("number").to_numpy().ravel(),
                                  [r.params.initial_stoichiometry]])

    with monkeypatch.context() as m:
        _switch_off(m)
        _, truth = cv(p)
    (r1, a), (r2, b) = cv(p), cv(p)
    assert r1.params is r2.params and len(model_cache._CACHE) == 1
    assert _same(a, truth) and _same(b, truth)
    # another start voltage is another equilibrium (and model)
    other = Experiment.from_strings(steps, initial_voltage=2.0, lower_cutoff_V=-5,
                                    upper_cutoff_V=5)
    r3, _ = cv(p, other)
    assert r3.params.initial_stoichiometry > r1.params.initial_stoichiometry
    assert len(model_cache._CACHE) == 2


def test_uncached_builds_every_model_and_keeps_none(monkeypatch):
    p = load_material("red_p")
    with model_cache.uncached():
        a, b = _run(p), _run(p)
    assert not model_cache._CACHE
    assert _same(_caps(a), _caps(b)) and _same(_caps(a), _caps(_uncached(monkeypatch, p)))
    _run(p)
    assert len(model_cache._CACHE) == 1       # on again outside the block


def test_threads_sharing_the_cache_get_their_own_answers(monkeypatch):
    # 4 threads, 3 parameter sets and a 2-entry cache: hits, evictions and derived caches
    # copied back while other threads copy the same master
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(model_cache, "CACHE_SIZE", 2)
    p = load_material("red_p")
    sets = [dataclasses.replace(p, particle_radius=k * p.particle_radius)
            for k in (1.0, 1.5, 2.0)]
    truths = [_caps(_uncached(monkeypatch, q)) for q in sets]
    jobs = [i % 3 for i in range(60)]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda i: _caps(_run(sets[i])), jobs))
    assert all(_same(g, truths[i]) for g, i in zip(got, jobs, strict=True))


def test_a_large_model_is_built_every_time_and_not_kept(monkeypatch):
    monkeypatch.setattr(model_cache, "MAX_CACHED_BYTES", 1000)
    p = load_material("red_p")
    r = _run(p)
    assert not model_cache._CACHE
    built = build_model(p, batch_size=len(RATES))
    assert _same(r.model.U, built.U) and _same(r.model.edges, built.edges)


def test_a_packaged_preset_by_name_is_one_object_and_finds_its_model(tmp_path):
    # packaged material + packaged preset: the same (immutable) parameter set every call,
    # equal to applying the preset afresh, so simulate() by names reuses its built model;
    # a user's strategy file is read afresh each call (it may have changed)
    from nasurf.sim.strategies import apply_strategy

    a = resolve_parameters("sb", "surface_functionalisation")
    assert a is resolve_parameters("sb", "surface_functionalisation")
    assert a == apply_strategy(load_material("sb"), "surface_functionalisation")
    model_cache.clear_model_cache()
    first = simulate("sb", STEP, strategy="surface_functionalisation")
    n = len(model_cache._CACHE)
    second = simulate("sb", STEP, strategy="surface_functionalisation")
    assert len(model_cache._CACHE) == n == 1
    assert np.array_equal(_caps(first), _caps(second))
    user = tmp_path / "mine.yaml"
    user.write_text("mine:\n  title: mine\n  changes:\n"
                    "    - {field: bonding_factor, op: set, value: 0.5, basis: test}\n")
    b, c = resolve_parameters("sb", str(user)), resolve_parameters("sb", str(user))
    assert b is not c and b == c and b.bonding_factor == 0.5


def test_the_remembered_march_start_is_reused_only_for_the_same_state():
    # the compiled march remembers the logits of the first start state per model (the
    # equilibrium start of every protocol); a start that differs in any field, t = 0
    # still, is computed afresh: the same bytes as on a model that never saw another
    from nasurf.sim.compiled_march import run_compiled_march
    from nasurf.sim.state import initial_state

    p = resolve_parameters("hard_carbon", "surface_functionalisation")
    end, other = _segment_end_and_other_start(p, run_compiled_march)
    m = build_model(p, batch_size=len(RATES))
    first = end(m, initial_state(m))
    assert "_march_start" in m.__dict__
    assert _same(end(m, initial_state(m)), first)              # remembered: the same
    fresh = build_model(p, batch_size=len(RATES))
    truth = end(fresh, other(fresh))                            # never saw the first
    assert "_march_start" in fresh.__dict__                     # it remembers its own
    assert not _same(truth, first)
    assert _same(end(m, other(m)), truth)


def test_the_remembered_exact_start_is_reused_only_for_the_same_concentrations():
    # the exact engine remembers the particle content, mean stoichiometry and modal
    # amplitudes of the first start per model; other concentrations are computed afresh
    # (the same bytes as on a model that never saw the first), and a hit hands out
    # writable copies (the kernel's signature) that cannot write into the remembered
    from nasurf.sim.engine_exact import run_exact
    from nasurf.sim.state import initial_state

    p = load_material("red_p")
    end, other = _segment_end_and_other_start(p, run_exact)
    m = build_model(p, batch_size=len(RATES))
    first = end(m, initial_state(m))
    assert "_exact_start" in m.__dict__
    assert _same(end(m, initial_state(m)), first)
    fresh = build_model(p, batch_size=len(RATES))
    truth = end(fresh, other(fresh))
    assert not _same(truth, first)
    assert _same(end(m, other(m)), truth)


def test_the_remembered_cell_overpotential_is_reused_only_for_the_same_current():
    # V − Φ of the first current is remembered per model; another current gets its own
    # value (as on a model that never saw the first) and a hit is a writable copy
    p = resolve_parameters("hard_carbon", "surface_functionalisation")
    I1, I2 = RATES * 37.0, RATES * -12.5
    fresh = build_model(p, batch_size=len(RATES))
    truth2 = fresh.cell_overpotential_value(I2)
    m = build_model(p, batch_size=len(RATES))
    first = m.cell_overpotential_value(I1)
    assert "_cell_overpotential_at" in m.__dict__
    again = m.cell_overpotential_value(I1)
    assert _same(again, first) and again.flags.writeable
    again[:] = 0.0                                           # the caller's own copy
    assert _same(m.cell_overpotential_value(I1), first)
    assert not _same(truth2, first)
    assert _same(m.cell_overpotential_value(I2), truth2)
