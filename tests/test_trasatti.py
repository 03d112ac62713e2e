"""Trasatti extrapolations (methods.md §3): exact-linear intercepts and range sensitivity."""

from __future__ import annotations

import numpy as np
import pytest

from nasurf.analysis.kinetics import (
    prepare_branches,
    trasatti,
    trasatti_from_cvs,
    voltammetric_charge,
)
from nasurf.errors import ValidationError
from test_cv_dunn import K1, RATES_V_S, k2_integrals, section2_cvset


def test_exact_linear_intercepts():
    # q = 100 + 50·v^-½ (high-rate form) → q_outer = 100; 1/q = 1/300 + 1e-3·v^½ → 300.
    # Both are exact straight lines, so only round-off separates the fit from the truth.
    v = np.array([1.0, 2.0, 5.0, 10.0, 20.0, 50.0])
    hi = trasatti(v, 100 + 50 * v**-0.5, high_rates_V_s=v, low_rates_V_s=v)
    assert hi.q_outer == pytest.approx(100.0, rel=1e-12)
    assert hi.r2_high_rate == pytest.approx(1.0, abs=1e-12)
    lo = trasatti(v, 1 / (1 / 300 + 1e-3 * v**0.5), high_rates_V_s=v, low_rates_V_s=v)
    assert lo.q_total == pytest.approx(300.0, rel=1e-12)


def model(v_mV_s):
    # methods.md §3(b): q = q_out + q_in/(1 + k√v), q_out = 100, q_in = 200, k = 1 (mV/s)
    return 100 + 200 / (1 + np.sqrt(v_mV_s))


def test_asymptotic_rates_recover_q_outer():
    # at 1e4–1e5 mV/s the high-rate fit must recover q_out within 1e-4 relative
    v = np.logspace(4, 5, 5)
    res = trasatti(v, model(v), high_rates_V_s=v[2:], low_rates_V_s=v[:3])
    assert res.q_outer == pytest.approx(100.0, rel=1e-4)


def test_range_sensitivity_documented_biases():
    # realistic ranges: q_out = 102.2 from 20–500 mV/s and q_total = 284.5 (true 300) from
    # 0.1–1 mV/s [verified in methods.md, rounded to 0.1]. The intercepts are invariant to
    # the unit of v, so the rates are passed in V/s.
    high = np.array([20, 50, 100, 200, 500.0])
    low = np.array([0.1, 0.2, 0.5, 1.0])
    v = np.concatenate([low, high])
    res = trasatti(v * 1e-3, model(v), high_rates_V_s=high * 1e-3, low_rates_V_s=low * 1e-3)
    assert res.q_outer == pytest.approx(102.2, abs=0.05)
    assert res.q_total == pytest.approx(284.5, abs=0.05)
    assert res.q_inner == pytest.approx(res.q_total - res.q_outer)
    assert any("depend strongly on the rate ranges" in w for w in res.warnings)
    assert res.to_dict()["high_rates_mV_s"] == pytest.approx(high.tolist())


def test_flags_and_errors():
    v = np.array([1.0, 2, 5, 10, 20, 50])
    # q rising with v (unphysical for Trasatti): the high-rate line extrapolates to
    # q_outer = 151.5 above the low-rate q_total = 90.8 → flagged, values kept
    res = trasatti(v, 100 + 10 * np.log(v))
    assert res.q_outer > res.q_total
    assert any("q_outer exceeds q_total" in w for w in res.warnings)
    # a poor straight line is flagged by R²
    res = trasatti(v, np.array([100, 300, 120, 280, 110, 290.0]))
    assert any("R² =" in w for w in res.warnings)
    with pytest.raises(ValidationError, match="at least 3"):
        trasatti(v, 100 + v, high_rates_V_s=v[-2:])
    with pytest.raises(ValidationError, match="not among the data"):
        trasatti(v, 100 + v, high_rates_V_s=[3.0, 10, 20])


def test_from_cvs_uses_voltammetric_charge():
    cvs = section2_cvset()
    prep = prepare_branches(cvs, vertex_exclusion_V=0)
    q = voltammetric_charge(prep)
    # q*(v) per branch = ∫|k1|dE + ∫|k2|dE/√v, averaged over both branches
    qa, qc = k2_integrals()
    exact = 2 * K1 + (qa + qc) / 2 / np.sqrt(RATES_V_S)
    np.testing.assert_allclose(q, exact, rtol=1e-6)
    res = trasatti_from_cvs(prep, high_rates_V_s=RATES_V_S[2:], low_rates_V_s=RATES_V_S[:3])
    # q* is exactly linear in v^-½ here: the high-rate intercept is the capacitive charge
    assert res.q_outer == pytest.approx(2 * K1, rel=1e-6)
    q_mass = voltammetric_charge(prep, mass_g=1e-3)
    np.testing.assert_allclose(q_mass, exact / 3.6e-3, rtol=1e-9)
