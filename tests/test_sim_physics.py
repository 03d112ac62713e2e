"""The simulator's scalar physics (nasurf.sim.physics), one definition for every engine.

Truths: closed forms (i = 2 j0 sinh(fη/2) for symmetric Butler–Volmer, ln(1 + eˣ)), the
identity between the exchange-current law and its log form in the surface logit, the
packaged lattice-gas OCP, and numba's compilation of the same functions (what the
compiled kernels run) against NumPy's evaluation.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.special import expit

from nasurf.constants import FARADAY_C_PER_MOL as F
from nasurf.constants import GAS_CONSTANT_J_PER_MOL_K as R_GAS
from nasurf.sim import physics
from nasurf.sim.parameters import OCP

f = F / (R_GAS * 298.15)


def test_physics_imports_no_numba():
    tree = ast.parse(Path(physics.__file__).read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not any(str(n).startswith("numba") for n in names)


def test_softplus_is_log_one_plus_exp_without_overflow():
    x = np.array([-50.0, -1.0, 0.0, 1e-3, 2.0, 30.0])
    np.testing.assert_allclose(physics.softplus(x), np.log1p(np.exp(x)), rtol=1e-15)
    assert physics.softplus(1e3) == 1e3                 # e^1000 would overflow
    assert physics.softplus(-1e3) == 0.0
    assert physics.softplus(-745.0) > 0.0


def test_symmetric_butler_volmer_inverts_the_current():
    j0 = 2.5
    i = np.array([-40.0, -1.0, -1e-6, 0.0, 1e-6, 3.0, 100.0])
    eta, deta = physics.symmetric_overpotential(i, j0, f)
    # α = ½: i = 2·j0·sinh(fη/2), and the general law gives the same current
    np.testing.assert_allclose(2 * j0 * np.sinh(f * eta / 2), i, rtol=1e-12, atol=1e-18)
    i_bv, di_bv, oneway = physics.butler_volmer(eta, j0, 0.5, f)
    # the general form is a difference of two exponentials: near η = 0 it cancels to the
    # round-off of j0 (~1e-16·j0), hence the absolute tolerance
    np.testing.assert_allclose(i_bv, i, rtol=1e-12, atol=1e-14 * j0)
    np.testing.assert_allclose(deta, 1.0 / di_bv, rtol=1e-12)
    assert np.all(oneway >= np.abs(i_bv))


def test_butler_volmer_asymmetric_slope_and_clip():
    eta = np.linspace(-0.3, 0.3, 13)
    _, di, _ = physics.butler_volmer(eta, 1.0, 0.3, f)
    h = 1e-7
    num = (physics.butler_volmer(eta + h, 1.0, 0.3, f)[0]
           - physics.butler_volmer(eta - h, 1.0, 0.3, f)[0]) / (2 * h)
    np.testing.assert_allclose(di, num, rtol=1e-6)
    # no overflow far beyond any solution: the exponent stops at 700
    big = physics.butler_volmer(100.0, 1.0, 1.0, f)[0]
    assert big == pytest.approx(math.exp(700.0) - 1.0, rel=1e-12)


def test_log_exchange_current_equals_the_law():
    pre, c_lim, c_vac, e_c, e_a = 3.0e-3, 2.0e4, 2.4e4, 0.5, 0.5
    u = np.array([-30.0, -2.0, 0.0, 1.5, 25.0])
    cs = c_lim * expit(u)
    j0 = physics.exchange_current(pre, cs, c_vac, e_c, e_a)
    ln_j0 = physics.log_exchange_current(math.log(pre), u, math.log(c_lim),
                                         np.log(c_vac - cs), e_c, e_a)
    np.testing.assert_allclose(np.exp(ln_j0), j0, rtol=1e-12)
    np.testing.assert_allclose(j0, pre * np.sqrt(cs * (c_vac - cs)), rtol=1e-14)


def test_lattice_gas_ocp_is_the_packaged_formula():
    ocp = OCP(kind="lattice_gas", E0=0.7, slope_factor=1.6, x_max=0.9)
    x = np.array([1e-9, 0.1, 0.45, 0.8, 0.899999])
    nrt_f = ocp.slope_factor * R_GAS * ocp.temperature / F
    np.testing.assert_allclose(physics.lattice_gas_ocp(x, ocp.E0, nrt_f, ocp.x_max), ocp(x),
                               rtol=1e-15)
    # clipped, finite at and beyond the ends
    assert np.all(np.isfinite(physics.lattice_gas_ocp(np.array([0.0, 0.9, 1.2]), 0.7,
                                                      nrt_f, 0.9)))


def test_numba_compiles_the_same_functions():
    numba = pytest.importorskip("numba")
    sp = numba.njit(physics.softplus)
    bv = numba.njit(physics.butler_volmer)
    so = numba.njit(physics.symmetric_overpotential)
    lj = numba.njit(physics.log_exchange_current)
    ej = numba.njit(physics.exchange_current)
    oc = numba.njit(physics.lattice_gas_ocp)
    for x in (-800.0, -3.0, 0.0, 0.5, 40.0, 800.0):
        assert sp(x) == physics.softplus(x)
        assert bv(x * 1e-3, 2.0, 0.3, f) == pytest.approx(
            physics.butler_volmer(x * 1e-3, 2.0, 0.3, f), rel=1e-15)
        assert so(x, 2.0, f) == pytest.approx(physics.symmetric_overpotential(x, 2.0, f),
                                              rel=1e-15)
        u = x / 30.0
        assert lj(-3.0, u, 9.9, 9.5, 0.5, 0.5) == pytest.approx(
            physics.log_exchange_current(-3.0, u, 9.9, 9.5, 0.5, 0.5), rel=1e-15)
    assert ej(2.0, 1e3, 2e4, 0.5, 0.5) == physics.exchange_current(2.0, 1e3, 2e4, 0.5, 0.5)
    for x in (0.0, 1e-12, 0.4, 0.9, 1.3):
        assert oc(x, 0.7, 0.04, 0.9) == physics.lattice_gas_ocp(x, 0.7, 0.04, 0.9)


def test_frumkin_coverage_solves_the_isotherm_and_is_the_logistic_without_interaction():
    # g = 0: θ/(1−θ) = e^rhs, so θ = logistic(rhs) (closed form); g > 0: the residual of
    # the isotherm vanishes to the bisection's 1e-18 in θ; the compiled array form
    # (what initial_state calls) gives the same numbers
    from nasurf.sim.compiled import site_coverage

    rhs = np.array([-30.0, -5.0, -0.3, 0.0, 0.7, 4.0, 25.0])
    for x in rhs:
        assert physics.frumkin_coverage(x, 0.0) == pytest.approx(expit(x), rel=1e-12,
                                                                 abs=1e-15)
    for g in (1.0, 3.0, 8.0):
        for x in rhs:
            th = physics.frumkin_coverage(x, g)
            assert 0.0 < th < 1.0
            if 1e-12 < th < 1.0 - 1e-12:
                res = math.log(th) - math.log1p(-th) + g * (th - 0.5) - x
                # dθ = 1e-18 moves the residual by (1/θ(1−θ) + g)·1e-18
                assert abs(res) < 1e-15 * (1.0 / (th * (1.0 - th)) + g) + 1e-12
    grid = np.array([[x] for x in rhs])
    g_b = np.full(len(rhs), 3.0)
    np.testing.assert_array_equal(site_coverage(grid, g_b)[:, 0],
                                  [physics.frumkin_coverage(x, 3.0) for x in rhs])
