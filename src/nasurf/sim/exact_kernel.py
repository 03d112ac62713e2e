"""Compiled (numba) inner loop of the exact galvanostatic engine.

Owns :func:`galvanostatic_rows`, called by :func:`nasurf.sim.solver._run_exact`. Under a
constant current a linear particle (constant D, one size class) has a closed-form surface
concentration,

    c_s(τ) = base + Σ_k coef_k·e^{λ_k τ} + slope·τ,

per constant-flux branch (a first branch while the SEI forms, then the main branch), so
the cell voltage at any time is V = U(c_s) + η_BV(i_F, j0(c_s)) + ohmic. For every batch
member the kernel walks the output grid until the voltage leaves the window, narrows the
bracket on a 32-point sub-grid, and finishes with Illinois regula falsi until the last
inside time is within 1e-11 V of the cut-off; it then writes the output rows (the grid up
to the stop, a tail refined toward it, the stop itself) with the stoichiometry, which is
linear in time at constant flux. Member by member the work stops at the cut-off, and no
(n, B, N) temporaries are built: a rate test of 7 members costs tens of microseconds.

The physics is exactly :class:`nasurf.sim.model.Model`'s: OCP table (linear, linearly
extrapolated) or lattice gas, the exchange-current law j0 = pre·k(c)·c^e_c·(c_v − c)^e_a
with the model's clipping, Butler–Volmer (closed form for α = ½, safeguarded Newton
otherwise). Compiled through :func:`nasurf.sim.compiled.jit` (cached on disk under the
digest of the simulator's source: one compilation per source tree; in memory with a
warning where the cache folder is not writable).
"""

from __future__ import annotations

import math

import numpy as np

from nasurf.sim import physics
from nasurf.sim.compiled import jit, table
from nasurf.sim.parameters import F

#: layout of the shared constants ``con``
C_CMAX, C_CVAC, C_OCP_TABLE, C_E0, C_NRT_F, C_XMAX, C_K_KIND = 0, 1, 2, 3, 4, 5, 6
N_CON = 7
#: k0 table kinds: none, x = stoichiometry, x = concentration
K_NONE, K_STOICHIOMETRY, K_CONCENTRATION = 0, 1, 2
#: layout of the per-member kinetics ``kin`` (B, N_KIN)
K_PRE, K_EC, K_EA, K_ALPHA, K_F = 0, 1, 2, 3, 4
N_KIN = 5
#: exponent floor: e^-100 is 1e-44 of a modal coefficient
_EXP_FLOOR = -100.0
_TOL_V = 1e-11

# the scalar physics every engine shares (nasurf.sim.physics), compiled here
_lattice_gas_ocp = jit(physics.lattice_gas_ocp)
_exchange_current = jit(physics.exchange_current)
_symmetric_overpotential = jit(physics.symmetric_overpotential)
_butler_volmer = jit(physics.butler_volmer)


@jit
def _interface(cs, iF, b, kin, con, ocp_x, ocp_y, k_x, k_y):
    """U(c_s) + η: the interfacial potential of member b at surface concentration cs."""
    cm = con[C_CMAX]
    cv = con[C_CVAC]
    x = cs / cm
    if con[C_OCP_TABLE] > 0.0:
        U = table(ocp_x, ocp_y, x)[0]
    else:
        xm = con[C_XMAX]
        U = _lattice_gas_ocp(x, con[C_E0], con[C_NRT_F], xm)
    eps = 1e-290 * cm
    k = 1.0
    if con[C_K_KIND] > 0.0:
        ck = min(max(cs, eps), cm - eps)
        k = table(k_x, k_y, ck / cm if con[C_K_KIND] == K_STOICHIOMETRY else ck)[0]
    c = min(max(cs, eps), cv - eps * cv / cm)
    j0 = _exchange_current(kin[b, K_PRE] * k, c, cv, kin[b, K_EC], kin[b, K_EA])
    j0 = max(j0, 1e-300)
    f = kin[b, K_F]
    alpha = kin[b, K_ALPHA]
    eta = _symmetric_overpotential(iF, j0, f)[0]
    if alpha != 0.5:
        for _ in range(30):
            i_bv, di_bv, _ = _butler_volmer(eta, j0, alpha, f)
            step = (i_bv - iF) / di_bv
            eta -= min(max(step, -0.2), 0.2)
            if abs(step) < 1e-12:
                break
    return U + eta


@jit
def _branch(t, t_sei):
    """(branch, time into it) at time t since the segment start: branch 0 while the SEI
    still forms (t ≤ t_sei), then branch 1 timed from the SEI's end."""
    if t_sei > 0.0:
        if t <= t_sei:
            return 0, t
        return 1, t - t_sei
    return 1, t


