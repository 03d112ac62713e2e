"""Compiled (numba) implicit march of galvanostatic and rest segments.

Owns :func:`march_current`, called by :func:`nasurf.sim.compiled_march.run_compiled_march`.
It is the implicit engine of :mod:`nasurf.sim.solver` (``_run_march``/``_implicit_step``/
``_locate_event``) restricted to current control, written member by member in compiled
code instead of vectorised numpy: the same scheme step for step, so the two agree to the
Newton tolerance (tests/test_sim_compiled_march.py):

* time: variable-step BDF2 on every store (host Na, double layer, site coverage, SEI
  budget, passed charge), backward Euler on a segment's first step, at step ratios beyond
  2.4, right after the SEI budget ran out and where the history would leave the physical
  range; local-error control of V (2 mV against the linear extrapolation), 0.1 V cap per
  step (the control may scale it), growth ≤ 2×, cut-offs located by Illinois regula
  falsi on the step length;
* space: finite volumes with harmonic-mean face diffusivities evaluated at the
  extrapolated new state (D(c) tables: linearly implicit, second order with BDF2), one
  tridiagonal (Thomas) solve with two right-hand sides per class and step, so the cost is
  linear in the mesh cells and in the size classes (a constant D takes the same
  tridiagonal path: (W − dt·K)⁻¹W is the modal march's rational form (I − dtΛ)⁻¹);
* interface: per class u = logit(c_s/c_lim), Δφ, w = logit(θ), plus the common electrode
  potential Φ; Newton by block elimination of the bordered Jacobian (size classes couple
  only through the total current), damped as in the numpy engine, then the current
  balance closed exactly, so host + sites + double layer + SEI = ∫I dt to round-off.

Scalar physics (OCP, exchange current, Butler–Volmer with α = ½, Frumkin sites) is the
numpy engine's, transcribed; :mod:`nasurf.sim.compiled_march` decides which models this
kernel covers (α = ½, no shell OCP) and falls back to the numpy march otherwise.
"""

from __future__ import annotations

import math

import numpy as np

from nasurf.sim.compiled import jit_ieee as jit
from nasurf.sim.compiled import jit_ieee_borrowed as borrowed
from nasurf.sim.compiled import table_near
from nasurf.sim.march_helpers import (  # noqa: F401 (T_*: the table kinds callers use)
    T_CONCENTRATION,
    T_NONE,
    T_STOICHIOMETRY,
    _copy_slot,
    _cutoff_tolerance,
    _expit,
    _face_conductances,
    _failed_step_cut,
    _illinois_update,
    _load_member,
    _locate_step_tolerance,
    _logaddexp,
    _logit_parts,
    _modal_projections,
    _modal_state,
    _modal_surface,
    _newton_converged,
    _newton_out_of_reach,
    _newton_settled,
    _newton_update_size,
    _secant_trial,
    _sei_after_step,
    _step_cap,
    _stoichiometry,
    _store_member,
    _tab,
    _tab_near,
    _tridiagonal_solve,
    _tridiagonal_state,
)
from nasurf.sim.parameters import F
from nasurf.sim.physics import THETA_MAX
from nasurf.sim.state import NEWTON_ITERATIONS

#: layout of the shared constants ``con``
(C_CMAX, C_CLIM, C_CVAC, C_OCP_MODE, C_E0, C_NRT_F, C_XMAX, C_K_KIND, C_DC_KIND,
 C_DS_KIND, C_BASIS, C_VLO, C_VHI, C_DVMAX, C_SEI_ON, C_LINEAR, C_VTOL, C_DTDIV,
 C_VNEAR, C_VFLOOR, C_LOGCL, C_NEWTON_TOL, C_LOCATE_TOL, C_FIRST, C_REACH,
 C_ROWS_X, C_SETTLE) = range(27)
N_CON = 27
#: OCP modes: lattice gas with x_max ≤ 1 (in u), table, lattice gas evaluated in x
OCP_LATTICE_U, OCP_TABLE, OCP_LATTICE_X = 0, 1, 2
#: per-member parameters ``par`` (B, N_PAR)
(P_LNPRE, P_EC, P_EA, P_K0, P_F, P_CDL, P_GAMMA, P_E0S, P_GS, P_KS, P_AS, P_DCS, P_DSS,
 P_SEIF, P_I, P_DUR, P_H, P_LNKS, P_LNK0, P_ASUM, P_IREF, P_LNBLK) = range(22)
