"""Fast voltage-sweep engine: a whole linear sweep solved at once in the modal basis.

Owns :func:`can_use_modal_sweep` and :func:`run_modal_sweep`, called from
:func:`nasurf.sim.solver.run_segment` for a voltage sweep (V(τ) = v_start + ν·τ) of a model
whose particle is linear: constant D, one size class, no surface-redox sites, no separate
shell OCP, symmetric Butler-Volmer (α = ½). There the particle is a linear system driven by
its surface flux, so the surface concentration at every time point of a uniform grid is an
affine function of the flux history:

    c_s(t_n) = w·e^{λ t_n}·a0 + T_{n0}·N_0 + Σ_{k=1..n} T_{nk}·N_k,

with the flux linear in time between grid points (exponential time differencing, exact
for that flux: ETD2) and T lower-triangular Toeplitz, built once per segment. The only
unknown per time point is the surface logit u = logit(c_s/c_lim) (the faradaic current
follows through T⁻¹); the rest is the implicit engine's physics, point by point:
Butler-Volmer at c_s, the double layer C_dl·dΔφ/dt (backward difference, L-stable, as
in the implicit engine), the particle film resistance R_e, the electrode current balance
and the cell overpotential V − Φ (ASR, Na-metal kinetics,
quasi-steady electrolyte). All time points and batch members are solved together by
Newton's method on this causal (lower-triangular) system, so the cost is a few dozen
array operations per iteration instead of per time step.

The grid has one point per 10 mV (or per ``Segment.sweep_step`` if smaller); Newton is
started from "no faradaic current" and damped causally (see ``_Grid.newton``).

Charge is conserved to round-off: the host takes exactly A_R·∫N dt (the trapezoid of the
piecewise-linear flux is what the modal zero mode integrates), the double layer
C_dl·a·ΔΔφ, and ``State.charge`` is advanced by their sum. When Newton does not converge
the caller falls back to the implicit engine (``run_modal_sweep`` returns None).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.linalg import solve_triangular
from scipy.special import expit

from nasurf.sim.model import Model
from nasurf.sim.parameters import F

#: largest voltage increment per time point (``Segment.sweep_step`` when smaller). At 10 mV
#: the hard-carbon CV trace is within 0.47 % of the peak current of the implicit engine at
#: a 0.25 mV cap (worst point: the sharp desodiation peak at 0.1 mV/s), 0.32 % at 5 mV
#: (tests/test_sim_cv_fast.py); the implicit engine at its defaults is 1.4 % off.
SWEEP_POINT_V = 1e-2
#: Whether ``run_segment(engine="auto")`` picks this engine where it applies (it is the
#: more accurate of the two there); ``engine="march"`` forces the implicit engine, e.g.
#: to compare two runs with the same step errors.
MODAL_SWEEP_IN_AUTO = True
_MAX_POINTS = 1200
_MAX_DENSE = 4_000_000
_MAX_ITER = 40
_MAX_DU = 6.0
_MAX_DPHI = 0.25
_COARSEN = 4
#: the coarse start pays off only where the dense algebra, not the call overhead, dominates
_COARSE_FROM = 200
#: Newton tolerance on the voltage closure at every point (the current error is this over
#: the local dV/dI, far below the discretisation error)
_TOL_V = 1e-7


def can_use_modal_sweep(model: Model, seg) -> bool:
    """True when a voltage segment is a linear sweep of a linear one-class particle."""
    if seg.kind != "voltage" or seg.i_limit > 0 or seg.sweep_rate is None:
        return False
    if not (model.linear and model.K == 1 and model.shell_ocp is None):
        return False
    if np.any(model.Gamma > 0) or not np.all(model.alpha == 0.5):
        return False
    rate = np.broadcast_to(np.asarray(seg.sweep_rate, dtype=float), (model.B,))
    duration = np.broadcast_to(np.asarray(seg.duration if seg.duration is not None
                                          else np.inf, dtype=float), (model.B,))
    if not (np.all(np.abs(rate) > 0) and np.all(np.isfinite(duration))
            and np.all(duration > 0)):
        return False
    if _nearly_blocked(model):
        return False
    n_points = _n_points(rate, duration, seg.sweep_step)
    # the dense triangular algebra holds a few B·M² arrays: keep them to tens of MB
    return n_points <= _MAX_POINTS and model.B * n_points ** 2 <= _MAX_DENSE


def _nearly_blocked(model: Model) -> bool:
    """A host whose exchange current is within round-off of the diffusion map's noise.

    The faradaic current is F·T⁻¹(c_s − c_free): for a (nearly) blocked host c_s ≈ c_free
    and that difference is round-off, which the log-form Butler-Volmer turns into volts of
    η (the implicit engine switches to a current-form residual there). Such hosts (k0 of
    ~1e-20 m/s and below for the packaged materials) are left to the implicit engine.
    """
    c_half = 0.5 * model.c_max * np.ones((model.B, 1))
    j0_half = model.exchange_current(c_half)[0][:, 0]
    g = model.surface_distance[:, 0] / np.maximum(model.cell_diffusivity(
        model.initial_concentration())[:, 0, -1], 1e-300)
    noise = F * 1e-15 * model.c_max / g
    return bool(np.any(~(j0_half > 1e6 * noise)))


def _n_points(rate: np.ndarray, duration: np.ndarray, sweep_step: float) -> int:
    """Points of the uniform grid: the segment's voltage step (``Segment.sweep_step``)."""
    spacing = min(sweep_step, SWEEP_POINT_V) if sweep_step > 0 else SWEEP_POINT_V
    return max(8, math.ceil(float(np.max(np.abs(rate) * duration)) / spacing - 1e-9))


