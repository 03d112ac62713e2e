"""The marching engine: everything the exact and modal-sweep engines do not cover.

D(c), size distributions, shell OCPs, surface-redox sites under current control, holds and
the sweeps the modal engine does not take: the coupled interface system in variable-step
BDF2 (backward Euler on a segment's first step), diffusion in the modal basis for constant
D or by the tridiagonal operator with D(c) at the extrapolated new state; the interface
unknowns (surface logit per class, interfacial potential, site coverage, electrode
potential, and the current under voltage control) by a damped Newton method with block
elimination, batched over parameter sets. Steps adapt to a local-error estimate; events
(cut-offs) are located by re-stepping, so the final state is an exact state of the scheme.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.special import expit

from nasurf.constants import FARADAY_C_PER_MOL as F
from nasurf.constants import GAS_CONSTANT_J_PER_MOL_K as R_GAS
from nasurf.sim import state as rules
from nasurf.sim.engine_march_math import asinh_exp as _asinh_exp
from nasurf.sim.engine_march_math import phi1 as _phi1
from nasurf.sim.engine_march_math import thomas as _thomas
from nasurf.sim.model import Model
from nasurf.sim.physics import THETA_MAX, butler_volmer, log_exchange_current, softplus
from nasurf.sim.state import Segment, State, Trace, logit_surface, sei_after_step, surface_limit


@dataclass
class _Diffusion:
    """Affine map of one step: c_s = p + g·N_new, and how to finish the step."""

    p: np.ndarray
    g: np.ndarray
    finish: object


def _diffusion_step(model: Model, c: np.ndarray, dt: np.ndarray,
                    bdf2: np.ndarray | None = None, c_coef: np.ndarray | None = None
                    ) -> _Diffusion:
    """Diffusion over one step as an affine map of the new surface flux N.

    ``c`` is the state the step starts from (the BDF2 history combination where ``bdf2``
    is set for a member, with ``dt`` its effective step). Linear particles use the modal
    basis: exact exponential integration for a constant flux (first steps), or the BDF2
    rational form (I − dt·Λ)⁻¹ (second order with the history); D(c) takes backward Euler
    on the tridiagonal operator with D (and a shell-OCP interface) evaluated at ``c_coef``:
    the old state on a first step, the extrapolated new state with the history, which keeps
    BDF2 second order.
    """
    if model.linear:
        a = model.to_modal(c)
        lam = model.eig
        z = lam * dt[:, None, None]
        beta = model.modal_forcing()
        w = model.modal_surface_weights()
        D_last = model.cell_diffusivity(c)[..., -1]
        ext = model.surface_distance / D_last
        E = np.exp(z)
        h1 = _phi1(z) * dt[:, None, None] * beta
        if bdf2 is not None and np.any(bdf2):
            rat = 1.0 / (1.0 - z)
            sel = bdf2[:, None, None]
            E = np.where(sel, rat, E)
            h1 = np.where(sel, rat * dt[:, None, None] * beta, h1)
        base = E * a
        hN = h1
        p = np.sum(base * w, axis=-1)
        g = np.sum(hN * w, axis=-1) + ext

        def finish(N_new: np.ndarray) -> np.ndarray:
            return model.from_modal(base + hN * N_new[..., None])

        return _Diffusion(p, g, finish)
    # Backward Euler on the tridiagonal operator with D lagged at the old state.
    # (a shell with its own OCP adds the equal-chemical-potential interface: see
    # Model.implicit_operator)
    c_coef = c if c_coef is None else c_coef
    D = model.cell_diffusivity(c_coef)
    lower, diag, upper, src = model.implicit_operator(c_coef, dt)
    W = model.volumes / dt[:, None, None]
    rhs = np.zeros((*c.shape, 2))
    rhs[..., 0] = W * c + src
    rhs[..., -1, 1] = model.face_area[..., -1]
    sol = _thomas(lower, diag, upper, rhs)
    y, zz = sol[..., 0], sol[..., 1]
    ext = model.surface_distance / D[..., -1]
    p = y[..., -1]
    g = zz[..., -1] + ext

    def finish_be(N_new: np.ndarray) -> np.ndarray:
        return y + zz * N_new[..., None]

    return _Diffusion(p, g, finish_be)


@dataclass
class _Step:
    """Outcome of one implicit step for the batch."""

    state: State
    converged: np.ndarray
    u: np.ndarray   # logit of the surface stoichiometry (B,K), for the next initial guess
    w: np.ndarray   # logit of the site coverage (B,K)


def _site_block(w, w_old, phi, f, lnk_s, a_s, g_s, E0_s, ln_dt, ln_th_old, ln_1mth_old,
                has_sites, GF, th_old):
    """Frumkin site residual (log form of backward Euler), its derivatives and current.

    θ(1/dt + kA + kB) = θ_old/dt + kB, A = e^{αfη'}, B = e^{−(1−α)fη'}, written as
    ln θ + ln S − ln N (or the complementary form in 1 − θ when θ > ½) so that coverages
    down to 1e-300 keep full relative precision; the site current is ΓF(θ_old − θ)/dt.
    """
    th = expit(w)
    th1 = th * expit(-w)
    etas = phi - E0_s + g_s / f * (th - 0.5)
    a_ = lnk_s + a_s * f * etas
    b_ = lnk_s - (1 - a_s) * f * etas
    lnS = np.logaddexp(np.logaddexp(-ln_dt, a_), b_)
    dlnS = f * (a_s * np.exp(a_ - lnS) - (1 - a_s) * np.exp(b_ - lnS))
    upper = w > 0
    lnN = np.where(upper, np.logaddexp(ln_1mth_old - ln_dt, a_),
                   np.logaddexp(ln_th_old - ln_dt, b_))
    dlnN = np.where(upper, a_s * f * np.exp(a_ - lnN), -(1 - a_s) * f * np.exp(b_ - lnN))
    r2s = np.where(upper, -softplus(w), -softplus(-w)) + lnS - lnN
    dr2_eta = dlnS - dlnN
    dr2_w = np.where(upper, -th, 1 - th) + dr2_eta * g_s / f * th1
    r2 = np.where(has_sites, r2s, w - w_old)
    d2_phi = np.where(has_sites, dr2_eta, 0.0)
    d2_w = np.where(has_sites, dr2_w, 1.0)
    ipc = np.where(has_sites, GF * (th_old - th), 0.0)
    dpc_w = np.where(has_sites, -GF * th1, 0.0)
    return r2, d2_phi, d2_w, ipc, dpc_w


def _bdf2_history(model: Model, st: State, dt: np.ndarray, prev: tuple[State, np.ndarray] | None
                  ) -> tuple[State, np.ndarray, np.ndarray, np.ndarray]:
    """History state, effective step, BDF2 mask and predicted c of a variable-step BDF2 step.

    With ω = dt/dt_prev, BDF2 reads x_new − x_hist = (dt/a)·f(x_new) with
    a = (1 + 2ω)/(1 + ω) and x_hist = [(1 + ω)·x_n − ω²/(1 + ω)·x_{n−1}]/a: a backward-
    Euler step from x_hist with step dt/a. Every store (host sodium, double layer, site
    coverage, SEI budget) and the passed charge take the same combination, so charge stays
    conserved to round-off (b − c = a). A member without a previous step, with ω beyond the
    zero-stability limit 1 + √2, right after its SEI budget ran out, or whose history
    would leave the physical range (c < 0, θ outside (0, 1): an extrapolation near a wall)
    takes a backward-Euler step (ω = 0).
    """
    if prev is None:
        return st, dt, np.zeros(model.B, dtype=bool), st.c
    st_p, dt_p = prev
    om = dt / np.maximum(dt_p, 1e-300)
    # the SEI share of the current switches off when its budget is used up (a step ends
    # exactly there): the history must not extrapolate across that kink
    sei_ended = (st_p.sei_left > 0) & (st.sei_left <= 1e-9 * np.maximum(st_p.sei_left, 1.0))
    om = np.where((om < 2.4) & ~sei_ended, om, 0.0)

    def combine(om_: np.ndarray) -> tuple[State, np.ndarray]:
        a = (1.0 + 2.0 * om_) / (1.0 + om_)
        b = (1.0 + om_) / a
        c = om_ ** 2 / (1.0 + om_) / a
        hist = {}
        for name in ("c", "phi", "theta", "sei_left", "charge"):
            x, xp = getattr(st, name), getattr(st_p, name)
            shape = (-1,) + (1,) * (np.ndim(x) - 1)
            hist[name] = b.reshape(shape) * x - c.reshape(shape) * xp
        return replace(st, **hist), a

    hist, a = combine(om)
    bad = np.any(hist.c < 0, axis=(1, 2)) | np.any((hist.theta <= 0) | (hist.theta >= 1), axis=1)
    if np.any(bad):
        om = np.where(bad, 0.0, om)
        hist, a = combine(om)
    # D(c) at the new time, to second order: linear extrapolation of the last two states
    c_pred = st.c + om[:, None, None] * (st.c - st_p.c)
    c_pred = np.clip(c_pred, 0.0, model.c_max)
    return hist, dt / a, om > 0, c_pred


def _implicit_step(model: Model, st: State, dt: np.ndarray, seg: Segment, tau_end: np.ndarray,
                   I_side_frac: np.ndarray, u0: np.ndarray, w0: np.ndarray,
                   guess: tuple[np.ndarray, ...] | None = None,
                   prev: tuple[State, np.ndarray] | None = None) -> _Step:
    """One step of the coupled interface system by Newton's method.

    Second order in time: variable-step BDF2 with the previous accepted state ``prev``
    (state, its step length), backward Euler on a segment's first step (see
    :func:`_bdf2_history`). Diffusion is an affine map of the new surface flux (modal for
    constant D, tridiagonal for D(c)), so the host receives exactly A_R·N_new·dt_eff over
    its history; sites change by ΓF·Δθ and the double layer by C_dl·Δφ; the current
    balance ties them to I·dt_eff, hence charge is conserved to round-off. Unknowns per
    size class are u = logit(c_s/c_lim), Δφ and w = logit(θ), plus Φ (and I under voltage
    control), so that surface concentrations and coverages spanning tens of decades stay
    well scaled; the Butler-Volmer and Frumkin residuals are written in overflow-free log
    form.
    """
    B = model.B
    voltage = seg.kind == "voltage"
    t_end = st.t + dt
    st, dt, bdf2, c_pred = _bdf2_history(model, st, dt, prev)
    diff = _diffusion_step(model, st.c, dt, bdf2, None if model.linear else c_pred)
    cm = model.c_max
    cl = surface_limit(model)
    ocp = model.surface_ocp
    # U = E0 − n·(RT/F)·logit(c_s/c_lim) holds when the sites run out at c_max or before
    # (x_max ≤ 1); with x_max > 1 the formula is evaluated in x = c/c_max (Model.ocp)
    lattice = ocp.kind == "lattice_gas" and ocp.x_max <= 1.0
    nf = ocp.slope_factor * R_GAS * ocp.temperature / F if lattice else 0.0
    f = model.f[:, None]
    al = model.alpha[:, None]
    half = bool(np.all(model.alpha == 0.5))
    ln_pre = (np.log(model.j0_scale * F * model.ce_factor ** model.alpha)
              + model.j0_log_offset)[:, None]
    ec = model.j0_exp_c[:, None]
    ea = model.j0_exp_a[:, None]
    cv = model.j0_vacancy_limit
    area = model.area_per_kg * st.active[:, None]
    dtc = dt[:, None]
    Cdl = model.C_dl[:, None] / dtc
    GF = (model.Gamma * F)[:, None] / dtc
    has_sites = (model.Gamma > 0)[:, None]
    Re = model.R_e
    phi_old = st.phi
    th_old = st.theta
    ln_th_old = np.log(np.maximum(th_old, 1e-300))
    ln_1mth_old = np.log1p(-np.minimum(th_old, 1.0))
    ln_dt = np.log(dtc)
    ks = np.maximum(model.k_site, 1e-300)[:, None]
    lnk_s = np.log(ks)
    a_s = model.alpha_site[:, None]
    g_s = model.g_site[:, None]
    E0_s = model.E0_site[:, None]
    w_old = w0
    if guess is not None:
        u, w, phi, Phi, Ig_guess = (np.array(g, dtype=float, copy=True) for g in guess)
    else:
        u, w, phi, Phi, Ig_guess = u0.copy(), w0.copy(), st.phi.copy(), st.Phi.copy(), st.I
    Ig = np.array(Ig_guess, dtype=float) if voltage \
        else np.broadcast_to(seg.current, (B,)).astype(float)
    if voltage:
        V_app = seg.v_start + seg.sweep_rate * tau_end
        if guess is None:
            h0, _ = model.cell_overpotential(Ig)
            shift = (V_app - h0) - Phi
            Phi = Phi + shift
            phi = phi + shift[:, None]
    # current scale for the convergence test: |I| or a thousandth of the 1C current
    I_scale = np.abs(Ig) + 1e-3 * model.params.capacity_basis_value / 3600.0
    i_ref = (I_scale / np.sum(area, axis=1))[:, None]   # the same scale per m² of surface
    any_sites = bool(np.any(has_sites))
    converged = lost = np.zeros(B, dtype=bool)
    size_prev = np.zeros(B)      # the last undamped update relative to the stop (0: none)
    ctl = seg.control
    table_k = model.k0_table
    ln_k0 = np.log(np.maximum(model.k0, 1e-300))[:, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        for _it in range(rules.NEWTON_ITERATIONS):
            # --- host surface: c_s, faradaic current from the diffusion map, OCP, j0
            s_pos = expit(u)
            s_neg = 1.0 - s_pos
            cs = cl * s_pos
            dcs_du = cs * s_neg
            iF = F * (diff.p - cs) / diff.g
            diF_du = -F / diff.g * dcs_du
            if lattice:
                U = ocp.E0 - nf * u
                dU_du = -nf
            else:
                U, dU_dc = model.ocp(cs)
                dU_du = dU_dc * dcs_du
            # j0 = pre·c_s^ec·(cv − c_s)^ea (the exchange-current law: Model/_j0_law)
            if cv == cl:
                ln_cmc = np.log(cl) - softplus(u)
                dln_cmc = -s_pos
            else:
                ln_cmc = np.log(cv - cs)
                dln_cmc = -dcs_du / (cv - cs)
            ln_j0 = log_exchange_current(ln_pre, u, np.log(cl), ln_cmc, ec, ea)
            dlnj0_du = ec * s_neg + ea * dln_cmc
            if table_k is not None:
                xk = cs if table_k.x_kind == "concentration" else cs / cm
                dxk = 1.0 if table_k.x_kind == "concentration" else 1.0 / cm
                kk = np.maximum(table_k(xk) * model.k0[:, None], 1e-300)
                ln_j0 = ln_j0 + np.log(kk)
                dlnj0_du = dlnj0_du + table_k.derivative(xk) * dxk * model.k0[:, None] / kk \
                    * dcs_du
            else:
                ln_j0 = ln_j0 + ln_k0
            # --- Butler-Volmer: asinh(iF/2j0) = asinh(G(η)/2), G = e^{αfη} − e^{−(1−α)fη}
            eta = phi - U
            if half:
                # j0 >= e^-700 here (u is bounded by the OCP window): no overflow in q
                q = 0.5 * iF * np.exp(-ln_j0)
                rq = 1.0 / np.sqrt(1.0 + q * q)
                A1 = np.arcsinh(q)
                dA1_diF = 0.5 * np.exp(-ln_j0) * rq
                dA1_dlnj0 = -q * rq
                A2 = 0.5 * f * eta
                dA2 = 0.5 * f
            else:
                L1 = np.log(np.abs(iF)) - ln_j0 - np.log(2.0)
                sg1 = np.sign(iF)
                A1, dA1 = _asinh_exp(L1)
                A1 = sg1 * A1
                dA1_diF = np.exp(-np.log(2.0) - ln_j0 - 0.5 * softplus(2.0 * L1))
                dA1_dlnj0 = -sg1 * dA1
                fe = f * eta
                lnG = np.where(fe > 0, al * fe, -(1 - al) * fe) + np.log1p(-np.exp(-np.abs(fe)))
                A2, _d = _asinh_exp(lnG - np.log(2.0))
                A2 = np.sign(fe) * A2
                lnGp = np.log(f) + np.logaddexp(np.log(al) + al * fe,
                                                np.log(1 - al) - (1 - al) * fe)
                dA2 = np.exp(lnGp - 0.5 * np.logaddexp(np.log(4.0), 2.0 * lnG))
            # A (nearly) blocked host: where even j0·(e^{α_a fη} + e^{−α_c fη}) is below
            # 1e-8 of the current scale, i_F = F(p − c_s)/g is pure round-off (p ≈ c_s) and
            # the log form would turn that noise into volts of η (Newton stalls or runs
            # away). There the same Butler-Volmer root is sought in current form,
            # (i_F − i_BV(η))/i_ref, which is well conditioned and cannot overflow.
            i_bv, di_bv, i_oneway = butler_volmer(eta, np.exp(ln_j0), al, f)
            blocked = i_oneway < 1e-8 * i_ref
            if np.any(blocked):
                A1 = np.where(blocked, iF / i_ref, A1)
                dA1_diF = np.where(blocked, 1.0 / i_ref, dA1_diF)
                dA1_dlnj0 = np.where(blocked, -i_bv / i_ref, dA1_dlnj0)
                A2 = np.where(blocked, i_bv / i_ref, A2)
                dA2 = np.where(blocked, di_bv / i_ref, dA2)
            r1 = A1 - A2
            d1_u = dA1_diF * diF_du + dA1_dlnj0 * dlnj0_du + dA2 * dU_du
            # (d r1 / d Δφ = −dA2)
            # --- surface-redox sites (Frumkin), backward Euler in log form
            if any_sites:
                r2, d2_phi, d2_w, ipc, dpc_w = _site_block(
                    w, w_old, phi, f, lnk_s, a_s, g_s, E0_s, ln_dt, ln_th_old, ln_1mth_old,
                    has_sites, GF, th_old)
            # --- particle film resistance and current balance
            itot = iF + Cdl * (phi - phi_old)
            if any_sites:
                itot = itot + ipc
            r3 = phi - Phi[:, None] + Re * itot
            r4 = np.sum(area * itot, axis=1) + (I_side_frac - 1.0) * Ig
            # Newton update by block elimination (the Jacobian is bordered: per class,
            # (u, w) couple to Δφ only; Δφ couples to Φ; Φ and I close the balance):
            # no dense solve, exact for any number of size classes.
            Q_u = dA2 / d1_u
            P_u = -r1 / d1_u
            P_i = diF_du * P_u
            Q_i = diF_du * Q_u + Cdl
            if any_sites:
                Q_w = -d2_phi / d2_w
                P_w = -r2 / d2_w
                P_i = P_i + dpc_w * P_w
                Q_i = Q_i + dpc_w * Q_w
            Q_phi = 1.0 / (1.0 + Re * Q_i)
            P_phi = -(r3 + Re * P_i) * Q_phi
            aQ = area * Q_i
            S0 = r4 + np.sum(area * P_i + aQ * P_phi, axis=1)
            S1 = np.sum(aQ * Q_phi, axis=1)
            if voltage:
                h, dh = model.cell_overpotential(Ig)
                r5 = Phi + h - V_app
                dI = (S0 - S1 * r5) / (S1 * dh - (I_side_frac - 1.0))
                dPhi = -r5 - dh * dI
            else:
                dPhi = -S0 / S1
            dphi = P_phi + Q_phi * dPhi[:, None]
            du = P_u + Q_u * dphi
            amax_u = np.abs(du).max(axis=1)
            amax_phi = np.abs(dphi).max(axis=1)
            big = np.maximum(np.maximum(amax_phi, np.abs(dPhi)) * 4.0, amax_u / 6.0)
            if any_sites:
                dw = P_w + Q_w * dphi
                amax_w = np.abs(dw).max(axis=1)
                big = np.maximum(big, amax_w / 6.0)
            # damping: potentials by at most 0.25 V, logits by at most 6 per iteration
            scale = 1.0 / np.maximum(big, 1.0)
            # the BV residual is logarithmic in iF where |iF| >> j0: a full Newton step
            # from above would overshoot through zero, so iF may shrink at most 10-fold
            shrink = np.where(iF != 0, 1.0 + diF_du * du / np.where(iF != 0, iF, 1.0), 1.0)
            log_regime = ((np.abs(q) > 10.0) if half else (np.log(10.0) < L1)) & ~blocked
            cap = np.where(log_regime & (shrink < 0.1), 0.9 / (1.0 - shrink), 1.0)
            scale = np.minimum(scale, np.nanmin(cap, axis=1))
            big = np.maximum(big, 1.0 / scale)
            u = u + du * scale[:, None]
            phi = phi + dphi * scale[:, None]
            Phi = Phi + dPhi * scale
            # Newton converges quadratically: after an update of 1e-5 the error is ~1e-10;
            # the charge balance is closed exactly below, whatever the Newton tolerance
            if any_sites:
                w = np.clip(w + dw * scale[:, None], -745.0, 745.0)
            u_size, dw_max = np.abs(u).max(axis=1), amax_w if any_sites else 0.0
            small = rules.newton_converged(amax_u, u_size, amax_phi, dPhi, dw_max,
                                           ctl.newton_tolerance) & (big <= 1.0)
            if ctl.newton_settle > 0:
                size = rules.newton_update_size(amax_u, u_size, amax_phi, dPhi, dw_max,
                                                ctl.newton_tolerance)
                small |= (big <= 1.0) & rules.newton_settled(size, size_prev, ctl.newton_settle)
                size_prev = np.where(big <= 1.0, size, 0.0)
            if voltage:
                Ig = Ig + dI * scale
                small &= np.abs(dI) < 1e-6 * I_scale
            lost = lost | (rules.newton_out_of_reach(amax_phi, dPhi, _it) & (not voltage))
            converged = small & ~lost
            if np.all(converged | lost):
                break
        # Close the balance exactly at the accepted unknowns: the faradaic current takes
        # the (Newton-tolerance sized) remainder, so Σ a·(iF + i_pc + i_dl) = I − I_SEI
        # to round-off; c_s then follows from the diffusion map.
        cs = cl * expit(u)
        iF = F * (diff.p - cs) / diff.g
        th = expit(w) if any_sites else st.theta
        stores = Cdl * (phi - phi_old)
        if any_sites:
            stores = stores + np.where(has_sites, GF * (th_old - th), 0.0)
        if voltage:
            # I is whatever the stores took (it is an unknown under voltage control)
            Ig = np.sum(area * (iF + stores), axis=1) / (1.0 - I_side_frac)
        else:
            rem = (1.0 - I_side_frac) * Ig - np.sum(area * (iF + stores), axis=1)
            iF = iF + (rem / np.sum(area, axis=1))[:, None]
    N_new = -iF / F
    c_new = diff.finish(N_new)
    h, _ = model.cell_overpotential(Ig)
    theta_new = np.where(has_sites, np.minimum(th, THETA_MAX), st.theta)
    finite = np.isfinite(phi).all(axis=1) & np.isfinite(Phi) & np.isfinite(Ig) \
        & np.isfinite(c_new).all(axis=(1, 2)) & np.isfinite(u).all(axis=1)
    converged = converged & finite
    new = State(t=t_end, c=c_new, phi=phi, theta=theta_new, Phi=Phi, I=Ig,
                iF=iF, V=Phi + h, active=st.active.copy(),
                sei_left=sei_after_step(st.sei_left - np.abs(I_side_frac * Ig) * dt,
                                        st.sei_left),
                charge=st.charge + Ig * dt)
    return _Step(new, converged, u, w)


def logit_theta(theta: np.ndarray) -> np.ndarray:
    """log(θ/(1−θ)) clipped to ±745; a full site layer (θ = 1) gives the clip, not a warning."""
    th = np.clip(theta, 1e-300, 1.0)
    with np.errstate(divide="ignore"):
        return np.clip(np.log(th) - np.log1p(-np.minimum(th, 1 - 1e-17)), -745.0, 745.0)


#: concentration floor of a segment's start state, in units of c_max (see lift_emptied)
C_FLOOR = 1e-12
#: |Δφ − U(c_s)| (V) beyond which a surface below the floor is round-off residue
ETA_RESIDUE = 0.1


def lift_emptied(model: Model, st: State) -> State:
    """The start state of a march segment, surfaces emptied to round-off lifted to the floor.

    A surface emptied at a cut-off ends at c ~ ±1e-14 mol m⁻³ (round-off): the logit
    unknowns need c > 0, so a negative c anywhere lifts every cell to ≥ C_FLOOR·c_max
    (as always). A positive residue is as meaningless and as harmful: from u =
    logit(c_s/c_lim) ≈ −48 with Δφ still at the 3 V cut-off (η ≈ 2 V), the first Newton
    solve of the next (sodiation) segment heads through the blocked regime for the
    Δφ-equilibrium u ≈ −175, moving ~1.7 per iteration, and cannot converge at any step
    length: the segment "ended at once" with no charge. Whether an emptied surface ends
    just below or just above zero is a round-off coin toss, so such a member (a surface
    below the floor, |Δφ − U(c_s)| > ETA_RESIDUE) is lifted too. A tiny surface value in
    equilibrium with Δφ (a state equilibrated at a high voltage: c ~ 1e-58) is exact
    and kept. Both marches call this, so they start every segment from the same state.
    The lifted amount is ~1e-12 of the capacity.
    """
    floor = C_FLOOR * model.c_max
    if np.any(st.c < 0):
        return replace(st, c=np.maximum(st.c, floor))
    cs = st.c[..., -1]
    low = cs < floor
    if not np.any(low):
        return st
    U = model.ocp_value(np.where(low, cs, 0.5 * model.c_max))
    residue = np.any(low & (np.abs(st.phi - U) > ETA_RESIDUE), axis=1)
    if not np.any(residue):
        return st
    return replace(st, c=np.where(residue[:, None, None], np.maximum(st.c, floor), st.c))


def _sei_fraction(model: Model, st: State, seg: Segment) -> np.ndarray:
    if seg.kind == "voltage" or not seg.sei:
        return np.zeros(model.B)
    Iseg = np.broadcast_to(np.asarray(seg.current, dtype=float), (model.B,))
    return np.where((st.sei_left > 0) & (Iseg < 0), model.sei_fraction, 0.0)


def run_march(model: Model, st: State, seg: Segment, trace: Trace) -> State:
    """Adaptive backward-Euler march with local error control and cut-off events.

    The step size follows a local-error estimate (the distance between the implicit
    solution and the linear extrapolation of the two previous steps) of the controlled
    output, V under current control and I under voltage control, and a cap on the potential
    change per step (output resolution). Backward Euler is L-stable, so the fast
    double-layer/film transient (R_e·C_dl is microseconds) never limits the step once it
    has decayed. A cut-off crossed inside a step is located by re-stepping from the start
    of the step with a secant/bisection search on the step length.
    """
    B = model.B
    duration = np.broadcast_to(np.asarray(seg.duration if seg.duration is not None
                                          else np.inf, dtype=float), (B,)).astype(float)
    voltage = seg.kind == "voltage"
    if voltage:
        rate = np.broadcast_to(np.asarray(seg.sweep_rate, dtype=float), (B,))
        sweep = np.abs(rate) > 0
        char = np.where(np.isfinite(duration), duration, 3600.0)
        dt_max = np.where(sweep, seg.sweep_step / np.where(sweep, np.abs(rate), 1.0), char / 50)
        dt_max = np.minimum(dt_max, char / 20)
        dt = np.minimum(1e-4 * char, 0.05 * dt_max)
        Iseg = None
    else:
        Iseg = np.broadcast_to(np.asarray(seg.current, dtype=float), (B,))
        t_cap = np.where(Iseg != 0, model.params.capacity_basis_value
                         / np.maximum(np.abs(Iseg), 1e-300), np.inf)
        char = np.minimum(duration, t_cap)
        char = np.where(np.isfinite(char), char, 3600.0)
        dt = seg.control.first_step * char
        dt_max = char / seg.control.min_steps
    tau = np.zeros(B)
    done = np.zeros(B, dtype=bool)
    st = lift_emptied(model, st)
    q_start = st.charge
    u = logit_surface(model, st)
    w = logit_theta(st.theta)
    y_prev = None
    x_prev: tuple[np.ndarray, ...] | None = None
    dt_prev = np.ones(B)
    y_hist = st.V.copy() if not voltage else st.I.copy()
    i_peak = np.abs(st.I) + (model.C_dl * model.area_per_kg[:, 0] * np.abs(
        seg.sweep_rate if voltage else 0.0))
    rejects = 0
    n_steps = 0
    st_before: State | None = None   # the state before the last accepted step (BDF2)
    started = np.zeros(B, dtype=bool)   # a step of the segment accepted
    while not np.all(done):
        n_steps += 1
        if n_steps > 50_000:  # a safeguard against an unforeseen stall, never hit in tests
            break
        dt = np.minimum(dt, np.maximum(duration - tau, 0.0))
        sei_frac = _sei_fraction(model, st, seg)
        if Iseg is not None and np.any(sei_frac > 0):
            # end a step exactly where the SEI budget runs out: the SEI share of the
            # current switches off there (a step across it would be first-order wrong)
            t_sei = st.sei_left / np.maximum(sei_frac * np.abs(Iseg), 1e-300)
            dt = np.where(sei_frac > 0, np.minimum(dt, np.maximum(t_sei, 1e-9 * char)), dt)
        dt = np.where(done, 1.0, np.maximum(dt, 1e-12 * char))
        guess = None
        if x_prev is not None:
            # linear extrapolation of the unknowns: Newton then needs ~2 iterations
            q = (dt / dt_prev)
            cur = (u, w, st.phi, st.Phi, st.I)
            guess = tuple(c + (c - p_) * q.reshape((-1,) + (1,) * (np.ndim(c) - 1))
                          for c, p_ in zip(cur, x_prev, strict=True))
        prev = None if st_before is None else (st_before, dt_prev)
        step = _implicit_step(model, st, dt, seg, tau + dt, sei_frac, u, w, guess, prev)
        new, ok = step.state, step.converged
        bad = ~ok & ~done
        if np.any(bad):
            first = rules.FIRST_STEP if voltage else seg.control.first_step
            dt = np.where(bad, dt * rules.failed_step_cut(started, first), dt)
            stuck = bad & (dt < 1e-11 * char)
            if np.any(stuck):
                # No solution even for a vanishing step: the host cannot take the current
                # (a wall). End these members here. Under current control the voltage
                # passes the cut-off on the wall within this vanishing step, so the last
                # row reports the cut-off, as the exact engine and an instrument do.
                if Iseg is not None:
                    cut = np.where(Iseg < 0, seg.v_lower, seg.v_upper)
                    at_wall = stuck & np.isfinite(cut) & (Iseg != 0)
                    if np.any(at_wall):
                        st = replace(st, V=np.where(at_wall, cut, st.V))
                        trace.add(model, st, at_wall, seg.index)
                done |= stuck
            continue
        # local error of the controlled output
        y_new = new.V if not voltage else new.I
        if voltage:
            i_peak = np.maximum(i_peak, np.abs(new.I))
            tol = 2e-3 * i_peak + 1e-12
        else:
            tol = seg.control.voltage_tolerance(
                st.V, np.where(Iseg < 0, seg.v_lower, seg.v_upper), Iseg != 0)
        if y_prev is None:
            err = np.zeros(B)
        else:
            pred = y_hist + (y_hist - y_prev) * dt / dt_prev
            err = np.abs(y_new - pred) * dt / (dt + dt_prev)
        ratio = err / tol
        dV = np.abs(new.V - st.V)
        dV_lim = seg.voltage_step if not voltage else np.inf
        reject = ~done & ((ratio > 6.0) | (dV > 2.0 * dV_lim)) & (dt > 1e-6 * char)
        if np.any(reject) and rejects < 12:
            rejects += 1
            shrink = np.minimum(0.9 / np.sqrt(np.maximum(ratio, 1e-12)),
                                0.9 * dV_lim / np.maximum(dV, 1e-300))
            dt = np.where(reject, dt * np.clip(shrink, 0.1, 0.5), dt)
            continue
        rejects = 0
        ended = np.zeros(B, dtype=bool)
        if not voltage:
            crossed = ~done & (((seg.v_lower > new.V) & (Iseg <= 0))
                               | ((seg.v_upper < new.V) & (Iseg >= 0)))
            if np.any(crossed):
                target = np.where(Iseg < 0, seg.v_lower, seg.v_upper)
                s_tol = rules.locate_step_tolerance(
                    seg.control.locate_charge_tolerance, st.charge - q_start,
                    model.params.capacity_basis_value, np.abs(Iseg) * dt)
                new, u_ev, w_ev = _locate_event(model, st, step, seg, dt, tau, crossed,
                                                target, sei_frac, u, w, prev, s_tol, ~started)
                step = _Step(new, ok, np.where(crossed[:, None], u_ev, step.u),
                             np.where(crossed[:, None], w_ev, step.w))
                ended = crossed
        elif seg.i_limit > 0:
            ended = ~done & (np.abs(new.I) < seg.i_limit)
        started |= ~done
        st_prev = st
        x_prev = (u, w, st.phi, st.Phi, st.I)
        st_before = st
        st = st.select(~done, new)
        u = np.where(done[:, None], u, step.u)
        w = np.where(done[:, None], w, step.w)
        dt_taken = np.where(ended, new.t - st_prev.t, dt)
        tau = np.where(done, tau, tau + dt_taken)
        y_prev = np.where(done, y_hist if y_prev is None else y_prev, y_hist)
        y_hist = np.where(done, y_hist, st.V if not voltage else st.I)
        dt_prev = np.where(done, dt_prev, np.maximum(dt_taken, 1e-300))
        trace.add(model, st, ~done, seg.index)
        done = done | ended | (tau >= duration * (1 - 1e-12))
        # growth at most 2x: BDF2 is zero-stable for step ratios below 1 + √2
        grow = np.clip(0.9 / np.sqrt(np.maximum(ratio, 1e-12)), 0.3, 2.0)
        cap = dt_max
        if np.isfinite(dV_lim):
            grow = np.minimum(grow, np.maximum(0.9 * dV_lim / np.maximum(dV, 1e-300), 0.3))
            if seg.control.cap_reach > 0:
                cut = np.where(Iseg < 0, seg.v_lower, seg.v_upper)
                near = (Iseg != 0) & np.isfinite(cut)
                cap = rules.step_cap(dt_max, np.where(near, seg.control.cap_reach, 0.0),
                                     np.abs(st.V - np.where(near, cut, 0.0)), dV, dt, char)
        dt = np.clip(dt * grow, 1e-9 * char, cap)
    return st


def _locate_event(model: Model, st: State, step: _Step, seg: Segment, dt: np.ndarray,
                  tau: np.ndarray, crossed: np.ndarray, target: np.ndarray,
                  sei_frac: np.ndarray, u0: np.ndarray, w0: np.ndarray,
                  prev: tuple[State, np.ndarray] | None, s_tol: np.ndarray, first: np.ndarray
                  ) -> tuple[State, np.ndarray, np.ndarray]:
    """Re-step from ``st`` with a shorter step so that V lands on the cut-off.

    Illinois (regula falsi) on the step fraction s in (0, 1]; a trial whose Newton solve
    fails counts as beyond the cut-off (the host cannot take the current that long). The
    result is an exact state of the scheme with V within 1e-6 V of the cut-off, or the
    inside end of a bracket narrower than 1e-10 of the step; by charge (the control's
    ``locate_charge_tolerance``) also the inside end of a bracket narrower than ``s_tol``
    (:func:`nasurf.sim.state.locate_step_tolerance`). ``first``: a member's first step.
    """
    B = model.B
    sgn = np.where(np.broadcast_to(np.asarray(seg.current, dtype=float), (B,)) < 0, -1.0, 1.0)
    s_lo = np.zeros(B)
    s_hi = np.ones(B)
    g_lo = sgn * (st.V - target)          # < 0 inside
    g_hi = sgn * (step.state.V - target)  # > 0 beyond
    best, bu, bw = st, u0.copy(), w0.copy()
    have = np.zeros(B, dtype=bool)
    side = np.zeros(B)
    by_charge = seg.control.locate_charge_tolerance > 0
    # by charge, a member settled is left alone (as in the compiled march, member by member)
    upd = crossed & (s_tol < 1.0)
    for it in range(60):
        if by_charge and not np.any(upd):
            break
        width = s_hi - s_lo
        sec = s_lo - g_lo * width / np.where(g_hi - g_lo != 0, g_hi - g_lo, 1.0)
        s = np.where(np.isfinite(g_hi) & (g_hi > g_lo), sec, 0.5 * (s_lo + s_hi))
        s = np.clip(s, s_lo + 0.01 * width, s_hi - 0.01 * width)
        guess = None
        if by_charge:
            # Newton from the line start → full step's solution; on a first step V jumps as
            # the current switches on (the start's V misleads the secant): first the charge
            # tolerance (settled, or V there), from the full step's solution (past the jump)
            probe = first & (it == 0)
            s = np.where(probe, np.maximum(s_tol, 0.01), s)
            fr = np.where(probe, 1.0, s)
            f2, new = fr[:, None], step.state
            guess = (u0 + f2 * (step.u - u0), w0 + f2 * (step.w - w0),
                     st.phi + f2 * (new.phi - st.phi), st.Phi + fr * (new.Phi - st.Phi), new.I)
        dts = np.where(upd, dt * s, dt)
        trial = _implicit_step(model, st, dts, seg, tau + dts, sei_frac, u0, w0, guess, prev)
        g = np.where(trial.converged, sgn * (trial.state.V - target), np.inf)
        inside = g < 0
        g_hi, g_lo = (np.where(upd & inside & (side == 1), 0.5 * g_hi, g_hi),
                      np.where(upd & ~inside & (side == -1), 0.5 * g_lo, g_lo))
        s_lo = np.where(upd & inside, s, s_lo)
        g_lo = np.where(upd & inside, g, g_lo)
        s_hi = np.where(upd & ~inside, s, s_hi)
        g_hi = np.where(upd & ~inside, np.where(np.isfinite(g), g, g_hi), g_hi)
        side = np.where(upd, np.where(inside, 1, -1), side)
        take = upd & inside
        best = best.select(take, trial.state)
        bu, bw = np.where(take[:, None], trial.u, bu), np.where(take[:, None], trial.w, bw)
        have |= take
        settled = (inside & (np.abs(g) < 1e-6)) | ((s_hi - s_lo) < 1e-10) | (s_hi - s_lo <= s_tol)
        if by_charge:
            upd = upd & ~settled
            if not np.any(upd):
                break
        elif np.all(~crossed | settled):
            break
    # members whose bracket never produced an inside state end at the step start
    best = best.select(crossed & ~have, st)
    # report the cut-off itself when V is within 1 mV of it or the bracket has closed (a
    # voltage wall, or no inside state at all: V passes the cut-off within 1e-9 of the step,
    # at its start for a member that cannot take the current, as the exact engine says)
    at_cut = (np.abs(best.V - target) < 1e-3) | (s_hi - s_lo < 1e-9) | (s_hi - s_lo <= s_tol)
    best.V = np.where(crossed & at_cut, target, best.V)
    return best, bu, bw


_run_march = run_march
