"""Scalar physics of the half-cell model: one definition for every engine.

Butler–Volmer kinetics (general and symmetric), the exchange-current law (plain and in the
log form the Newton solvers use), the lattice-gas open-circuit potential and the overflow-
free helpers they need. Each function is plain NumPy, so it takes a scalar or an array:
the vectorised engines (:mod:`nasurf.sim.engine_march`, :class:`nasurf.sim.model.Model`)
call it on arrays, and the compiled kernels compile the same function with numba
(``jit(physics.softplus)`` when a kernel module loads; numba is imported only then, never
by this module). Only NumPy ufuncs that numba compiles for scalars are used (no
``np.where``, no ``np.clip``: ``np.minimum(np.maximum(...))`` instead, which is the same
number), and no function calls another (numba compiles each one alone).

Conventions: currents anodic positive (desodiation of the working electrode); f = F/RT;
η = Δφ − U the overpotential of the insertion reaction; concentrations in mol m⁻³.
"""

from __future__ import annotations

import math

import numpy as np

#: exponents of the Butler–Volmer branches are clipped here (e^700 ~ 1e304): a current
#: that large is never a solution, and the Newton iterations must not overflow on the way
EXP_CLIP = 700.0

#: the largest site coverage a march stores: the double just below 1. A layer that fills
#: at the sodiation cut-off has θ = expit(w) round to exactly 1.0 beyond w ≈ 37, and
#: ln(1 − θ) of that start state is −inf, so the next desodiation could not start; the
#: charge this leaves out is Γ·F·1.1e-16
THETA_MAX = 1.0 - 2.0 ** -53


def softplus(x):
    """ln(1 + eˣ) without overflow or loss of digits for any x."""
    return np.logaddexp(0.0, x)


def logistic(x):
    """1 / (1 + e⁻ˣ) of a scalar without overflow (the site occupancy of a logit); the
    compiled kernels compile this one, the vectorised march uses scipy's expit."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def frumkin_coverage(rhs, g):
    """Equilibrium Frumkin coverage of a scalar: θ with ln θ − ln(1−θ) + g(θ−½) = rhs.

    Bisection of [0, 1] (60 halvings: θ to 1e-18), so any g ≥ 0 and any rhs give a θ
    inside (0, 1); rhs = −f(E − E0) at the electrode potential E.
    """
    lo = 0.0
    hi = 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        val = math.log(mid + 1e-300) - math.log1p(-mid + 1e-300) + g * (mid - 0.5)
        if val < rhs:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def butler_volmer(eta, j0, alpha, f):
    """Butler–Volmer current density, its slope and its one-way scale.

    i = j0·[e^{αfη} − e^{−(1−α)fη}], di/dη = j0·f·[α·e^{αfη} + (1−α)·e^{−(1−α)fη}] and
    j0·[e^{αfη} + e^{−(1−α)fη}] (the larger of the two partial currents, within a factor
    2: the scale against which a current is round-off), with fη clipped at ±700.
    """
    fe = np.minimum(np.maximum(f * eta, -EXP_CLIP), EXP_CLIP)
    e_an = np.exp(alpha * fe)
    e_ca = np.exp(-(1 - alpha) * fe)
    return j0 * (e_an - e_ca), j0 * f * (alpha * e_an + (1 - alpha) * e_ca), j0 * (e_an + e_ca)


def symmetric_overpotential(i, j0, f):
    """Overpotential of symmetric (α = ½) Butler–Volmer kinetics and its slope.

    η = (2/f)·asinh(i/(2 j0)) (the closed-form inverse of i = 2 j0 sinh(fη/2)) and
    dη/di = 1/(f·j0·√(1 + (i/2j0)²)).
    """
    x = i / (2.0 * j0)
    return 2.0 / f * np.arcsinh(x), 1.0 / (f * j0 * np.sqrt(1.0 + x * x))


def exchange_current(pre, c, c_vacancy, e_c, e_a):
    """Exchange-current law j0 = pre·c^e_c·(c_vacancy − c)^e_a.

    ``pre`` holds the rate constant, F and the electrolyte factor (see
    :func:`nasurf.sim.model._j0_law` for the exponents of the "standard" and
    "consistent" laws); the caller keeps c inside (0, c_vacancy).
    """
    return pre * c ** e_c * (c_vacancy - c) ** e_a


def log_exchange_current(ln_pre, u, ln_c_limit, ln_vacancies, e_c, e_a):
    """ln j0 of :func:`exchange_current` at c_s = c_limit·expit(u), written in u.

    ln c_s = ln c_limit − softplus(−u) keeps full precision for a surface emptied to
    1e-300 of its capacity; ``ln_vacancies`` is ln(c_vacancy − c_s), computed by the caller
    (in u as ln c_limit − softplus(u) when c_vacancy = c_limit).
    """
    # softplus(−u), written out: numba compiles each function alone (no calls between them)
    return ln_pre + e_c * (ln_c_limit - np.logaddexp(0.0, -u)) + e_a * ln_vacancies


def lattice_gas_ocp(x, E0, nrt_f, x_max):
    """Lattice-gas open-circuit potential U = E0 + n·(RT/F)·ln((x_max − x)/x).

    ``nrt_f`` is n·RT/F (n the slope factor); x is kept inside
    [1e-290·x_max, x_max·(1 − 1e-15)], where the logarithm is finite.
    """
    xc = np.minimum(np.maximum(x, 1e-290 * x_max), x_max * (1 - 1e-15))
    return E0 + nrt_f * np.log((x_max - xc) / xc)


__all__ = [
    "EXP_CLIP",
    "butler_volmer",
    "exchange_current",
    "lattice_gas_ocp",
    "log_exchange_current",
    "logistic",
    "softplus",
    "symmetric_overpotential",
]