#: from P_LNKS on: a member's constants of the segment (march_current fills them)
N_PAR = 22
#: per-state scalars (slot, N_SC)
S_PHI_E, S_V, S_SEI, S_Q, S_T = range(5)
N_SC = 5
#: per-class state (slot, K, N_VK)
V_PHI, V_TH, V_IF, V_U, V_W = range(5)
N_VK = 5
#: per-member counters ``stats`` (B, N_STAT): accepted, rejected (local error or 0.1 V
#: cap) and failed steps (Newton: cut 4-fold), Newton iterations, cut-off re-steps
STAT_ACCEPTED, STAT_REJECTED, STAT_FAILED, STAT_NEWTON, STAT_LOCATE = range(5)
N_STAT = 5
#: slots of the state bundle
ST, BEFORE, NEW, BEST, TRIAL = range(5)
N_SLOT = 5


@borrowed
def _step(b, dt_in, has_prev, dt_prev, sei_frac, use_guess, gu, gw, gphi, gPhi,
          cS, vS, sS, st, bf, dst, con, par, vol, dm, dp, Af, AR, sdist, in_shell, area, Re,
          ocp_x, ocp_y, k_x, k_y, dc_x, dc_y, ds_x, ds_y, wk):
    """One implicit step from slot ``st`` (history from slot ``bf``) into slot ``dst``.

    The numpy engine's ``_bdf2_history`` + ``_diffusion_step`` (tridiagonal) +
    ``_implicit_step`` for current control and α = ½; returns whether Newton converged
    and the result is finite. ``wk`` is scratch (K, N, 8) + per-class scratch; its modal
    scratch ``wk[9]`` is (K, 2, N), contiguous over the modes (the projections vectorise).
    """
    K, N = cS.shape[1], cS.shape[2]
    cm = con[C_CMAX]
    cl = con[C_CLIM]
    cv = con[C_CVAC]
    ocp_mode = int(con[C_OCP_MODE])
    Ig = par[b, P_I]
    f = par[b, P_F]
    # --- BDF2 history (variable step) or backward Euler
    om = 0.0
    hist_c = wk[0]        # (K, N) history concentration
    if has_prev:
        om = dt_in / max(dt_prev, 1e-300)
        sp = sS[bf, S_SEI]
        sei_ended = sp > 0.0 and sS[st, S_SEI] <= 1e-9 * max(sp, 1.0)
        if not (om < 2.4) or sei_ended:
            om = 0.0
        if om > 0.0:
            a = (1.0 + 2.0 * om) / (1.0 + om)
            bb = (1.0 + om) / a
            cc = om * om / (1.0 + om) / a
            bad = False
            for k in range(K):
                th = bb * vS[st, k, V_TH] - cc * vS[bf, k, V_TH]
                if th <= 0.0 or th >= 1.0:
                    bad = True
                for n in range(N):
                    h = bb * cS[st, k, n] - cc * cS[bf, k, n]
                    hist_c[k, n] = h    # the BDF2 history, unless it is bad
                    if h < 0.0:
                        bad = True
            if bad:
                om = 0.0
    a = (1.0 + 2.0 * om) / (1.0 + om)
    bb = (1.0 + om) / a
    cc = om * om / (1.0 + om) / a
    dt = dt_in / a
    work = wk[1]          # (K, N, 6): -, -, upper, y, z, c_pred
    kv = wk[2]            # (K, 18) per-class scalars
    scr = wk[3]           # (K, 8) Newton scratch (bound once: no reference counting per use)
    dck = int(con[C_DC_KIND])
    dsk = int(con[C_DS_KIND])
    const_D = dck == 0 and dsk == 0
    for k in range(K):
        for n in range(N):
            x = cS[st, k, n]
            if om == 0.0:
                hist_c[k, n] = x
            if not const_D:
                # the predicted state (the D(c) tables' argument)
                cp = x + om * (x - cS[bf, k, n]) if om > 0.0 else x
                work[k, n, 5] = min(max(cp, 0.0), cm)
    phi_old = kv[:, 0]
    th_old = kv[:, 1]
    for k in range(K):
        if om > 0.0:
            phi_old[k] = bb * vS[st, k, V_PHI] - cc * vS[bf, k, V_PHI]
            th_old[k] = bb * vS[st, k, V_TH] - cc * vS[bf, k, V_TH]
        else:
            phi_old[k] = vS[st, k, V_PHI]
            th_old[k] = vS[st, k, V_TH]
    if om > 0.0:
        sei_hist = bb * sS[st, S_SEI] - cc * sS[bf, S_SEI]
        q_hist = bb * sS[st, S_Q] - cc * sS[bf, S_Q]
    else:
        sei_hist = sS[st, S_SEI]
        q_hist = sS[st, S_Q]
    # --- diffusion: c_new = y + z·N (N inward molar flux), c_s = p + g·N
    p_ = kv[:, 2]
    g_ = kv[:, 3]
    Gc = wk[10]
    # a modal step (below) replaces the tridiagonal one: not solved then
    modal_first = con[C_LINEAR] > 0.0 and om == 0.0
    for k in range(K if not modal_first else 0):
        # D in each cell at the predicted state, face conductances, Thomas with 2 rhs
        if const_D:
            # constant D: the member's face conductances, computed once per segment
            # (march_current) by this same expression
            D_last = par[b, P_DSS] if in_shell[N - 1] else par[b, P_DCS]
        else:
            # neighbouring cells mostly share a table segment: each lookup starts from the
            # previous cell's
            i_c = -1
            i_s = -1
            for n in range(N):
                cpn = work[k, n, 5]
                D = 1.0
                if in_shell[n]:
                    if dsk > 0:
                        D, _s, i_s = _tab_near(dsk, ds_x, ds_y, cpn, cm, i_s)
                    D = par[b, P_DSS] * D
                else:
                    if dck > 0:
                        D, _s, i_c = _tab_near(dck, dc_x, dc_y, cpn, cm, i_c)
                    D = par[b, P_DCS] * D
                work[k, n, 4] = D     # D of the cell (overwritten by z below)
            D_last = work[k, N - 1, 4]
        _tridiagonal_solve(b, k, dt, const_D, Gc, work, hist_c, vol, dm, dp, Af, AR)
        p_[k] = work[k, N - 1, 3]
        g_[k] = work[k, N - 1, 4] + sdist[b, k] / D_last
    if modal_first:
        # a backward-Euler-flagged step of a linear particle: the numpy march integrates
        # it exactly in the modal basis (constant flux over the step); so does this one,
        # so both engines take the same steps (O(N²), only on such steps)
        lam, beta, wsf, mw = wk[5], wk[7], wk[8], wk[9]
        for k in range(K):
            D_last = par[b, P_DSS] if in_shell[N - 1] else par[b, P_DCS]
            _modal_projections(b, k, wk[11], hist_c, mw)
            p_[k], g_[k] = _modal_surface(b, k, dt, lam, beta, wsf, mw, sdist[b, k] / D_last)
    # --- Newton on (u, Δφ, w) per class and Φ
    u = kv[:, 4]
    w = kv[:, 5]
    phi = kv[:, 6]
    for k in range(K):
        if use_guess:
            u[k] = gu[k]
            w[k] = gw[k]
            phi[k] = gphi[k]
        else:
            u[k] = vS[st, k, V_U]
            w[k] = vS[st, k, V_W]
            phi[k] = phi_old[k]
    Phi = gPhi if use_guess else sS[st, S_PHI_E]
    w_old = kv[:, 7]
    for k in range(K):
        w_old[k] = vS[st, k, V_W]
    has_sites = par[b, P_GAMMA] > 0.0
    # ln(1 − θ_old), ln θ_old (w's sign picks one): fixed over the solve, so once per step
    ln_1mth, ln_th = kv[:, 16], kv[:, 17]
    if has_sites:
        for k in range(K):
            tho = th_old[k]
            ln_1mth[k] = math.log1p(-min(tho, 1.0)) if tho < 1.0 else -math.inf
            ln_th[k] = math.log(max(tho, 1e-300))
    Cdl = par[b, P_CDL] / dt
    GF = par[b, P_GAMMA] * F / dt
    ln_dt = math.log(dt)
    lnk_s = par[b, P_LNKS]
    a_s = par[b, P_AS]
    g_s = par[b, P_GS]
    E0_s = par[b, P_E0S]
    ln_pre = par[b, P_LNPRE]
    ec = par[b, P_EC]
    ea = par[b, P_EA]
    k0 = par[b, P_K0]
    ln_k0 = par[b, P_LNK0]
    kkind = int(con[C_K_KIND])
    E0 = con[C_E0]
    nf = con[C_NRT_F]
    xm = con[C_XMAX]
    area_sum = par[b, P_ASUM]
    i_ref = par[b, P_IREF]
    ln_blocked = par[b, P_LNBLK]
    P_u = kv[:, 8]
    Q_u = kv[:, 9]
    P_w = kv[:, 10]
    Q_w = kv[:, 11]
    P_phi = kv[:, 12]
    Q_phi = kv[:, 13]
    cap = kv[:, 14]
    converged = False
    settle = con[C_SETTLE]
    size_prev = 0.0       # the last undamped update relative to the stop (0: none)
    log_cl = con[C_LOGCL]
    for _it in range(NEWTON_ITERATIONS):
        S0 = (sei_frac - 1.0) * Ig
        S1 = 0.0
        for k in range(K):
            s_pos, _s, sp_u, sp_mu = _logit_parts(u[k])
            s_neg = 1.0 - s_pos
            cs = cl * s_pos
            dcs_du = cs * s_neg
            iF = F * (p_[k] - cs) / g_[k]
            diF_du = -F / g_[k] * dcs_du
            if ocp_mode == OCP_LATTICE_U:
                U = E0 - nf * u[k]
                dU_du = -nf
            elif ocp_mode == OCP_TABLE:
                # the segment of the last iteration (or step) first: c_s moves little
                Uv, sl, i_ocp = table_near(ocp_x, ocp_y, cs / cm, int(scr[k, 7]))
                scr[k, 7] = i_ocp
                U = Uv
                dU_du = sl / cm * dcs_du
            else:
                x = cs / cm
                xc = min(max(x, 1e-290 * xm), xm * (1.0 - 1e-15))
                U = E0 + nf * math.log((xm - xc) / xc)
                dU_du = -nf * (1.0 / (xm - xc) + 1.0 / xc) / cm * dcs_du
            if cv == cl:
                ln_cmc = log_cl - sp_u
                dln_cmc = -s_pos
            else:
                ln_cmc = math.log(cv - cs)
                dln_cmc = -dcs_du / (cv - cs)
            ln_j0 = ln_pre + ec * (log_cl - sp_mu) + ea * ln_cmc
            dlnj0_du = ec * s_neg + ea * dln_cmc
            if kkind > 0:
                kv_, ks_ = _tab(kkind, k_x, k_y, cs, cm)
                kk = max(kv_ * k0, 1e-300)
                ln_j0 += math.log(kk)
                dlnj0_du += ks_ * k0 / kk * dcs_du
            else:
                ln_j0 += ln_k0
            eta = phi[k] - U
            ej = math.exp(-ln_j0)
            q = 0.5 * iF * ej
            rq = 1.0 / math.sqrt(1.0 + q * q)
            A1 = math.asinh(q)
            dA1_diF = 0.5 * ej * rq
            dA1_dlnj0 = -q * rq
            A2 = 0.5 * f * eta
            dA2 = 0.5 * f
            fe_c = min(max(f * eta, -700.0), 700.0)
            # j0·(e^{fη/2} + e^{−fη/2}) ≥ e^{ln j0 + |fη|/2}: far above the blocked limit
            # (the usual case) the three exponentials are not needed; near it, as before
            blocked = False
            if ln_j0 + 0.5 * abs(fe_c) <= ln_blocked + 1e-6:
                j0v = math.exp(ln_j0)
                e_an = math.exp(0.5 * fe_c)
                e_ca = math.exp(-0.5 * fe_c)
                blocked = j0v * (e_an + e_ca) < 1e-8 * i_ref
            if blocked:
                i_bv = j0v * (e_an - e_ca)
                A1 = iF / i_ref
                dA1_diF = 1.0 / i_ref
                dA1_dlnj0 = -i_bv / i_ref
                A2 = i_bv / i_ref
                dA2 = j0v * f * (0.5 * e_an + 0.5 * e_ca) / i_ref
            r1 = A1 - A2
            d1_u = dA1_diF * diF_du + dA1_dlnj0 * dlnj0_du + dA2 * dU_du
            ipc = 0.0
            dpc_w = 0.0
            r2 = w[k] - w_old[k]
            d2_phi = 0.0
            d2_w = 1.0
            if has_sites:
                th, th_neg, sp_w, sp_mw = _logit_parts(w[k])
                th1 = th * th_neg
                etas = phi[k] - E0_s + g_s / f * (th - 0.5)
                a_ = lnk_s + a_s * f * etas
                b_ = lnk_s - (1.0 - a_s) * f * etas
                lnS = _logaddexp(_logaddexp(-ln_dt, a_), b_)
                dlnS = f * (a_s * math.exp(a_ - lnS) - (1.0 - a_s) * math.exp(b_ - lnS))
                tho = th_old[k]
                if w[k] > 0.0:
                    lnN = _logaddexp(ln_1mth[k] - ln_dt, a_)
                    dlnN = a_s * f * math.exp(a_ - lnN)
                    r2 = -sp_w + lnS - lnN
                    dr2_w0 = -th
                else:
                    lnN = _logaddexp(ln_th[k] - ln_dt, b_)
                    dlnN = -(1.0 - a_s) * f * math.exp(b_ - lnN)
                    r2 = -sp_mw + lnS - lnN
                    dr2_w0 = 1.0 - th
                dr2_eta = dlnS - dlnN
                d2_phi = dr2_eta
                d2_w = dr2_w0 + dr2_eta * g_s / f * th1
                ipc = GF * (tho - th)
                dpc_w = -GF * th1
            itot = iF + Cdl * (phi[k] - phi_old[k]) + ipc
            r3 = phi[k] - Phi + Re[b, k] * itot
            S0 += area[b, k] * itot
            Qu = dA2 / d1_u
            Pu = -r1 / d1_u
            Pi = diF_du * Pu
            Qi = diF_du * Qu + Cdl
            Qw = -d2_phi / d2_w
            Pw = -r2 / d2_w
            Pi += dpc_w * Pw
            Qi += dpc_w * Qw
            Qphi = 1.0 / (1.0 + Re[b, k] * Qi)
            Pphi = -(r3 + Re[b, k] * Pi) * Qphi
            S0 += area[b, k] * Pi + area[b, k] * Qi * Pphi
            S1 += area[b, k] * Qi * Qphi
            P_u[k] = Pu
            Q_u[k] = Qu
            P_w[k] = Pw
            Q_w[k] = Qw
            P_phi[k] = Pphi
            Q_phi[k] = Qphi
            # iF may shrink at most 10-fold where the BV residual is logarithmic in it
            cap[k] = 1.0
            scr[k, 0] = iF
            scr[k, 1] = diF_du
            scr[k, 2] = 1.0 if (abs(q) > 10.0 and not blocked) else 0.0
        dPhi = -S0 / S1
        amax_u = 0.0
        amax_phi = 0.0
        amax_w = 0.0
        umax = 0.0
        scale_cap = 1.0
        for k in range(K):
            dphi = P_phi[k] + Q_phi[k] * dPhi
            du = P_u[k] + Q_u[k] * dphi
            dw = P_w[k] + Q_w[k] * dphi
            scr[k, 3] = dphi
            scr[k, 4] = du
            scr[k, 5] = dw
            amax_u = max(amax_u, abs(du))
            amax_phi = max(amax_phi, abs(dphi))
            amax_w = max(amax_w, abs(dw))
            umax = max(umax, abs(u[k]))
            iFk = scr[k, 0]
            shrink = 1.0 + scr[k, 1] * du / iFk if iFk != 0.0 else 1.0
            if scr[k, 2] > 0.0 and shrink < 0.1:
                scale_cap = min(scale_cap, 0.9 / (1.0 - shrink))
        big = max(max(amax_phi, abs(dPhi)) * 4.0, amax_u / 6.0)
        if has_sites:
            big = max(big, amax_w / 6.0)
        scale = 1.0 / max(big, 1.0)
        scale = min(scale, scale_cap)
        big = max(big, 1.0 / scale)
        for k in range(K):
            u[k] += scr[k, 4] * scale
            phi[k] += scr[k, 3] * scale
            if has_sites:
                w[k] = min(max(w[k] + scr[k, 5] * scale, -745.0), 745.0)
        Phi += dPhi * scale
        converged = _newton_converged(amax_u, umax, amax_phi, dPhi,
                                      amax_w if has_sites else 0.0,
                                      con[C_NEWTON_TOL]) and big <= 1.0
        if settle > 0.0:
            size = _newton_update_size(amax_u, umax, amax_phi, dPhi,
                                       amax_w if has_sites else 0.0, con[C_NEWTON_TOL])
            converged = converged or (big <= 1.0 and _newton_settled(size, size_prev, settle))
            size_prev = size if big <= 1.0 else 0.0
        if converged or _newton_out_of_reach(amax_phi, dPhi, _it):
            break
    kv[0, 15] = _it + 1.0     # Newton iterations of this solve (the caller counts them)
    # close the current balance exactly (the faradaic current takes the remainder)
    side = sei_frac
    rem = (1.0 - side) * Ig
    ok = math.isfinite(Phi)
    for k in range(K):
        cs = cl * _expit(u[k])
        iF = F * (p_[k] - cs) / g_[k]
        th = _expit(w[k]) if has_sites else th_old[k]
        stores = par[b, P_CDL] / dt * (phi[k] - phi_old[k])
        if has_sites:
            stores += GF * (th_old[k] - th)
        scr[k, 0] = iF
        scr[k, 6] = min(th, THETA_MAX)
        rem -= area[b, k] * (iF + stores)
        ok = ok and math.isfinite(phi[k]) and math.isfinite(u[k])
    for k in range(K):
        iF = scr[k, 0] + rem / area_sum
        N_new = -iF / F
        if modal_first:
            ok = _modal_state(b, k, wk[4], wk[6], wk[9], N_new, cS, dst) and ok
        else:
            ok = _tridiagonal_state(b, k, N_new, work, cS, dst) and ok
        vS[dst, k, V_PHI] = phi[k]
        vS[dst, k, V_TH] = scr[k, 6]
        vS[dst, k, V_IF] = iF
        vS[dst, k, V_U] = u[k]
        vS[dst, k, V_W] = w[k]
    sS[dst, S_PHI_E] = Phi
    sS[dst, S_V] = Phi + par[b, P_H]
    sS[dst, S_SEI] = _sei_after_step(sei_hist - abs(side * Ig) * dt, sei_hist)
    sS[dst, S_Q] = q_hist + Ig * dt
    sS[dst, S_T] = sS[st, S_T] + dt_in
    return converged and ok


