"""The exact galvanostatic engine: constant current (or rest) on a linear one-class particle.

The semi-discrete diffusion equation is linear with a piecewise-constant surface flux, so
its modal solution a(t) = e^{λt} a0 + φ1(λt)·t·β·N is exact in time. The compiled inner
loop (:mod:`nasurf.sim.exact_kernel`) walks the output grid to the cut-off and refines it
(sub-grid, then safeguarded Illinois) to 1e-11 V; no time-step error.
"""

from __future__ import annotations

import functools

import numpy as np

from nasurf.sim.model import Model
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
    if not model.linear:
        return "the diffusivity depends on the concentration (or the shell has its own OCP)"
    if model.K != 1:
        return f"the particles come in {model.K} size classes (it takes one)"
    if bool(np.any(model.Gamma > 0)):
        return "the material stores charge in surface-redox sites"
    return ""


def can_use_exact(model: Model, seg: Segment) -> bool:
    """Exact engine: current control, one size class, D(c) constant, no surface-redox store
    (see :func:`exact_limitation`)."""
    return (seg.kind == "current" and model.linear and model.K == 1
            and not bool(np.any(model.Gamma > 0)))


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


def run_exact(model: Model, st: State, seg: Segment, trace: Trace) -> State:
    B = model.B
    I = per_member(seg.current, B)
    duration = per_member(seg.duration if seg.duration is not None else np.inf, B)
    lam, inv_lam, w, beta, ext, cap, A_R = model.exact_constants
    con, kin, ocp_x, ocp_y, k_x, k_y = model.exact_kernel_inputs
    grid = _unit_grid(seg.n_output, not np.count_nonzero(I))
    n_rows = len(grid) + len(_TAIL_ROWS)
    out_t, out_V, out_x = (np.empty((n_rows, B)) for _ in range(3))
    out_end = np.empty((B, 7))
    a_end = np.empty((B, model.N))
    content = model.particle_content(st.c)          # Na per particle [mol] (B, K)
    x_in = np.empty((B, 2))
    x_in[:, 0] = model.average_stoichiometry(st.c, content=content)
    x_in[:, 1] = model.c_max / model.params.density * st.active
    # imported here: numba loads only when a simulation runs (not for `import nasurf.sim`)
    from nasurf.sim.exact_kernel import galvanostatic_rows

    # the SEI branch, the horizon, the cut-off search and the rows: see exact_kernel
    galvanostatic_rows(
        grid, _TAIL_ROWS, I, duration, st.sei_left,
        model.sei_fraction if seg.sei else np.zeros(B), model.area_per_kg[:, 0] * st.active,
        lam, inv_lam, w, beta, ext, cap, A_R, model.to_modal(st.c)[:, 0, :],
        content[:, 0], model.cell_overpotential(I)[0],
        model.R_e[:, 0], kin, con, ocp_x, ocp_y, k_x, k_y,
        np.array([seg.v_lower, seg.v_upper], dtype=float), x_in,
        out_t, out_V, out_x, out_end, a_end)
    t_stop, V_end, phi_end, iF_end, sei_used = (out_end[:, j] for j in (0, 1, 2, 5, 6))
    trace.add_rows(st.t[None] + out_t, out_V, I[None] + 0.0 * out_t, out_x, seg.index)
    new = State(t=st.t + t_stop, c=model.from_modal(a_end[:, None, :]), phi=phi_end[:, None],
                theta=st.theta.copy(), Phi=phi_end + model.R_e[:, 0] * iF_end,
                I=I, iF=iF_end[:, None], V=V_end, active=st.active.copy(),
                sei_left=st.sei_left - sei_used, charge=st.charge + I * t_stop)
    return new



_run_exact = run_exact
