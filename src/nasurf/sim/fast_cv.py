"""Fast voltage-sweep (CV) engine: a compiled per-step march in the particle's modal basis.

Owns :func:`can_use_modal_sweep` and :func:`run_modal_sweep`, called from
:func:`nasurf.sim.solver.run_segment` for a linear voltage sweep (V(τ) = v_start + ν·τ) of
a model whose particle diffusion is linear: constant D (core and shell), one size class,
no separate shell OCP, symmetric Butler-Volmer (α = ½); surface-redox sites are included
(Frumkin, repulsive or ideal: g ≥ 0). There the particle is a linear system driven by its
surface flux, so the modal amplitudes advance exactly over a step for a flux linear in
time (ETD2), and per step and batch member the unknowns are scalars: the surface logit
u = logit(c_s/c_lim) and, with sites, the coverage. The march itself runs in
:mod:`nasurf.sim.kernels` (numba); this module prepares its inputs, the time grid and
the output.

Time steps (per member, chosen in the kernel): a geometric ramp from 2⁻¹⁴ of the largest
step (:data:`SWEEP_POINT_V` of voltage, or ``Segment.sweep_step`` if smaller) growing by
2^(1/8) per step, so that the double-layer transient after a start or reversal (R·C_dl,
milliseconds with the Na-metal counter electrode) is resolved instead of smeared, then a
local-error control of the current (:data:`SWEEP_RTOL`). Diffusion is ETD2 and the
double layer and sites BDF2: second order throughout.

Charge is conserved to round-off: the host takes A_R·∫N dt with the trapezoid of the
linear flux (which the modal zero mode integrates exactly), the double layer C_dl·a·ΔΔφ,
the sites ΓF·a·Δθ, and ``State.charge`` is advanced by their sum. When a step's solve
fails, ``run_modal_sweep`` returns None and the caller uses the implicit engine.
"""

from __future__ import annotations

import math

import numpy as np

from nasurf.sim.model import Model
from nasurf.sim.parameters import R_GAS, F

#: largest voltage increment per step (``Segment.sweep_step`` when smaller)
SWEEP_POINT_V = 5e-3
#: local-error tolerance of the current per step, relative to the running peak |I|
#: (Milne's estimate of the BDF2/ETD2 error; see kernels.sweep_kernel)
SWEEP_RTOL = 5e-5
#: Whether ``run_segment(engine="auto")`` picks this engine where it applies;
#: ``engine="march"`` forces the implicit engine, e.g. to compare two runs with the same
#: step errors.
MODAL_SWEEP_IN_AUTO = True
#: The sweep starts with a geometric ramp of steps, 2^-14 of the largest step first,
#: doubling while below τ/64 of the stores' time constant τ, then growing by 2^(1/8) per
#: step until 8τ, so that the R·C_dl transient after a start or reversal (τ ~20 ms for
#: the packaged cells) is resolved by BDF2 to second order: the
#: ideal-capacitor reversal i = C·a·v·(1 − 2e^{−t/τ}) is reproduced to 0.3 % of C·a·v
#: (0.41 % with 2^(1/6), 0.93 % with 2^(1/4); tests/test_sim_cv_fast.py)
_RAMP_GROWTH = 2.0 ** (1 / 8)
_RAMP_START = 2.0 ** -14
#: Newton tolerance on the voltage closure of each step [V]; the current error is this over
#: the local dV/dI, far below the discretisation error
_TOL_V = 1e-10


def can_use_modal_sweep(model: Model, seg) -> bool:
    """True when a voltage segment is a linear sweep of a linear one-class particle."""
    if seg.kind != "voltage" or seg.i_limit > 0 or seg.sweep_rate is None:
        return False
    if not (model.linear and model.K == 1 and model.shell_ocp is None):
        return False
    if not np.all(model.alpha == 0.5):
        return False
    sites = model.Gamma > 0
    # attractive Frumkin sites (g < 0) can have several coverages at one potential
    if np.any(sites & ~((model.g_site >= 0) & (model.alpha_site > 0)
                        & (model.alpha_site < 1) & (model.k_site > 0))):
        return False
    if model.surface_ocp is None or model.surface_ocp.kind not in ("table", "lattice_gas"):
        return False
    rate = np.broadcast_to(np.asarray(seg.sweep_rate, dtype=float), (model.B,))
    duration = np.broadcast_to(np.asarray(seg.duration if seg.duration is not None
                                          else np.inf, dtype=float), (model.B,))
    if not (np.all(np.abs(rate) > 0) and np.all(np.isfinite(duration))
            and np.all(duration > 0)):
        return False
    return not _nearly_blocked(model)


