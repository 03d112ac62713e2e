"""GITT (methods.md §5) against exact diffusion solutions, plus real-file segmentation.

Synthetic records are built from the exact constant-flux solutions (Crank, *The
Mathematics of Diffusion*): the planar slab series for §5's slab cases and the sphere
series (roots of tan α = α) for the sphere bias. A pulse followed by a rest is the
superposition F(t) − F(t − τ) of the switched-on response, so relaxation is exact too.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import brentq

from nasurf.analysis.gitt import diffusion_length, gitt_analysis, segment_pulses
from nasurf.errors import ValidationError
from nasurf.io.table import CURRENT, TIME, VOLTAGE, EchemData, Metadata

F = 96485.33212
N_SLAB = np.arange(1, 601)  # n²π²Dt/L² > 350 at t = 1 s: later terms are < e^-350
# first 500 roots of tan α = α, one in each (nπ, nπ + π/2); α_500²·D·(1 s)/r² ≈ 100,
# so the later terms are negligible at t ≥ 1 s
ALPHA = np.array([brentq(lambda a: math.tan(a) - a, n * math.pi + 1e-9,
                         n * math.pi + math.pi / 2 - 1e-9) for n in range(1, 501)])


def slab_response(t, L=1e-4, D=1e-12, J=1e-10):
    """Surface concentration change (mol/cm³) of a slab (thickness L, one face fed with
    flux J, the other sealed) after a flux step at t = 0."""
    t = np.asarray(t, float)
    out = np.zeros_like(t)
    m = t > 0
    tt = t[m][:, None]
    out[m] = (J * L / D) * (D * tt[:, 0] / L**2 + 1 / 3 - (2 / np.pi**2) * np.sum(
        N_SLAB**-2.0 * np.exp(-(N_SLAB**2) * np.pi**2 * D * tt / L**2), axis=1))
    return out


def sphere_response(t, r=5e-4, D=1e-11, J=1e-10):
    """Surface concentration change of a sphere of radius r under surface flux J."""
    t = np.asarray(t, float)
    out = np.zeros_like(t)
    m = t > 0
    tt = t[m][:, None]
    out[m] = (J * r / D) * (3 * D * tt[:, 0] / r**2 + 0.2 - 2 * np.sum(
        np.exp(-(ALPHA**2) * D * tt / r**2) / ALPHA**2, axis=1))
    return out


def gitt_record(response, tau, *, n_pulses=3, rest=30000.0, J=1e-10, area=1.0, R=50.0,
                dEdc=-5.0, e_start=1.0, plateau=False):
    """A GITT record: initial rest, then n × (sodiation pulse τ, rest).

    Sodiation = cathodic current I = −J·F·A; E = E_start + dE/dc·Δc_s + I·R (dE/dc < 0:
    the anode potential falls on sodiation). ``plateau``: a two-phase region, where the
    equilibrium potential does not move and only the surface excess over the mean
    concentration polarises the electrode.
    """
    current = -J * F * area
    times, currents, starts = [np.arange(0.0, 601.0, 10.0)], [np.zeros(61)], []
    t_now = 600.0
    for _ in range(n_pulses):
        tp = t_now + np.arange(1.0, tau + 1.0)
        starts.append(t_now)
        tr = tp[-1] + np.concatenate([np.arange(1.0, 60.0), np.arange(60.0, rest + 1, 10.0)])
        times += [tp, tr]
        currents += [np.full(tp.size, current), np.zeros(tr.size)]
        t_now = tr[-1]
    t = np.concatenate(times)
    i = np.concatenate(currents)
    c = np.zeros_like(t)
    mean = np.zeros_like(t)
    for s in starts:
        c += response(t - s) - response(t - s - tau)
        mean += np.clip(t - s, 0, tau)
    if plateau:
        # equilibrium flat: subtract the mean-concentration rise J·t/L (L from the response)
        long = response(np.array([1e7]))[0] - response(np.array([1e7 - 1.0]))[0]
        c = c - long * mean
    e = e_start + dEdc * c + i * R
    return EchemData(pd.DataFrame({TIME: t, VOLTAGE: e, CURRENT: i}),
                     Metadata(source="synthetic-gitt"))


@pytest.mark.parametrize(
    ("tau", "ratio_l2", "ratio_sqrt", "tol_sqrt"),
    [
        # methods.md §5 [verified]: 1.0000 (both forms), 0.985, 0.716 (√t form 0.682).
        # The L² form uses E(0+) from the early-time √t intercept and reproduces the
        # published ratios to their printed digits. The √t-form value at τD/L² = 1 depends
        # on how the whole-pulse fit is sampled (1 s uniform here: 0.690); the spec's
        # 0.682 came from an unstated sampling, hence ±0.01 for that one number.
        (600.0, 1.0000, 1.0000, 5e-5),
        (3000.0, 0.985, 0.988, 1e-3),
        (10000.0, 0.716, 0.682, 0.01),
    ],
)
def test_slab_ratios(tau, ratio_l2, ratio_sqrt, tol_sqrt):
    L, D = 1e-4, 1e-12
    res = gitt_analysis(gitt_record(slab_response, tau), diffusion_length_cm=L)
    p = res.pulses
    assert len(p) == 3 and set(p["process"]) == {"sodiation"}
    tol_l2 = 5e-5 if tau == 600 else 5e-4
    np.testing.assert_allclose(p["D_L2_cm2_s"] / D, ratio_l2, atol=tol_l2)
    np.testing.assert_allclose(p["D_sqrt_t_cm2_s"] / D, ratio_sqrt, atol=tol_sqrt)
    # ΔE_s = |dE/dc|·J·τ/L exactly (mass balance)
    np.testing.assert_allclose(p["delta_Es_V"], 5.0 * 1e-10 * tau / L, rtol=1e-9)
    np.testing.assert_allclose(p["tau_s"], tau)
    if tau == 600:
        # §5: ΔE_τ = 13.820 mV (|dE/dc|·2J√(τ/(πD)) = 13.8198 mV)
        np.testing.assert_allclose(p["delta_Etau_V"], 13.820e-3, rtol=5e-5)
        assert not p[res.flag_columns].to_numpy().any()
    else:
        assert p["flag_tau_D_L2_above_limit"].all()  # τD/L² = 0.3 and 1 > 0.1


def test_ir_drop_and_resistance():
    res = gitt_analysis(gitt_record(slab_response, 600.0, R=50.0), diffusion_length_cm=1e-4)
    p = res.pulses
    current = -1e-10 * F
    np.testing.assert_allclose(p["current_A"], current, rtol=1e-12)
    # E(0+) from the √t intercept removes diffusion: the start jump is exactly I·R
    np.testing.assert_allclose(p["ir_drop_start_V"], current * 50.0, rtol=1e-5)
    np.testing.assert_allclose(p["resistance_start_ohm"], 50.0, rtol=1e-5)
    # E(τ) − E(τ+) with the first rest sample 1 s after the switch: the ohmic jump plus
    # the diffusion relaxation of that second, which the exact solution gives
    tau, s = 600.0, 600.0
    relax = -5.0 * (slab_response([tau]) - (slab_response([tau + 1.0]) - slab_response([1.0])))
    np.testing.assert_allclose(p["ir_drop_V"], current * 50.0 + relax[0], rtol=1e-6)
    del s


def test_sphere_bias_follows_short_time_correction():
    # methods.md §5: sphere r = 5 µm, D = 1e-11, L = r/3; τ = 60/300/1200 s give
    # D_WH/D ≈ 0.92 / 0.82 / 0.66 (printed to 2 digits: ±0.01), close to the short-time
    # correction (1 + (√π/2)·√(Dτ)/r)^-2 at short τ (0.918 at 60 s). These ratios are
    # those of a perfect E(0+) (the post-ohmic potential): the default E0 + s√t + c·t
    # fit recovers it; the plain √t fit is biased further (documented below).
    r, D = 5e-4, 1e-11
    got = []
    for tau, expected in ((60.0, 0.92), (300.0, 0.82), (1200.0, 0.66)):
        res = gitt_analysis(gitt_record(sphere_response, tau, n_pulses=1, rest=40000.0),
                            particle_radius_cm=r)
        assert res.diffusion_length_cm == pytest.approx(r / 3)
        ratio = float(res.pulses["D_L2_cm2_s"].iloc[0]) / D
        assert ratio == pytest.approx(expected, abs=0.01)
        got.append(ratio)
    correction = (1 + math.sqrt(math.pi) / 2 * math.sqrt(D * 60.0) / r) ** -2
    assert got[0] == pytest.approx(correction, abs=0.01)
    assert got[0] > got[1] > got[2]
    plain = gitt_analysis(gitt_record(sphere_response, 60.0, n_pulses=1, rest=40000.0),
                          particle_radius_cm=r, e0_fit="sqrt_t")
    assert float(plain.pulses["D_L2_cm2_s"].iloc[0]) / D < got[0] - 0.02


def test_two_phase_plateau_is_flagged():
    res = gitt_analysis(gitt_record(slab_response, 600.0, plateau=True), diffusion_length_cm=1e-4)
    p = res.pulses
    assert p["flag_two_phase_plateau"].all()
    assert (p["delta_Es_V"] < 1e-6).all()  # equilibrium potential did not move
    assert any("two_phase_plateau" in w for w in res.warnings)


def test_short_rest_is_flagged_unrelaxed():
    res = gitt_analysis(gitt_record(slab_response, 600.0, rest=300.0), diffusion_length_cm=1e-4)
    assert res.pulses["flag_unrelaxed_after"].all()
    assert (res.pulses["dEdt_rest_after_V_s"] > 1e-3 / 3600).all()


def test_soc_capacity_and_x():
    # 3 pulses of 600 s at 9.65 µA: 5.79 mC each; SOC at midpoints 1/6, 3/6, 5/6
    res = gitt_analysis(gitt_record(slab_response, 600.0), diffusion_length_cm=1e-4,
                        active_mass_g=1e-3, molar_mass_g_mol=100.0)
    p = res.pulses
    q = 1e-10 * F * 600.0
    np.testing.assert_allclose(p["soc"], [1 / 6, 3 / 6, 5 / 6], rtol=1e-9)
    np.testing.assert_allclose(p["capacity_mAh"], np.array([0.5, 1.5, 2.5]) * q / 3.6,
                               rtol=1e-9)
    np.testing.assert_allclose(p["capacity_mAh_g"], p["capacity_mAh"] / 1e-3)
    # x = Q·M/(F·m), sodiation counts positive
    np.testing.assert_allclose(p["x_change"], np.array([0.5, 1.5, 2.5]) * q * 100 / (F * 1e-3),
                               rtol=1e-6)


def test_diffusion_length_conventions():
    L, src = diffusion_length(active_mass_g=2e-3, density_g_cm3=2.0, area_cm2=1.0)
    assert pytest.approx(1e-3) == L and "geometric" in src
    L, _ = diffusion_length(active_mass_g=2e-3, molar_mass_g_mol=50.0, molar_volume_cm3_mol=25.0,
                            area_cm2=1.0, area_kind="BET")
    assert pytest.approx(1e-3) == L  # m·V_M/(M·S)
    L, src = diffusion_length(particle_radius_cm=3e-4)
    assert pytest.approx(1e-4) == L and "r/3" in src
    with pytest.raises(ValidationError, match="not both"):
        diffusion_length(active_mass_g=1e-3, density_g_cm3=2, molar_volume_cm3_mol=10, area_cm2=1)
    with pytest.raises(ValidationError, match="area_kind"):
        diffusion_length(area_kind="surface")
    with pytest.raises(ValidationError, match="positive"):
        diffusion_length(particle_radius_cm=-1)
    # without a length, D is not computed and the user is told what is missing
    res = gitt_analysis(gitt_record(slab_response, 600.0))
    assert res.pulses["D_L2_cm2_s"].isna().all()
    assert any("D not computed" in w for w in res.warnings)


def test_bad_input_errors():
    df = pd.DataFrame({TIME: [0, 1, 2], VOLTAGE: [1, 1, 1]})
    with pytest.raises(ValidationError, match="Current / A"):
        gitt_analysis(EchemData(df, Metadata(source="x.csv")))
    df = pd.DataFrame({TIME: np.arange(20.0), VOLTAGE: np.ones(20), CURRENT: np.zeros(20)})
    with pytest.raises(ValidationError, match="no constant-current pulse"):
        gitt_analysis(EchemData(df, Metadata(source="x.csv")))


# ---------------------------------------------------------------------------------------
# Real files: segmentation and robustness (no real GITT file is available; see SOURCES.md)
# ---------------------------------------------------------------------------------------


def read_real(path):
    try:
        from nasurf.io import read
    except ImportError:  # the generic reader is another engineer's; use the BioLogic one
        from nasurf.io.biologic import read_mpr

        return read_mpr(path)
    return read(path)


@pytest.mark.realdata
def test_real_modulo_bat_segmentation(realdata):
    # mb.mpr (Modulo Bat, VMP3 dummy cell): 4 loops of Rest/PEIS/Rest/CC +2.8 µA 1 h/
    # CC −2.8 µA 1 h/Rest/PEIS (settings and the Ns column). The 8 CC steps are the
    # pulses; PEIS rows are impedance rows, not pulses.
    res = gitt_analysis(read_real(realdata / "yadg" / "mb.mpr"), diffusion_length_cm=1e-4)
    p = res.pulses
    assert len(p) == 8
    np.testing.assert_allclose(p["tau_s"], 3600.0, rtol=0.01)
    np.testing.assert_allclose(p["current_A"].abs(), 2.8e-6, rtol=0.01)
    assert list(p["process"]) == ["desodiation", "sodiation"] * 4
    # the +CC is followed directly by the −CC: no rest between them → flagged, no D
    assert p["flag_no_rest_after"].iloc[::2].all()
    assert p["D_L2_cm2_s"].iloc[::2].isna().all()
    assert p["flag_no_rest_before"].iloc[1::2].all()
    assert any("impedance rows" in w for w in res.warnings)
    # one JSON-able document
    import json

    from nasurf.clikit import to_jsonable

    json.dumps(to_jsonable(res), allow_nan=False)


@pytest.mark.realdata
def test_real_bcd_segmentation(realdata):
    # bcd.issue_241.mpr (BCS-805, 0.01–1.0 V): ~5.46 mAh sodiation at −0.57 mA ending in
    # a CV hold at 0.01 V, 30 min rest, 5.45 mAh desodiation (SOURCES.md). The step model
    # (EC-Lab mode 2) separates the hold: the CC part is the pulse, the hold is a
    # non-constant segment named in a warning, not part of any pulse.
    res = gitt_analysis(read_real(realdata / "yadg" / "bcd.issue_241.mpr"),
                        diffusion_length_cm=1e-4)
    p = res.pulses
    assert list(p["process"]) == ["sodiation", "desodiation"]
    np.testing.assert_allclose(p["current_A"].abs(), 0.57e-3, rtol=0.01)
    assert not p["flag_current_not_constant"].iloc[0]
    assert any("not treated as a GITT pulse" in w for w in res.warnings)
    # the instrument's counter for the CC steps: 5.3669 mAh (sodiation, before the
    # 0.0977 mAh hold) and 5.4521 mAh (desodiation)
    assert p["charge_C"].abs().iloc[0] / 3.6 == pytest.approx(5.3669, rel=1e-3)
    np.testing.assert_allclose(p["charge_C"].abs().iloc[1] / 3.6, 5.4521, rtol=1e-3)


def test_segment_pulses_threshold():
    t = np.arange(100.0)
    i = np.zeros(100)
    i[10:30] = -1e-3
    i[50:70] = 1e-3
    i[80:90] = 1e-3 * (1 + np.linspace(0, 0.5, 10))  # ramp: not constant
    pulses, others, thr = segment_pulses(t, i)
    assert pulses == [(10, 30), (50, 70)]
    assert others == [(80, 90)]
    assert thr == pytest.approx(1e-5, rel=0.5)


def test_rest_noise_does_not_become_pulses():
    # rests logged with 2 nA noise (0.02 % of the 9.6 µA pulse current) instead of 0 A,
    # as some cyclers do: most samples are rest samples, and they must stay rests
    rec = gitt_record(slab_response, 600.0)
    df = rec.data.copy()
    rng = np.random.default_rng(1)
    rest = df[CURRENT] == 0
    df.loc[rest, CURRENT] = rng.normal(0, 2e-9, int(rest.sum()))
    res = gitt_analysis(EchemData(df, rec.metadata), diffusion_length_cm=1e-4)
    assert len(res.pulses) == 3
    np.testing.assert_allclose(res.pulses["D_L2_cm2_s"], 1e-12, rtol=1e-4)