@jit
def march_current(con, par, vol, dm, dp, Af, AR, sdist, in_shell, area, Re, mfrac,
                  ocp_x, ocp_y, k_x, k_y, dc_x, dc_y, ds_x, ds_y, Um, lam, sqW, beta, wsf, UsW,
                  c0, vk0, sc0, out_t, out_V, out_x, out_n, c_end, vk_end, sc_end, stats):
    """March every member through one current-controlled segment.

    Inputs per member b: ``par`` (kinetics, stores, D scales, SEI share, current, duration,
    cell overpotential h(I)), the geometry (cell volumes, face distances and areas, A_R,
    surface distance), the modal basis of a linear particle (eigenvectors, eigenvalues,
    √W, forcing β, surface weights, U·√W; placeholders otherwise), the start state c0 (B, K, N),
    vk0 (B, K, N_VK: Δφ, θ, i_F, u, w) and sc0 (B, N_SC: Φ, V, SEI left, charge, t).
    Outputs: rows (t, V, x) per accepted step in out_* (rows, B) with their count in
    out_n (−1 when the row buffer was too small), and the end state in c_end, vk_end,
    sc_end, its work in ``stats`` (B, N_STAT; see STAT_*). Each member is independent.
    """
    _, K, N = c0.shape
    cS = np.empty((N_SLOT, K, N))
    # slot numbers as int64 values, not compile-time literals: each distinct literal
    # argument would compile its own specialisation of the callee
    sl = np.arange(N_SLOT)
    vS = np.empty((N_SLOT, K, N_VK))
    sS = np.empty((N_SLOT, N_SC))
    Gc = np.empty((K, N))
    wk = (np.empty((K, N)), np.empty((K, N, 6)), np.empty((K, 18)), np.empty((K, 8)),
          Um, lam, sqW, beta, wsf, np.empty((K, 2, N)), Gc, UsW)
    g6 = np.empty((6, K))     # Newton's start and the last accepted u, w, Δφ
    gu, gw, gphi, xu, xw, xphi = g6[0], g6[1], g6[2], g6[3], g6[4], g6[5]
    for k in range(K):
        wk[3][k, 7] = -1.0    # no OCP table segment looked up yet
    con[C_LOGCL] = math.log(con[C_CLIM])
    for b in range(c0.shape[0]):
        par[b, P_LNKS] = math.log(max(par[b, P_KS], 1e-300))
        par[b, P_LNK0] = math.log(max(par[b, P_K0], 1e-300))
        area_sum = 0.0
        for k in range(K):
            area_sum += area[b, k]
        par[b, P_ASUM] = area_sum
        par[b, P_IREF] = (abs(par[b, P_I]) + 1e-3 * con[C_BASIS] / 3600.0) / area_sum
        par[b, P_LNBLK] = math.log(1e-8 * par[b, P_IREF])
    _march_members(con, par, vol, dm, dp, Af, AR, sdist, in_shell, area, Re, mfrac, ocp_x,
                   ocp_y, k_x, k_y, dc_x, dc_y, ds_x, ds_y, c0, vk0, sc0, out_t, out_V, out_x,
                   out_n, c_end, vk_end, sc_end, stats, cS, sl, vS, sS, Gc, wk, gu, gw, gphi,
                   xu, xw, xphi)