def _nearly_blocked(model: Model) -> bool:
    """A host whose exchange current is within round-off of the diffusion map's noise.

    The faradaic current is F·(p − c_s)/g: for a (nearly) blocked host c_s ≈ p and that
    difference is round-off, which the log-form Butler-Volmer turns into volts of η (the
    implicit engine switches to a current-form residual there). Such hosts (k0 of ~1e-20
    m/s and below for the packaged materials) are left to the implicit engine.
    """
    c_half = 0.5 * model.c_max * np.ones((model.B, 1))
    j0_half = model.exchange_current(c_half)[0][:, 0]
    g = model.surface_distance[:, 0] / np.maximum(model.cell_diffusivity(
        model.initial_concentration())[:, 0, -1], 1e-300)
    noise = F * 1e-15 * model.c_max / g
    return bool(np.any(~(j0_half > 1e6 * noise)))


def _max_step(rate: np.ndarray, sweep_step: float) -> np.ndarray:
    """Largest step [s] per member: ``SWEEP_POINT_V`` (or ``sweep_step``) of voltage."""
    spacing = min(sweep_step, SWEEP_POINT_V) if sweep_step > 0 else SWEEP_POINT_V
    return spacing / np.abs(rate)


def _store_time_constant(model: Model, st) -> np.ndarray:
    """Time constant [s] of the stores' transient after a start or reversal (B,).

    The double layer charges through the film and the cell, τ = C_dl·(R_e + a·∂(V − Φ)/∂I)
    (at I = 0, where the Na-metal kinetics is steepest: the longest); surface sites relax
    at ~1/k_s. (A fast faradaic path in parallel only shortens the transient, and then
    carries most of the current.)
    """
    area = model.area_per_kg[:, 0] * st.active
    dh = model.cell_overpotential(np.zeros(model.B))[1]
    tau = model.C_dl * (model.R_e[:, 0] + area * dh)
    sites = model.Gamma > 0
    return np.maximum(tau, np.where(sites, 1.0 / np.maximum(model.k_site, 1e-300), 0.0))


