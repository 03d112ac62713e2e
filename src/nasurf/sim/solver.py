"""Time integration of a :class:`~nasurf.sim.model.Model` over protocol segments.

Two engines, chosen per segment:

* **exact** (galvanostatic or rest segments of a single size class whose D does not depend
  on c and which store no capacitive charge): the semi-discrete diffusion equation is
  linear with a piecewise-constant surface flux, so its modal solution
  a(t) = e^{λt} a0 + φ1(λt)·t·β·N is exact in time. Voltage cut-offs are located by
  bracketing on a time grid and Illinois (regula falsi) refinement; no time-step error.
* **march** (everything else: double layer and surface-redox DAE, voltage control and
  cyclic-voltammetry sweeps, D(c), size distributions): diffusion is propagated exactly in
  the modal basis with a forcing linear in time between steps (ETD2), or by backward Euler
  on the tridiagonal operator with lagged D(c); the interface unknowns (faradaic current
  per class, interfacial potential, site coverage, electrode potential, and the current
  under voltage control) are solved by a damped Newton method on a small dense system,
  batched over parameter sets. Steps adapt to the voltage change; events (cut-offs) are
  located by secant re-stepping, so the final state is an exact state of the scheme.

Both engines conserve Na to round-off: the constant eigenvector carries the mass and the
finite-volume fluxes telescope. Everything is vectorised over a batch dimension B.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit

from nasurf.sim.model import Model
from nasurf.sim.parameters import F

_MAX_NEWTON = 40


@dataclass
class State:
    """Solver state for a batch (see :class:`Model` for shapes)."""

    t: np.ndarray        # (B,) s
    c: np.ndarray        # (B,K,N) mol m-3
    phi: np.ndarray      # (B,K) local interfacial potential difference Δφ [V]
    theta: np.ndarray    # (B,K) occupied fraction of surface-redox sites
    Phi: np.ndarray      # (B,) electrode potential vs electrolyte at the contacts [V]
    I: np.ndarray        # (B,) applied specific current [A/kg], anodic positive
    iF: np.ndarray       # (B,K) faradaic current density [A m-2], anodic positive
    V: np.ndarray        # (B,) cell voltage vs Na+/Na [V]
    active: np.ndarray   # (B,) fraction of the active material still connected
    sei_left: np.ndarray  # (B,) SEI charge still to be formed [C/kg]
    charge: np.ndarray   # (B,) cumulative charge passed [C/kg] (anodic positive)

    def copy(self) -> State:
        return State(**{k: np.array(v, copy=True) for k, v in self.__dict__.items()})

    def select(self, mask: np.ndarray, other: State) -> State:
        """Members where mask is True from ``other``, the rest from self."""
        out = {}
        for k, v in self.__dict__.items():
            o = other.__dict__[k]
            m = mask.reshape(mask.shape + (1,) * (v.ndim - 1))
            out[k] = np.where(m, o, v)
        return State(**out)


@dataclass(frozen=True)
class Segment:
    """One executable protocol step for the whole batch.

    ``kind`` is ``"current"`` (current control; a rest is a zero current) or ``"voltage"``
    (V(τ) = v_start + sweep_rate·τ; a hold has sweep_rate 0 and v_start = the hold voltage).
    Arrays are (B,). ``duration`` may be inf when a cut-off ends the segment.
    """

    kind: str
    current: np.ndarray | None = None
    v_start: np.ndarray | None = None
    sweep_rate: np.ndarray | None = None
    duration: np.ndarray | None = None
    v_lower: float = -math.inf
    v_upper: float = math.inf
    i_limit: float = 0.0
    sei: bool = True
    index: int = 0
    label: str = ""
    max_voltage_step: float = 0.005
    sweep_step: float = 0.002
    n_output: int = 150


@dataclass
class Trace:
    """Recorded output rows (lists of (B,) arrays; NaN where a member did not record)."""

    t: list[np.ndarray] = field(default_factory=list)
    V: list[np.ndarray] = field(default_factory=list)
    I: list[np.ndarray] = field(default_factory=list)
    x: list[np.ndarray] = field(default_factory=list)
    step: list[int] = field(default_factory=list)

    def add(self, model: Model, st: State, mask: np.ndarray, step: int) -> None:
        nan = np.full(model.B, np.nan)
        self.t.append(np.where(mask, st.t, nan))
        self.V.append(np.where(mask, st.V, nan))
        self.I.append(np.where(mask, st.I, nan))
        self.x.append(np.where(mask, model.average_stoichiometry(st.c), nan))
        self.step.append(step)

    def add_rows(self, t: np.ndarray, V: np.ndarray, I: np.ndarray, x: np.ndarray,
                 step: int) -> None:
        """Rows from the exact engine: arrays (n, B)."""
        for j in range(t.shape[0]):
            self.t.append(t[j])
            self.V.append(V[j])
            self.I.append(I[j])
            self.x.append(x[j])
            self.step.append(step)

    def arrays(self) -> dict[str, np.ndarray]:
        if not self.t:
            return {"t": np.zeros((0, 0))}
        return {"t": np.array(self.t), "V": np.array(self.V), "I": np.array(self.I),
                "x": np.array(self.x), "step": np.array(self.step)}


# ---------------------------------------------------------------------------------------
# Equilibrium helpers
# ---------------------------------------------------------------------------------------


def site_coverage_eq(model: Model, E: np.ndarray) -> np.ndarray:
    """Equilibrium Frumkin coverage θ(E): θ/(1−θ)·e^{g(θ−½)} = e^{−f(E−E0)} (bisection)."""
    f = model.f[:, None]
    g = model.g_site[:, None]
    rhs = -f * (E - model.E0_site[:, None])
    lo = np.zeros_like(E)
    hi = np.ones_like(E)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        val = np.log(mid + 1e-300) - np.log1p(-mid + 1e-300) + g * (mid - 0.5)
        up = val < rhs
        lo = np.where(up, mid, lo)
        hi = np.where(up, hi, mid)
    return 0.5 * (lo + hi)


def initial_state(model: Model) -> State:
    c = model.initial_concentration()
    cs = c[..., -1]
    U, _ = model.ocp(cs)
    B, K = model.B, model.K
    theta = site_coverage_eq(model, U)
    zeros = np.zeros(B)
    return State(t=zeros.copy(), c=c, phi=U.copy(), theta=theta, Phi=U[:, 0].copy(),
                 I=zeros.copy(), iF=np.zeros((B, K)), V=U[:, 0].copy(),
                 active=np.ones(B), sei_left=model.sei_capacity.copy(), charge=zeros.copy())


def _phi1(z: np.ndarray) -> np.ndarray:
    small = np.abs(z) < 1e-6
    zs = np.where(small, 1.0, z)
    return np.where(small, 1.0 + z / 2 + z * z / 6, np.expm1(zs) / zs)


def _phi2(z: np.ndarray) -> np.ndarray:
    small = np.abs(z) < 1e-4
    zs = np.where(small, 1.0, z)
    return np.where(small, 0.5 + z / 6 + z * z / 24, (np.expm1(zs) - zs) / (zs * zs))


def _bv_overpotential(iF: np.ndarray, j0: np.ndarray, alpha: np.ndarray, f: np.ndarray
                      ) -> np.ndarray:
    """η solving iF = j0 [e^{α f η} − e^{−(1−α) f η}] (closed form for α = ½)."""
    j0 = np.maximum(j0, 1e-300)
    eta = 2.0 / f * np.arcsinh(iF / (2 * j0))
    if np.allclose(alpha, 0.5):
        return eta
    for _ in range(30):
        ea = np.exp(np.clip(alpha * f * eta, -700, 700))
        ec = np.exp(np.clip(-(1 - alpha) * f * eta, -700, 700))
        r = j0 * (ea - ec) - iF
        dr = j0 * f * (alpha * ea + (1 - alpha) * ec)
        step = r / dr
        eta = eta - np.clip(step, -0.2, 0.2)
        if np.all(np.abs(step) < 1e-12):
            break
    return eta


# ---------------------------------------------------------------------------------------
# Exact engine
# ---------------------------------------------------------------------------------------


def can_use_exact(model: Model, seg: Segment) -> bool:
    """Exact engine: current control, one size class, D(c) constant, no surface-redox store.

    The double layer is neglected under current control (its charge over a full window,
    C_dl·a·ΔV, is < 1 % of the insertion capacity for the packaged materials and only
    shapes millisecond transients); it is always resolved under voltage control (CV).
    """
    return (seg.kind == "current" and model.linear and model.K == 1
            and not bool(np.any(model.Gamma > 0)))


def _exact_voltage(model: Model, a0: np.ndarray, t: np.ndarray, N: np.ndarray,
                   iF: np.ndarray, I_cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """V and c_s at times t (n,B) from modal state a0 (B,1,N) under constant inward flux N."""
    lam = model.eig[:, 0, :]                                   # (B,N)
    beta = model.modal_forcing()[:, 0, :]
    w = model.modal_surface_weights()[:, 0, :]
    z = lam[None] * t[..., None]                               # (n,B,N)
    a = np.exp(z) * a0[None, :, 0, :] + _phi1(z) * t[..., None] * beta[None] * N[None, :, None]
    D_last = model.cell_diffusivity(np.zeros((model.B, 1, model.N)))[:, 0, -1]
    cs = np.sum(a * w[None], axis=-1) + N[None] * (model.surface_distance[:, 0] / D_last)[None]
    # model functions take (B, ·) arrays: evaluate on the transposed (B, n) grid
    U = model.ocp(cs.T)[0].T
    j0 = model.exchange_current(cs.T)[0].T
    eta = _bv_overpotential(iF[None], j0, model.alpha[None], model.f[None])
    h, _ = model.cell_overpotential(I_cell)
    V = U + eta + (model.R_e[:, 0] * iF)[None] + h[None]
    return V, cs


def _run_exact(model: Model, st: State, seg: Segment, trace: Trace) -> State:
    B = model.B
    I = np.broadcast_to(np.asarray(seg.current, dtype=float), (B,)).astype(float)
    duration = np.broadcast_to(np.asarray(seg.duration if seg.duration is not None
                                          else np.inf, dtype=float), (B,)).astype(float)
    a0 = model.to_modal(st.c)
    area = model.area_per_kg[:, 0] * st.active
    # SEI: while its budget lasts, a fraction of a sodiation current builds SEI instead.
    sei_on = seg.sei & (I < 0) & (st.sei_left > 0) & (model.sei_fraction > 0)
    I_sei = np.where(sei_on, model.sei_fraction * I, 0.0)
    t_sei = np.where(sei_on, st.sei_left / np.maximum(np.abs(I_sei), 1e-300), 0.0)
    # phase 1 (with SEI) then phase 2 (without); both with constant flux
    iF1 = (I - I_sei) / area
    iF2 = I / area
    N1, N2 = -iF1 / F, -iF2 / F

    # Estimated end: time to fill (sodiation) or empty (desodiation) the particle.
    na_now = np.sum(st.c * model.volumes, axis=-1)[:, 0]
    cap = model.c_max * np.sum(model.volumes, axis=-1)[:, 0]
    A_R = model.face_area[:, 0, -1]
    rate = np.abs(N2) * A_R
    room = np.where(I < 0, cap - na_now, na_now)
    t_fill = np.where(rate > 0, room / np.maximum(rate, 1e-300), np.inf) + np.where(
        sei_on, t_sei * model.sei_fraction, 0.0)
    t_end = np.minimum(duration, 1.02 * t_fill + 1e-9)
    t_end = np.where(np.isfinite(t_end), t_end, 3600.0)
    a_switch = None
    if np.any(sei_on):
        ts = np.minimum(t_sei, t_end)
        z = model.eig[:, 0, :] * ts[:, None]
        a_switch = (np.exp(z) * a0[:, 0, :] + _phi1(z) * ts[:, None]
                    * model.modal_forcing()[:, 0, :] * N1[:, None])[:, None, :]

    def evaluate(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """V and c_s at times t (n,B) since segment start."""
        if a_switch is None:
            return _exact_voltage(model, a0, t, N2, iF2, I)
        first = t <= t_sei[None]
        V1, cs1 = _exact_voltage(model, a0, np.minimum(t, t_sei[None]), N1, iF1, I)
        V2, cs2 = _exact_voltage(model, a_switch, np.maximum(t - t_sei[None], 0.0), N2, iF2, I)
        return np.where(first, V1, V2), np.where(first, cs1, cs2)

    n = seg.n_output
    if np.all(I == 0):
        # relaxation: log-spaced
        tt = np.concatenate([[0.0], np.geomspace(1e-3, 1.0, n - 1)])[:, None] * t_end[None]
    else:
        tt = np.linspace(0.0, 1.0, n)[:, None] * t_end[None]
    V, _cs = evaluate(tt)
    lo_cut, hi_cut = seg.v_lower, seg.v_upper
    beyond = (lo_cut > V) | (hi_cut < V)
    beyond[0] = False
    has_event = beyond.any(axis=0)
    j_ev = np.where(has_event, np.argmax(beyond, axis=0), n - 1)
    t_in = tt[np.maximum(j_ev - 1, 0), np.arange(B)]
    t_out = tt[j_ev, np.arange(B)]
    target = np.where(I < 0, lo_cut, hi_cut)
    target = np.where(np.isfinite(target), target, np.where(I < 0, -1e9, 1e9))
    sgn = np.where(I < 0, -1.0, 1.0)  # g(t) = sgn·(V − cut) < 0 inside, > 0 beyond
    g_in = sgn * (evaluate(t_in[None])[0][0] - target)
    g_out = sgn * (evaluate(t_out[None])[0][0] - target)
    at_start = has_event & (g_in >= 0)   # already beyond the cut-off at the step start
    # Illinois regula falsi on the bracket [t_in, t_out]; the answer is the inside end.
    last = np.zeros(B)
    for _ in range(80):
        active_b = has_event & ~at_start & (g_in < -1e-7) & (t_out - t_in > 1e-10 * t_end)
        if not np.any(active_b):
            break
        tc = t_in - g_in * (t_out - t_in) / np.where(g_out - g_in == 0, 1, g_out - g_in)
        tc = np.clip(tc, t_in + 1e-3 * (t_out - t_in), t_out - 1e-3 * (t_out - t_in))
        gc = sgn * (evaluate(tc[None])[0][0] - target)
        inside = gc < 0
        upd = active_b
        g_out = np.where(upd & inside & (last == 1), g_out / 2, g_out)
        g_in = np.where(upd & ~inside & (last == -1), g_in / 2, g_in)
        t_in = np.where(upd & inside, tc, t_in)
        g_in = np.where(upd & inside, gc, g_in)
        t_out = np.where(upd & ~inside, tc, t_out)
        g_out = np.where(upd & ~inside, gc, g_out)
        last = np.where(upd, np.where(inside, 1, -1), last)
    t_b = np.where(at_start, 0.0, t_in)
    t_stop = np.where(has_event, t_b, t_end)
    ended_by_duration = ~has_event & np.isfinite(duration)
    t_stop = np.where(ended_by_duration, duration, t_stop)
    # Output rows: the grid up to the stop, plus a refined tail before an event.
    tail = t_stop[None] * (1.0 - np.geomspace(0.05, 1e-4, 12))[:, None]
    t_rows = np.concatenate([tt, tail, t_stop[None]], axis=0)
    t_rows = np.sort(t_rows, axis=0)
    keep = t_rows <= t_stop[None] * (1 + 1e-12)
    Vr, _ = evaluate(np.minimum(t_rows, t_stop[None]))
    # At an event the cut-off is crossed within 1e-10 of the step time (a voltage wall when
    # the surface empties or fills): the last row reports the cut-off itself.
    wall = has_event[None] & (t_rows >= t_stop[None] * (1 - 1e-12))
    Vr = np.where(wall, target[None], Vr)
    keep = keep & ~(at_start[None] & (np.arange(t_rows.shape[0])[:, None] > 0))
    # average stoichiometry is linear in t (constant fluxes)
    x0 = model.average_stoichiometry(st.c)
    na_rate1 = -(I - I_sei) / F  # mol/kg/s of Na entering the host (sodiation: I<0)
    na_rate2 = -I / F
    tr = np.minimum(t_rows, t_stop[None])
    t1 = np.where(sei_on, t_sei, 0.0)[None]
    na = na_rate1[None] * np.minimum(tr, t1) + na_rate2[None] * np.maximum(tr - t1, 0.0)
    mol_per_kg_at_x1 = model.c_max / model.params.density
    xr = x0[None] + na / (mol_per_kg_at_x1 * st.active[None])
    nanm = np.where(keep, 0.0, np.nan)
    trace.add_rows(st.t[None] + tr + nanm, Vr + nanm,
                   np.broadcast_to(I, tr.shape) + nanm, xr + nanm, seg.index)
    # final state
    if a_switch is None:
        z = model.eig[:, 0, :] * t_stop[:, None]
        a_end = np.exp(z) * a0[:, 0, :] + _phi1(z) * t_stop[:, None] \
            * model.modal_forcing()[:, 0, :] * N2[:, None]
    else:
        t1s = np.minimum(t_stop, t_sei)
        z1 = model.eig[:, 0, :] * t1s[:, None]
        a_mid = np.exp(z1) * a0[:, 0, :] + _phi1(z1) * t1s[:, None] \
            * model.modal_forcing()[:, 0, :] * N1[:, None]
        t2s = np.maximum(t_stop - t_sei, 0.0)
        z2 = model.eig[:, 0, :] * t2s[:, None]
        a_end = np.exp(z2) * a_mid + _phi1(z2) * t2s[:, None] \
            * model.modal_forcing()[:, 0, :] * N2[:, None]
    c_new = model.from_modal(a_end[:, None, :])
    V_end, cs_end = evaluate(t_stop[None])
    V_end = np.where(has_event[None], target[None], V_end)
    U_end, _ = model.ocp(cs_end[0])
    iF_end = np.where(t_stop > t_sei, iF2, iF1)
    j0_end, _ = model.exchange_current(cs_end[0][:, None])
    eta_end = _bv_overpotential(iF_end, j0_end[:, 0], model.alpha, model.f)
    sei_used = np.where(sei_on, np.abs(I_sei) * np.minimum(t_stop, t_sei), 0.0)
    new = State(t=st.t + t_stop, c=c_new, phi=(U_end + eta_end)[:, None],
                theta=st.theta.copy(), Phi=U_end + eta_end + model.R_e[:, 0] * iF_end,
                I=I.copy(), iF=iF_end[:, None], V=V_end[0], active=st.active.copy(),
                sei_left=st.sei_left - sei_used, charge=st.charge + I * t_stop)
    return new


# ---------------------------------------------------------------------------------------
# Marching engine
# ---------------------------------------------------------------------------------------


def _thomas(lower: np.ndarray, diag: np.ndarray, upper: np.ndarray, rhs: np.ndarray
            ) -> np.ndarray:
    """Solve tridiagonal systems batched over leading axes; rhs (..., N, m)."""
    n = diag.shape[-1]
    cp = np.empty_like(diag)
    dp = np.empty_like(rhs)
    cp[..., 0] = upper[..., 0] / diag[..., 0] if n > 1 else 0.0
    dp[..., 0, :] = rhs[..., 0, :] / diag[..., 0, None]
    for i in range(1, n):
        den = diag[..., i] - lower[..., i - 1] * cp[..., i - 1]
        if i < n - 1:
            cp[..., i] = upper[..., i] / den
        dp[..., i, :] = (rhs[..., i, :] - lower[..., i - 1, None] * dp[..., i - 1, :]) \
            / den[..., None]
    x = np.empty_like(rhs)
    x[..., n - 1, :] = dp[..., n - 1, :]
    for i in range(n - 2, -1, -1):
        x[..., i, :] = dp[..., i, :] - cp[..., i, None] * x[..., i + 1, :]
    return x


@dataclass
class _Diffusion:
    """Affine map of one step: c_s = p + g·N_new, and how to finish the step."""

    p: np.ndarray
    g: np.ndarray
    finish: object


def _diffusion_step(model: Model, c: np.ndarray, dt: np.ndarray, N_old: np.ndarray | None
                    ) -> _Diffusion:
    if model.linear:
        a = model.to_modal(c)
        lam = model.eig
        z = lam * dt[:, None, None]
        E = np.exp(z)
        beta = model.modal_forcing()
        w = model.modal_surface_weights()
        D_last = model.cell_diffusivity(c)[..., -1]
        ext = model.surface_distance / D_last
        h1 = _phi1(z) * dt[:, None, None] * beta
        if N_old is None:
            base = E * a
            hN = h1
        else:
            h2 = _phi2(z) * dt[:, None, None] * beta
            base = E * a + (h1 - h2) * N_old[..., None]
            hN = h2
        p = np.sum(base * w, axis=-1)
        g = np.sum(hN * w, axis=-1) + ext

        def finish(N_new: np.ndarray) -> np.ndarray:
            return model.from_modal(base + hN * N_new[..., None])

        return _Diffusion(p, g, finish)
    # Backward Euler on the tridiagonal operator with D lagged at the old state.
    D = model.cell_diffusivity(c)
    G = model.face_conductance(D)
    W = model.volumes / dt[:, None, None]
    diag = W.copy()
    diag[..., :-1] += G
    diag[..., 1:] += G
    rhs = np.zeros((*c.shape, 2))
    rhs[..., 0] = W * c
    rhs[..., -1, 1] = model.face_area[..., -1]
    sol = _thomas(-G, diag, -G, rhs)
    y, zz = sol[..., 0], sol[..., 1]
    ext = model.surface_distance / D[..., -1]
    p = y[..., -1]
    g = zz[..., -1] + ext

    def finish_be(N_new: np.ndarray) -> np.ndarray:
        return y + zz * N_new[..., None]

    return _Diffusion(p, g, finish_be)


def _site_current(model: Model, phi: np.ndarray, theta: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Anodic surface-redox current density and its derivatives by Δφ and θ."""
    f = model.f[:, None]
    al = model.alpha_site[:, None]
    g = model.g_site[:, None]
    kFG = (model.k_site * F * model.Gamma)[:, None]
    eta = phi - model.E0_site[:, None] + g / f * (theta - 0.5)
    A = np.exp(np.clip(al * f * eta, -500, 500))
    Bx = np.exp(np.clip(-(1 - al) * f * eta, -500, 500))
    i = kFG * (theta * A - (1 - theta) * Bx)
    di_dphi = kFG * f * (theta * al * A + (1 - theta) * (1 - al) * Bx)
    di_dth = kFG * (A + Bx) + g / f * di_dphi
    return i, di_dphi, di_dth


