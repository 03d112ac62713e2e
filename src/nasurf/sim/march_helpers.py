"""Scalar helpers of the compiled march (:mod:`nasurf.sim.march_kernel`).

Overflow-free softplus, log-add-exp and logistic, table lookups in c (stoichiometry or
concentration tables), the copy of one slot of the march's state bundle into another and
the mean stoichiometry of a slot and the SEI budget a step leaves; each compiled with IEEE
semantics.
"""

from __future__ import annotations

import math

from nasurf.sim import physics
from nasurf.sim.compiled import jit_ieee as jit
from nasurf.sim.compiled import jit_ieee_borrowed as borrowed
from nasurf.sim.compiled import table
from nasurf.sim.state import cutoff_tolerance, sei_after_step

#: table kinds (k0 and D): none/constant, x = stoichiometry, x = concentration
T_NONE, T_STOICHIOMETRY, T_CONCENTRATION = 0, 1, 2


@jit
def _softplus(x):
    if x > 0.0:
        return x + math.log1p(math.exp(-x))
    return math.log1p(math.exp(x))


@jit
def _logaddexp(x, y):
    m = max(x, y)
    if m == -math.inf:
        return -math.inf
    if m == math.inf:
        return math.inf
    return m + math.log1p(math.exp(-abs(x - y)))


_expit = jit(physics.logistic)


@jit
def _logit_parts(x):
    """logistic(x), logistic(−x), softplus(x) and softplus(−x) from one exp and one log1p.

    Bit for bit what :func:`_expit` and :func:`_softplus` return for ±x (each of them
    evaluates e^−|x| and log1p of it); the interface Newton needs all four of u and w.
    """
    e = math.exp(-abs(x))
    lp = math.log1p(e)
    pos = 1.0 / (1.0 + e) if x >= 0.0 else e / (1.0 + e)
    neg = 1.0 / (1.0 + e) if -x >= 0.0 else e / (1.0 + e)
    sp_pos = x + lp if x > 0.0 else lp
    sp_neg = -x + lp if -x > 0.0 else lp
    return pos, neg, sp_pos, sp_neg
#: the SEI budget a step leaves (round-off residue to 0): the numpy march's own rule
_sei_after_step = jit(sei_after_step)
#: the step tolerance near a cut-off: the numpy march's own rule
_cutoff_tolerance = jit(cutoff_tolerance)


@jit
def _tab(kind, xs, ys, c, cm):
    """Value and slope d/dc of a table in c (stoichiometry or concentration)."""
    if kind == T_STOICHIOMETRY:
        v, s = table(xs, ys, c / cm)
        return v, s / cm
    return table(xs, ys, c)


@borrowed
def _copy_slot(src, dst, cS, vS, sS):
    # explicit loops: slice assignment pulls in numba's broadcasting machinery (compile time)
    for k in range(cS.shape[1]):
        for n in range(cS.shape[2]):
            cS[dst, k, n] = cS[src, k, n]
        for j in range(vS.shape[2]):
            vS[dst, k, j] = vS[src, k, j]
    for j in range(sS.shape[1]):
        sS[dst, j] = sS[src, j]


@borrowed
def _stoichiometry(cS, slot, b, vol, mfrac, cm):
    K, N = cS.shape[1], cS.shape[2]
    x = 0.0
    for k in range(K):
        s = 0.0
        v = 0.0
        for n in range(N):
            s += cS[slot, k, n] * vol[b, k, n]
            v += vol[b, k, n]
        x += mfrac[b, k] * s / v / cm
    return x
