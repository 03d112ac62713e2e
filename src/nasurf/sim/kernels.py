"""Compiled (numba) per-time-step kernel of the voltage-sweep engine.

Owns :func:`sweep_kernel`, called by :mod:`nasurf.sim.fast_cv`. One call advances every
batch member through one linear voltage sweep, time step by time step, for a particle
whose diffusion is linear (constant D, one size class): the modal amplitudes advance
exactly for a surface flux linear in time over the step (exponential time differencing,
ETD2), so per step and member the only unknowns are scalars: the surface logit
u = logit(c_s/c_lim) (the faradaic current follows from the affine diffusion map
c_s = p + g·N) and, with surface-redox sites, their coverage θ (an inner scalar solve
for a given interfacial potential). The physics is the implicit engine's
(:func:`nasurf.sim.solver._implicit_step`): symmetric Butler-Volmer with the model's
exchange-current law in log form, the double layer C_dl·dΔφ/dt and the Frumkin site
store in log form, the film resistance R_e, and the cell overpotential
V − Φ (ASR, Na-metal kinetics, quasi-steady electrolyte). Time stepping is second order:
ETD2 for diffusion, BDF2 on the variable grid for the double layer and the sites, with
adaptive steps (see :func:`sweep_kernel`).

Each scalar solve is a safeguarded Newton iteration: the residual changes sign across the
root, so a bracket is kept and a step that leaves it, or a bracket that stops halving, is
replaced by bisection; steps are damped as in the implicit engine. A member whose solve
fails is reported (``status`` > 0) and the caller falls back to the implicit engine.

Compiled through :func:`nasurf.sim.compiled.jit`: the machine code is cached on disk in
nasurf's user cache folder, keyed by the digest of the simulator's whole source (so a
change to a callee's module recompiles), and each source tree compiles once. If that
folder is not writable, the functions are compiled in memory in each process instead
(with a warning).
"""

from __future__ import annotations

import math

import numpy as np

from nasurf.sim import physics
from nasurf.sim.compiled import jit, table
from nasurf.sim.parameters import F

# column layout of the per-member parameter array ``par`` (B, N_PAR)
P_LN_PRE, P_EC, P_EA, P_LN_K0, P_K0 = 0, 1, 2, 3, 4
P_F, P_RE, P_CDL, P_AREA = 5, 6, 7, 8
P_LOAD, P_RES, P_J0NA, P_DC, P_SPLIT = 9, 10, 11, 12, 13
P_GAMMA, P_E0S, P_GS, P_LNKS, P_AS = 14, 15, 16, 17, 18
P_V0, P_RATE, P_EXT, P_AR, P_NA_TOTAL = 19, 20, 21, 22, 23
P_DUR, P_HMAX, P_H0, P_GROW, P_TAU = 24, 25, 26, 27, 28
N_PAR = 29
# column layout of the shared constants ``con`` (N_CON,)
C_CLIM, C_CVAC, C_CMAX, C_OCP_KIND, C_E0, C_NF, C_XMAX = 0, 1, 2, 3, 4, 5, 6
C_KTAB, C_KCONC, C_CE, C_TPLUS, C_TOL, C_LNCLIM, C_RTOL = 7, 8, 9, 10, 11, 12, 13
N_CON = 14
#: OCP kinds: lattice gas with x_max <= 1 (U = E0 − n·RT/F·u exactly), lattice gas with
#: x_max > 1 (the formula in x = c/c_max), table (linear interpolation, linear extrapolation)
OCP_LOGIT, OCP_LATTICE, OCP_TABLE = 0, 1, 2

#: Newton damping per iteration, as in the implicit engine: surface logit, Δφ [V]
_MAX_DU = 6.0
_MAX_DPHI = 0.25
_MAX_IT = 80
#: step levels h_max·2^(-k/4), k = 0 … 20 (down to h_max/32)
_N_LEVELS = 21


# the scalar physics every engine shares (nasurf.sim.physics), compiled here
_softplus = jit(physics.softplus)
_symmetric_overpotential = jit(physics.symmetric_overpotential)
_log_exchange_current = jit(physics.log_exchange_current)
_lattice_gas_ocp = jit(physics.lattice_gas_ocp)


