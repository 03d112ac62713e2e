"""The fade law's factor over one cycle per member (:func:`nasurf.sim.protocol.lam_factor`),
compiled.

:func:`lam_member` is the rule on one member's floats; :func:`lam_factors` runs it over a
batch. The protocol calls it once per cycle on a handful of members, where numpy's
per-call overhead (or a Python loop over the members) cost more than the arithmetic. IEEE
semantics (no fastmath, no contraction), so the values are the Python floats' bit for bit,
and those are :func:`nasurf.sim.protocol.lam_retention`'s numpy values
(tests/test_sim_fade.py).
"""

from __future__ import annotations

from numba.extending import register_jitable

from nasurf.sim.compiled import jit_ieee as jit


@register_jitable
def _hi(x, y):
    """np.maximum on two floats: NaN propagates, and of two equal values the second."""
    return x if (x > y or x != x) else y


@register_jitable
def _clip01(x):
    """np.minimum(np.maximum(x, 0.0), 1.0) on a float (NaN propagates; as _hi, of two
    equal values the second: −0.0 gives 0.0)."""
    m = x if (x > 0.0 or x != x) else 0.0
    return m if (m < 1.0 or m != m) else 1.0


@register_jitable
def lam_member(r, d, a, s):
    """The factor of one member: LAM rate r, depth d, connected fraction a, susceptible
    share s (in [0, 1]); lam_retention's operations over one cycle (x**1 is x) divided
    by a, in IEEE +, −, ×, ÷ (_hi/_clip01 keep np.maximum's and np.minimum's NaN and
    signed-zero choices). Plain Python, compiled where :func:`lam_factors` calls it."""
    d = _clip01(d)
    floor = 1.0 - s
    # S = 0 (a bond that prevents all damage) loses nothing: its LAM rate is 0 as well
    dose = r * d / _hi(s, 1e-300) if s > 0.0 else 0.0
    step = _clip01(1.0 - dose)
    after = floor + (a - floor) * step if a > floor else a
    # nothing connected (a = 0): nothing to lose, the factor is 1
    return _clip01(after / _hi(a, 1e-300)) if a > 0.0 else 1.0


@jit
def lam_factors(members, out):
    """out[i] = lam_member(rate, depth, active, share) of member i, ``members`` holding the
    rates, depths, connected fractions and susceptible shares one after another (4n,);
    False when a share lies outside [0, 1] (NaN included)."""
    n = out.shape[0]
    ok = True
    for i in range(n):
        s = members[3 * n + i]
        if not 0.0 <= s <= 1.0:     # NaN fails both
            ok = False
        out[i] = lam_member(members[i], members[n + i], members[2 * n + i], s)
    return ok
