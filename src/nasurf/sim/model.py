"""The core-shell particle model of a Na half cell, discretised once and ready to solve.

This module owns the physics and its spatial discretisation; :mod:`nasurf.sim.solver`
owns time stepping. A :class:`Model` holds, for a batch of B parameter sets and K particle
size classes, the finite-volume mesh (a face exactly on the core/shell interface), the
diffusion operator with harmonic-mean face diffusivities, its eigen-decomposition (used for
exact-in-time propagation when D does not depend on c), and the interface kinetics:

* insertion: Butler-Volmer, i_F = j0 [exp(α_a f η) − exp(−α_c f η)], η = Δφ − U(c_s),
  j0 = s·F·k0·(c_e/c_e,ref)^α_a·c_s^α_c·(c_max − c_s)^α_a  (s = 1, or ½ for Chayambuka's form);
* surface pseudocapacitive store: Γ sites with coverage θ (Na-occupied), Frumkin kinetics
  i_pc = k_s F Γ [θ e^{α f η'} − (1−θ) e^{−(1−α) f η'}], η' = Δφ − E0 + (g/f)(θ − ½);
* double layer i_dl = C_dl dΔφ/dt;
* particle electronic resistance R_e = R/σ_eq with the coated-sphere (Maxwell) effective
  conductivity of core and shell, in film form (Δφ = Φ − R_e·i_total);
* half cell: V = Φ + I_A·ASR + (2/f)·asinh(I_A/(2 j0,Na)) [+ electrolyte correction].

Currents are anodic positive (desodiation of the working electrode), per m² of particle
surface for local densities and per kg of active material for the applied current.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh_tridiagonal

from nasurf.errors import ValidationError
from nasurf.sim.parameters import R_GAS, F, ParameterSet, Table1D

# Fields that may vary across a batch (scalars only; tables and the OCP are shared).
BATCHABLE = (
    "particle_radius", "diffusivity", "rate_constant", "transfer_coefficient", "j0_scale",
    "electronic_conductivity", "double_layer_capacitance", "shell_thickness",
    "shell_diffusivity", "shell_conductivity", "site_density", "site_potential",
    "site_interaction", "site_rate_constant", "site_transfer_coefficient", "mass_loading",
    "area_resistance", "counter_exchange_current", "temperature", "bonding_factor",
    "lam_coefficient", "sei_capacity", "sei_current_fraction", "electrolyte_conductivity",
    "volume_change", "initial_stoichiometry",
)


@dataclass(frozen=True)
class MeshSpec:
    """Radial mesh: ``n_core`` cells in the core, ``n_shell`` in the shell.

    Without a shell the particle gets ``n_core + n_shell`` cells. ``surface_refinement`` is
    the ratio of the first to the last cell width of the core (geometric grading toward the
    interface or surface); the shell is uniform unless ``shell_refinement`` > 1.
    """

    n_core: int = 24
    n_shell: int = 10
    surface_refinement: float = 6.0
    shell_refinement: float = 1.0

    def __post_init__(self) -> None:
        if self.n_core < 2 or self.n_shell < 1:
            raise ValidationError("a mesh needs n_core >= 2 and n_shell >= 1", field="mesh")
        if self.surface_refinement < 1 or self.shell_refinement < 1:
            raise ValidationError("refinement ratios must be >= 1", field="mesh")


def _graded(n: int, ratio: float) -> np.ndarray:
    """n cell widths summing to 1, shrinking geometrically so that first/last = ratio."""
    if n == 1 or ratio == 1.0:
        return np.full(n, 1.0 / n)
    q = ratio ** (-1.0 / (n - 1))
    w = q ** np.arange(n)
    return w / w.sum()


def radial_edges(radius: float, shell: float, mesh: MeshSpec) -> np.ndarray:
    """Cell edges from 0 to ``radius``; with a shell, one edge sits exactly on R − shell."""
    if shell <= 0:
        w = _graded(mesh.n_core + mesh.n_shell, mesh.surface_refinement) * radius
        edges = np.concatenate([[0.0], np.cumsum(w)])
    else:
        rc = radius - shell
        wc = _graded(mesh.n_core, mesh.surface_refinement) * rc
        ws = _graded(mesh.n_shell, mesh.shell_refinement) * shell
        edges = np.concatenate([[0.0], np.cumsum(wc), rc + np.cumsum(ws)])
        edges[mesh.n_core] = rc
    edges[-1] = radius
    return edges


def coated_sphere_conductivity(sigma_core: np.ndarray, sigma_shell: np.ndarray,
                               core_volume_fraction: np.ndarray) -> np.ndarray:
    """Maxwell's effective conductivity of a sphere with a concentric shell.

    σ_eq = σ_s [(σ_c + 2σ_s) + 2φ(σ_c − σ_s)] / [(σ_c + 2σ_s) − φ(σ_c − σ_s)], φ = (R_c/R)³
    (J. C. Maxwell, A Treatise on Electricity and Magnetism, 1873; Hashin 1962).
    """
    sc, ss, phi = sigma_core, sigma_shell, core_volume_fraction
    num = (sc + 2 * ss) + 2 * phi * (sc - ss)
    den = (sc + 2 * ss) - phi * (sc - ss)
    return ss * num / den


def _broadcast(values: Mapping[str, np.ndarray], name: str, default: float, b: int) -> np.ndarray:
    v = values.get(name, default)
    arr = np.asarray(v, dtype=float)
    if arr.ndim == 0:
        return np.full(b, float(arr))
    if arr.shape != (b,):
        raise ValidationError(f"override must have shape ({b},), got {arr.shape}", field=name)
    return arr


@dataclass
class Model:
    """A discretised half-cell model for a batch of B parameter sets and K size classes.

    Arrays are shaped (B,) for cell-level scalars, (B, K) for per-class scalars and
    (B, K, N) for per-cell values. Built by :func:`build_model`; mutate nothing after build
    except through :meth:`with_overrides` (which rebuilds what depends on the change).
    """

    params: ParameterSet
    mesh: MeshSpec
    overrides: dict[str, np.ndarray]
    B: int
    K: int
    N: int
    # geometry
    radius: np.ndarray          # (B,K)
    edges: np.ndarray           # (B,K,N+1)
    centers: np.ndarray         # (B,K,N)
    volumes: np.ndarray         # (B,K,N)
    face_area: np.ndarray       # (B,K,N+1)
    in_shell: np.ndarray        # (B,K,N) bool
    mass_fraction: np.ndarray   # (B,K)
    area_per_kg: np.ndarray     # (B,K) particle surface per kg active material [m2/kg]
    # transport and kinetics
    c_max: float
    D_core: float | Table1D
    D_shell: float | Table1D
    D_core_scale: np.ndarray    # (B,) multiplies the (possibly tabulated) core D
    D_shell_scale: np.ndarray   # (B,)
    linear: bool                # D independent of c -> exact modal propagation
    k0: np.ndarray              # (B,) scale of the rate constant (table or value)
    k0_table: Table1D | None
    alpha: np.ndarray           # (B,)
    j0_scale: np.ndarray
    ce_factor: np.ndarray       # (B,) (c_e/c_e,ref)
    R_e: np.ndarray             # (B,K) particle electronic resistance [ohm m2]
    C_dl: np.ndarray            # (B,)
    Gamma: np.ndarray           # (B,)
    E0_site: np.ndarray
    g_site: np.ndarray
    k_site: np.ndarray
    alpha_site: np.ndarray
    # cell level
    loading: np.ndarray         # (B,) kg/m2
    asr: np.ndarray             # (B,) ohm m2
    j0_counter: np.ndarray      # (B,)
    T: np.ndarray               # (B,)
    f: np.ndarray               # (B,) F/RT
    electrolyte_resistance: np.ndarray   # (B,) ohm m2 of the quasi-steady electrolyte
    electrolyte_dc_per_current: np.ndarray  # (B,) mol m-3 per A m-2
    transference: float
    c_e: float
    # degradation
    lam_rate: np.ndarray        # (B,) fractional LAM per cycle per unit depth of sodiation
    sei_capacity: np.ndarray    # (B,) C/kg
    sei_fraction: np.ndarray    # (B,)
    x0: np.ndarray              # (B,) initial stoichiometry
    # modal decomposition (linear models)
    eig: np.ndarray | None = None      # (B,K,N) eigenvalues (<= 0)
    U: np.ndarray | None = None        # (B,K,N,N) orthonormal eigenvectors of W^-1/2 K W^-1/2
    U_last: np.ndarray | None = None   # (B,K,N) last row of U
    sqrtW: np.ndarray | None = None    # (B,K,N)

    # ---------------------------------------------------------------------------------
    @property
    def has_capacitance(self) -> bool:
        return bool(np.any(self.C_dl > 0) or np.any(self.Gamma > 0))

    @property
    def surface_distance(self) -> np.ndarray:
        """Distance from the last cell centre to the surface (B,K)."""
        return self.radius - self.centers[..., -1]

    def cell_diffusivity(self, c: np.ndarray) -> np.ndarray:
        """D in each cell (B,K,N) at concentrations c (harmonic face means built from it)."""
        dc = _eval(self.D_core, c, self.c_max) * self.D_core_scale[:, None, None]
        ds = _eval(self.D_shell, c, self.c_max) * self.D_shell_scale[:, None, None]
        return np.where(self.in_shell, ds, dc)

    def face_conductance(self, D_cells: np.ndarray) -> np.ndarray:
        """G_j = A_j / (d⁻/D⁻ + d⁺/D⁺) on the N−1 interior faces (harmonic mean of D)."""
        r_f = self.edges[..., 1:-1]
        d_minus = r_f - self.centers[..., :-1]
        d_plus = self.centers[..., 1:] - r_f
        return self.face_area[..., 1:-1] / (d_minus / D_cells[..., :-1]
                                             + d_plus / D_cells[..., 1:])

    def surface_concentration(self, c: np.ndarray, flux_in: np.ndarray,
                              D_last: np.ndarray | None = None) -> np.ndarray:
        """c at r = R from the last cell and the inward molar flux (B,K)."""
        if D_last is None:
            D_last = self.cell_diffusivity(c)[..., -1]
        return c[..., -1] + flux_in * self.surface_distance / D_last

    def average_stoichiometry(self, c: np.ndarray) -> np.ndarray:
        """Mass-weighted mean x over classes (B,)."""
        x_k = np.sum(c * self.volumes, axis=-1) / np.sum(self.volumes, axis=-1) / self.c_max
        return np.sum(x_k * self.mass_fraction, axis=-1)

    def sodium_content(self, c: np.ndarray) -> np.ndarray:
        """Na per kg of active material [mol/kg] (B,), exact FV quadrature."""
        per_particle = np.sum(c * self.volumes, axis=-1)  # mol per particle
        particle_volume = 4.0 / 3.0 * np.pi * self.radius ** 3
        return np.sum(per_particle / particle_volume * self.mass_fraction, axis=-1) \
            / self.params.density

    def initial_concentration(self) -> np.ndarray:
        return np.broadcast_to((self.x0 * self.c_max)[:, None, None],
                               (self.B, self.K, self.N)).copy()

    # ---- kinetics ---------------------------------------------------------------------
    def ocp(self, cs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """U(c_s) and dU/dc_s."""
        x = cs / self.c_max
        return self.params.ocp(x), self.params.ocp.derivative(x) / self.c_max

    def exchange_current(self, cs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """j0(c_s) [A m-2] and dj0/dc_s, with c_s kept inside (0, c_max)."""
        cm = self.c_max
        eps = 1e-290 * cm  # no artificial floor: j0 -> 0 smoothly as c_s -> 0 or c_max
        c = np.clip(cs, eps, cm - eps)
        a = self.alpha[:, None]
        if self.k0_table is not None:
            tab = self.k0_table
            xk = c if tab.x_kind == "concentration" else c / cm
            dxk = 1.0 if tab.x_kind == "concentration" else 1.0 / cm
            k = tab(xk) * self.k0[:, None]
            dk = tab.derivative(xk) * dxk * self.k0[:, None]
        else:
            k = np.broadcast_to(self.k0[:, None], c.shape)
            dk = 0.0
        pre = self.j0_scale[:, None] * F * self.ce_factor[:, None] ** a
        with np.errstate(divide="ignore", invalid="ignore"):
            g = c ** (1 - a) * (cm - c) ** a
            dg = (1 - a) * c ** (-a) * (cm - c) ** a - a * c ** (1 - a) * (cm - c) ** (a - 1)
        dg = np.nan_to_num(dg, nan=0.0, posinf=0.0, neginf=0.0)
        inside = (cs > eps) & (cs < cm - eps)
        return pre * k * g, np.where(inside, pre * (dk * g + k * dg), 0.0)

    def cell_overpotential(self, I_g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """V − Φ as a function of the specific current I_g [A/kg] and its derivative."""
        IA = I_g * self.loading
        f = self.f
        x = IA / (2 * self.j0_counter)
        h = IA * (self.asr + self.electrolyte_resistance) + 2.0 / f * np.arcsinh(x)
        dh = self.loading * (self.asr + self.electrolyte_resistance
                             + 1.0 / (f * self.j0_counter * np.sqrt(1 + x * x)))
        if np.any(self.electrolyte_dc_per_current > 0):
            c0 = self.c_e
            half = np.clip(0.5 * IA * self.electrolyte_dc_per_current, -0.99 * c0, 0.99 * c0)
            t = self.transference
            h = h + 2 * (1 - t) / f * np.log((c0 + half) / (c0 - half))
            dhalf = np.where(np.abs(half) < 0.99 * c0,
                             0.5 * self.loading * self.electrolyte_dc_per_current, 0.0)
            dh = dh + 2 * (1 - t) / f * dhalf * (1 / (c0 + half) + 1 / (c0 - half))
        return h, dh

    # ---- modal decomposition ------------------------------------------------------------
    def build_modes(self) -> None:
        """Eigen-decompose W⁻½ K W⁻½ (K: diffusion operator, W: cell volumes)."""
        D = self.cell_diffusivity(self.initial_concentration())
        G = self.face_conductance(D)                      # (B,K,N-1)
        W = self.volumes
        sq = np.sqrt(W)
        diag = np.zeros_like(W)
        diag[..., :-1] -= G
        diag[..., 1:] -= G
        off = G / (sq[..., :-1] * sq[..., 1:])
        d = diag / W
        lam = np.empty_like(W)
        U = np.empty((*W.shape, self.N))
        # LAPACK's tridiagonal solver (stemr) is ~30x faster than a dense eigh here.
        for b in range(self.B):
            for k in range(self.K):
                lam[b, k], U[b, k] = eigh_tridiagonal(d[b, k], off[b, k])
        # eigh_tridiagonal sorts ascending: the conserved (zero) mode comes last.
        # The conserved mode is exactly the constant vector: remove round-off from λ0.
        lam[..., -1] = 0.0
        U[..., :, -1] = sq / np.sqrt(np.sum(W, axis=-1, keepdims=True))
        self.eig = np.minimum(lam, 0.0)
        self.U = U
        self.U_last = U[..., -1, :]
        self.sqrtW = sq

    def to_modal(self, c: np.ndarray) -> np.ndarray:
        assert self.U is not None and self.sqrtW is not None
        return np.einsum("bkni,bkn->bki", self.U, c * self.sqrtW)

    def from_modal(self, a: np.ndarray) -> np.ndarray:
        assert self.U is not None and self.sqrtW is not None
        return np.einsum("bkni,bki->bkn", self.U, a) / self.sqrtW

    def modal_forcing(self) -> np.ndarray:
        """β = Vᵀ e_N A_R: modal response to a unit inward surface flux (B,K,N)."""
        assert self.U_last is not None and self.sqrtW is not None
        return self.U_last * (self.face_area[..., -1] / self.sqrtW[..., -1])[..., None]

    def modal_surface_weights(self) -> np.ndarray:
        """w with c_N = w·a (B,K,N)."""
        assert self.U_last is not None and self.sqrtW is not None
        return self.U_last / self.sqrtW[..., -1][..., None]


def _eval(D: float | Table1D, c: np.ndarray, c_max: float) -> np.ndarray:
    if isinstance(D, Table1D):
        return D(c) if D.x_kind == "concentration" else D(c / c_max)
    return np.full(c.shape, float(D))


def build_model(params: ParameterSet, *, mesh: MeshSpec | None = None,
                overrides: Mapping[str, Sequence[float] | np.ndarray | float] | None = None,
                batch_size: int | None = None) -> Model:
    """Discretise ``params`` for a batch of parameter sets.

    ``overrides`` maps fields of :data:`BATCHABLE` to arrays of shape (B,) (or scalars);
    tabulated D or k0 are then scaled by the ratio override/nominal so that a batch can vary
    a concentration-dependent property by a factor.
    """
    mesh = mesh or MeshSpec()
    ov = {k: np.asarray(v, dtype=float) for k, v in (overrides or {}).items()}
    bad = sorted(set(ov) - set(BATCHABLE))
    if bad:
        raise ValidationError(f"cannot vary this parameter in a batch; batchable: "
                              f"{', '.join(BATCHABLE)}", field=bad[0])
    sizes = {v.size for v in ov.values() if v.ndim > 0}
    if len(sizes) > 1:
        raise ValidationError("all batch overrides must have the same length", field="overrides")
    B = batch_size or (sizes.pop() if sizes else 1)
    p = params

    def val(name: str) -> np.ndarray:
        nominal = getattr(p, name)
        if isinstance(nominal, Table1D):
            nominal = 1.0
        return _broadcast(ov, name, float(nominal), B)

    # size classes
    if p.size_distribution is not None:
        radii = np.asarray(p.size_distribution.radii, dtype=float)
        wfrac = np.asarray(p.size_distribution.mass_fractions, dtype=float)
        scale = val("particle_radius") / p.particle_radius
        R = radii[None, :] * scale[:, None]
    else:
        wfrac = np.ones(1)
        R = val("particle_radius")[:, None]
    K = R.shape[1]
    shell = val("shell_thickness")
    if np.any(shell[:, None] >= R):
        raise ValidationError("shell thickness must be smaller than every particle radius",
                              field="shell_thickness")
    has_shell = bool(np.any(shell > 0))
    if has_shell and np.any(shell <= 0):
        raise ValidationError("a batch must not mix particles with and without a shell "
                              "(the meshes differ)", field="shell_thickness")
    N = mesh.n_core + mesh.n_shell
    edges = np.empty((B, K, N + 1))
    for b in range(B):
        for k in range(K):
            edges[b, k] = radial_edges(R[b, k], shell[b] if has_shell else 0.0, mesh)
    centers = 0.5 * (edges[..., 1:] + edges[..., :-1])
    volumes = 4.0 / 3.0 * np.pi * (edges[..., 1:] ** 3 - edges[..., :-1] ** 3)
    face_area = 4.0 * np.pi * edges ** 2
    in_shell = np.zeros((B, K, N), dtype=bool)
    if has_shell:
        in_shell[..., mesh.n_core:] = True

    # Diffusivities. A scalar override replaces the value; for a tabulated D(c) the
    # override is a multiplicative factor on the table.
    if isinstance(p.diffusivity, Table1D):
        D_core, D_core_scale = p.diffusivity, _broadcast(ov, "diffusivity", 1.0, B)
    else:
        D_core, D_core_scale = 1.0, val("diffusivity")
    sd = p.shell_diffusivity
    shell_set = isinstance(sd, Table1D) or math.isfinite(sd)
    if "shell_diffusivity" in ov:
        D_shell = sd if isinstance(sd, Table1D) else 1.0
        D_shell_scale = ov["shell_diffusivity"] * np.ones(B)
    elif shell_set:
        D_shell = sd if isinstance(sd, Table1D) else 1.0
        D_shell_scale = np.ones(B) if isinstance(sd, Table1D) else np.full(B, float(sd))
    else:
        D_shell, D_shell_scale = D_core, D_core_scale.copy()
    linear = not isinstance(D_core, Table1D) and not isinstance(D_shell, Table1D)

    k_table = p.rate_constant if isinstance(p.rate_constant, Table1D) else None
    k0 = _broadcast(ov, "rate_constant", 1.0 if k_table is not None else p.rate_constant, B)

    # electronic resistance of each particle class
    sig_c = val("electronic_conductivity")
    sig_s = _broadcast(ov, "shell_conductivity", p.shell_sigma, B)
    phi = ((R - shell[:, None]) / R) ** 3
    sig_eq = coated_sphere_conductivity(sig_c[:, None], sig_s[:, None], phi)
    R_e = R / sig_eq

    T = val("temperature")
    rho = p.density
    area = 3.0 * wfrac[None, :] / (rho * R)

    # quasi-steady electrolyte correction (SPMe class), off when conductivity is 0
    kappa = val("electrolyte_conductivity")
    brug = p.bruggeman
    L_eff_k = (p.separator_thickness / p.separator_porosity ** brug
               + p.electrode_thickness / (3 * p.electrode_porosity ** brug))
    R_el = np.where(kappa > 0, L_eff_k / np.where(kappa > 0, kappa, 1.0), 0.0)
    dc = np.where(kappa > 0, (1 - p.transference_number) * L_eff_k
                  / (F * p.electrolyte_diffusivity), 0.0)

    model = Model(
        params=p, mesh=mesh, overrides=ov, B=B, K=K, N=N, radius=R, edges=edges,
        centers=centers, volumes=volumes, face_area=face_area, in_shell=in_shell,
        mass_fraction=np.broadcast_to(wfrac, (B, K)).copy(), area_per_kg=area,
        c_max=p.c_max, D_core=D_core, D_shell=D_shell, D_core_scale=D_core_scale,
        D_shell_scale=D_shell_scale, linear=linear, k0=k0, k0_table=k_table,
        alpha=val("transfer_coefficient"), j0_scale=val("j0_scale"),
        ce_factor=np.full(B, p.electrolyte_concentration / p.reference_electrolyte_concentration),
        R_e=R_e, C_dl=val("double_layer_capacitance"), Gamma=val("site_density"),
        E0_site=val("site_potential"), g_site=val("site_interaction"),
        k_site=val("site_rate_constant"), alpha_site=val("site_transfer_coefficient"),
        loading=val("mass_loading"), asr=val("area_resistance"),
        j0_counter=val("counter_exchange_current"), T=T, f=F / (R_GAS * T),
        electrolyte_resistance=R_el, electrolyte_dc_per_current=dc,
        transference=p.transference_number, c_e=p.electrolyte_concentration,
        lam_rate=val("lam_coefficient") * val("volume_change") * (1 - val("bonding_factor")),
        sei_capacity=val("sei_capacity"), sei_fraction=val("sei_current_fraction"),
        x0=val("initial_stoichiometry"),
    )
    if linear:
        model.build_modes()
    return model