@borrowed
def _march_members(con, par, vol, dm, dp, Af, AR, sdist, in_shell, area, Re, mfrac, ocp_x,
                   ocp_y, k_x, k_y, dc_x, dc_y, ds_x, ds_y, c0, vk0, sc0, out_t, out_V, out_x,
                   out_n, c_end, vk_end, sc_end, stats, cS, sl, vS, sS, Gc, wk, gu, gw, gphi,
                   xu, xw, xphi):
    """:func:`march_current`'s member loop on the scratch it allocated (arrays borrowed)."""
    B, K, _ = c0.shape
    n_rows = out_t.shape[0]
    const_D = int(con[C_DC_KIND]) == 0 and int(con[C_DS_KIND]) == 0
    cm = con[C_CMAX]
    v_lo = con[C_VLO]
    v_hi = con[C_VHI]
    dV_lim = con[C_DVMAX]
    for b in range(B):
        st, new = sl[ST], sl[NEW]
        if const_D:
            _face_conductances(b, par[b, P_DCS], par[b, P_DSS], in_shell, Af, dm, dp, Gc)
        _load_member(b, st, c0, vk0, sc0, cS, vS, sS)
        I = par[b, P_I]
        duration = par[b, P_DUR]
        t_cap = con[C_BASIS] / max(abs(I), 1e-300) if I != 0.0 else math.inf
        char = min(duration, t_cap)
        if not math.isfinite(char):
            char = 3600.0
        dt = con[C_FIRST] * char
        dt_max = char / con[C_DTDIV]
        cut_dir = v_lo if I < 0.0 else v_hi
        near = con[C_VNEAR] if (I != 0.0 and math.isfinite(cut_dir)) else 0.0
        tau = 0.0
        done = False
        has_yprev = False
        has_xprev = False
        has_before = False
        y_prev = 0.0
        dt_prev = 1.0
        y_hist = sS[st, S_V]
        xPhi = 0.0
        rejects = 0
        n_steps = 0
        row = 0
        while not done:
            n_steps += 1
            if n_steps > 50_000:
                break
            dt = min(dt, max(duration - tau, 0.0))
            sei_frac = 0.0
            if con[C_SEI_ON] > 0.0 and sS[st, S_SEI] > 0.0 and I < 0.0:
                sei_frac = par[b, P_SEIF]
            if sei_frac > 0.0:
                t_sei = sS[st, S_SEI] / max(sei_frac * abs(I), 1e-300)
                dt = min(dt, max(t_sei, 1e-9 * char))
            dt = max(dt, 1e-12 * char)
            gPhi = 0.0
            if has_xprev:
                q = dt / dt_prev
                for k in range(K):
                    gu[k] = vS[st, k, V_U] + (vS[st, k, V_U] - xu[k]) * q
                    gw[k] = vS[st, k, V_W] + (vS[st, k, V_W] - xw[k]) * q
                    gphi[k] = vS[st, k, V_PHI] + (vS[st, k, V_PHI] - xphi[k]) * q
                gPhi = sS[st, S_PHI_E] + (sS[st, S_PHI_E] - xPhi) * q
            ok = _step(b, dt, has_before, dt_prev, sei_frac, has_xprev, gu, gw, gphi, gPhi,
                       cS, vS, sS, st, sl[BEFORE], new, con, par, vol, dm, dp, Af, AR, sdist,
                       in_shell, area, Re, ocp_x, ocp_y, k_x, k_y, dc_x, dc_y, ds_x, ds_y, wk)
            stats[b, STAT_NEWTON] += wk[2][0, 15]
            if not ok:
                stats[b, STAT_FAILED] += 1.0
                dt *= _failed_step_cut(has_before, con[C_FIRST])
                if dt < 1e-11 * char:
                    # a wall: no solution even for a vanishing step; the voltage passes the
                    # cut-off within it, so the last row reports the cut-off
                    if I != 0.0:
                        cut = v_lo if I < 0.0 else v_hi
                        if math.isfinite(cut):
                            sS[st, S_V] = cut
                            if row < n_rows:
                                out_t[row, b] = sS[st, S_T]
                                out_V[row, b] = cut
                                if con[C_ROWS_X] > 0.0:   # else left NaN: nobody reads it
                                    out_x[row, b] = _stoichiometry(cS, st, b, vol, mfrac, cm)
                            row += 1
                    done = True
                continue
            V_new = sS[new, S_V]
            err = 0.0
            if has_yprev:
                pred = y_hist + (y_hist - y_prev) * dt / dt_prev
                err = abs(V_new - pred) * dt / (dt + dt_prev)
            tol = con[C_VTOL]
            if near > 0.0:   # heading to a cut-off: the rule of state.cutoff_tolerance
                tol = _cutoff_tolerance(tol, near, con[C_VFLOOR], sS[st, S_V], cut_dir)
            ratio = err / tol
            dV = abs(V_new - sS[st, S_V])
            if ((ratio > 6.0) or (dV > 2.0 * dV_lim)) and dt > 1e-6 * char and rejects < 12:
                rejects += 1
                stats[b, STAT_REJECTED] += 1.0
                shrink = min(0.9 / math.sqrt(max(ratio, 1e-12)),
                             0.9 * dV_lim / max(dV, 1e-300))
                dt *= min(max(shrink, 0.1), 0.5)
                continue
            rejects = 0
            ended = False
            crossed = (v_lo > V_new and I <= 0.0) or (v_hi < V_new and I >= 0.0)
            if crossed:
                target = v_lo if I < 0.0 else v_hi
                s_tol = _locate_step_tolerance(con[C_LOCATE_TOL], sS[st, S_Q] - sc0[b, S_Q],
                                               con[C_BASIS], abs(I) * dt)
                _locate(b, dt, has_before, dt_prev, sei_frac, target, s_tol, cS, vS, sS, con,
                        par, vol, dm, dp, Af, AR, sdist, in_shell, area, Re, ocp_x, ocp_y, k_x,
                        k_y, dc_x, dc_y, ds_x, ds_y, wk, gu, gw, gphi, sl, stats)
                ended = True
            t_old = sS[st, S_T]
            for k in range(K):
                xu[k] = vS[st, k, V_U]
                xw[k] = vS[st, k, V_W]
                xphi[k] = vS[st, k, V_PHI]
            xPhi = sS[st, S_PHI_E]
            # no copies: the roles rotate (ST → BEFORE, accepted NEW/BEST → ST, BEFORE → it)
            role = BEST if ended else NEW
            free = sl[BEFORE]
            sl[BEFORE] = st
            st = sl[ST] = sl[role]
            sl[role] = free
            new = sl[NEW]
            has_before = has_xprev = True
            dt_taken = sS[st, S_T] - t_old if ended else dt
            tau += dt_taken
            y_prev = y_hist
            has_yprev = True
            y_hist = sS[st, S_V]
            dt_prev = max(dt_taken, 1e-300)
            if row < n_rows:
                out_t[row, b] = sS[st, S_T]
                out_V[row, b] = sS[st, S_V]
                if con[C_ROWS_X] > 0.0:
                    out_x[row, b] = _stoichiometry(cS, st, b, vol, mfrac, cm)
            row += 1
            stats[b, STAT_ACCEPTED] += 1.0
            done = ended or tau >= duration * (1.0 - 1e-12)
            grow = min(max(0.9 / math.sqrt(max(ratio, 1e-12)), 0.3), 2.0)
            grow = min(grow, max(0.9 * dV_lim / max(dV, 1e-300), 0.3))
            cap = dt_max if I == 0.0 or math.isinf(cut_dir) else _step_cap(
                dt_max, con[C_REACH], abs(sS[st, S_V] - cut_dir), dV, dt, char)
            dt = min(max(dt * grow, 1e-9 * char), cap)
        out_n[b] = row if row <= n_rows else -1
        _store_member(b, st, cS, vS, sS, c_end, vk_end, sc_end)