_expit = jit(physics.logistic)


@jit
def _logaddexp(a, b):
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    m = max(a, b)
    return m + math.log1p(math.exp(-abs(a - b)))


@jit
def _cell_overpotential(I, par, con):
    """V − Φ at the specific current I [A/kg] and its derivative (Model.cell_overpotential)."""
    load = par[P_LOAD]
    f = par[P_F]
    IA = I * load
    j0 = par[P_J0NA]
    eta, deta = _symmetric_overpotential(IA, j0, f)   # the Na-metal counter electrode
    h = IA * par[P_RES] + eta
    dh = load * (par[P_RES] + deta)
    dc = par[P_DC]
    if dc > 0.0:
        c0 = con[C_CE]
        s = par[P_SPLIT]
        lim = 0.99 * c0 / max(s, 1.0 - s)
        q = IA * dc
        free = abs(q) < lim
        q = min(max(q, -lim), lim)
        t = con[C_TPLUS]
        c_metal = c0 - s * q
        c_bar = c0 + (1.0 - s) * q
        h += 2.0 * (1.0 - t) / f * math.log(c_bar / c_metal)
        if free:
            dh += 2.0 * (1.0 - t) / f * load * dc * ((1.0 - s) / c_bar + s / c_metal)
    return h, dh


@jit
def _sites(w, phi, ln_s0, ln_lo, ln_up, par):
    """Frumkin site residual in log form (solver._site_block), sign-normalised.

    The step is dθ/dt = k(1−θ)B − kθA, A = e^{αfη'}, B = e^{−(1−α)fη'}, with dθ/dt by a
    backward difference (κ0θ − κ1θ1 + κ2θ2)/dt (BDF2; backward Euler: κ = 1, 1, 0):
    θ·S = N with S = κ0/dt + kA + kB and N = (κ1θ1 − κ2θ2)/dt + kB, or in 1 − θ,
    (1 − θ)·S = (κ1(1−θ1) − κ2(1−θ2))/dt + kA. ``ln_s0`` = ln(κ0/dt), ``ln_lo`` and
    ``ln_up`` the logs of the two history terms. Written ln θ + ln S − ln N (w <= 0) or,
    negated, in 1 − θ (w > 0), so coverages down to 1e-300 keep full relative precision;
    both forms have the sign of θS − N. Returns R (increasing in w), dR/dw, dR/dφ.
    """
    f = par[P_F]
    g = par[P_GS]
    a_s = par[P_AS]
    lnk = par[P_LNKS]
    th = _expit(w)
    th1 = th * _expit(-w)
    etas = phi - par[P_E0S] + g / f * (th - 0.5)
    a_ = lnk + a_s * f * etas
    b_ = lnk - (1.0 - a_s) * f * etas
    lnS = _logaddexp(_logaddexp(ln_s0, a_), b_)
    dlnS = f * (a_s * math.exp(a_ - lnS) - (1.0 - a_s) * math.exp(b_ - lnS))
    if w > 0.0:
        lnN = _logaddexp(ln_up, a_)
        dlnN = a_s * f * math.exp(a_ - lnN)
        r = -(-_softplus(w) + lnS - lnN)
        dr_eta = -(dlnS - dlnN)
        dr_w = th + dr_eta * g / f * th1
    else:
        lnN = _logaddexp(ln_lo, b_)
        dlnN = -(1.0 - a_s) * f * math.exp(b_ - lnN)
        r = -_softplus(-w) + lnS - lnN
        dr_eta = dlnS - dlnN
        dr_w = (1.0 - th) + dr_eta * g / f * th1
    return r, dr_w, dr_eta


