"""The compiled implicit march: current-controlled segments the exact engine cannot take.

Owns :func:`can_use_compiled_march` (which models and segments it covers) and
:func:`run_compiled_march` (packs the model for :func:`nasurf.sim.march_kernel.march_current`
and turns its output into trace rows and a :class:`~nasurf.sim.solver.State`).

Covered: galvanostatic steps and rests of any number of size classes, D(c) tables in core
and shell, tabulated or lattice-gas OCPs, k0(c) tables, surface-redox sites, double layer,
SEI, electrolyte correction (a constant of the segment under current control). Not
covered (the numpy march runs instead): a shell with its own OCP, α ≠ ½, voltage control.
The scheme is the numpy march's, step for step (see :mod:`nasurf.sim.march_kernel`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from nasurf.sim.engine_march import lift_emptied as _lift_emptied
from nasurf.sim.engine_march import logit_theta as _logit_theta
from nasurf.sim.model import Model
from nasurf.sim.parameters import R_GAS, F, Table1D
from nasurf.sim.readonly import read_only
from nasurf.sim.state import State, per_member
from nasurf.sim.state import logit_surface as _logit_surface

#: output rows reserved per member before a retry with a larger buffer
_ROWS = 1024


def can_use_compiled_march(model: Model, seg) -> bool:
    """Current control, α = ½ everywhere, no shell OCP (the model's part decided once
    per model, kept in its ``__dict__`` as a cached property)."""
    if seg.kind != "current":
        return False
    ok = model.__dict__.get("_compiled_march_covers")
    if ok is None:
        ok = model.__dict__["_compiled_march_covers"] = (
            model.shell_ocp is None and bool(np.all(model.alpha == 0.5))
            and model.surface_ocp is not None
            and model.surface_ocp.kind in ("table", "lattice_gas"))
    return ok


def _table_arrays(t: float | Table1D) -> tuple[int, np.ndarray, np.ndarray]:
    from nasurf.sim import march_kernel as mk

    if isinstance(t, Table1D):
        kind = mk.T_CONCENTRATION if t.x_kind == "concentration" else mk.T_STOICHIOMETRY
        return kind, np.asarray(t.x, dtype=float), np.asarray(t.y, dtype=float)
    return mk.T_NONE, np.array([0.0, 1.0]), np.array([1.0, 1.0])


def _constants(model: Model) -> Mapping[str, Any]:
    """Everything of a model the kernel needs that does not change between segments."""
    cached = model.__dict__.get("_compiled_march_inputs")
    if cached is not None:
        return cached
    from nasurf.sim import march_kernel as mk
    from nasurf.sim.state import surface_limit as _surface_limit

    B = model.B
    con = np.zeros(mk.N_CON)
    con[mk.C_CMAX] = model.c_max
    con[mk.C_CLIM] = _surface_limit(model)
    con[mk.C_CVAC] = model.j0_vacancy_limit
    ocp = model.surface_ocp
    placeholder = np.array([0.0, 1.0])
    ocp_x = ocp_y = placeholder
    if ocp.kind == "table":
        con[mk.C_OCP_MODE] = mk.OCP_TABLE
        ocp_x = np.asarray(ocp.table.x, dtype=float)
        ocp_y = np.asarray(ocp.table.y, dtype=float)
    else:
        con[mk.C_OCP_MODE] = mk.OCP_LATTICE_U if ocp.x_max <= 1.0 else mk.OCP_LATTICE_X
        con[mk.C_E0] = ocp.E0
        con[mk.C_NRT_F] = ocp.slope_factor * R_GAS * ocp.temperature / F
        con[mk.C_XMAX] = ocp.x_max
    k_kind, k_x, k_y = _table_arrays(model.k0_table if model.k0_table is not None else 1.0)
    con[mk.C_K_KIND] = k_kind
    dc_kind, dc_x, dc_y = _table_arrays(model.D_core)
    ds_kind, ds_x, ds_y = _table_arrays(model.D_shell)
    con[mk.C_DC_KIND] = dc_kind
    con[mk.C_DS_KIND] = ds_kind
    con[mk.C_BASIS] = model.params.capacity_basis_value
    par = np.zeros((B, mk.N_PAR))
    par[:, mk.P_LNPRE] = np.log(model.j0_scale * F * model.ce_factor ** model.alpha) \
        + model.j0_log_offset
    par[:, mk.P_EC] = model.j0_exp_c
    par[:, mk.P_EA] = model.j0_exp_a
    par[:, mk.P_K0] = model.k0
    par[:, mk.P_F] = model.f
    par[:, mk.P_CDL] = model.C_dl
    par[:, mk.P_GAMMA] = model.Gamma
    par[:, mk.P_E0S] = model.E0_site
    par[:, mk.P_GS] = model.g_site
    par[:, mk.P_KS] = model.k_site
    par[:, mk.P_AS] = model.alpha_site
    # a constant D is folded into its scale (as Model.cell_diffusivity does)
    par[:, mk.P_DCS] = model.D_core_scale * (1.0 if dc_kind else float(model.D_core))
    par[:, mk.P_DSS] = model.D_shell_scale * (1.0 if ds_kind else float(model.D_shell))
    par[:, mk.P_SEIF] = model.sei_fraction
    r_f = model.edges[..., 1:-1]
    out = {
        "con": con, "par": par, "vol": np.ascontiguousarray(model.volumes),
        "dm": np.ascontiguousarray(r_f - model.centers[..., :-1]),
        "dp": np.ascontiguousarray(model.centers[..., 1:] - r_f),
        "Af": np.ascontiguousarray(model.face_area[..., 1:-1]),
        "AR": np.ascontiguousarray(model.face_area[..., -1]),
        "sdist": np.ascontiguousarray(model.surface_distance),
        "in_shell": np.ascontiguousarray(model.in_shell[0, 0]),
        "Re": np.ascontiguousarray(model.R_e),
        "mfrac": np.ascontiguousarray(model.mass_fraction),
        "tables": (ocp_x, ocp_y, k_x, k_y, dc_x, dc_y, ds_x, ds_y),
    }
    if model.linear:
        con[mk.C_LINEAR] = 1.0
        U, sqW = np.ascontiguousarray(model.U), np.ascontiguousarray(model.sqrtW)
        # U·√W of the projections: the kernel's (U_ni·√W_n)·c_n, its product computed once
        out["modal"] = (U, np.ascontiguousarray(model.eig), sqW,
                        np.ascontiguousarray(model.modal_forcing()),
                        np.ascontiguousarray(model.modal_surface_weights()),
                        np.ascontiguousarray(U * sqW[..., None]))
    else:
        one = np.zeros((B, model.K, 1))
        out["modal"] = (np.zeros((B, model.K, 1, 1)), one, one, one, one,
                        np.zeros((B, model.K, 1, 1)))
    # read-only, as the model they come from (the cache shares them between runs); a
    # read-only mapping too, so that the model cache hands it to every run as it is
    # instead of rebuilding a dict per copy (a third of a cache hit)
    inputs = model.__dict__["_compiled_march_inputs"] = MappingProxyType(read_only(out))
    return inputs


def _start(model: Model, st: State) -> tuple[State, np.ndarray, np.ndarray]:
    """A segment's start for the kernel: the state with emptied surfaces lifted (as the
    numpy march: an emptied surface, c ~ ±1e-14, starts at the floor) and its unknowns
    packed as the kernel takes them, vk0 (B, K, N_VK: Δφ, θ, i_F, u, w; u and w the
    logits of the surface and the sites) and sc0 (B, N_SC: Φ, V, SEI left, charge, t).
    These are functions of the model and the state, and every protocol starts from the
    model's equilibrium state: the first start at t = 0 that needs no lift is remembered
    per model (read-only, as a cached property) with every field's bytes, and a later
    start that is byte for byte the same gets writable copies of its vk0 and sc0."""
    key = None
    if not np.count_nonzero(st.t):
        key = tuple((v.dtype, v.shape, v.tobytes()) if isinstance(v, np.ndarray) else v
                    for v in st.__dict__.values())
        hit = model.__dict__.get("_march_start")
        if hit is not None and hit[0] == key:
            return st, hit[1].copy(), hit[2].copy()
    from nasurf.sim import march_kernel as mk

    lifted = _lift_emptied(model, st)
    vk0 = np.empty((model.B, model.K, mk.N_VK))
    vk0[..., mk.V_PHI] = lifted.phi
    vk0[..., mk.V_TH] = lifted.theta
    vk0[..., mk.V_IF] = lifted.iF
    vk0[..., mk.V_U] = _logit_surface(model, lifted)
    vk0[..., mk.V_W] = _logit_theta(lifted.theta)
    sc0 = np.empty((model.B, mk.N_SC))      # np.stack costs more on a handful of members
    sc0[:, mk.S_PHI_E] = lifted.Phi
    sc0[:, mk.S_V] = lifted.V
    sc0[:, mk.S_SEI] = lifted.sei_left
    sc0[:, mk.S_Q] = lifted.charge
    sc0[:, mk.S_T] = lifted.t
    if key is not None and lifted is st and "_march_start" not in model.__dict__:
        model.__dict__["_march_start"] = read_only((key, vk0.copy(), sc0.copy()))
    return lifted, vk0, sc0


def run_compiled_march(model: Model, st, seg, trace):
    """One current-controlled segment on the compiled march; returns the new State."""
    from nasurf.sim import march_kernel as mk

    B = model.B
    k_in = _constants(model)
    con = k_in["con"].copy()
    par = k_in["par"].copy()
    I = per_member(seg.current, B)
    duration = per_member(seg.duration if seg.duration is not None else np.inf, B)
    par[:, mk.P_I] = I
    par[:, mk.P_DUR] = duration
    par[:, mk.P_H] = model.cell_overpotential_value(I)
    con[mk.C_VLO] = seg.v_lower
    con[mk.C_VHI] = seg.v_upper
    con[mk.C_DVMAX] = seg.voltage_step
    con[mk.C_SEI_ON] = 1.0 if seg.sei else 0.0
    ctl = seg.control
    con[mk.C_VTOL] = ctl.v_tolerance
    con[mk.C_DTDIV] = ctl.min_steps
    con[mk.C_VNEAR] = ctl.cutoff_factor
    con[mk.C_VFLOOR] = ctl.v_tolerance_floor
    con[mk.C_NEWTON_TOL] = ctl.newton_tolerance
    con[mk.C_LOCATE_TOL] = ctl.locate_charge_tolerance
    con[mk.C_FIRST] = ctl.first_step
    con[mk.C_REACH] = ctl.cap_reach
    con[mk.C_SETTLE] = ctl.newton_settle
    con[mk.C_ROWS_X] = 1.0 if trace.rows and trace.rows_x else 0.0
    # as the numpy march: an emptied surface (c ~ ±1e-14) starts at the floor
    st, vk0, sc0 = _start(model, st)
    area = np.ascontiguousarray(model.area_per_kg * st.active[:, None])
    c0 = np.ascontiguousarray(st.c, dtype=float)
    # a trace that keeps no rows gets none: the kernel writes rows only below the buffer's
    # length, so an empty buffer leaves the march (and the end state) as it is
    rows = _ROWS if trace.rows else 0
    while True:
        rows_tVx = np.empty((3, rows, B))    # one allocation, not np.full's three
        rows_tVx.fill(np.nan)
        out_t, out_V, out_x = rows_tVx
        out_n = np.zeros(B, dtype=np.int64)
        c_end = np.empty_like(c0)
        vk_end = np.empty_like(vk0)
        sc_end = np.empty_like(sc0)
        stats = np.zeros((B, mk.N_STAT))
        mk.march_current(con, par, k_in["vol"], k_in["dm"], k_in["dp"], k_in["Af"],
                         k_in["AR"], k_in["sdist"], k_in["in_shell"], area, k_in["Re"],
                         k_in["mfrac"], *k_in["tables"], *k_in["modal"], c0, vk0, sc0,
                         out_t, out_V, out_x, out_n, c_end, vk_end, sc_end, stats)
        if not rows or not np.count_nonzero(out_n < 0):     # −1: a member's rows did not fit
            break
        rows *= 8
    if rows:
        n = int(np.maximum.reduce(out_n, initial=0))
        out_t, out_V, out_x = out_t[:n], out_V[:n], out_x[:n]
        trace.add_rows(out_t, out_V, np.where(np.isfinite(out_t), I[None], np.nan), out_x,
                       seg.index)
    return State(t=sc_end[:, mk.S_T], c=c_end, phi=vk_end[..., mk.V_PHI],
                 theta=vk_end[..., mk.V_TH], Phi=sc_end[:, mk.S_PHI_E], I=I,
                 iF=vk_end[..., mk.V_IF], V=sc_end[:, mk.S_V], active=st.active.copy(),
                 sei_left=sc_end[:, mk.S_SEI], charge=sc_end[:, mk.S_Q])


__all__ = ["can_use_compiled_march", "run_compiled_march"]
