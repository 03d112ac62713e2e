"""Scalar helpers of the compiled march (:mod:`nasurf.sim.march_kernel`).

Overflow-free softplus, log-add-exp and logistic, table lookups in c (stoichiometry or
concentration tables), the copy of one slot of the march's state bundle into another, of a
member's start state into a slot and of a slot into its end state, a member's face
conductances of a constant D, the mean stoichiometry of a slot, the SEI budget a step
leaves, the tridiagonal diffusion solve of one class and the modal step's projections and
new state, the cut-off's regula falsi (trial and bracket); each compiled with IEEE
semantics.
"""

from __future__ import annotations

import math

from nasurf.sim import physics
from nasurf.sim.compiled import jit_ieee as jit
from nasurf.sim.compiled import jit_ieee_borrowed as borrowed
from nasurf.sim.compiled import table, table_near
from nasurf.sim.state import (
    cutoff_tolerance,
    failed_step_cut,
    locate_step_tolerance,
    newton_converged,
    newton_out_of_reach,
    newton_settled,
    newton_update_size,
    sei_after_step,
    step_cap,
)

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
#: the step cap, looser out of reach of the cut-off: the numpy march's own rule
_step_cap = jit(step_cap)
#: a Newton solve that can no longer converge: the numpy march's own rule
_newton_out_of_reach = jit(newton_out_of_reach)
#: a Newton solve that has converged: the numpy march's own rule
_newton_converged = jit(newton_converged)
#: a Newton update relative to the stop: the numpy march's own rule
_newton_update_size = jit(newton_update_size)
#: a Newton solve whose next update is predicted below the stop: the numpy march's own rule
_newton_settled = jit(newton_settled)
#: the step cut after a failed solve: the numpy march's own rule
_failed_step_cut = jit(failed_step_cut)
#: the bracket that settles a crossed cut-off: the numpy march's own rule
_locate_step_tolerance = jit(locate_step_tolerance)


@jit
def _secant_trial(s_lo, s_hi, g_lo, g_hi):
    """The next trial step fraction of the cut-off's Illinois regula falsi (the numpy
    march's ``_locate_event``): the secant of the bracket (bisection while its beyond end
    has no finite value), kept 1 % of the bracket inside it."""
    width = s_hi - s_lo
    den = g_hi - g_lo
    sec = s_lo - g_lo * width / (den if den != 0.0 else 1.0)
    s = sec if (math.isfinite(g_hi) and g_hi > g_lo) else 0.5 * (s_lo + s_hi)
    return min(max(s, s_lo + 0.01 * width), s_hi - 0.01 * width)


@jit
def _illinois_update(s, g, s_lo, s_hi, g_lo, g_hi, side):
    """The bracket (s_lo, s_hi, g_lo, g_hi, side) after a trial at s with the signed
    distance g to the cut-off (< 0 inside, inf for a failed solve): the end on g's side
    moves to s; the other end's g is halved when the same side came twice (Illinois)."""
    inside = g < 0.0
    if inside and side == 1:
        g_hi *= 0.5
    if (not inside) and side == -1:
        g_lo *= 0.5
    if inside:
        return s, s_hi, g, g_hi, 1
    return s_lo, s, g_lo, (g if math.isfinite(g) else g_hi), -1


@jit
def _tab(kind, xs, ys, c, cm):
    """Value and slope d/dc of a table in c (stoichiometry or concentration)."""
    if kind == T_STOICHIOMETRY:
        v, s = table(xs, ys, c / cm)
        return v, s / cm
    return table(xs, ys, c)


@jit
def _tab_near(kind, xs, ys, c, cm, i):
    """:func:`_tab` from a guessed segment i (:func:`nasurf.sim.compiled.table_near`):
    value, slope d/dc and the segment."""
    if kind == T_STOICHIOMETRY:
        v, s, i = table_near(xs, ys, c / cm, i)
        return v, s / cm, i
    return table_near(xs, ys, c, i)


@borrowed
def _copy_state(c_src, v_src, s_src, c_dst, v_dst, s_dst):
    """One march state (c (K, N), per-class values (K, N_VK), scalars (N_SC,)) into
    another: the one copy rule of a slot, a member's start and a member's end."""
    # explicit loops: slice assignment pulls in numba's broadcasting machinery (compile time)
    for k in range(c_src.shape[0]):
        for n in range(c_src.shape[1]):
            c_dst[k, n] = c_src[k, n]
        for j in range(v_src.shape[1]):
            v_dst[k, j] = v_src[k, j]
    for j in range(s_src.shape[0]):
        s_dst[j] = s_src[j]


