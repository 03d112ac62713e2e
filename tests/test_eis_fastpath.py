"""The fitting fast path (issue 3 follow-up): the in-place Jacobian of nested circuits against
central finite differences, MINPACK called through ``leastsq`` with one-point caches against
an independent optimiser on the same χ², and the optimiser's status reporting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import least_squares

from nasurf.analysis.eis import Circuit, fit_circuit

F = np.logspace(5, -3, 41)
TRUTH = {"R0": 5.0, "R1": 50.0, "CPE1_0": 2e-5, "CPE1_1": 0.9, "W1": 16.663}
# Elements with an in-place filler (R, C, W, CPE) mixed with ones that take the generic
# path (Wo, K, Zarc), so both paths meet inside the same parallel blocks.
_CODES = st.sampled_from(["R", "C", "W", "CPE", "Wo", "K", "Zarc"])
_VALUES = {"R": [30.0], "C": [2e-5], "W": [10.0], "CPE": [3e-5, 0.85], "Wo": [20.0, 5.0],
           "K": [15.0, 1e-3], "Zarc": [25.0, 1e-2, 0.8]}


@st.composite
def _nested(draw):
    counter = [0]

    def element():
        counter[0] += 1
        return f"{draw(_CODES)}{counter[0]}"

    def term(depth):
        if depth < 3 and draw(st.booleans()):
            return "p(" + ",".join(series(depth + 1) for _ in range(draw(st.integers(2, 3)))) + ")"
        return element()

    def series(depth):
        return "-".join(term(depth) for _ in range(draw(st.integers(1, 3))))

    return series(0)


@settings(max_examples=60, deadline=None)
@given(_nested())
def test_nested_jacobian_matches_finite_differences(text):
    c = Circuit(text)
    p = np.concatenate([_VALUES[e.spec.code] for e in c.elements])
    Z, J = c.impedance_and_jacobian(p, F)
    eps = np.finfo(float).eps
    for k in range(p.size):
        h = 1e-4 * abs(p[k])
        up, dn = p.copy(), p.copy()
        up[k] += h
        dn[k] -= h
        fd = (c.impedance(up, F) - c.impedance(dn, F)) / (2 * h)
        # central differences: O(h²) truncation (~1e-8 relative) plus round-off, which
        # through nested reciprocals reaches a few hundred ulps of |Z| (a derivative 1e-13
        # of |Z| small, e.g. dZ''/dR of a resistor behind a capacitor at 1 mHz, is lost)
        tol = 1e-5 * np.max(np.abs(J[:, k])) + 1e3 * eps * np.abs(Z) / h
        assert np.all(np.abs(fd - J[:, k]) <= tol), (text, c.parameter_names[k])


@pytest.mark.parametrize("circuit", ["R0-p(R1,CPE1)-W1", "R0-p(R1-W1,CPE1)"])
def test_same_minimum_as_an_independent_optimiser(circuit):
    """scipy's trust-region reflective solver with finite-difference Jacobians, on the
    |Z|-weighted χ² in log parameters, started at the truth, reaches the same minimum."""
    c = Circuit(circuit)
    names = c.parameter_names
    Z0 = c.impedance({n: TRUTH[n] for n in names}, F)
    rng = np.random.default_rng(3)
    Z = Z0 + 0.005 * np.abs(Z0) * (rng.normal(size=F.size) + 1j * rng.normal(size=F.size))

    def residuals(logp):
        d = (c.impedance(np.exp(logp), F) - Z) / np.abs(Z)
        return np.concatenate([d.real, d.imag])

    ref = least_squares(residuals, np.log([TRUTH[n] for n in names]), method="trf",
                        x_scale="jac", ftol=1e-15, xtol=1e-15, gtol=1e-15)
    fit = fit_circuit(F, Z, c)
    assert fit.success
    # both are converged to ~1e-12 in χ²; parameters of a well-determined fit then agree
    # to ~1e-6 (their relative SEs are 1e-3..1e-2, so this is far inside the noise)
    assert fit.chi2 == pytest.approx(2 * ref.cost, rel=1e-9)
    for n, v in zip(names, np.exp(ref.x), strict=True):
        assert fit.parameters[n] == pytest.approx(v, rel=1e-5), n


def test_evaluation_budget_exhausted_is_reported():
    c = Circuit("R0-p(R1,CPE1)-W1")
    Z = c.impedance(TRUTH, F) * (1 + 0.01j)
    fit = fit_circuit(F, Z, c, initial_guess={n: v * 30 for n, v in TRUTH.items()
                                              if n != "CPE1_1"},
                      n_starts=1, max_nfev=3)
    assert not fit.success
    assert fit.nfev == 3
    assert any("maximum number of model evaluations reached" in w for w in fit.warnings)


def test_jacobian_evaluations_reuse_the_residual_pass():
    """MINPACK asks for J at points whose residuals it has just evaluated; those reuse the
    residual pass, so there are never more Jacobian than residual evaluations."""
    c = Circuit("R0-p(R1,CPE1)-W1")
    fit = fit_circuit(F, c.impedance(TRUTH, F), c)
    assert 0 < fit.njev <= fit.nfev