def _toeplitz_kernel(model: Model, dt: np.ndarray, M: int, D_last: np.ndarray
                     ) -> tuple[np.ndarray, ...]:
    """Surface response to the flux nodes of a uniform grid (ETD2, flux linear per step).

    Returns T (B,M,M) lower-triangular (column k = node k, rows = points 1..M), the column
    of the initial node N_0 (B,M), the free response w·E^n·a-weights (B,M,N), and the modal
    weights giving a_M from the nodes: (B,M+1,N) for nodes 0..M.
    """
    from nasurf.sim.solver import _phi1, _phi2

    lam = model.eig[:, 0, :]                      # (B,N)
    beta = model.modal_forcing()[:, 0, :]
    w = model.modal_surface_weights()[:, 0, :]
    ext = model.surface_distance[:, 0] / D_last   # (B,)
    z = lam * dt[:, None]
    h1 = _phi1(z) * dt[:, None] * beta
    h2 = _phi2(z) * dt[:, None] * beta
    m = np.arange(M + 1)
    Epow = np.exp(z[:, None, :] * m[None, :, None])          # (B,M+1,N): E^m
    # coefficient (modal) of node k in a_n, with m = n − k:
    #   m = 0: h2;  m >= 1: E^m h2 + E^{m−1}(h1 − h2);  node 0 (initial): E^{n−1}(h1 − h2)
    coef = np.empty_like(Epow)
    coef[:, 0] = h2
    coef[:, 1:] = Epow[:, 1:] * h2[:, None] + Epow[:, :-1] * (h1 - h2)[:, None]
    tau = np.einsum("bmn,bn->bm", coef, w)                   # (B,M+1)
    tau[:, 0] += ext
    idx = np.arange(1, M + 1)[:, None] - np.arange(1, M + 1)[None, :]   # n − k
    T = np.where(idx >= 0, tau[:, np.maximum(idx, 0)], 0.0)
    init_modal = Epow[:, :-1] * (h1 - h2)[:, None]           # E^{n−1}(h1 − h2), n = 1..M
    t_init = np.einsum("bmn,bn->bm", init_modal, w)
    # a_M = E^M a0 + Σ_k A_k N_k: A_0 = E^{M−1}(h1 − h2), A_k = coef[M − k] (k >= 1)
    A = np.empty((model.B, M + 1, lam.shape[1]))
    A[:, 0] = init_modal[:, -1]
    A[:, 1:] = coef[:, M - np.arange(1, M + 1)]
    return T, t_init, Epow, w, A


