"""Peak b-values and b(E) (methods.md §1), CVSet construction and real-file robustness."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nasurf.analysis.kinetics import (
    CVSet,
    b_value_map,
    b_value_peaks,
    cycle_count,
    prepare_branches,
    split_sweeps,
)
from nasurf.errors import NasurfError, ValidationError
from nasurf.io.table import CURRENT, TIME, VOLTAGE, EchemData, Metadata
from test_cv_dunn import E_GRID, K1, RATES_V_S, cv_loop, k2_anodic, k2_cathodic, section2_cvset


def surface_redox_cvset(k2_only=False):
    """i = k1(E)·v with Gaussian k1 (surface redox, b = 1) or i = k2(E)·√v (b = 0.5)."""
    loops = []
    for v in RATES_V_S:
        if k2_only:
            ia, ic = k2_anodic(E_GRID) * np.sqrt(v), k2_cathodic(E_GRID) * np.sqrt(v)
        else:
            ia, ic = 10 * k2_anodic(E_GRID) * v, 10 * k2_cathodic(E_GRID) * v
        loops.append(cv_loop(ia, ic))
    return CVSet.from_arrays(RATES_V_S, [lp[0] for lp in loops], [lp[1] for lp in loops])


def test_pure_capacitive_gives_b_one():
    kin = b_value_peaks(surface_redox_cvset(), vertex_exclusion_V=0)
    # exact power law: b = 1 to round-off
    np.testing.assert_allclose(kin.fits["b"], 1.0, atol=1e-9)
    assert set(kin.fits["branch"]) == {"anodic", "cathodic"}
    bmap = b_value_map(surface_redox_cvset(), vertex_exclusion_V=0)
    t = bmap.table
    ok = ~t["masked"]
    # the Gaussian tails fall below 3× the (round-off) noise far from the peaks and are
    # masked; within ±0.25 V of each peak the current is well defined and b = 1
    near = ((t["branch"] == "anodic") & ((t["potential_V"] - 0.5).abs() < 0.25)) | (
        (t["branch"] == "cathodic") & ((t["potential_V"] - 0.3).abs() < 0.25))
    assert ok[near].all()
    np.testing.assert_allclose(t.loc[ok, "b"], 1.0, atol=1e-9)


def test_pure_diffusive_gives_b_half():
    kin = b_value_peaks(surface_redox_cvset(k2_only=True), vertex_exclusion_V=0)
    np.testing.assert_allclose(kin.fits["b"], 0.5, atol=1e-9)
    bmap = b_value_map(surface_redox_cvset(k2_only=True), vertex_exclusion_V=0)
    ok = ~bmap.table["masked"]
    np.testing.assert_allclose(bmap.table.loc[ok, "b"], 0.5, atol=1e-9)


def test_mixed_set_b_and_local_slopes():
    kin = b_value_peaks(section2_cvset(), vertex_exclusion_V=0)
    an = kin.fits.query("branch == 'anodic'").iloc[0]
    # methods.md §1(c): b = 0.5905 [verified] (4 decimals → tolerance 5e-5)
    assert an["b"] == pytest.approx(0.5905, abs=5e-5)
    assert an["potential_low_rate_V"] == pytest.approx(0.5, abs=1e-9)
    assert an["b_stderr"] > 0 and an["r2"] < 1
    # exact local slope (k1·v + ½k2·v^½)/(k1·v + k2·v^½) at each rate
    v = RATES_V_S
    exact = (K1 * v + 0.5 * 2e-3 * np.sqrt(v)) / (K1 * v + 2e-3 * np.sqrt(v))
    np.testing.assert_allclose(exact, [0.5455, 0.5619, 0.5914, 0.6201, 0.6545], atol=5e-5)
    # a secant slope between consecutive rates lies between the exact slopes at its ends
    loc = kin.local_slopes.query("peak_id == @an.peak_id")["b_local"].to_numpy()
    assert np.all(loc > exact[:-1]) and np.all(loc < exact[1:])
    # b_loc spreads 0.084 < 0.1 over 0.1–2 mV/s: no curvature flag; R² 0.9993 ≥ 0.98
    assert not an["curvature_flag"] and not an["low_r2_flag"]
    # the cathodic peak (0.3 V) has the same law
    ca = kin.fits.query("branch == 'cathodic'").iloc[0]
    assert ca["b"] == pytest.approx(0.5905, abs=5e-5)
    assert ca["potential_low_rate_V"] == pytest.approx(0.3, abs=1e-9)


def test_curvature_flag_over_wide_range():
    # 0.01–100 mV/s takes b_loc from ~0.5 to ~1: curved log–log plot, must be flagged
    rates = np.array([0.01, 0.1, 1.0, 10.0, 100.0]) * 1e-3
    kin = b_value_peaks(section2_cvset(rates=rates), vertex_exclusion_V=0)
    an = kin.fits.query("branch == 'anodic'").iloc[0]
    assert an["curvature_flag"]
    assert any("curved" in w for w in kin.warnings)


def test_unit_invariance():
    # b from rates in V/s and the same rates in mV/s (numbers ×1000) is identical; a
    # changes by 10^(3b)
    v_s = b_value_peaks(section2_cvset(), vertex_exclusion_V=0).fits.iloc[0]
    mv_s = b_value_peaks(
        CVSet.from_arrays(RATES_V_S * 1e3, *zip(*[
            (c.potential_V, c.current_A) for c in section2_cvset().cvs
        ], strict=True)),
        vertex_exclusion_V=0,
    ).fits.iloc[0]
    assert mv_s["b"] == pytest.approx(v_s["b"], abs=1e-12)
    assert v_s["a"] / mv_s["a"] == pytest.approx(10 ** (3 * v_s["b"]), rel=1e-9)


def test_linear_baseline_removes_capacitive_background():
    # with a tangent under the peak, the peak height is the k2·√v Gaussian (the tail at
    # the tangent points, exp(-4) ≈ 2 % of the peak, sets the tolerance): b → 0.5
    kin = b_value_peaks(section2_cvset(), baseline="linear", vertex_exclusion_V=0)
    np.testing.assert_allclose(kin.fits["b"], 0.5, atol=0.01)
    assert kin.conventions["baseline"] == "linear"
    # capacitive mode: constant current of a featureless window (1.5–1.9 V) = k1·v
    kin = b_value_peaks(section2_cvset(), baseline="capacitive", capacitive_window_V=(1.5, 1.9),
                        vertex_exclusion_V=0)
    np.testing.assert_allclose(kin.fits["b"], 0.5, atol=1e-9)
    with pytest.raises(ValidationError, match="featureless"):
        b_value_peaks(section2_cvset(), baseline="capacitive")


def test_peak_tracking_follows_shifting_peaks():
    # a peak moving +10 mV per rate step stays one track; the shift is reported
    loops = []
    for k, v in enumerate(RATES_V_S):
        shift = 0.01 * k
        ia = K1 * v + 2e-3 * np.exp(-(((E_GRID - 0.5 - shift) / 0.1) ** 2)) * np.sqrt(v)
        ic = -K1 * v + k2_cathodic(E_GRID + shift) * np.sqrt(v)
        loops.append(cv_loop(ia, ic))
    cvs = CVSet.from_arrays(RATES_V_S, [lp[0] for lp in loops], [lp[1] for lp in loops])
    kin = b_value_peaks(cvs, vertex_exclusion_V=0)
    an = kin.peaks.query("branch == 'anodic'")
    assert an["peak_id"].nunique() == 1 and len(an) == 5
    np.testing.assert_allclose(an["shift_V"], 0.01 * np.arange(5), atol=1.5e-3)
    assert any("shifts by 40 mV" in w for w in kin.warnings)
    assert len(kin.couples) == 5


def test_single_record_with_several_rates_is_split():
    # one time-ordered record: 2 cycles at each of 3 rates, as a rate-series protocol
    # writes it; the split uses |dE/dt| per sweep and the rates come back from the data
    rates = [1e-4, 5e-4, 2e-3]
    t_all, e_all, i_all = [], [], []
    t0 = 0.0
    for v in rates:
        e, i = cv_loop(K1 * v + k2_anodic(E_GRID) * np.sqrt(v),
                       -K1 * v + k2_cathodic(E_GRID) * np.sqrt(v))
        t = t0 + np.concatenate([[0], np.cumsum(np.abs(np.diff(e)) / v + 1e-6)])
        t_all.append(t)
        e_all.append(e)
        i_all.append(i)
        t0 = t[-1] + 1.0
    df = pd.DataFrame({TIME: np.concatenate(t_all), VOLTAGE: np.concatenate(e_all),
                       CURRENT: np.concatenate(i_all)})
    cvs = CVSet.from_echem(EchemData(df, Metadata(source="series.csv")))
    assert len(cvs) == 3
    np.testing.assert_allclose(cvs.scan_rates_V_s, rates, rtol=1e-3)
    assert all(c.scan_rate_source == "data" for c in cvs.cvs)
    assert all(cycle_count(c) == 2 for c in cvs.cvs)
    # given rates win (and disagreeing ones are warned about)
    given = CVSet.from_echem(EchemData(df, Metadata(source="series.csv")),
                             scan_rates_V_s=[1e-4, 5e-4, 3e-3])
    assert any("differs from the rate measured" in w for w in given.cvs[2].warnings)
    with pytest.raises(ValidationError, match="2 scan rates given but the data hold 3"):
        CVSet.from_echem(EchemData(df, Metadata(source="series.csv")),
                         scan_rates_V_s=[1e-4, 5e-4])


def test_unknown_rate_is_an_error_not_a_default():
    e, i = cv_loop(np.ones_like(E_GRID), -np.ones_like(E_GRID))
    df = pd.DataFrame({VOLTAGE: e, CURRENT: i})  # no time, no setting
    with pytest.raises(ValidationError, match="scan rate is unknown"):
        CVSet.from_echem([EchemData(df, Metadata(source="a.csv")),
                          EchemData(df, Metadata(source="b.csv"))])
    # metadata rate is used when present
    cvs = CVSet.from_echem([EchemData(df, Metadata(source="a.csv", scan_rate_V_s=1e-4)),
                            EchemData(df, Metadata(source="b.csv", scan_rate_V_s=2e-4))])
    assert [c.scan_rate_source for c in cvs.cvs] == ["metadata", "metadata"]


# ---------------------------------------------------------------------------------------
# Real single-rate CV files (yadg test corpus): branch splitting, rate from settings/data
# ---------------------------------------------------------------------------------------


def read_real(path: Path) -> EchemData:
    try:
        from nasurf.io import read
    except ImportError:  # the generic reader is another engineer's; use the BioLogic one
        from nasurf.io.biologic import read_mpr, read_mpt

        return (read_mpt if path.suffix == ".mpt" else read_mpr)(path)
    return read(path)


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("name", "rate_V_s", "source", "min_cycles"),
    [
        # rates from SOURCES.md / the EC-Lab settings block (dE/dt): 0.1 mV/s, 50 mV/s
        ("cv.mpt", 1e-4, "metadata", 1),
        ("cv.mpr", 1e-4, None, 1),
        ("cv.issue_149.mpt", 0.05, "metadata", 2),
        ("cv.issue_149.mpr", 0.05, None, 2),
        ("cv.issue_217.mpr", 0.05, None, 10),
    ],
)
def test_real_single_rate_cvs(realdata, name, rate_V_s, source, min_cycles):
    data = read_real(realdata / "yadg" / name)
    cvs = CVSet.from_echem(data)
    assert len(cvs) == 1
    cv = cvs.cvs[0]
    # measured |dE/dt| agrees with the instrument setting to 1 % (staircase sampling)
    assert cv.scan_rate_V_s == pytest.approx(rate_V_s, rel=0.01)
    if source:
        assert cv.scan_rate_source == source
    assert cycle_count(cv) >= min_cycles
    sweeps = split_sweeps(cv.potential_V)
    # sweeps alternate direction and each anodic sweep really rises
    dirs = [d for _, d in sweeps]
    assert all(a != b for a, b in itertools.pairwise(dirs))
    for sl, d in sweeps:
        e = cv.potential_V[sl]
        assert (e[-1] > e[0]) == (d == "anodic")
    prep = prepare_branches(cvs)
    for b in ("anodic", "cathodic"):
        assert np.all(np.isfinite(prep.currents[b]))
    # a single rate cannot give a b-value or a Dunn split: clear errors/warnings
    kin = b_value_peaks(cvs, min_rates=1)
    assert any("scan rates" in w for w in kin.warnings)


@pytest.mark.realdata
def test_real_cathode_cv_reports_no_spurious_peaks(realdata):
    # cv.mpt (cathode-type window, 0.1 mV/s): the anodic sweep of the last cycle rises
    # monotonically and the cathodic sweep carries mA of *oxidation* current with dips.
    # Dips of an oxidation current are not cathodic (reduction) peaks: none may be
    # reported (an earlier version reported six), and the user is told why b is missing.
    kin = b_value_peaks(CVSet.from_echem(read_real(realdata / "yadg" / "cv.mpt")), min_rates=1)
    assert np.all(kin.peaks.query("branch == 'anodic'")["current_A"] > 0)
    assert np.all(kin.peaks.query("branch == 'cathodic'")["current_A"] < 0)
    assert kin.peaks.query("branch == 'cathodic'").empty
    assert any("no peak" in w for w in kin.warnings)


@pytest.mark.realdata
def test_real_truncated_cva_file_gives_clear_error(realdata):
    # cva.issue_202: a single 50 V/s sweep followed by potential jumps: no complete cycle
    data = read_real(realdata / "yadg" / "cva.issue_202.mpt")
    cvs = CVSet.from_echem(data)
    with pytest.raises(NasurfError, match="no complete cycle") as exc:
        prepare_branches(cvs)
    assert "cva.issue_202.mpt" in str(exc.value)


def test_bad_cv_input_is_a_clear_error():
    e, i = cv_loop(np.ones_like(E_GRID), -np.ones_like(E_GRID))
    t = np.arange(e.size, dtype=float)
    t[100] = t[99] - 5  # time goes backwards
    df = pd.DataFrame({TIME: t, VOLTAGE: e, CURRENT: i})
    with pytest.raises(ValidationError, match="time goes backwards at data row 100") as exc:
        CVSet.from_echem(EchemData(df, Metadata(source="bad.csv")))
    assert "bad.csv" in str(exc.value)
    with pytest.raises(ValidationError, match="Current / A"):
        CVSet.from_echem(EchemData(df.drop(columns=[CURRENT]), Metadata(source="bad.csv")))
    with pytest.raises(ValidationError, match="non-finite"):
        CVSet.from_arrays([1e-3], [np.r_[e[:-1], np.nan]], [i])
    with pytest.raises(ValidationError, match="same scan rate"):
        CVSet.from_arrays([1e-3, 1.001e-3], [e, e], [i, i])
    with pytest.raises(ValidationError, match="positive"):
        CVSet.from_arrays([0.0], [e], [i])
