"""The saturating fade law (sim/protocol.py::lam_retention / lam_factor), checked against
its analytic forms and against the simulator that applies it between cycles.

Law (docs/simulation.md, "Fade law"): one cycle of LAM rate r and depth d takes the
connected fraction a to (1 − S) + (a − (1 − S))·(1 − r·d/S); S is the susceptible share.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nasurf.errors import ValidationError
from nasurf.sim.experiment import galvanostatic_cycling
from nasurf.sim.parameters import load_material
from nasurf.sim.protocol import (
    LAM_SUSCEPTIBLE_FRACTION,
    PULVERISING_VOLUME_CHANGE,
    lam_factor,
    lam_retention,
    susceptible_fraction,
)
from nasurf.sim.simulate import simulate

S = LAM_SUSCEPTIBLE_FRACTION


def _iterate(rate: float, depths: list[float], active: float = 1.0, s: float = S) -> float:
    # the protocol's rule: lam_factor of what is connected, once per cycle
    a = active
    for d in depths:
        a *= float(lam_factor(rate, d, a, s))
    return a


@pytest.mark.parametrize(("rate", "depth", "n", "s"), [
    (5e-3, 1.0, 500, S), (1.6e-3, 0.8, 2000, S), (6.8e-5, 0.9, 3000, S),
    (5e-3, 1.0, 300, 0.5), (2e-2, 0.5, 50, 1.0)])
def test_closed_form_is_the_law_applied_cycle_by_cycle(rate, depth, n, s):
    # validate.py extrapolates with the closed form; the protocol applies lam_factor once
    # per cycle: they must be the same law (one owner), to round-off
    closed = float(lam_retention(rate, depth, n, 1.0, s))
    assert _iterate(rate, [depth] * n, 1.0, s) == pytest.approx(closed, rel=1e-10)
    # and from a part-faded start
    closed = float(lam_retention(rate, depth, n, 0.95, s))
    assert _iterate(rate, [depth] * n, 0.95, s) == pytest.approx(closed, rel=1e-10)


ALLOY_CONVERSION = ("sno2", "mos2", "sb", "red_p", "sb2s3", "sns", "snse", "bi2s3", "cose2",
                    "fe3se4", "co3o4", "mno2")
INTERCALATION = ("hard_carbon", "anatase_tio2", "na2ti3o7", "ti087o2")


def test_alloy_and_conversion_hosts_pulverise_intercalation_hosts_do_not():
    # methods.md §9: alloy/conversion hosts swell +196 ... +531 % (SnO2's cycled Sn/Na2O
    # composite +97 %), intercalation hosts "a few %"; the threshold sits between them
    for name in ALLOY_CONVERSION:
        dv = load_material(name).volume_change
        assert dv >= 0.9 and float(susceptible_fraction(dv)) == S, name
    for name in INTERCALATION:
        dv = load_material(name).volume_change
        assert dv <= 0.1 and float(susceptible_fraction(dv)) == 1.0, name
    assert 0.1 < PULVERISING_VOLUME_CHANGE < 0.9
    assert np.array_equal(susceptible_fraction(np.array([0.04, 2.9])), [1.0, S])


def test_an_intercalation_host_keeps_the_constant_rate_law_in_the_simulator():
    # the low-strain hosts' slow fade is not pulverisation: the protocol applies 1 − r·d
    # per cycle to them exactly as before (Na2Ti3O7, 6 cycles at 1C); in a batch whose
    # members differ in volume change, each member gets its own S
    res = simulate("na2ti3o7", galvanostatic_cycling("177 mA g-1", cycles=6))
    cyc = res.cycle_capacities()
    host = res.model.params.host_capacity / 3600.0
    rate = float(res.model.lam_rate[0])
    kept = np.prod(1 - rate * np.clip(cyc["sodiation_mAh_g"].to_numpy() / host, 0, 1))
    assert float(res.final_state.active[0]) == pytest.approx(kept, rel=1e-12)
    both = simulate("na2ti3o7", galvanostatic_cycling("177 mA g-1", cycles=6),
                    overrides={"volume_change": [0.06, 2.0]})
    cyc_b = [both.cycle_capacities(b) for b in (0, 1)]
    rates = np.asarray(both.model.lam_rate)
    a = [_iterate(float(rates[b]), list(np.clip(cyc_b[b]["sodiation_mAh_g"] / host, 0, 1)),
                  1.0, s) for b, s in ((0, 1.0), (1, S))]
    assert np.allclose(both.final_state.active, a, rtol=1e-12, atol=0)


def test_constant_rate_law_is_the_limit_s_equals_one():
    # S = 1: the law before this pass, keep = 1 − r·d per cycle, (1 − r·d)^n after n
    rate, d = np.array([5e-3, 1.7e-3 * 0.04]), np.array([1.0, 0.7])
    assert np.allclose(lam_factor(rate, d, np.array([0.6, 0.9]), 1.0), 1 - rate * d,
                       rtol=1e-14, atol=0)
    assert np.allclose(lam_retention(rate, d, 700, 1.0, 1.0), (1 - rate * d) ** 700,
                       rtol=1e-12, atol=0)


@pytest.mark.parametrize("s", [S, 0.5, 1.0])
def test_a_fresh_electrode_loses_rate_times_depth_in_its_first_cycle(s):
    # the initial rate is the old law's for every S: early-cycle physics of the presets
    # (bonding halves the fade, Sb fades faster than titanates) is unchanged
    for rate, d in ((5e-3, 1.0), (1e-3, 0.3), (6.8e-5, 1.0)):
        assert float(lam_factor(rate, d, 1.0, s)) == pytest.approx(1 - rate * d, rel=1e-14)


def test_fade_is_front_loaded_and_saturates_at_one_minus_s():
    rate, d = 5e-3, 1.0
    a = lam_retention(rate, d, np.arange(0, 5001), 1.0, S)
    loss = -np.diff(a[:1001])      # (beyond ~1000 cycles the loss is below round-off)
    assert np.all(loss > 0)
    assert np.all(np.diff(loss) < 0)                     # every cycle loses less
    assert loss[0] == pytest.approx(rate * d, rel=1e-12)
    assert loss[99] < 0.2 * loss[0]                      # front-loaded
    assert np.all(a >= 1 - S)
    assert a[-1] == pytest.approx(1 - S, abs=1e-12)      # 5000 cycles: S·e^(−108) left
    # exact value at n: (1 − S) + S·(1 − r·d/S)^n
    assert a[100] == pytest.approx(1 - S + S * (1 - rate * d / S) ** 100, rel=1e-14)
    # a fraction at or below the floor is not touched (nothing susceptible is left)
    assert float(lam_factor(rate, d, 1 - S, S)) == 1.0
    assert float(lam_factor(rate, d, 0.5, S)) == 1.0


def test_small_doses_follow_the_constant_rate_law():
    # while r·d·n ≪ S the law is linear in the dose D = r·d·n: 1 − D + D²/(2S) + O(D³),
    # above the constant-rate law (1 − D + D²/2) by D²(1/S − 1)/2; a titanate (ΔV/V0 =
    # 4 %, r = 6.8e-5) over 500 cycles keeps 0.19 % more than under the old law
    rate, d, n = 1.7e-3 * 0.04, 1.0, 500
    dose = rate * d * n
    new = float(lam_retention(rate, d, n, 1.0, S))
    old = (1 - rate * d) ** n
    assert new == pytest.approx(1 - dose + dose**2 / (2 * S), abs=dose**3 / S**2)
    assert new - old == pytest.approx(dose**2 * (1 / S - 1) / 2, rel=0.1)
    assert 0 < new - old < 0.003


def test_bad_susceptible_fraction_is_one_clear_error():
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValidationError, match="susceptible fraction must lie in"):
            lam_retention(1e-3, 1.0, 10, 1.0, bad)
    # S = 0 (a bond that prevents all damage; its LAM rate is 0 too) keeps everything
    assert float(lam_retention(0.0, 1.0, 10, 1.0, 0.0)) == 1.0


@pytest.mark.parametrize("b", [0.0, 0.5, 0.8, 1.0])
def test_bonding_scales_the_whole_damage_curve(b):
    # b is the share of the volume-change damage a bond prevents: with k·ΔV/V0 = 5e-3 and
    # full depth the damage after n cycles is (1 − b)·S·(1 − (1 − 5e-3/S)^n), i.e. the
    # unbonded curve times (1 − b) at every n: the first cycle loses (1 − b)·5e-3 and the
    # bonded electrode levels off at 1 − (1 − b)·S instead of 1 − S
    k_dv = 5e-3
    sus = float(susceptible_fraction(2.9, b))
    assert sus == pytest.approx((1 - b) * S, abs=1e-15)
    assert float(susceptible_fraction(0.04, b)) == pytest.approx(1 - b, abs=1e-15)
    rate = k_dv * (1 - b)
    for n in (1, 10, 100, 5000):
        bare = 1 - float(lam_retention(k_dv, 1.0, n, 1.0, S))
        bonded = 1 - float(lam_retention(rate, 1.0, n, 1.0, sus))
        assert bonded == pytest.approx((1 - b) * bare, rel=1e-12, abs=1e-15), n
    assert 1 - float(lam_retention(rate, 1.0, 1, 1.0, sus)) == pytest.approx(rate,
                                                                              abs=1e-15)
    assert float(lam_retention(rate, 1.0, 10**6, 1.0, sus)) == pytest.approx(1 - (1 - b) * S,
                                                                             abs=1e-12)


def test_a_bonded_alloy_keeps_more_than_a_bare_one_in_the_long_run():
    # the interfacial_chemical_bonds preset (b = 0.8) on micro Sb through the simulator:
    # the protocol's final state is the bonded law cycle by cycle, and it fades less
    # than the bare host at every cycle count run here
    from nasurf.sim.simulate import resolve_parameters

    bonded = resolve_parameters("sb", "interfacial_chemical_bonds")
    exp = galvanostatic_cycling("300 mA g-1", cycles=30)
    res_b, res_0 = simulate(bonded, exp), simulate("sb", exp)
    host = res_b.model.params.host_capacity / 3600.0
    sus = float(susceptible_fraction(bonded.volume_change, bonded.bonding_factor))
    assert sus == pytest.approx(0.2 * S, rel=1e-12)
    rate = float(res_b.model.lam_rate[0])
    depths = list(res_b.cycle_capacities()["sodiation_mAh_g"] / host)
    assert _iterate(rate, depths, 1.0, sus) == pytest.approx(
        float(res_b.final_state.active[0]), rel=1e-12)
    assert 1 - float(res_b.final_state.active[0]) < 0.5 * (1 - float(res_0.final_state.active[0]))


def test_protocol_applies_the_law_between_cycles_and_validate_extrapolates_it():
    # bare micro Sb at 300 mA/g: the final state is the law applied to each cycle's
    # sodiation depth (exact), and validate's rule (cycle-2 desodiation × the closed form
    # from the cycle-2 depth) is within 2 % of the integrated cycles 10-40; the rest is the
    # rising C-rate per connected gram as material is lost, which the closed form ignores
    res = simulate("sb", galvanostatic_cycling("300 mA g-1", cycles=40))
    cyc = res.cycle_capacities()
    host = res.model.params.host_capacity / 3600.0
    rate = float(res.model.lam_rate[0])
    assert _iterate(rate, list(cyc["sodiation_mAh_g"] / host)) == pytest.approx(
        float(res.final_state.active[0]), rel=1e-12)
    a2 = float(lam_factor(rate, cyc["sodiation_mAh_g"].iloc[0] / host, 1.0, S))
    d2 = cyc["sodiation_mAh_g"].iloc[1] / host
    des = cyc["desodiation_mAh_g"].to_numpy()
    for n in (10, 20, 40):
        pred = des[1] * float(lam_retention(rate, d2, n - 2, a2, S)) / a2
        assert des[n - 1] == pytest.approx(pred, rel=0.02), n
    assert des[-1] < 0.95 * des[1]                       # it does fade


def test_validate_row_uses_the_protocol_law():
    # a cycling row after N cycles = cycle-2 desodiation × lam_retention(N − 2 from the
    # cycle-2 connected fraction) / that fraction: no second copy of the law in validate
    from nasurf.sim.validate import _finish

    rate, host, n = 4.4e-3, 600.0, 1200
    caps = {"sod1": 540.0, "des2": 450.0, "sod2": 480.0}
    row = {"rec": {"quantity": "cycling_capacity", "value": 300.0, "cycles": n,
                   "id": "X.cycling_capacity", "host": "X", "material": "x",
                   "citation": "test"},
           "material": "x", "strategy": "none", "current": 100.0, "caps": caps,
           "warnings": [], "lam": (rate, S), "host_cap": host, "site_cap": 0.0, "sei_cap": 0.0,
           "assumptions": ["R = 10 nm (test)"]}
    out = _finish(row)
    a2 = 1 - rate * caps["sod1"] / host
    expect = caps["des2"] * (1 - S + (a2 - 1 + S) * (1 - rate * caps["sod2"] / host / S)
                             ** (n - 2)) / a2
    assert out.simulated_mAh_g == pytest.approx(expect, rel=1e-12)
    assert expect > caps["des2"] * (1 - S)          # saturated: ~77 % of cycle 2 kept
    assert any("susceptible fraction 0.23" in a for a in out.assumptions)


def test_a_connected_fraction_at_or_below_the_floor_is_kept_as_it_is():
    # nothing susceptible is left to lose: the law neither loses nor restores material
    for a in (0.77, 0.7, 0.3, 0.0):
        assert float(lam_retention(5e-3, 1.0, 50, a, S)) == a
    assert float(lam_factor(5e-3, 1.0, 0.0, S)) == 1.0    # nothing connected: factor 1


def test_lam_factor_is_lam_retention_over_one_cycle_bit_for_bit():
    # lam_factor runs per member, compiled (speed); its values must be those of
    # lam_retention over one cycle divided by the connected fraction, as numpy computes
    # them, for every byte: NaN, 0, −0, below-floor and clipped members included, and
    # for scalar, per-member and mixed shapes
    rng = np.random.default_rng(13)
    depths = (rng.uniform(-0.3, 1.3, 7), np.array([np.nan, 0.0, 1.0, -0.0, 2.0, 0.5, 0.3]))
    actives = (np.ones(7), rng.uniform(0, 1, 7), np.array([0, 1e-320, 0.4, 1, 0.9, 0.2, np.nan]),
               1.0)
    rates = (rng.uniform(0, 0.05, 7), np.r_[rng.uniform(0, 0.05, 6), np.nan], np.zeros(7), 0.02)
    shares = (susceptible_fraction(0.5, 0.3), np.float64(1.0), 0.0,
              susceptible_fraction(rng.uniform(0, 1, 7), rng.uniform(-0.2, 1.2, 7)))
    n = 0
    for r in rates:
        for d in depths:
            for a in actives:
                for s in shares:
                    aa = np.asarray(a, dtype=float)
                    after = lam_retention(r, d, 1, aa, s)
                    want = np.where(aa > 0.0, np.minimum(np.maximum(
                        after / np.maximum(aa, 1e-300), 0.0), 1.0), 1.0)
                    got = lam_factor(r, d, a, s)
                    assert got.shape == want.shape and got.dtype == want.dtype
                    assert got.tobytes() == want.tobytes(), (r, d, a, s)
                    n += 1
    assert n == 128
    # a column against a row: numpy's broadcasting
    col = lam_factor(np.array([[0.01], [0.02]]), np.array([0.2, 0.9, 1.0]))
    assert col.shape == (2, 3)
    assert col.tobytes() == np.where(True, lam_retention(np.array([[0.01], [0.02]]),
                                                         np.array([0.2, 0.9, 1.0]), 1),
                                     1.0).tobytes()
    for bad in (-0.1, 1.5, math.nan):
        with pytest.raises(ValidationError, match="susceptible fraction must lie in"):
            lam_factor(1e-3, np.full(3, 0.5), 1.0, bad)