@jit
def _solve_sites(w, phi, ln_s0, ln_lo, ln_up, par):
    """Coverage logit w at interfacial potential φ (safeguarded Newton); dw/dφ; ok flag."""
    lo, hi = -745.0, 745.0
    for _ in range(_MAX_IT):
        r, dr_w, dr_phi = _sites(w, phi, ln_s0, ln_lo, ln_up, par)
        if r > 0.0:
            hi = w
        else:
            lo = w
        if not (dr_w > 0.0) or not math.isfinite(r):
            w_new = 0.5 * (lo + hi)
        else:
            dw = -r / dr_w
            if abs(dw) < 1e-13 * (1.0 + abs(w)):
                return w, -dr_phi / dr_w, True
            dw = min(max(dw, -30.0), 30.0)
            w_new = w + dw
            if not (lo < w_new < hi):
                w_new = 0.5 * (lo + hi)
        if hi - lo < 1e-13 * (1.0 + abs(w)):
            r, dr_w, dr_phi = _sites(w_new, phi, ln_s0, ln_lo, ln_up, par)
            return w_new, -dr_phi / dr_w, True
        w = w_new
    return w, 0.0, False


@jit
def _evaluate(u, p, g, dl_coef, dl_const, site_hist, w, V_app, par, con, ocp_x, ocp_y,
              k_x, k_y):
    """Closure residual r = Φ + (V − Φ)(I) − V_app at surface logit u, its du-derivative.

    The double layer is i_dl = dl_coef·Δφ + dl_const and the site current
    i_pc = site_hist[3] − site_hist[4]·θ (backward differences; ``site_hist`` also holds
    the logs ``_sites`` needs). Returns r, dr/du, Δφ, dΔφ/du, i_F, i_total, I, θ-logit w,
    V − Φ, an ok flag and the round-off level of r.
    """
    f = par[P_F]
    cl = con[C_CLIM]
    cm = con[C_CMAX]
    # expit(±u) and softplus(±u) from one exponential
    e = math.exp(-abs(u))
    l1p = math.log1p(e)
    if u >= 0.0:
        s_pos = 1.0 / (1.0 + e)
        s_neg = e * s_pos
        sp_pos = u + l1p          # softplus(u)
    else:
        s_neg = 1.0 / (1.0 + e)
        s_pos = e * s_neg
        sp_pos = l1p
    cs = cl * s_pos
    dcs = cs * s_neg
    iF = F * (p - cs) / g
    diF = -F / g * dcs
    kind = con[C_OCP_KIND]
    if kind == OCP_LOGIT:
        U = con[C_E0] - con[C_NF] * u
        dU = -con[C_NF]
    elif kind == OCP_LATTICE:
        xm = con[C_XMAX]
        x = min(max(cs / cm, 1e-290 * xm), xm * (1.0 - 1e-15))
        U = _lattice_gas_ocp(cs / cm, con[C_E0], con[C_NF], xm)
        dU = -con[C_NF] * (1.0 / (xm - x) + 1.0 / x) / cm * dcs
    else:
        U, sl = table(ocp_x, ocp_y, cs / cm)
        dU = sl / cm * dcs
    # j0 = pre·k·c_s^ec·(c_vac − c_s)^ea in log form (solver._implicit_step)
    cv = con[C_CVAC]
    if cv == cl:
        ln_vac = con[C_LNCLIM] - sp_pos
        dln_vac = -s_pos
    else:
        ln_vac = math.log(cv - cs)
        dln_vac = -dcs / (cv - cs)
    ec = par[P_EC]
    ea = par[P_EA]
    ln_j0 = _log_exchange_current(par[P_LN_PRE], u, con[C_LNCLIM], ln_vac, ec, ea)
    dln_j0 = ec * s_neg + ea * dln_vac
    if con[C_KTAB] > 0.0:
        if con[C_KCONC] > 0.0:
            xk, dxk = cs, 1.0
        else:
            xk, dxk = cs / cm, 1.0 / cm
        kv, ks = table(k_x, k_y, xk)
        kk = max(kv * par[P_K0], 1e-300)
        ln_j0 += math.log(kk)
        dln_j0 += ks * dxk * par[P_K0] / kk * dcs
    else:
        ln_j0 += par[P_LN_K0]
    # Butler-Volmer (α = ½): Δφ = U + (2/f)·asinh(i_F/2j0), overflow-free for any j0
    sgn = 1.0 if iF >= 0.0 else -1.0
    q = 0.0
    if iF != 0.0 and ln_j0 > -600.0:
        inv2j0 = 0.5 * math.exp(-ln_j0)
        q = iF * inv2j0
    if abs(q) < 1e100 and ln_j0 > -600.0:
        sq = math.sqrt(1.0 + q * q)
        A = math.asinh(q)
        dA_diF = inv2j0 / sq
        dA = dA_diF * diF - q * dln_j0 / sq
    else:
        # |q| = |i_F|/2j0 beyond 1e100 (or j0 below e^-600): asinh(q) = sign·ln(2|q|) to
        # 1e-200, in log form so that nothing overflows
        ln_q = math.log(abs(iF)) - math.log(2.0) - ln_j0 if iF != 0.0 else -math.inf
        if ln_q > 40.0:
            A = sgn * (ln_q + math.log(2.0))
            dA_diF = 1.0 / abs(iF)
            dA = diF / iF - dln_j0
        else:
            q = sgn * math.exp(ln_q)
            sq = math.sqrt(1.0 + q * q)
            A = math.asinh(q)
            dq_diF = q / iF if iF != 0.0 else 0.5 * math.exp(min(-ln_j0, 700.0))
            dA_diF = dq_diF / sq
            dA = dA_diF * diF - q * dln_j0 / sq
    phi = U + 2.0 / f * A
    dphi = dU + 2.0 / f * dA
    # double layer: i_dl = dl_coef·Δφ + dl_const (a backward difference of C_dl·Δφ)
    itot = iF + dl_coef * phi + dl_const
    ditot = diF + dl_coef * dphi
    ok = True
    if par[P_GAMMA] > 0.0:
        w, dw_dphi, ok = _solve_sites(w, phi, site_hist[0], site_hist[1], site_hist[2], par)
        th = _expit(w)
        itot += site_hist[3] - site_hist[4] * th
        ditot -= site_hist[4] * th * _expit(-w) * dw_dphi * dphi
    area = par[P_AREA]
    I = area * itot
    h, dh = _cell_overpotential(I, par, con)
    Re = par[P_RE]
    r = phi + Re * itot + h - V_app
    dr = dphi + (Re + area * dh) * ditot
    ok = ok and math.isfinite(r) and math.isfinite(dr)
    # round-off of r: i_F = F(p − c_s)/g carries F·ε(|p| + c_s)/g (a full or empty surface
    # over a tiny step: p ≈ c_s and g → 0), which reaches r along dr/di_F
    dphi_diF = 2.0 / f * dA_diF
    dr_diF = dphi_diF + (Re + area * dh) * (1.0 + dl_coef * dphi_diF)
    noise = abs(dr_diF) * 4.4e-16 * F * (abs(p) + cs) / g
    return r, dr, phi, dphi, iF, itot, I, w, h, ok, noise