class _Grid:
    """The sweep discretised on M uniform points: kernels, free response and closures."""

    def __init__(self, model: Model, st, seg, M: int) -> None:
        from nasurf.sim.solver import _surface_limit

        B = model.B
        rate = np.broadcast_to(np.asarray(seg.sweep_rate, dtype=float), (B,)).astype(float)
        self.duration = np.broadcast_to(np.asarray(seg.duration, dtype=float),
                                        (B,)).astype(float)
        v_start = np.broadcast_to(np.asarray(seg.v_start, dtype=float), (B,)).astype(float)
        self.model, self.M = model, M
        self.dt = dt = self.duration / M
        D_last = model.cell_diffusivity(st.c)[:, 0, -1]
        T, t_init, self.Epow, w, self.A = _toeplitz_kernel(model, dt, M, D_last)
        self.a0 = model.to_modal(st.c)[:, 0, :]
        self.iF0 = st.iF[:, 0]
        self.N0 = -self.iF0 / F
        self.c_free = np.einsum("bmn,bn->bm", self.Epow[:, 1:], w * self.a0) \
            + t_init * self.N0[:, None]
        self.tn = np.arange(1, M + 1)[None, :] * dt[:, None]     # (B,M) since segment start
        self.V_app = v_start[:, None] + rate[:, None] * self.tn
        self.f = model.f[:, None]
        self.area = (model.area_per_kg[:, 0] * st.active)[:, None]
        self.Re = model.R_e[:, 0][:, None]
        self.Cdt = (model.C_dl / dt)[:, None]
        self.phi0 = st.phi[:, 0]
        self.c_lim = _surface_limit(model)
        self.c_vac = model.j0_vacancy_limit
        self.ln_pre = None
        if model.k0_table is None and self.c_vac >= self.c_lim:
            self.ln_pre = (np.log(model.j0_scale * F * model.ce_factor ** model.alpha
                                  * np.maximum(model.k0, 1e-300)) + model.j0_log_offset)[:, None]
            self.ec = model.j0_exp_c[:, None]
            self.ea = model.j0_exp_a[:, None]
        # T⁻¹ is lower-triangular Toeplitz as well: its first column is enough
        e1 = np.zeros((B, M, 1))
        e1[:, 0] = 1.0
        col = solve_triangular(T, e1, lower=True, check_finite=False)[..., 0]
        idx = np.arange(M)[:, None] - np.arange(M)[None, :]
        self.Tinv = np.where(idx >= 0, col[:, np.maximum(idx, 0)], 0.0)
        self.Tinv_prev = np.zeros_like(self.Tinv)
        self.Tinv_prev[:, 1:] = self.Tinv[:, :-1]

    def faradaic(self, cs: np.ndarray) -> np.ndarray:
        """iF at every point from the surface history (inverse of the diffusion map)."""
        return -F * np.matmul(self.Tinv, (cs - self.c_free)[..., None])[..., 0]

    def residual(self, u: np.ndarray) -> tuple[np.ndarray, ...]:
        """r = Φ + (V − Φ)(I) − V_app at every point, from the surface logits u."""
        m = self.model
        sp = expit(u)
        cs = self.c_lim * sp
        iF = self.faradaic(cs)
        U, dU = m.ocp(cs)
        if self.ln_pre is not None:
            # j0 = pre·k0·c_s^ec·(c_vac − c_s)^ea in log form (Model.exchange_current without
            # its clipping, which c_s = c_lim·expit(u) < c_vac never needs)
            ln_cv_c = np.log(self.c_vac - cs)
            j0 = np.maximum(np.exp(self.ln_pre + self.ec * np.log(cs) + self.ea * ln_cv_c),
                            1e-300)
            dlnj0 = self.ec / cs - self.ea / (self.c_vac - cs)
        else:
            j0, dj0 = m.exchange_current(cs)
            j0 = np.maximum(j0, 1e-300)
            dlnj0 = dj0 / j0
        q = iF / (2 * j0)
        phi = U + 2 / self.f * np.arcsinh(q)
        phi_prev = np.concatenate([self.phi0[:, None], phi[:, :-1]], axis=1)
        itot = iF + self.Cdt * (phi - phi_prev)
        h, dh = m.cell_overpotential((self.area * itot).T)
        r = phi + self.Re * itot + h.T - self.V_app
        return r, cs, sp, iF, dU, j0, dlnj0, q, phi, itot, dh.T

    def logit(self, c: np.ndarray) -> np.ndarray:
        c = np.clip(c, 1e-300 * self.c_lim, self.c_lim * (1 - 1e-16))
        return np.log(c) - np.log(self.c_lim - c)

    def newton(self, u: np.ndarray, tol_V: float) -> np.ndarray | None:
        """Surface logits solving the sweep, or None when Newton fails."""
        B, M, f = self.model.B, self.M, self.f
        diag = (slice(None), np.arange(M), np.arange(M))
        sub = (slice(None), np.arange(1, M), np.arange(M - 1))
        zero = np.zeros((B, 1))
        max_dphi, best, stalls = _MAX_DPHI, np.inf, 0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            for _it in range(_MAX_ITER):
                r, cs, sp, _, dU, j0, dlnj0, q, _, _, dh = self.residual(u)
                s_u = cs * (1.0 - sp)                                     # dc_s/du
                sq = np.sqrt(1 + q * q)
                # dφ_n = a_n du_n + φ_i,n (G du)_n with a = (∂φ/∂c_s)·dc_s/du, φ_i = ∂φ/∂iF,
                # G = −F·T⁻¹·diag(dc_s/du); with H = ∂(R_e·i_tot + V − Φ)/∂i_tot:
                # dr_n = (1 + H·C/dt) dφ_n − (H·C/dt) dφ_{n−1} + H (G du)_n: lower-triangular
                a_n = (dU - 2 / f * q / sq * dlnj0) * s_u
                phi_i = 1 / (f * j0 * sq)
                H = self.Re + self.area * dh
                HC = H * self.Cdt
                k_now = (1 + HC) * phi_i + H
                k_prev = HC * np.concatenate([zero, phi_i[:, :-1]], axis=1)
                J = (k_prev[..., None] * self.Tinv_prev - k_now[..., None] * self.Tinv) \
                    * (F * s_u)[:, None, :]
                J[diag] += (1 + HC) * a_n
                J[sub] -= HC[:, 1:] * a_n[:, :-1]
                err = np.max(np.abs(r))
                if err < tol_V:
                    return u
                du = solve_triangular(J, -r[..., None], lower=True, check_finite=False)[..., 0]
                if not (np.isfinite(err) and np.all(np.isfinite(du))):
                    return None
                # Causal damping: rows up to point n of a lower-triangular system depend only
                # on the unknowns up to n, so the leading points take the full Newton step
                # (the Newton step of their own subsystem) and the damping factor can only
                # fall along the sweep: logits by at most 6, Δφ by at most 0.25 V per
                # iteration (the implicit engine's limits).
                dphi = a_n * du - phi_i * F * np.matmul(self.Tinv,
                                                        (s_u * du)[..., None])[..., 0]
                # a damped Newton can fall into a 2-cycle: halve the Δφ limit when the
                # worst residual stops falling
                stalls = stalls + 1 if err > 0.9 * best else 0
                best = min(best, err)
                if stalls >= 2:
                    max_dphi, stalls = 0.5 * max_dphi, 0
                lim = np.minimum(_MAX_DU / np.abs(du), max_dphi / np.abs(dphi))
                allowed = np.minimum.accumulate(np.minimum(1.0, lim), axis=1)
                u = u + allowed * du
        return None