@jit
def _voltage(b, t, t_sei, lam, br_coef, br_base, br_slope, br_iF, br_ohmic,
             kin, con, ocp_x, ocp_y, k_x, k_y):
    """(V, U + η) of member b at time t since the segment start."""
    br, tau = _branch(t, t_sei[b])
    cs = br_base[br, b] + br_slope[br, b] * tau
    for m in range(lam.shape[1]):
        z = lam[b, m] * tau
        if z > _EXP_FLOOR:
            cs += br_coef[br, b, m] * math.exp(z)
    phi = _interface(cs, br_iF[br, b], b, kin, con, ocp_x, ocp_y, k_x, k_y)
    return phi + br_ohmic[br, b], phi


@jit
def _propagate(lam, beta, a, t, N, out):
    """Modal state after time t under a constant inward flux N: e^{λt}·a + φ1(λt)·t·β·N."""
    for m in range(lam.shape[0]):
        z = lam[m] * t
        phi1 = 1.0 + z / 2.0 + z * z / 6.0 if abs(z) < 1e-6 else math.expm1(z) / z
        out[m] = math.exp(z) * a[m] + phi1 * t * beta[m] * N


@jit
def _ratios(lam, t, out):
    """e^{λt} per mode, 0 below the exponent floor (as :func:`_voltage`)."""
    for m in range(lam.shape[0]):
        z = lam[m] * t
        out[m] = math.exp(z) if z > _EXP_FLOOR else 0.0


@jit
def _advance(s0, coef, E, ratio):
    """s0 + Σ coef·E, then E ← E·ratio (the next row of a uniform grid); products that fall
    below e^-100 become 0, as the floor of :func:`_voltage`."""
    s = s0
    for m in range(E.shape[0]):
        s += coef[m] * E[m]
        e_next = E[m] * ratio[m]
        E[m] = e_next if e_next > 3.7e-44 else 0.0
    return s