@borrowed
def _copy_slot(src, dst, cS, vS, sS):
    """Slot ``src`` into slot ``dst``."""
    _copy_state(cS[src], vS[src], sS[src], cS[dst], vS[dst], sS[dst])


@borrowed
def _load_member(b, slot, c0, vk0, sc0, cS, vS, sS):
    """Member b's start state (c0, vk0, sc0: the kernel's batch inputs) into ``slot``."""
    _copy_state(c0[b], vk0[b], sc0[b], cS[slot], vS[slot], sS[slot])


@borrowed
def _store_member(b, slot, cS, vS, sS, c_end, vk_end, sc_end):
    """``slot`` into member b's end state (c_end, vk_end, sc_end: the kernel's outputs)."""
    _copy_state(cS[slot], vS[slot], sS[slot], c_end[b], vk_end[b], sc_end[b])


@borrowed
def _face_conductances(b, D_core, D_shell, in_shell, Af, dm, dp, Gc):
    """Member b's face conductances Gc (K, N) of a constant D (``D_core`` in the core,
    ``D_shell`` in the shell), computed once per segment: what the tridiagonal step would
    compute from its cells' D every step (:func:`_face_conductance`)."""
    for k in range(Gc.shape[0]):
        for j in range(Gc.shape[1] - 1):
            Dj = D_shell if in_shell[j] else D_core
            Dj1 = D_shell if in_shell[j + 1] else D_core
            Gc[k, j] = Af[b, k, j] / (dm[b, k, j] / Dj + dp[b, k, j] / Dj1)


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


@borrowed
def _tridiagonal_solve(b, k, dt, const_D, Gc, work, hist_c, vol, dm, dp, Af, AR):
    """Class k's implicit diffusion step, (W/dt + K) y = W/dt c_hist and (W/dt + K) z = A_R e_N:
    the forward sweep of Thomas with the two right-hand sides (:func:`_tridiagonal_state`
    substitutes back where the new state is written, once its flux is known).

    ``work`` (K, N, 6) holds D of each cell in column 4 on entry (a D(c) table; a constant
    D uses the member's face conductances Gc); on return columns 2, 3, 4 hold the
    eliminated upper diagonal and the swept y, z, whose last cells are final (y_N, z_N:
    the surface's). One pass builds each row as it is eliminated (the matrix is never
    stored), with every operation of the assembled matrix's sweep in its order.
    """
    N = work.shape[1]
    wc = work[k]      # (N, 6)
    vk = vol[b, k]
    hk = hist_c[k]
    # cell 0 (no face below): diagonal W/dt + G_0
    G = _face_conductance(b, k, 0, const_D, Gc, wc, dm, dp, Af) if N > 1 else 0.0
    w_dt = vk[0] / dt
    den = w_dt + G if N > 1 else w_dt
    y_prev = (w_dt * hk[0] - 0.0 * 0.0) / den
    r1 = AR[b, k] if N == 1 else 0.0
    z_prev = 0.0 if r1 == 0.0 and den > 0.0 else (r1 - 0.0 * 0.0) / den
    cprev = -G / den if N > 1 else 0.0
    wc[0, 2] = cprev
    wc[0, 3] = y_prev
    wc[0, 4] = z_prev
    G_low = G
    for n in range(1, N):
        # the diagonal as assembled: W/dt, + the face below, + the face above (cell N:
        # none); (0 − low·(±0))/den is exactly +0 below the surface (no division there)
        top = n == N - 1
        G = 0.0 if top else _face_conductance(b, k, n, const_D, Gc, wc, dm, dp, Af)
        w_dt = vk[n] / dt
        diag = w_dt + G_low
        if not top:
            diag += G
        low = -G_low
        den = diag - low * cprev
        y_prev = (w_dt * hk[n] - low * y_prev) / den
        r1 = AR[b, k] if top else 0.0
        if r1 == 0.0 and z_prev == 0.0 and den > 0.0 and abs(low) < math.inf:
            z_prev = 0.0
        else:
            z_prev = (r1 - low * z_prev) / den
        cprev = 0.0 if top else -G / den
        wc[n, 2] = cprev
        wc[n, 3] = y_prev
        wc[n, 4] = z_prev
        G_low = G