def run_modal_sweep(model: Model, st, seg, trace):
    """Solve one linear voltage sweep at once; None when Newton fails (use the march)."""
    from nasurf.sim.solver import State

    B = model.B
    rate = np.broadcast_to(np.asarray(seg.sweep_rate, dtype=float), (B,))
    duration = np.broadcast_to(np.asarray(seg.duration, dtype=float), (B,))
    v_start = np.broadcast_to(np.asarray(seg.v_start, dtype=float), (B,))
    M = _n_points(rate, duration, seg.sweep_step)
    g = _Grid(model, st, seg, M)
    # Unknown per point: u = logit(c_s/c_lim), as in the implicit engine: the residual is
    # then close to linear in u on an emptied or filled surface (U and η are logarithmic in
    # c_s there), so Newton does not overshoot. The start comes from a grid 4× coarser
    # (cheap: the dense algebra is 16× smaller), itself started from no faradaic current;
    # on the fine grid Newton then needs ~3 iterations instead of ~10.
    Mc = M // _COARSEN
    u0 = g.logit(g.c_free)
    if M >= _COARSE_FROM:
        gc = _Grid(model, st, seg, Mc)
        uc = gc.newton(gc.logit(gc.c_free), 1e-3)
        if uc is not None:
            # the coarse points are every _COARSEN-th fine point: interpolate in time
            sc = np.concatenate([u0[:, :1], uc], axis=1)
            tc = np.arange(Mc + 1) * _COARSEN
            u0 = np.stack([np.interp(np.arange(1, M + 1), tc, sc[b]) for b in range(B)])
    u = g.newton(u0, _TOL_V)
    if u is None:
        return None
    Re, area, dt, phi0, iF0 = g.Re, g.area, g.dt, g.phi0, g.iF0
    _, _, _, iF, _, _, _, _, phi, itot, _ = g.residual(u)
    I = area * itot
    h = model.cell_overpotential(I.T)[0].T
    V = phi + Re * itot + h
    # state at the end: modal amplitudes from the node fluxes
    N_nodes = np.concatenate([g.N0[:, None], -iF / F], axis=1)           # (B,M+1)
    a_end = g.Epow[:, M] * g.a0 + np.einsum("bkn,bk->bn", g.A, N_nodes)
    c_new = model.from_modal(a_end[:, None, :])
    # charge: host (trapezoid of the linear flux, as the modal zero mode integrates it)
    # plus double layer; the output current is the end-point current of each step
    host = area[:, 0] * dt * (0.5 * (iF0 + iF[:, -1]) + np.sum(iF[:, :-1], axis=1))
    dl = area[:, 0] * model.C_dl * (phi[:, -1] - phi0)
    x0 = model.average_stoichiometry(st.c)
    vol = np.sum(model.volumes[:, 0], axis=-1)
    A_R = model.face_area[:, 0, -1]
    na_in = A_R[:, None] * dt[:, None] * np.cumsum(
        0.5 * (N_nodes[:, :-1] + N_nodes[:, 1:]), axis=1)               # mol per particle
    x = x0[:, None] + na_in / (vol[:, None] * model.c_max)
    # A first row just after the start (τ0 = 1e-3 of a step), as the implicit engine's first
    # tiny step gives it: readers of the trace find the vertex voltages in each sweep
    # direction. Its current is the limit t → 0+ after the microsecond R·C transient,
    # extrapolated linearly from the first two points; x is still the starting x.
    tau0 = 1e-3 * dt
    I_start = I[:, 0] + (I[:, 0] - I[:, 1]) * (tau0 - dt) / dt
    rows_t = np.concatenate([tau0[:, None], g.tn], axis=1)
    V_start = v_start + rate * tau0
    trace.add_rows(st.t[None] + rows_t.T, np.concatenate([V_start[:, None], V], axis=1).T,
                   np.concatenate([I_start[:, None], I], axis=1).T,
                   np.concatenate([x0[:, None], x], axis=1).T, seg.index)
    return State(t=st.t + g.duration, c=c_new, phi=phi[:, -1:].copy(),
                 theta=st.theta.copy(), Phi=phi[:, -1] + Re[:, 0] * itot[:, -1],
                 I=I[:, -1].copy(), iF=iF[:, -1:].copy(), V=V[:, -1].copy(),
                 active=st.active.copy(), sei_left=st.sei_left.copy(),
                 charge=st.charge + host + dl)