@jit
def _level(dt, h_max):
    """The level k of the largest step h_max·2^(-k/4) not above dt (0 … _N_LEVELS − 1)."""
    if dt >= h_max:
        return 0
    k = math.ceil(-4.0 * math.log2(dt / h_max) - 1e-9)
    return min(max(k, 0), _N_LEVELS - 1)


@jit
def _etd(lam, beta, dt, E, h1, h2):
    """E = e^{λdt}, h1 = φ1(λdt)·dt·β, h2 = φ2(λdt)·dt·β (exact for a linear flux)."""
    for k in range(lam.shape[0]):
        z = lam[k] * dt
        em1 = math.expm1(z)
        E[k] = em1 + 1.0
        # series where the difference quotients lose digits (as solver._phi1/_phi2)
        p1 = 1.0 + z / 2.0 + z * z / 6.0 if abs(z) < 1e-6 else em1 / z
        p2 = 0.5 + z / 6.0 + z * z / 24.0 if abs(z) < 1e-4 else (em1 - z) / (z * z)
        h1[k] = p1 * dt * beta[k]
        h2[k] = p2 * dt * beta[k]


@jit
def _newton_step(u, p, g, dl_coef, dl_const, site_hist, w, V_app, pb, con, ocp_x, ocp_y,
                 k_x, k_y, out):
    """Solve one step's closure for the surface logit (safeguarded Newton).

    Writes u, Δφ, i_F, i_total, I, w, V − Φ into ``out`` and returns (ok, evaluations).
    """
    tol = con[C_TOL]
    lo, hi = -745.0, 745.0
    lo_set, hi_set = False, False
    width_1, width_2 = math.inf, math.inf
    u_good = math.nan
    n_eval = 0
    for _ in range(_MAX_IT):
        n_eval += 1
        r, dr, phi_n, dphi, iF, itot, I, w_n, h, good, noise = _evaluate(
            u, p, g, dl_coef, dl_const, site_hist, w, V_app, pb, con, ocp_x, ocp_y, k_x, k_y)
        if not good:
            # (an overflow far from the root): back toward the last finite point
            if math.isnan(u_good):
                return False, n_eval
            u = 0.5 * (u + u_good)
            continue
        u_good = u
        w = w_n
        out[0], out[1], out[2], out[3], out[4], out[5], out[6] = u, phi_n, iF, itot, I, w, h
        # converged: below the tolerance or, where that is finer, the round-off of r
        if abs(r) < max(tol, 4.0 * noise):
            return True, n_eval
        # r falls with u (more Na at the surface: lower potential, more cathodic): keep
        # the bracket of the sign change
        if r > 0.0:
            lo, lo_set = u, True
        else:
            hi, hi_set = u, True
        width = hi - lo
        if width < 1e-12 * (1.0 + abs(u)):
            return abs(r) < max(1e3 * tol, 64.0 * noise), n_eval
        # Newton, damped as in the implicit engine (logit <= 6, Δφ <= 0.25 V); bisection
        # when it leaves the bracket or when the bracket stops halving (Newton cycling
        # across a kink of a tabulated OCP)
        stalled = lo_set and hi_set and width > 0.5 * width_2
        width_2, width_1 = width_1, width
        u_new = 0.5 * (lo + hi)
        if dr < 0.0 and not stalled:
            du = -r / dr
            du *= min(1.0, _MAX_DU / abs(du), _MAX_DPHI / max(abs(dphi * du), 1e-300))
            if lo < u + du < hi:
                u_new = u + du
        u = u_new
    return False, n_eval