def _newton(model: Model, st: State, diff: _Diffusion, dt: np.ndarray, seg: Segment,
            tau_end: np.ndarray, I_side_frac: np.ndarray, active: np.ndarray
            ) -> tuple[State | None, np.ndarray]:
    """Solve the interface unknowns at the end of a step; returns (state, converged)."""
    B, K = model.B, model.K
    voltage = seg.kind == "voltage"
    m = 3 * K + 1 + (1 if voltage else 0)
    iF = st.iF.copy()
    phi = st.phi.copy()
    th = st.theta.copy()
    Phi = st.Phi.copy()
    Ig = st.I.copy() if voltage else np.broadcast_to(seg.current, (B,)).astype(float)
    if voltage:
        V_app = seg.v_start + seg.sweep_rate * tau_end
    area = model.area_per_kg * active[:, None]             # (B,K)
    Cdl = (model.C_dl / dt)[:, None]
    GF = (model.Gamma * F / dt)[:, None]
    has_sites = (model.Gamma > 0)[:, None]
    Re = model.R_e
    th_old, phi_old = st.theta, st.phi
    converged = np.zeros(B, dtype=bool)
    eyeK = np.arange(K)
    cm = model.c_max
    # Primary unknown per class: u = logit(c_s/c_max). Near depletion or saturation the
    # faradaic current iF = F(p − c_s)/g is then well conditioned (c_s is tiny, iF is not).
    # The solution lies between 0 and p (desodiation) or p and c_max (sodiation): start
    # inside, never on the floor where dc_s/du vanishes.
    pp = np.clip(diff.p, 1e-200 * cm, cm * (1 - 1e-12))
    cs0 = np.clip(diff.p - diff.g * iF / F, 1e-3 * pp, cm - 1e-3 * (cm - pp))
    u = np.log(cs0) - np.log(cm - cs0)
    for _it in range(_MAX_NEWTON):
        cs = cm * expit(u)
        dcs_du = cs * (cm - cs) / cm
        iF = F * (diff.p - cs) / diff.g
        diF_du = -F / diff.g * dcs_du
        U, dU = model.ocp(cs)
        j0, dj0 = model.exchange_current(cs)
        al = model.alpha[:, None]
        f = model.f[:, None]
        eta = phi - U
        ea = np.exp(np.clip(al * f * eta, -500, 500))
        ec = np.exp(np.clip(-(1 - al) * f * eta, -500, 500))
        Gbv = ea - ec
        dG = f * (al * ea + (1 - al) * ec)
        r1 = iF - j0 * Gbv
        d1_u = diF_du - (dj0 * Gbv - j0 * dG * dU) * dcs_du
        d1_phi = -j0 * dG
        ipc, dpc_phi, dpc_th = _site_current(model, phi, th)
        ipc = np.where(has_sites, ipc, 0.0)
        dpc_phi = np.where(has_sites, dpc_phi, 0.0)
        dpc_th = np.where(has_sites, dpc_th, 0.0)
        r2 = np.where(has_sites, GF * (th - th_old) + ipc, th - th_old)
        d2_th = np.where(has_sites, GF + dpc_th, 1.0)
        d2_phi = np.where(has_sites, dpc_phi, 0.0)
        idl = Cdl * (phi - phi_old)
        itot = iF + ipc + idl
        r3 = phi - Phi[:, None] + Re * itot
        d3_u = Re * diF_du
        d3_phi = 1.0 + Re * (dpc_phi + Cdl)
        d3_th = Re * dpc_th
        I_side = I_side_frac * Ig
        r4 = np.sum(area * itot, axis=1) + I_side - Ig
        J = np.zeros((B, m, m))
        R = np.zeros((B, m))
        R[:, :K], R[:, K:2 * K], R[:, 2 * K:3 * K], R[:, 3 * K] = r1, r2, r3, r4
        J[:, eyeK, eyeK] = d1_u
        J[:, eyeK, K + eyeK] = d1_phi
        J[:, K + eyeK, K + eyeK] = d2_phi
        J[:, K + eyeK, 2 * K + eyeK] = d2_th
        J[:, 2 * K + eyeK, eyeK] = d3_u
        J[:, 2 * K + eyeK, K + eyeK] = d3_phi
        J[:, 2 * K + eyeK, 2 * K + eyeK] = d3_th
        J[:, 2 * K + eyeK, 3 * K] = -1.0
        J[:, 3 * K, :K] = area * diF_du
        J[:, 3 * K, K:2 * K] = area * (dpc_phi + Cdl)
        J[:, 3 * K, 2 * K:3 * K] = area * dpc_th
        if voltage:
            h, dh = model.cell_overpotential(Ig)
            R[:, 3 * K + 1] = Phi + h - V_app
            J[:, 3 * K + 1, 3 * K] = 1.0
            J[:, 3 * K + 1, 3 * K + 1] = dh
            J[:, 3 * K, 3 * K + 1] = I_side_frac - 1.0
        i_ref = np.abs(Ig) / np.sum(area, axis=1) + 1e-12
        res_ok = (np.abs(r1).max(axis=1) < 1e-10 * i_ref) & (np.abs(r3).max(axis=1) < 1e-10) \
            & (np.abs(r4) < 1e-10 * (np.abs(Ig) + 1e-9)) & (np.abs(r2).max(axis=1) < 1e-12)
        if voltage:
            res_ok &= np.abs(R[:, 3 * K + 1]) < 1e-10
        try:
            dx = np.linalg.solve(J, -R[..., None])[..., 0]
        except np.linalg.LinAlgError:
            return None, converged
        dx = np.nan_to_num(dx, nan=0.0)
        dx[res_ok] = 0.0
        # damping: potentials by at most 0.1 V, u by at most 3 per iteration
        big = np.maximum(np.abs(dx[:, K:2 * K]).max(axis=1) / 0.1,
                         np.abs(dx[:, 3 * K]) / 0.1)
        big = np.maximum(big, np.abs(dx[:, :K]).max(axis=1) / 3.0)
        scale = np.minimum(1.0, 1.0 / np.maximum(big, 1e-300))
        dx = dx * scale[:, None]
        u = u + dx[:, :K]
        phi = phi + dx[:, K:2 * K]
        th = np.clip(th + dx[:, 2 * K:3 * K], 1e-15, 1 - 1e-15)
        Phi = Phi + dx[:, 3 * K]
        if voltage:
            Ig = Ig + dx[:, 3 * K + 1]
        converged = (np.abs(dx[:, 3 * K]) < 1e-9) & (np.abs(dx[:, K:2 * K]).max(axis=1) < 1e-9) \
            & (np.abs(dx[:, :K]).max(axis=1) < 1e-8) & (scale >= 1.0)
        converged |= res_ok
        if np.all(converged):
            break
    cs = cm / (1.0 + np.exp(-u))
    iF = F * (diff.p - cs) / diff.g
    N_new = -iF / F
    c_new = diff.finish(N_new)
    h, _ = model.cell_overpotential(Ig)
    new = State(t=st.t + dt, c=c_new, phi=phi, theta=th, Phi=Phi, I=Ig, iF=iF, V=Phi + h,
                active=active.copy(), sei_left=st.sei_left - np.abs(I_side_frac * Ig) * dt,
                charge=st.charge + Ig * dt)
    return new, converged


