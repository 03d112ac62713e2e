"""Lin-KK test: impedance.py's linKK as the peer truth on its example spectra, residuals ~0
on KK-compliant synthetic spectra, large residuals on spectra with time drift, errors."""

from __future__ import annotations

import numpy as np
import pytest

from eis_examples import read_example  # tests/eis_examples.py
from nasurf.analysis.eis import Circuit, linkk
from nasurf.errors import ValidationError

F = np.logspace(5, -2, 71)   # 10 points per decade over 7 decades


# impedance.py 1.7.1 validation.linKK(f, Z, c=0.85, max_M=50, fit_type=...) on the same points
# (run once in .venv-peers via benchmarks/peers/impedance_fit.py): M, μ, RMS and max of the
# relative residuals (real and imaginary together).
IMPEDANCE_PY_LINKK = {
    ("bio", "real"): (5, 0.726476, 0.024889, 0.088815),
    ("bio", "complex"): (5, 0.827191, 0.024292, 0.086747),
    ("bio", "imag"): (6, 0.841079, 0.034512, 0.116107),
    ("csv", "real"): (21, 0.833864, 0.038817, 0.228021),
    ("csv", "complex"): (13, 0.805597, 0.013192, 0.097827),
    ("csv", "imag"): (14, 0.849251, 0.015787, 0.129309),
}


@pytest.mark.realdata
@pytest.mark.parametrize("key", sorted(IMPEDANCE_PY_LINKK))
def test_matches_impedance_py_linkk(realdata, key):
    which, fit_type = key
    f, Z = read_example(realdata, which)
    M, mu, rms, worst = IMPEDANCE_PY_LINKK[key]
    # min_rc=1 and no series capacitance reproduce impedance.py's search exactly
    r = linkk(f, Z, fit_type=fit_type, min_rc=1, add_capacitance=False)
    assert r.n_rc == M
    assert r.mu == pytest.approx(mu, abs=2e-6)           # 6 printed digits
    assert r.rms_residual == pytest.approx(rms, abs=2e-6)
    assert r.max_residual == pytest.approx(worst, abs=2e-6)


def _noisy(Z, level, seed):
    rng = np.random.default_rng(seed)
    return Z + level * np.abs(Z) * (rng.normal(size=Z.size) + 1j * rng.normal(size=Z.size))


@pytest.mark.parametrize(("circuit", "params"), [
    ("R0-p(R1,CPE1)", [5, 50, 2e-5, 0.9]),
    ("R0-p(R1,CPE1)-W1", [5, 50, 2e-5, 0.9, 16.663]),
    ("R0-p(R1,CPE1)-p(R2,CPE2)", [5, 50, 2e-5, 0.85, 100, 1e-2, 0.8]),
    ("L0-R0-p(R1,CPE1)", [1e-6, 5, 50, 2e-5, 0.9]),
])
def test_kk_compliant_exact_data_has_negligible_residuals(circuit, params):
    Z = Circuit(circuit).impedance(params, F)
    # Fixed, dense M (4 per decade): any Voigt chain is KK-compliant, so only the
    # representation error of the τ grid remains (< 0.1 %).
    r = linkk(F, Z, n_rc=28)
    assert r.rms_residual < 1e-3 and r.max_residual < 3e-3


@pytest.mark.parametrize(("circuit", "params"), [
    ("R0-p(R1,C1)", [5, 50, 2e-5]),
    ("R0-p(R1,CPE1)", [5, 50, 2e-5, 0.9]),
    ("R0-p(R1,CPE1)-W1", [5, 50, 2e-5, 0.9, 16.663]),
    ("R0-p(R1,CPE1)-p(R2,CPE2)", [5, 50, 2e-5, 0.85, 100, 1e-2, 0.8]),
])
@pytest.mark.parametrize("seed", [0, 1])
def test_kk_compliant_noisy_data_is_valid(circuit, params, seed):
    Z = _noisy(Circuit(circuit).impedance(params, F), 0.003, seed)
    r = linkk(F, Z)
    assert r.verdict == "valid", (r.n_rc, r.mu, r.rms_residual, r.max_residual)
    # residuals at the noise level: 0.3 % per component
    assert r.rms_residual < 0.01


def _drifting(amplitude, circuit="R0-p(R1,CPE1)", params=(5, 50, 2e-5, 0.9)):
    """R1 grows linearly with elapsed measurement time (one period per point, high → low f):
    a non-stationary cell, which no KK-compliant model reproduces."""
    c = Circuit(circuit)
    t = np.cumsum(1 / F)
    t = t / t[-1]
    out = []
    for fi, ti in zip(F, t, strict=True):
        p = list(params)
        p[1] = params[1] * (1 + amplitude * ti)
        out.append(c.impedance(p, [fi])[0])
    return np.array(out)


