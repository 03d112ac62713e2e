"""dQ/dV against the methods.md §7 analytic case and the integral check."""

from __future__ import annotations

import numpy as np
import pytest

from nasurf.analysis import dqdv, dqdv_curve, synthetic_cycling
from nasurf.errors import ValidationError


def logistic(v: np.ndarray) -> np.ndarray:
    return 300.0 / (1.0 + np.exp((v - 0.10) / 0.01))


def test_methods_logistic_peak_and_integral():
    """Q(V) = 300/(1+exp((V-0.10)/0.01)) on a 1 mV grid: SG(21, 3) peak -7485 at 0.100 V
    (analytic -Q0/(4w) = -7500), integral -299.99. Tolerances from methods.md: 0.5 % on
    the peak value, 1 mV on its position."""
    v = np.round(np.arange(0.0, 0.3 + 1e-12, 0.001), 6)
    c = dqdv_curve(v, logistic(v), step_V=0.001, window=21, order=3, branch="sodiation")
    pv, pk = c.peak
    assert pk == pytest.approx(-7485, rel=0.005)
    assert pk == pytest.approx(-7500, rel=0.005)
    assert abs(pv - 0.100) <= 0.001
    assert c.integral == pytest.approx(-299.99, abs=0.01)
    assert c.integral_relative_error < 0.01 and not c.warnings
    assert c.branch == "sodiation"


def test_noisy_unordered_points_are_bin_averaged():
    rng = np.random.default_rng(0)
    v = rng.uniform(0.0, 0.3, 20000)              # scattered, non-monotonic in time
    q = logistic(v) + rng.normal(0, 0.05, v.size)
    c = dqdv_curve(v, q, step_V=0.001)
    # bin means of ~67 points with 0.05 noise: SG derivative noise ~ 1 %; peak within 2 %
    assert c.peak[1] == pytest.approx(-7485, rel=0.02)
    assert abs(c.peak[0] - 0.1) <= 0.002


def test_integral_check_warns_when_smoothing_destroys_the_peak():
    v = np.round(np.arange(0.0, 0.3 + 1e-12, 0.001), 6)
    q = 300.0 / (1.0 + np.exp((v - 0.01) / 0.002))   # a sharp step right at the grid edge
    c = dqdv_curve(v, q, window=51, order=2)
    assert c.integral_relative_error > 0.01
    assert any("differs from the charge" in w for w in c.warnings)


def test_window_validation():
    v = np.linspace(0, 0.3, 301)
    with pytest.raises(ValidationError, match="odd"):
        dqdv_curve(v, logistic(v), window=20)
    with pytest.raises(ValidationError, match="2\\*order\\+1"):
        dqdv_curve(v, logistic(v), window=5, order=3)
    with pytest.raises(ValidationError, match="fewer than"):
        dqdv_curve(v[:10], logistic(v[:10]), window=21)


def test_dqdv_from_cycling_data_branches_and_integrals():
    data = synthetic_cycling([0.7, 0.58], [0.56, 0.568], current_A=1e-4,
                             points_per_half_cycle=3000, active_mass_g=2e-3)
    res = dqdv(data, cycles=[2])
    chk = res.checks.set_index("branch")
    assert set(chk.index) == {"sodiation", "desodiation"}
    assert chk.loc["sodiation", "peak_dqdv"] < 0 < chk.loc["desodiation", "peak_dqdv"]
    # integral reproduces the half cycle's specific charge (290 and 284 mAh/g) within 1 %;
    # the voltage grid cannot see charge passed outside its V range (none here)
    assert abs(chk.loc["sodiation", "integral"]) == pytest.approx(290, rel=0.01)
    assert chk.loc["desodiation", "integral"] == pytest.approx(284, rel=0.01)
    assert res.capacity_unit == "mAh/g"
    with pytest.raises(ValidationError, match=r"cycle\(s\) \[9\]"):
        dqdv(data, cycles=[9])