@borrowed
def _face_conductance(b, k, j, const_D, Gc, wc, dm, dp, Af):
    """Face j's conductance: the member's constant one, or from the D of its two cells
    (``wc`` column 4, read before the sweep overwrites cell j's)."""
    if const_D:
        return Gc[k, j]
    return Af[b, k, j] / (dm[b, k, j] / wc[j, 4] + dp[b, k, j] / wc[j + 1, 4])


@borrowed
def _tridiagonal_state(b, k, N_new, work, cS, dst):
    """Back substitution of :func:`_tridiagonal_solve`'s sweep fused with the new state
    c_n = y_n + z_n·N (N the inward molar flux) into slot ``dst``; whether all are finite.
    The cell above is carried in registers (no store-to-load round trip per cell)."""
    N = work.shape[1]
    wc = work[k]
    cd = cS[dst, k]
    y_next = wc[N - 1, 3]
    z_next = wc[N - 1, 4]
    cn = y_next + z_next * N_new
    cd[N - 1] = cn
    ok = math.isfinite(cn)
    for n in range(N - 2, -1, -1):
        c_n = wc[n, 2]
        y_next = wc[n, 3] - c_n * y_next
        z_next = wc[n, 4] - c_n * z_next
        cn = y_next + z_next * N_new
        cd[n] = cn
        ok = ok and math.isfinite(cn)
    return ok


@borrowed
def _modal_projections(b, k, UsW, hist_c, mw):
    """Class k's modal coordinates a_i = Σ_n U_ni·√W_n·c_n of the history into mw[k, 0]
    (``UsW``: the products U_ni·√W_n, precomputed per model).

    Summed over n in order for all modes at once: independent sums (they vectorise over
    the contiguous modes), not one chain of N additions per mode.
    """
    N = hist_c.shape[1]
    for i in range(N):
        mw[k, 0, i] = 0.0
    for n in range(N):
        hc = hist_c[k, n]
        for i in range(N):
            mw[k, 0, i] += UsW[b, k, n, i] * hc


@borrowed
def _modal_surface(b, k, dt, lam, beta, wsf, mw, g0):
    """Class k's modal step over dt: the decayed modes e^{λdt}·a_i into mw[k, 0], the
    responses to a unit flux φ1(λdt)·dt·β_i into mw[k, 1], and the surface's p and g
    (g from ``g0``). Fast modes are not evaluated where the double is known: e^{λdt} is
    exactly 0 below λdt = −746 (libm's underflow path, with its error handling, was ~7 %
    of the march on the site presets) and e^{λdt} − 1 exactly −1 below −40."""
    N = mw.shape[2]
    pk = 0.0
    gk = g0
    for i in range(N):
        ai = mw[k, 0, i]
        z = lam[b, k, i] * dt
        if abs(z) < 1e-6:
            ph1 = 1.0 + z / 2.0 + z * z / 6.0
        else:
            ph1 = (math.expm1(z) if z >= -40.0 else -1.0) / z
        mw[k, 0, i] = (math.exp(z) if z >= -746.0 else 0.0) * ai
        mw[k, 1, i] = ph1 * dt * beta[b, k, i]
        pk += mw[k, 0, i] * wsf[b, k, i]
        gk += mw[k, 1, i] * wsf[b, k, i]
    return pk, gk


@borrowed
def _modal_state(b, k, Um, sqW, mw, N_new, cS, dst):
    """Class k's new concentrations c_n = Σ_i U_ni·(mw[k, 0, i] + mw[k, 1, i]·N)/√W_n into
    slot ``dst`` (summed over i in order for all cells at once); whether all are finite."""
    N = cS.shape[2]
    ok = True
    for n in range(N):
        cS[dst, k, n] = 0.0
    for i in range(N):
        coef = mw[k, 0, i] + mw[k, 1, i] * N_new
        for n in range(N):
            cS[dst, k, n] += Um[b, k, n, i] * coef
    for n in range(N):
        cn = cS[dst, k, n] / sqW[b, k, n]
        cS[dst, k, n] = cn
        ok = ok and math.isfinite(cn)
    return ok