@borrowed
def _locate(b, dt, has_before, dt_prev, sei_frac, target, s_tol, cS, vS, sS, con, par, vol,
            dm, dp, Af, AR, sdist, in_shell, area, Re, ocp_x, ocp_y, k_x, k_y, dc_x, dc_y,
            ds_x, ds_y, wk, gu, gw, gphi, sl, stats):
    """Re-step from ST so that V lands on the cut-off; the result goes to slot BEST.

    Illinois regula falsi on the step fraction s in (0, 1] (the numpy ``_locate_event``);
    a trial whose solve fails counts as beyond the cut-off; settled once the bracket is
    narrower than ``s_tol`` (:func:`nasurf.sim.state.locate_step_tolerance`).
    """
    st, new = sl[ST], sl[NEW]
    I = par[b, P_I]
    sgn = -1.0 if I < 0.0 else 1.0
    s_lo = 0.0
    s_hi = 1.0
    g_lo = sgn * (sS[st, S_V] - target)
    g_hi = sgn * (sS[new, S_V] - target)
    side = 0
    # the start until a trial lands inside (a member without one ends at the start)
    _copy_slot(st, sl[BEST], cS, vS, sS)
    for it in range(60 if s_tol < 1.0 else 0):
        s = _secant_trial(s_lo, s_hi, g_lo, g_hi)
        probe = it == 0 and s_tol > 0.0 and not has_before
        if probe:
            # a segment's first step: V jumps as the current switches on, so the start's V
            # misleads the secant; first the charge tolerance (settled, or V there)
            s = max(s_tol, 0.01)
        # by charge, Newton from the line start → full step's solution (a probe: its end)
        fr = 1.0 if probe else s
        for k in range(cS.shape[1]):
            gu[k] = vS[st, k, V_U] + fr * (vS[new, k, V_U] - vS[st, k, V_U])
            gw[k] = vS[st, k, V_W] + fr * (vS[new, k, V_W] - vS[st, k, V_W])
            gphi[k] = vS[st, k, V_PHI] + fr * (vS[new, k, V_PHI] - vS[st, k, V_PHI])
        gP = sS[st, S_PHI_E] + fr * (sS[new, S_PHI_E] - sS[st, S_PHI_E])
        ok = _step(b, dt * s, has_before, dt_prev, sei_frac, s_tol > 0.0, gu, gw, gphi,
                   gP, cS, vS, sS, st, sl[BEFORE], sl[TRIAL], con, par, vol, dm, dp, Af, AR,
                   sdist, in_shell, area, Re, ocp_x, ocp_y, k_x, k_y, dc_x, dc_y, ds_x, ds_y, wk)
        stats[b, STAT_LOCATE] += 1.0
        stats[b, STAT_NEWTON] += wk[2][0, 15]
        g = sgn * (sS[sl[TRIAL], S_V] - target) if ok else math.inf
        inside = g < 0.0
        s_lo, s_hi, g_lo, g_hi, side = _illinois_update(s, g, s_lo, s_hi, g_lo, g_hi, side)
        if inside:
            # the trial becomes the best (swapped, not copied: the next trial overwrites)
            sl[TRIAL], sl[BEST] = sl[BEST], sl[TRIAL]
        if (inside and abs(g) < 1e-6) or (s_hi - s_lo) < 1e-10 or s_hi - s_lo <= s_tol:
            break
    if abs(sS[sl[BEST], S_V] - target) < 1e-3 or s_hi - s_lo < 1e-9 or s_hi - s_lo <= s_tol:
        sS[sl[BEST], S_V] = target