def _run_march(model: Model, st: State, seg: Segment, trace: Trace) -> State:
    B = model.B
    duration = np.broadcast_to(np.asarray(seg.duration if seg.duration is not None
                                          else np.inf, dtype=float), (B,)).astype(float)
    voltage = seg.kind == "voltage"
    if voltage:
        rate = np.broadcast_to(np.asarray(seg.sweep_rate, dtype=float), (B,))
        sweep = np.abs(rate) > 0
        dt_sweep = np.where(sweep, seg.sweep_step / np.where(sweep, np.abs(rate), 1.0), np.inf)
        char = np.where(np.isfinite(duration), duration, 3600.0)
        dt = np.where(sweep, np.minimum(dt_sweep, char / 20), 1e-3 * char)
        dt_max = np.where(sweep, dt_sweep, char / 50)
    else:
        I = np.broadcast_to(np.asarray(seg.current, dtype=float), (B,))
        t_cap = np.where(I != 0, model.params.capacity_basis_value
                         / np.maximum(np.abs(I), 1e-300), np.inf)
        char = np.minimum(duration, t_cap)
        char = np.where(np.isfinite(char), char, 3600.0)
        dt = 1e-4 * char
        dt_max = char / 60
    tau = np.zeros(B)
    done = np.zeros(B, dtype=bool)
    first = True
    N_old: np.ndarray | None = None
    target = np.where(np.broadcast_to(np.asarray(seg.current if seg.current is not None
                                                 else 0.0), (B,)) < 0,
                      seg.v_lower, seg.v_upper) if not voltage else None
    n_steps = 0
    while not np.all(done):
        n_steps += 1
        if n_steps > 4000:  # guard: report what was reached rather than hang
            break
        dt = np.minimum(dt, np.maximum(duration - tau, 0.0))
        dt = np.where(done, 1.0, np.maximum(dt, 1e-12))
        sei_frac = np.where(seg.sei & (st.sei_left > 0) & (st.I <= 0) & (not voltage),
                            model.sei_fraction, 0.0)
        if not voltage:
            Iseg = np.broadcast_to(np.asarray(seg.current, dtype=float), (B,))
            sei_frac = np.where(Iseg < 0, sei_frac, 0.0)
            sei_frac = np.where(seg.sei & (st.sei_left > 0) & (Iseg < 0),
                                model.sei_fraction, 0.0)
        diff = _diffusion_step(model, st.c, dt, None if (first or not model.has_capacitance)
                               else N_old)
        new, ok = _newton(model, st, diff, dt, seg, tau + dt, sei_frac, st.active)
        if new is None or not np.all(ok | done):
            bad = ~ok & ~done
            dt = np.where(bad, dt * 0.25, dt)
            if np.any(dt[bad] < 1e-10 * char[bad]):
                # Cannot converge (e.g. the surface is saturated): end these members here.
                done = done | (bad & (dt < 1e-10 * char))
            continue
        dV = np.abs(new.V - st.V)
        # event: voltage cut-off under current control
        ended = np.zeros(B, dtype=bool)
        if not voltage:
            crossed = ~done & (((seg.v_lower > new.V) & (Iseg <= 0))
                               | ((seg.v_upper < new.V) & (Iseg >= 0)))
            if np.any(crossed):
                new = _locate_event(model, st, new, seg, dt, tau, crossed, target, sei_frac,
                                    first, N_old)
                ended = crossed
        else:
            if seg.i_limit > 0:
                ended = ~done & (np.abs(new.I) < seg.i_limit)
        st_prev = st
        st = st.select(~done, new)
        tau = np.where(done, tau, tau + np.where(ended, new.t - st_prev.t, dt))
        N_old = np.where(done[:, None], N_old if N_old is not None else 0.0, -st.iF / F)
        first = False
        trace.add(model, st, ~done, seg.index)
        done = done | ended | (tau >= duration * (1 - 1e-12))
        # adapt
        grow = np.where(dV < 0.5 * seg.max_voltage_step, 1.5, np.where(
            dV > seg.max_voltage_step, np.maximum(0.2, seg.max_voltage_step / (dV + 1e-300)),
            1.1))
        dt = np.clip(dt * grow, 1e-7 * char, dt_max)
    return st