def _kernel_inputs(model: Model, st, seg) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Per-member parameters ``par`` (B, N_PAR), shared constants and the tables."""
    from nasurf.sim import kernels as kn
    from nasurf.sim.state import surface_limit as _surface_limit

    B = model.B
    par = np.empty((B, kn.N_PAR))
    par[:, kn.P_LN_PRE] = np.log(model.j0_scale * F * model.ce_factor ** model.alpha) \
        + model.j0_log_offset
    par[:, kn.P_EC] = model.j0_exp_c
    par[:, kn.P_EA] = model.j0_exp_a
    par[:, kn.P_LN_K0] = np.log(np.maximum(model.k0, 1e-300))
    par[:, kn.P_K0] = model.k0
    par[:, kn.P_F] = model.f
    par[:, kn.P_RE] = model.R_e[:, 0]
    par[:, kn.P_CDL] = model.C_dl
    par[:, kn.P_AREA] = model.area_per_kg[:, 0] * st.active
    par[:, kn.P_LOAD] = model.loading
    par[:, kn.P_RES] = model.asr + model.electrolyte_resistance
    par[:, kn.P_J0NA] = model.j0_counter
    par[:, kn.P_DC] = model.electrolyte_dc_per_current
    par[:, kn.P_SPLIT] = model.electrolyte_split
    par[:, kn.P_GAMMA] = np.maximum(model.Gamma, 0.0)
    par[:, kn.P_E0S] = model.E0_site
    par[:, kn.P_GS] = model.g_site
    par[:, kn.P_LNKS] = np.log(np.maximum(model.k_site, 1e-300))
    par[:, kn.P_AS] = model.alpha_site
    par[:, kn.P_V0] = np.broadcast_to(np.asarray(seg.v_start, dtype=float), (B,))
    par[:, kn.P_RATE] = np.broadcast_to(np.asarray(seg.sweep_rate, dtype=float), (B,))
    D_last = model.cell_diffusivity(st.c)[:, 0, -1]
    par[:, kn.P_EXT] = model.surface_distance[:, 0] / D_last
    par[:, kn.P_AR] = model.face_area[:, 0, -1]
    par[:, kn.P_NA_TOTAL] = np.sum(model.volumes[:, 0], axis=-1) * model.c_max
    duration = np.broadcast_to(np.asarray(seg.duration, dtype=float), (B,))
    h_max = np.minimum(_max_step(par[:, kn.P_RATE], seg.sweep_step), duration / 4)
    par[:, kn.P_DUR] = duration
    par[:, kn.P_HMAX] = h_max
    par[:, kn.P_H0] = _RAMP_START * h_max
    par[:, kn.P_GROW] = _RAMP_GROWTH
    par[:, kn.P_TAU] = _store_time_constant(model, st)
    ocp = model.surface_ocp
    con = np.zeros(kn.N_CON)
    con[kn.C_CLIM] = _surface_limit(model)
    con[kn.C_CVAC] = model.j0_vacancy_limit
    con[kn.C_CMAX] = model.c_max
    con[kn.C_LNCLIM] = math.log(con[kn.C_CLIM])
    empty = np.zeros(2)
    ocp_x = ocp_y = k_x = k_y = empty
    if ocp.kind == "table":
        con[kn.C_OCP_KIND] = kn.OCP_TABLE
        ocp_x, ocp_y = ocp.table._xa, ocp.table._ya
    else:
        con[kn.C_OCP_KIND] = kn.OCP_LOGIT if ocp.x_max <= 1.0 else kn.OCP_LATTICE
        con[kn.C_E0] = ocp.E0
        con[kn.C_NF] = ocp.slope_factor * R_GAS * ocp.temperature / F
        con[kn.C_XMAX] = ocp.x_max
    if model.k0_table is not None:
        con[kn.C_KTAB] = 1.0
        con[kn.C_KCONC] = 1.0 if model.k0_table.x_kind == "concentration" else 0.0
        k_x, k_y = model.k0_table._xa, model.k0_table._ya
    con[kn.C_CE] = model.c_e
    con[kn.C_TPLUS] = model.transference
    con[kn.C_TOL] = _TOL_V
    con[kn.C_RTOL] = SWEEP_RTOL
    return par, con, (ocp_x, ocp_y, k_x, k_y)


def run_modal_sweep(model: Model, st, seg, trace):
    """March one linear voltage sweep in compiled code; None when a step's solve fails."""
    from nasurf.sim import kernels as kn
    from nasurf.sim.state import State
    from nasurf.sim.state import logit_surface as _logit_surface

    B = model.B
    duration = np.broadcast_to(np.asarray(seg.duration, dtype=float), (B,)).astype(float)
    par, con, tables = _kernel_inputs(model, st, seg)
    a0 = np.ascontiguousarray(model.to_modal(st.c)[:, 0, :])
    u0 = _logit_surface(model, st)[:, 0]
    args = (np.ascontiguousarray(model.eig[:, 0, :]),
            np.ascontiguousarray(model.modal_forcing()[:, 0, :]),
            np.ascontiguousarray(model.modal_surface_weights()[:, 0, :]))
    start = (np.ascontiguousarray(u0), np.ascontiguousarray(st.phi[:, 0]),
             np.ascontiguousarray(st.theta[:, 0]), np.ascontiguousarray(st.iF[:, 0]),
             model.average_stoichiometry(st.c))
    # rows: the ramp, the steps at the largest step and some refinement (more on demand)
    rows = int(np.max(duration / par[:, kn.P_HMAX])) * 2 + 200
    for _ in range(4):
        a = a0.copy()
        out = np.full((4, rows, B), np.nan)
        fin = np.zeros((B, 10))
        kn.sweep_kernel(*args, a, par, con, *tables, *start, out[0], out[1], out[2], out[3],
                        fin)
        if not np.any(fin[:, 7] == 2):
            break
        rows *= 4
    if np.any(fin[:, 7] != 0):
        return None
    used = int(np.max(fin[:, 9]))
    out = out[:, :used]
    trace.add_rows(st.t[None] + out[0], out[1], out[2], out[3], seg.index)
    has_sites = model.Gamma > 0
    return State(t=st.t + duration, c=model.from_modal(a[:, None, :]),
                 phi=fin[:, 0:1].copy(),
                 theta=np.where(has_sites[:, None], fin[:, 1:2], st.theta),
                 Phi=fin[:, 3].copy(), I=fin[:, 4].copy(), iF=fin[:, 2:3].copy(),
                 V=fin[:, 5].copy(), active=st.active.copy(), sei_left=st.sei_left.copy(),
                 charge=st.charge + fin[:, 6])