@jit
def galvanostatic_rows(grid, tail, I, duration, sei_left, sei_frac, area, lam, inv_lam, w,
                       beta, ext, cap, A_R, a0, na_now, h, R_e, kin, con, ocp_x, ocp_y, k_x,
                       k_y, limits, x_in, out_t, out_V, out_x, out_end, out_a):
    """One galvanostatic segment of every member: stop, output rows and final modal state.

    grid (n,) and tail (m,) are fractions of the bracketing horizon and of the stop time.
    Per member (B,): the applied current I [A/kg] (anodic positive), the duration (inf:
    until a cut-off), the SEI budget left [C/kg] and the share of a sodiation current that
    builds SEI (0 where the segment forms none), the particle surface per kg still
    connected [m²/kg], the modal constants (λ, 1/λ with 0 for the conserved mode, surface
    weights w, forcing β: (B, N)), δ/D of the surface half-cell, the particle's capacity and
    Na content [mol] and its surface area A_R, the start state a0 (B, N), the cell
    overpotential h(I) and the film resistance R_e [Ω m²]; limits = (lower, upper) cut-off;
    x_in (B, 2) = start stoichiometry and mol/kg at x = 1 times the active fraction.
    Outputs: rows (n + m, B) of time since the start, V and x, NaN below each member's last
    row; out_end (B, 7) = stop time, V at the stop (the cut-off when one ended the step),
    U + η there, cut-off reached (1/0), reached at the start (1/0), faradaic current
    density at the stop, SEI charge formed [C/kg]; out_a (B, N) the final modal state.
    """
    B, n_modes = lam.shape
    lo_cut = limits[0]
    hi_cut = limits[1]
    # per member: the SEI branch (a share of a sodiation current builds SEI while its
    # budget lasts), the main branch, the horizon, the cut-off of this direction
    t_sei = np.zeros(B)
    t_end = np.empty(B)
    target = np.empty(B)
    sgn = np.empty(B)
    flux = np.empty((2, B))
    br_iF = np.empty((2, B))
    br_ohmic = np.empty((2, B))
    x_rows = np.empty((B, 4))
    for b in range(B):
        I_sei = 0.0
        if I[b] < 0.0 and sei_left[b] > 0.0 and sei_frac[b] > 0.0:
            I_sei = sei_frac[b] * I[b]
            t_sei[b] = sei_left[b] / max(abs(I_sei), 1e-300)
        br_iF[0, b] = (I[b] - I_sei) / area[b]
        br_iF[1, b] = I[b] / area[b]
        for k in range(2):
            flux[k, b] = -br_iF[k, b] / F
            br_ohmic[k, b] = R_e[b] * br_iF[k, b] + h[b]
        # horizon: the time to fill (sodiation) or empty (desodiation) the particle
        rate = abs(flux[1, b]) * A_R[b]
        room = cap[b] - na_now[b] if I[b] < 0.0 else na_now[b]
        t_fill = room / rate if rate > 0.0 else math.inf
        if t_sei[b] > 0.0:
            t_fill += t_sei[b] * sei_frac[b]
        te = min(duration[b], 1.02 * t_fill + 1e-9)
        t_end[b] = te if math.isfinite(te) else 3600.0
        cut = lo_cut if I[b] < 0.0 else hi_cut
        target[b] = cut if math.isfinite(cut) else (-1e9 if I[b] < 0.0 else 1e9)
        sgn[b] = -1.0 if I[b] < 0.0 else 1.0    # g = sgn·(V − cut) < 0 inside
        # stoichiometry: linear in t at constant flux (SEI charge does not sodiate)
        x_rows[b, 0] = x_in[b, 0]
        x_rows[b, 1] = -(I[b] - I_sei) / F
        x_rows[b, 2] = -I[b] / F
        x_rows[b, 3] = x_in[b, 1]
    # branch constants: c_s(τ) = base + Σ coef·e^{λτ} + slope·τ
    br_coef = np.empty((2, B, n_modes))
    br_base = np.empty((2, B))
    br_slope = np.empty((2, B))
    a_branch = np.empty(n_modes)
    for b in range(B):
        for k in range(2):
            if k == 1 and t_sei[b] > 0.0:
                _propagate(lam[b], beta[b], a0[b], min(t_sei[b], t_end[b]), flux[0, b],
                           a_branch)
            else:
                a_branch[:] = a0[b]
            N = flux[k, b]
            base = N * ext[b]
            slope = 0.0
            for m in range(n_modes):
                wa = w[b, m] * a_branch[m]
                wb = w[b, m] * beta[b, m] * N
                coef = wa + inv_lam[b, m] * wb
                br_coef[k, b, m] = coef
                base += wa - coef
                if lam[b, m] == 0.0:
                    slope += wb
            br_base[k, b] = base
            br_slope[k, b] = slope
    n = grid.shape[0]
    n_tail = tail.shape[0]
    n_sub = 31
    V_grid = np.empty(n)
    E = np.empty(n_modes)
    ratio = np.empty(n_modes)
    # a uniform grid advances e^{λτ} by one product per row instead of an exponential
    # (per branch: the SEI branch from τ = 0, the main branch restarted where it begins),
    # so a row costs n_modes products, not n_modes exponentials
    uniform = n > 2 and grid[0] == 0.0 and abs(grid[2] - 2.0 * grid[1]) <= 1e-12 * grid[2]
    for b in range(B):
        te = t_end[b]
        j_ev = -1
        recur = uniform
        br_now = -1
        if recur:
            _ratios(lam[b], grid[1] * te, ratio)
        for j in range(n):
            if recur:
                t = grid[j] * te
                br, tau = _branch(t, t_sei[b])
                if br != br_now:
                    _ratios(lam[b], tau, E)
                    br_now = br
                cs = _advance(br_base[br, b] + br_slope[br, b] * tau, br_coef[br, b], E, ratio)
                V_grid[j] = _interface(cs, br_iF[br, b], b, kin, con, ocp_x, ocp_y, k_x,
                                       k_y) + br_ohmic[br, b]
            else:
                V_grid[j] = _voltage(b, grid[j] * te, t_sei, lam, br_coef, br_base,
                                     br_slope, br_iF, br_ohmic, kin, con, ocp_x, ocp_y, k_x,
                                     k_y)[0]
            if j > 0 and (V_grid[j] < lo_cut or V_grid[j] > hi_cut):
                j_ev = j
                break
        has_event = j_ev > 0
        at_start = False
        t_stop = te
        if has_event:
            t_in = grid[j_ev - 1] * te
            t_out = grid[j_ev] * te
            g_in = sgn[b] * (V_grid[j_ev - 1] - target[b])
            g_out = sgn[b] * (V_grid[j_ev] - target[b])
            at_start = g_in >= 0.0
            if not at_start and g_in < -_TOL_V:
                # one sub-grid: a voltage wall then lies within 1/32 of a grid interval
                width = t_out - t_in
                t0 = t_in
                # within one branch the sub-grid is uniform in τ: products again
                br = 0 if (t_sei[b] > 0.0 and t_out <= t_sei[b]) else 1
                t_br = t_sei[b] if br == 1 and t_sei[b] > 0.0 else 0.0
                sub_recur = t0 >= t_br
                if sub_recur:
                    h_sub = width / (n_sub + 1)
                    _ratios(lam[b], h_sub, ratio)
                    _ratios(lam[b], t0 - t_br + h_sub, E)
                for i in range(1, n_sub + 1):
                    ts = t0 + width * i / (n_sub + 1)
                    if sub_recur:
                        tau = ts - t_br
                        cs = _advance(br_base[br, b] + br_slope[br, b] * tau, br_coef[br, b],
                                      E, ratio)
                        Vs = _interface(cs, br_iF[br, b], b, kin, con, ocp_x, ocp_y, k_x,
                                        k_y) + br_ohmic[br, b]
                    else:
                        Vs = _voltage(b, ts, t_sei, lam, br_coef, br_base, br_slope, br_iF,
                                      br_ohmic, kin, con, ocp_x, ocp_y, k_x, k_y)[0]
                    gs = sgn[b] * (Vs - target[b])
                    if gs >= 0.0:
                        t_out, g_out = ts, gs
                        break
                    t_in, g_in = ts, gs
                # Illinois regula falsi, safeguarded: when two steps in a row fail to
                # halve the bracket (a logarithmic voltage wall at an emptied or filled
                # surface), the next step bisects
                last = 0
                slow = 0
                for _ in range(100):
                    width = t_out - t_in
                    if g_in >= -_TOL_V or width <= 1e-12 * te:
                        break
                    if slow >= 2:
                        tc = t_in + 0.5 * width
                        slow = 0
                    else:
                        den = g_out - g_in
                        tc = t_in - g_in * width / (den if den != 0.0 else 1.0)
                        tc = min(max(tc, t_in + 1e-9 * width), t_out - 1e-9 * width)
                    gc = sgn[b] * (_voltage(b, tc, t_sei, lam, br_coef, br_base, br_slope,
                                            br_iF, br_ohmic, kin, con, ocp_x, ocp_y, k_x,
                                            k_y)[0] - target[b])
                    if gc < 0.0:
                        if last == 1:
                            g_out *= 0.5    # Illinois: the far end stayed twice
                        t_in, g_in = tc, gc
                        last = 1
                    else:
                        if last == -1:
                            g_in *= 0.5
                        t_out, g_out = tc, gc
                        last = -1
                    slow = slow + 1 if t_out - t_in > 0.5 * width else 0
            t_stop = 0.0 if at_start else t_in
        elif math.isfinite(duration[b]):
            t_stop = duration[b]
        # rows: the grid up to the stop merged with the tail (stable: grid first on ties)
        V_stop, phi_stop = _voltage(b, t_stop, t_sei, lam, br_coef, br_base, br_slope,
                                    br_iF, br_ohmic, kin, con, ocp_x, ocp_y, k_x, k_y)
        n_grid = j_ev if has_event else n
        limit = t_stop * (1.0 + 1e-12)
        wall_from = t_stop * (1.0 - 1e-12)
        r = 0
        i_g = 0
        i_t = 0
        while i_g < n_grid or i_t < n_tail:
            tg = grid[i_g] * te if i_g < n_grid else math.inf
            tt = tail[i_t] * t_stop if i_t < n_tail else math.inf
            if tg <= tt:
                t_row = tg
                if t_row > limit:
                    i_g = n_grid
                    continue
                V_row = V_grid[i_g]
                i_g += 1
            else:
                t_row = tt
                V_row = V_stop if i_t == n_tail - 1 else _voltage(
                    b, t_row, t_sei, lam, br_coef, br_base, br_slope, br_iF, br_ohmic, kin,
                    con, ocp_x, ocp_y, k_x, k_y)[0]
                i_t += 1
            if has_event and t_row >= wall_from:
                V_row = target[b]
            t1 = t_sei[b]
            na = x_rows[b, 1] * min(t_row, t1) + x_rows[b, 2] * max(t_row - t1, 0.0)
            out_t[r, b] = t_row
            out_V[r, b] = V_row
            out_x[r, b] = x_rows[b, 0] + na / x_rows[b, 3]
            r += 1
            if at_start:
                break
        for rr in range(r, out_t.shape[0]):
            out_t[rr, b] = np.nan
            out_V[rr, b] = np.nan
            out_x[rr, b] = np.nan
        out_end[b, 0] = t_stop
        # final state: through the SEI branch (if any), then the main branch
        if t_sei[b] > 0.0:
            _propagate(lam[b], beta[b], a0[b], min(t_stop, t_sei[b]), flux[0, b], a_branch)
            _propagate(lam[b], beta[b], a_branch.copy(), max(t_stop - t_sei[b], 0.0),
                       flux[1, b], out_a[b])
        else:
            _propagate(lam[b], beta[b], a0[b], t_stop, flux[1, b], out_a[b])
        out_end[b, 1] = target[b] if has_event else V_stop
        out_end[b, 2] = phi_stop
        out_end[b, 3] = 1.0 if has_event else 0.0
        out_end[b, 4] = 1.0 if at_start else 0.0
        out_end[b, 5] = br_iF[1, b] if t_stop > t_sei[b] else br_iF[0, b]
        out_end[b, 6] = abs(sei_frac[b] * I[b]) * min(t_stop, t_sei[b]) if t_sei[b] > 0.0 \
            else 0.0