def _locate_event(model: Model, st: State, new: State, seg: Segment, dt: np.ndarray,
                  tau: np.ndarray, crossed: np.ndarray, target: np.ndarray,
                  sei_frac: np.ndarray, first: bool, N_old: np.ndarray | None) -> State:
    """Secant re-stepping from ``st`` so that V hits the cut-off for crossed members."""
    s_lo = np.zeros(model.B)
    s_hi = np.ones(model.B)
    f_lo = st.V - target
    f_hi = new.V - target
    best = new
    for _ in range(40):
        s = np.where(np.abs(f_hi - f_lo) > 0, s_lo - f_lo * (s_hi - s_lo) / (f_hi - f_lo), 0.5)
        s = np.clip(s, s_lo + 0.02 * (s_hi - s_lo), s_hi - 0.02 * (s_hi - s_lo))
        dts = np.where(crossed, dt * s, dt)
        diff = _diffusion_step(model, st.c, dts, None if (first or not model.has_capacitance)
                               else N_old)
        trial, _ok = _newton(model, st, diff, dts, seg, tau + dts, sei_frac, st.active)
        if trial is None:
            break
        ft = trial.V - target
        same_lo = np.sign(ft) == np.sign(f_lo)
        s_lo = np.where(crossed & same_lo, s, s_lo)
        f_lo = np.where(crossed & same_lo, ft, f_lo)
        s_hi = np.where(crossed & ~same_lo, s, s_hi)
        f_hi = np.where(crossed & ~same_lo, ft, f_hi)
        best = best.select(crossed, trial)
        if np.all(~crossed | (np.abs(ft) < 1e-6) | ((s_hi - s_lo) < 1e-9)):
            break
    return best


def run_segment(model: Model, st: State, seg: Segment, trace: Trace, *,
                engine: str = "auto") -> State:
    """Advance ``st`` through one segment, appending output rows to ``trace``."""
    if engine == "exact" or (engine == "auto" and can_use_exact(model, seg)):
        return _run_exact(model, st, seg, trace)
    return _run_march(model, st, seg, trace)