def test_drift_is_flagged():
    Z = _noisy(_drifting(0.5), 0.003, 9)
    r = linkk(F, Z)
    assert r.verdict == "invalid"
    assert r.max_residual > 0.1
    assert any("invalid" in w for w in r.warnings)
    clean = linkk(F, _noisy(_drifting(0.0), 0.003, 9))
    assert r.rms_residual > 5 * clean.rms_residual


def test_capacitance_is_added_for_open_low_frequency_end():
    Z = Circuit("R0-p(R1,CPE1)-W1").impedance([5, 50, 2e-5, 0.9, 16.663], F)
    auto = linkk(F, Z, n_rc=28)
    assert auto.series_capacitance_F is not None
    without = linkk(F, Z, n_rc=28, add_capacitance=False)
    # without the capacitance the diverging Warburg tail cannot be followed
    assert without.rms_residual > 10 * auto.rms_residual


def test_result_tables():
    Z = Circuit("R0-p(R1,CPE1)").impedance([5, 50, 2e-5, 0.9], F)
    r = linkk(F, Z)
    t = r.residual_table()
    assert list(t.columns) == ["Frequency / Hz", "Residual Real / 1", "Residual Imag / 1"]
    d = r.to_dict()
    assert d["thresholds"] == {"valid_rms": 0.01, "questionable_rms": 0.02, "max_point": 0.05}
    assert r.series_resistance_Ohm == pytest.approx(5.0, rel=0.05)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"frequencies_Hz": [1, 2, 3], "Z": [1, 2, 3]}, "at least 4"),
    ({"frequencies_Hz": [1, 2, 3, 4], "Z": [1, 2]}, "4 frequencies but 2"),
    ({"frequencies_Hz": [1, -2, 3, 4], "Z": [1, 2, 3, 4]}, "finite"),
    ({"frequencies_Hz": F, "Z": np.ones(F.size), "fit_type": "both"}, "not one of"),
    ({"frequencies_Hz": F, "Z": np.ones(F.size), "mu_cutoff": 0}, "mu_cutoff"),
    ({"frequencies_Hz": F, "Z": np.ones(F.size), "n_rc": 500}, "n_rc"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(ValidationError, match=message):
        linkk(**kwargs)


def _exact_lstsq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The least-squares solution of the float-valued system in exact rational arithmetic
    (normal equations, Gauss-Jordan in Fractions): no rounding, no BLAS."""
    from fractions import Fraction

    A = [[Fraction(float(v)) for v in row] for row in a]
    B = [Fraction(float(v)) for v in b]
    n = a.shape[1]
    m = [[sum((A[k][i] * A[k][j] for k in range(len(A))), Fraction(0)) for j in range(n)]
         + [sum((A[k][i] * B[k] for k in range(len(A))), Fraction(0))] for i in range(n)]
    for c in range(n):
        p = next(r for r in range(c, n) if m[r][c] != 0)
        m[c], m[p] = m[p], m[c]
        for r in range(n):
            if r != c and m[r][c] != 0:
                q = m[r][c] / m[c][c]
                m[r] = [x - q * y for x, y in zip(m[r], m[c], strict=True)]
    return np.array([float(m[i][n] / m[i][i]) for i in range(n)])


@pytest.mark.realdata
def test_coefficients_are_the_exact_least_squares_solution(realdata):
    # The Gamry example at its M = 19 (+ 1/C, L): the weighted design's condition number is
    # ~1.7e8, so an unscaled lstsq left R_0 ~2e-7 (relative) off the exact solution, by an
    # amount that depended on the BLAS kernel (a snapshot failed on another CPU kind).
    from nasurf.analysis.eis.analyze import read_impedance, split_spectra
    from nasurf.analysis.eis.linkk import _design, _open_low_frequency_end, _time_constants

    s = split_spectra(read_impedance(realdata / "impedance.py" / "exampleDataGamry.DTA"))[0][0]
    keep = s.Z.imag < 0
    f, Z = s.frequencies_Hz[keep], s.Z[keep]
    r = linkk(f, Z)
    assert r.n_rc == 19
    a_re, a_im = _design(2 * np.pi * f, np.abs(Z), _time_constants(f, r.n_rc),
                         _open_low_frequency_end(f, Z))
    exact = _exact_lstsq(np.vstack([a_re, a_im]), np.concatenate([Z.real, Z.imag]) / np.concatenate(
        [np.abs(Z), np.abs(Z)]))
    assert r.series_resistance_Ohm == pytest.approx(exact[0], rel=1e-10)
    assert r.series_inductance_H == pytest.approx(exact[-1], rel=1e-10)
    np.testing.assert_allclose(r.resistances_Ohm, exact[1: r.n_rc + 1], rtol=1e-9,
                               atol=1e-10 * np.max(np.abs(exact)))
