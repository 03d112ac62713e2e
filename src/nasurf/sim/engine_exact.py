"""The exact galvanostatic engine: constant current (or rest) on a linear one-class particle.

The semi-discrete diffusion equation is linear with a piecewise-constant surface flux, so
its modal solution a(t) = e^{λt} a0 + φ1(λt)·t·β·N is exact in time. The compiled inner
loop (:mod:`nasurf.sim.exact_kernel`) walks the output grid to the cut-off and refines it
(sub-grid, then safeguarded Illinois) to 1e-11 V; no time-step error.
"""

from __future__ import annotations

import functools

import numpy as np

from nasurf.constants import FARADAY_C_PER_MOL as F
from nasurf.constants import GAS_CONSTANT_J_PER_MOL_K as R_GAS
from nasurf.sim.model import Model
from nasurf.sim.readonly import read_only, remember_first
from nasurf.sim.state import Segment, State, Trace, per_member


def exact_limitation(model: Model, seg: Segment) -> str:
    """Why the exact engine cannot run ``seg`` on ``model`` ('' when it can).

    It needs current control, one size class, a D that does not depend on c and no
    surface-redox store. The double layer is neglected under current control (its charge
    over a full window, C_dl·a·ΔV, is < 1 % of the insertion capacity for the packaged
    materials and only shapes millisecond transients); it is always resolved under
    voltage control (CV).
    """
    if seg.kind != "current":
        return "it solves current-controlled steps only (this step controls the voltage)"
    return _model_limitation(model)


def _model_limitation(model: Model) -> str:
    """The model's part of :func:`exact_limitation`: a function of the model alone,
    decided once per model (kept in its ``__dict__``, as a cached property)."""
    why = model.__dict__.get("_exact_limitation")
    if why is not None:
        return why
    if not model.linear:
        why = "the diffusivity depends on the concentration (or the shell has its own OCP)"
    elif model.K != 1:
        why = f"the particles come in {model.K} size classes (it takes one)"
    elif np.count_nonzero(model.Gamma > 0):
        why = "the material stores charge in surface-redox sites"
    else:
        why = ""
    model.__dict__["_exact_limitation"] = why
    return why


def can_use_exact(model: Model, seg: Segment) -> bool:
    """Exact engine: current control, one size class, D(c) constant, no surface-redox store
    (see :func:`exact_limitation`)."""
    return seg.kind == "current" and not _model_limitation(model)


# output rows refined toward a cut-off: fractions of the stop time, the last the stop itself
# (built once: np.geomspace costs more than a whole kernel call for a few members)
_TAIL_ROWS = np.concatenate([1.0 - np.geomspace(0.05, 1e-4, 12), [1.0]])
_TAIL_ROWS.flags.writeable = False


@functools.lru_cache(maxsize=32)
def _unit_grid(n: int, relaxation: bool) -> np.ndarray:
    """Bracketing/output grid on [0, 1]: uniform, or log-spaced for a relaxation (its
    first point at 1e-3 of the rest with the default 150 rows, earlier with more)."""
    g = np.concatenate([[0.0], np.geomspace(min(1e-3, 0.15 / n), 1.0, n - 1)]) if relaxation \
        else np.linspace(0.0, 1.0, n)
    g.flags.writeable = False
    return g


def exact_constants(model: Model) -> tuple[np.ndarray, ...]:
    """Per-model constants of the exact engine (one size class, constant D).

    (λ, 1/λ with 0 for the conserved mode, surface weights w, modal forcing β, the
    last-half-cell resistance δ/D, particle capacity [mol], A_R), each (B, N) or (B,):
    computed once per model (kept in its ``__dict__``, read-only, as a cached property;
    the model cache shares them with every later run of the same model). Contiguous
    whatever B: numba compiles the kernel again for a strided array.
    """
    cached = model.__dict__.get("exact_constants")
    if cached is not None:
        return cached
    lam = model.eig[:, 0, :]
    zero_mode = lam == 0.0
    inv_lam = np.where(zero_mode, 0.0, 1.0 / np.where(zero_mode, 1.0, lam))
    # a linear model has constant D: the surface cell's is the shell's or the core's
    D_last = np.where(model.in_shell[:, 0, -1], model.D_shell_scale, model.D_core_scale)
    cap = model.c_max * np.sum(model.volumes, axis=-1)[:, 0]
    out = read_only((lam, inv_lam, model.modal_surface_weights()[:, 0, :],
                     model.modal_forcing()[:, 0, :], model.surface_distance[:, 0] / D_last,
                     cap, np.ascontiguousarray(model.face_area[:, 0, -1])))
    model.__dict__["exact_constants"] = out
    return out