@jit
def sweep_kernel(lam, beta, wsurf, a, par, con, ocp_x, ocp_y, k_x, k_y, u0, phi0, theta0,
                 iF0, x0, out_t, out_V, out_I, out_x, fin):
    """Advance every member through one sweep; rows and final values written in place.

    Steps adapt per member: a geometric start from ``P_H0`` that resolves the transient
    of the stores after a start or reversal (time constant ``P_TAU``: doubling while the
    step is below τ/64, then growing by ``P_GROW`` per step until 8τ or ``P_HMAX``), then
    a local-error control of the current: the step's I against the quadratic extrapolation
    of the last three (Milne's estimate of the BDF2 error, 0.2·|I − I_pred|) is kept
    below ``C_RTOL`` of the running peak |I|; a step above 4× that is redone shorter.
    ``a`` (B, N): modal amplitudes, advanced in place; ``out_*`` (P, B): the rows (t since
    the sweep start, V, I [A/kg], mean x); ``fin`` (B, 10): Δφ, θ, i_F, Φ, I, V, charge
    passed [C/kg], status (0 solved, 1 a step failed, 2 out of rows), residual evaluations
    and rows written.
    """
    B, N = lam.shape
    P = out_t.shape[0]
    Es = np.empty(N)
    h1s = np.empty(N)
    h2s = np.empty(N)
    # after the start ramp the error control picks steps from the levels h_max·2^(-k/4),
    # whose ETD coefficients are computed once per member
    E_lev = np.empty((_N_LEVELS, N))
    h1_lev = np.empty((_N_LEVELS, N))
    h2_lev = np.empty((_N_LEVELS, N))
    have = np.zeros(_N_LEVELS, dtype=np.bool_)
    base = np.empty(N)
    site_hist = np.zeros(5)
    sol = np.zeros(7)
    for b in range(B):
        pb = par[b]
        dur = pb[P_DUR]
        h_max = pb[P_HMAX]
        # the error control refines to 1/32 of the largest step at most (a kink of a
        # tabulated OCP would otherwise pull it down without end)
        h_min = h_max / 32.0
        have[:] = False
        lev = -1
        u, u_prev, u_prev2 = u0[b], u0[b], u0[b]
        phi = phi0[b]
        phi_older = phi
        th = theta0[b]
        w = math.log(max(th, 1e-300)) - math.log1p(-min(th, 1.0 - 1e-16))
        w = min(max(w, -745.0), 745.0)
        w_older = w
        N_old = -iF0[b] / F
        iF_old = iF0[b]
        x = x0[b]
        t = 0.0
        dt_set = -1.0
        dt_prev = 0.0
        dt_prev2 = 0.0
        I_prev, I_prev2, I_prev3 = 0.0, 0.0, 0.0
        # running peak: at least the double-layer current of the sweep
        i_peak = abs(pb[P_CDL] * pb[P_AREA] * pb[P_RATE])
        charge = 0.0
        status = 0
        n_eval = 0
        n = 0
        ramp = True
        dt = pb[P_H0]
        itot, I, hV, iF = 0.0, 0.0, 0.0, iF_old
        phi_n, w_n = phi, w
        while t < dur:
            remaining = dur - t
            last = dt >= remaining * (1.0 - 1e-9)
            if last:
                dt, lev = remaining, -1
            elif dt > 0.5 * remaining:
                dt, lev = 0.5 * remaining, -1   # no sliver of a last step
            if lev >= 0:
                if not have[lev]:
                    _etd(lam[b], beta[b], dt, E_lev[lev], h1_lev[lev], h2_lev[lev])
                    have[lev] = True
                E, h1, h2 = E_lev[lev], h1_lev[lev], h2_lev[lev]
            else:
                if dt != dt_set:
                    _etd(lam[b], beta[b], dt, Es, h1s, h2s)
                    dt_set = dt
                E, h1, h2 = Es, h1s, h2s
            ln_dt = math.log(dt)
            # c_s = p + g·N_new: free relaxation plus the old node of the linear flux
            p = 0.0
            g = pb[P_EXT]
            for k in range(N):
                base[k] = E[k] * a[b, k] + (h1[k] - h2[k]) * N_old
                p += wsurf[b, k] * base[k]
                g += wsurf[b, k] * h2[k]
            t_new = dur if last else t + dt
            V_app = pb[P_V0] + pb[P_RATE] * t_new
            # stores (double layer, sites): BDF2 on the variable grid (second order,
            # L-stable) after the first step of the sweep, backward Euler on the first
            # (and for the sites where the BDF2 history term is not positive)
            k0, k1, k2 = 1.0, 1.0, 0.0
            if n > 0:
                om = dt / dt_prev
                k0, k1, k2 = (1.0 + 2.0 * om) / (1.0 + om), 1.0 + om, om * om / (1.0 + om)
            C = pb[P_CDL]
            dl_coef = C / dt * k0
            dl_const = -C / dt * (k1 * phi - k2 * phi_older)
            if pb[P_GAMMA] > 0.0:
                th1, th1c = _expit(w), _expit(-w)
                th2, th2c = _expit(w_older), _expit(-w_older)
                lo_h = k1 * th1 - k2 * th2
                up_h = k1 * th1c - k2 * th2c
                if not (lo_h > 0.0 and up_h > 0.0):
                    k0, k1, k2 = 1.0, 1.0, 0.0
                    lo_h, up_h = th1, th1c
                GF = pb[P_GAMMA] * F / dt
                site_hist[0] = math.log(k0) - ln_dt
                site_hist[1] = math.log(lo_h) - ln_dt
                site_hist[2] = math.log(up_h) - ln_dt
                site_hist[3] = GF * lo_h
                site_hist[4] = GF * k0
            # start from the quadratic extrapolation of the last three steps (linear after
            # the first two): Newton then needs ~1 correction
            if n >= 2:
                t1 = -dt_prev
                t2 = -dt_prev - dt_prev2
                # Lagrange through (0, u), (t1, u_prev), (t2, u_prev2) at τ = dt
                guess = ((dt - t1) * (dt - t2) / (t1 * t2) * u
                         + dt * (dt - t2) / (t1 * (t1 - t2)) * u_prev
                         + dt * (dt - t1) / (t2 * (t2 - t1)) * u_prev2)
            elif n == 1:
                guess = u + (u - u_prev) * (dt / dt_prev)
            else:
                guess = u
            ok, ne = _newton_step(min(max(guess, -740.0), 740.0), p, g, dl_coef, dl_const,
                                  site_hist, w, V_app, pb, con, ocp_x, ocp_y, k_x, k_y, sol)
            n_eval += ne
            if not ok:
                # as the implicit engine: retry a quarter of the step
                if dt < 1e-9 * h_max:
                    status = 1
                    break
                dt, lev = 0.25 * dt, -1
                continue
            u_n, phi_n, iF, itot, I, w_n, hV = (sol[0], sol[1], sol[2], sol[3], sol[4],
                                                sol[5], sol[6])
            # local error of the current, after the start ramp (which resolves the R·C_dl
            # transient by construction; at rest the error estimate is round-off)
            fac = 2.0
            if ramp and dt >= pb[P_TAU] / 64.0:
                fac = pb[P_GROW]
            if not ramp and n >= 3:
                s1 = -dt_prev
                s2 = -dt_prev - dt_prev2
                I_pred = ((dt - s1) * (dt - s2) / (s1 * s2) * I_prev
                          + dt * (dt - s2) / (s1 * (s1 - s2)) * I_prev2
                          + dt * (dt - s1) / (s2 * (s2 - s1)) * I_prev3)
                tol_I = con[C_RTOL] * max(i_peak, abs(I))
                err = 0.2 * abs(I - I_pred)
                if err > 4.0 * tol_I and dt > h_min:
                    lev = _level(dt * max(0.2, 0.9 * (tol_I / err) ** (1.0 / 3.0)), h_max)
                    dt = h_max * 2.0 ** (-lev / 4.0)
                    continue
                fac = min(fac, max(0.2, 0.9 * (tol_I / max(err, 1e-300)) ** (1.0 / 3.0)))
            # accept the step: modal state, stores, charge and the output row
            if n >= P:
                status = 2
                break
            N_new = -iF / F
            for k in range(N):
                a[b, k] = base[k] + h2[k] * N_new
            th_new = _expit(w_n) if pb[P_GAMMA] > 0.0 else th
            area = pb[P_AREA]
            charge += area * (0.5 * dt * (iF_old + iF) + pb[P_CDL] * (phi_n - phi)
                              + pb[P_GAMMA] * F * (th - th_new))
            x += pb[P_AR] * dt * 0.5 * (N_old + N_new) / pb[P_NA_TOTAL]
            phi_older, phi = phi, phi_n
            th = th_new
            w_older, w = w, w_n
            u_prev2, u_prev, u = u_prev, u, u_n
            I_prev3, I_prev2, I_prev = I_prev2, I_prev, I
            N_old = N_new
            iF_old = iF
            dt_prev2, dt_prev = dt_prev, dt
            t = t_new
            i_peak = max(i_peak, abs(I))
            out_t[n, b] = t
            out_V[n, b] = phi + pb[P_RE] * itot + hV
            out_I[n, b] = I
            out_x[n, b] = x
            n += 1
            if ramp and (dt * pb[P_GROW] >= h_max or t > 8.0 * pb[P_TAU]):
                ramp = False
            if ramp:
                dt, lev = min(dt * fac, h_max), -1
            else:
                lev = _level(dt * fac, h_max)
                dt = h_max * 2.0 ** (-lev / 4.0)
        fin[b, 0] = phi
        fin[b, 1] = th
        fin[b, 2] = iF_old
        fin[b, 3] = phi + pb[P_RE] * itot
        fin[b, 4] = I
        fin[b, 5] = phi + pb[P_RE] * itot + hV
        fin[b, 6] = charge
        fin[b, 7] = status
        fin[b, 8] = n_eval
        fin[b, 9] = n