def exact_kernel_inputs(model: Model) -> tuple[np.ndarray, ...]:
    """Interface data of the compiled exact engine (:mod:`nasurf.sim.exact_kernel`).

    (con, kin, ocp_x, ocp_y, k_x, k_y): shared constants, per-member kinetics
    (pre-factor with k0, exponents of the j0 law, α, F/RT) and the OCP / k0 tables
    (two-point placeholders where there is none); once per model, as
    :func:`exact_constants`.
    """
    cached = model.__dict__.get("exact_kernel_inputs")
    if cached is not None:
        return cached
    from nasurf.sim import exact_kernel as ek

    ocp = model.surface_ocp or model.params.ocp
    con = np.zeros(ek.N_CON)
    con[ek.C_CMAX] = model.c_max
    con[ek.C_CVAC] = model.j0_vacancy_limit
    placeholder = np.array([0.0, 1.0])
    ocp_x = ocp_y = placeholder
    if ocp.kind == "table":
        assert ocp.table is not None
        con[ek.C_OCP_TABLE] = 1.0
        ocp_x = np.asarray(ocp.table.x, dtype=float)
        ocp_y = np.asarray(ocp.table.y, dtype=float)
    else:
        con[ek.C_E0] = ocp.E0
        con[ek.C_NRT_F] = ocp.slope_factor * R_GAS * ocp.temperature / F
        con[ek.C_XMAX] = ocp.x_max
    k_x = k_y = placeholder
    if model.k0_table is not None:
        con[ek.C_K_KIND] = (ek.K_CONCENTRATION if model.k0_table.x_kind == "concentration"
                            else ek.K_STOICHIOMETRY)
        k_x = np.asarray(model.k0_table.x, dtype=float)
        k_y = np.asarray(model.k0_table.y, dtype=float)
    kin = np.empty((model.B, ek.N_KIN))
    kin[:, ek.K_PRE] = model.j0_scale * F * model.ce_factor ** model.alpha \
        * np.exp(model.j0_log_offset) * model.k0
    kin[:, ek.K_EC] = model.j0_exp_c
    kin[:, ek.K_EA] = model.j0_exp_a
    kin[:, ek.K_ALPHA] = model.alpha
    kin[:, ek.K_F] = model.f
    out = read_only((con, kin, ocp_x, ocp_y, k_x, k_y))
    model.__dict__["exact_kernel_inputs"] = out
    return out


@functools.lru_cache(maxsize=32)
def _no_sei(B: int) -> np.ndarray:
    # read-only, as model.sei_fraction: the kernel sees one array type either way (numba
    # compiles a function again for each)
    return read_only(np.zeros(B))


def _start(model: Model, c: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Na per particle [mol] (B,), the mean stoichiometry (B,) and the modal
    amplitudes (B, N) of the concentrations ``c``: functions of the model and ``c``.
    Every protocol starts from the model's equilibrium state, so the first ``c`` is
    remembered per model (read-only, as a cached property) with its bytes, and a later
    one that is byte for byte the same gets copies of these (writable, as computed: the
    kernel is compiled for writable arrays)."""
    def compute() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        content = model.particle_content(c)             # Na per particle [mol] (B, K)
        return (content[:, 0], model.average_stoichiometry(c, content=content),
                model.to_modal(c)[:, 0, :])

    content, x_avg, a0 = remember_first(model.__dict__, "_exact_start",
                                        (c.dtype, c.shape, c.tobytes()), compute)
    return content, x_avg, a0


def run_exact(model: Model, st: State, seg: Segment, trace: Trace) -> State:
    B = model.B
    I = per_member(seg.current, B)
    duration = per_member(seg.duration if seg.duration is not None else np.inf, B)
    lam, inv_lam, w, beta, ext, cap, A_R = exact_constants(model)
    con, kin, ocp_x, ocp_y, k_x, k_y = exact_kernel_inputs(model)
    grid = _unit_grid(seg.n_output, not np.count_nonzero(I))
    n_rows = len(grid) + len(_TAIL_ROWS)
    out_t, out_V, out_x = np.empty((3, n_rows, B))     # one allocation
    out_end = np.empty((B, 7))
    a_end = np.empty((B, model.N))
    content, x_avg, a0 = _start(model, st.c)
    x_in = np.empty((B, 2))
    x_in[:, 0] = x_avg
    x_in[:, 1] = model.c_max / model.params.density * st.active
    # imported here: numba loads only when a simulation runs (not for `import nasurf.sim`)
    from nasurf.sim.exact_kernel import galvanostatic_rows

    # the SEI branch, the horizon, the cut-off search and the rows: see exact_kernel
    galvanostatic_rows(
        grid, _TAIL_ROWS, I, duration, st.sei_left,
        model.sei_fraction if seg.sei else _no_sei(B), model.area_per_kg[:, 0] * st.active,
        lam, inv_lam, w, beta, ext, cap, A_R, a0, content, model.cell_overpotential_value(I),
        model.R_e[:, 0], kin, con, ocp_x, ocp_y, k_x, k_y,
        np.array([seg.v_lower, seg.v_upper], dtype=float), x_in,
        out_t, out_V, out_x, out_end, a_end)
    t_stop, V_end, phi_end, iF_end, sei_used = (out_end[:, j] for j in (0, 1, 2, 5, 6))
    if trace.rows:
        trace.add_rows(st.t[None] + out_t, out_V, I[None] + 0.0 * out_t, out_x, seg.index)
    new = State(t=st.t + t_stop, c=model.from_modal(a_end[:, None, :]), phi=phi_end[:, None],
                theta=st.theta.copy(), Phi=phi_end + model.R_e[:, 0] * iF_end,
                I=I, iF=iF_end[:, None], V=V_end, active=st.active.copy(),
                sei_left=st.sei_left - sei_used, charge=st.charge + I * t_stop)
    return new



_run_exact = run_exact
