"""The core-shell particle model of a Na half cell, discretised once and ready to solve.

This module owns the physics and its spatial discretisation; :mod:`nasurf.sim.solver`
owns time stepping. A :class:`Model` holds, for a batch of B parameter sets and K particle
size classes, the finite-volume mesh (a face exactly on the core/shell interface), the
diffusion operator with harmonic-mean face diffusivities, its eigen-decomposition (used for
exact-in-time propagation when D does not depend on c), and the interface kinetics:

* insertion: Butler-Volmer, i_F = j0 [exp(α_a f η) − exp(−α_c f η)], η = Δφ − U(c_s),
  j0 = s·F·k0·(c_e/c_e,ref)^α_a·c_s^α_c·(c_max − c_s)^α_a  (s = 1, or ½ for Chayambuka's form)
  ("standard"), or, by default ("consistent"), the same form raised to the slope factor n of
  a lattice-gas OCP and normalised at half filling, j0 ∝ [c_s^α_c (c_lim − c_s)^α_a]^n, so
  that the cathodic rate ∝ (vacancies)^n and the anodic rate ∝ (occupied sites)^n whatever n;
* an optional shell OCP: the surface reaction sees U_shell, and the core/shell interface
  face holds equal chemical potential, U_core(c⁻) = U_shell(c⁺), with flux continuity
  (linearised about the old core-side value in each implicit step: exact at rest);
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

from nasurf.constants import FARADAY_C_PER_MOL as F
from nasurf.constants import GAS_CONSTANT_J_PER_MOL_K as R_GAS
from nasurf.errors import ValidationError
from nasurf.sim.eigenbasis import tridiagonal_eigh
from nasurf.sim.parameters import OCP, ParameterSet, Table1D
from nasurf.sim.physics import exchange_current, symmetric_overpotential
from nasurf.sim.readonly import read_only, remember_first

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
    v = values.get(name)
    if v is None:
        out = np.empty(b)     # np.full costs three times more: this runs ~30x per build
        out.fill(default)
        return out
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
    (B, K, N) for per-cell values. Built by :func:`build_model`, which marks every array
    read-only (as are the per-model caches derived from it): a model is shared, not copied.
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
    electrolyte_split: np.ndarray  # (B,) share of the metal-to-electrode Δc at the metal side
    # degradation
    lam_rate: np.ndarray        # (B,) fractional LAM per cycle per unit depth of sodiation
    sei_capacity: np.ndarray    # (B,) C/kg
    sei_fraction: np.ndarray    # (B,)
    x0: np.ndarray              # (B,) initial stoichiometry
    # interface OCPs and the exchange-current law
    surface_ocp: OCP | None = None     # the OCP the surface reaction sees (shell's or core's)
    shell_ocp: OCP | None = None       # set only when the shell has its own OCP
    j0_exp_c: np.ndarray | None = None   # (B,) exponent of c_s in j0
    j0_exp_a: np.ndarray | None = None   # (B,) exponent of (c_vac − c_s) in j0
    j0_log_offset: np.ndarray | None = None  # (B,) ln of the normalisation factor
    j0_vacancy_limit: float = 0.0      # c_vac: c_s where the reaction's vacancies run out
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
        """Distance from the last cell centre to the surface (B,K), read-only (computed
        once per model: the marches ask for it at every step)."""
        d = self.__dict__.get("_surface_distance")
        if d is None:
            d = self.__dict__["_surface_distance"] = read_only(self.radius
                                                               - self.centers[..., -1])
        return d

    def cell_diffusivity(self, c: np.ndarray, *, surface: bool = False) -> np.ndarray:
        """D in each cell (B,K,N) at concentrations c (harmonic face means built from it);
        ``surface``: the surface cell's alone (B,K), with no D(c) lookup for the others
        (read-only and computed once per model where D does not depend on c)."""
        in_shell = self.in_shell
        if surface:
            D = self.__dict__.get("_surface_diffusivity")
            if D is not None:
                return D
            c, in_shell = c[..., -1:], in_shell[..., -1:]
        dc = self.D_core_scale[:, None, None]
        ds = self.D_shell_scale[:, None, None]
        # a constant D is folded into its scale: broadcasting it costs no (B, K, N) table
        dc = _eval(self.D_core, c, self.c_max) * dc if isinstance(self.D_core, Table1D) \
            else float(self.D_core) * dc
        ds = _eval(self.D_shell, c, self.c_max) * ds if isinstance(self.D_shell, Table1D) \
            else float(self.D_shell) * ds
        D = np.where(in_shell, ds, dc)
        if not surface:
            return D
        if not isinstance(self.D_core, Table1D) and not isinstance(self.D_shell, Table1D):
            self.__dict__["_surface_diffusivity"] = read_only(D[..., 0])
        return D[..., 0]

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
            D_last = self.cell_diffusivity(c, surface=True)
        return c[..., -1] + flux_in * self.surface_distance / D_last

    def particle_content(self, c: np.ndarray) -> np.ndarray:
        """Na per particle of each class [mol] (B,K): the exact FV quadrature of c."""
        return (c * self.volumes).sum(axis=-1)

    def average_stoichiometry(self, c: np.ndarray, *, content: np.ndarray | None = None
                              ) -> np.ndarray:
        """Mass-weighted mean x over classes (B,) (``content``: :meth:`particle_content`)."""
        content = self.particle_content(c) if content is None else content
        total = self.__dict__.get("_volume_sum")         # a model constant: once per model
        if total is None:
            total = self.__dict__["_volume_sum"] = read_only(self.volumes.sum(axis=-1))
        x_k = content / total / self.c_max
        return (x_k * self.mass_fraction).sum(axis=-1)

    def sodium_content(self, c: np.ndarray) -> np.ndarray:
        """Na per kg of active material [mol/kg] (B,), exact FV quadrature."""
        per_particle = self.particle_content(c)          # mol per particle
        particle_volume = 4.0 / 3.0 * np.pi * self.radius ** 3
        return np.sum(per_particle / particle_volume * self.mass_fraction, axis=-1) \
            / self.params.density

    def initial_concentration(self) -> np.ndarray:
        """Uniform x0 in the core; a shell with its own OCP starts in equilibrium with it."""
        c = np.broadcast_to((self.x0 * self.c_max)[:, None, None],
                            (self.B, self.K, self.N)).copy()
        if self.shell_ocp is not None:
            x_shell = self.shell_ocp.inverse(self.params.ocp(self.x0))
            c[..., self.mesh.n_core:] = (x_shell * self.c_max)[:, None, None]
        return c

    # ---- kinetics ---------------------------------------------------------------------
    def ocp(self, cs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """U(c_s) and dU/dc_s."""
        x = cs / self.c_max
        ocp = self.surface_ocp or self.params.ocp
        return ocp(x), ocp.derivative(x) / self.c_max

    def ocp_value(self, cs: np.ndarray) -> np.ndarray:
        """U(c_s) alone (the exact engine needs no derivative)."""
        return (self.surface_ocp or self.params.ocp)(cs / self.c_max)

    def exchange_current_value(self, cs: np.ndarray) -> np.ndarray:
        """j0(c_s) [A m-2] alone, as :meth:`exchange_current` (the exact engine's path)."""
        if self.k0_table is not None:
            return self.exchange_current(cs)[0]
        cm, cv = self.c_max, self.j0_vacancy_limit
        eps = 1e-290 * cm
        c = np.clip(cs, eps, cv - eps * cv / cm)
        pre = self.j0_scale * F * self.ce_factor ** self.alpha * np.exp(self.j0_log_offset) \
            * self.k0
        return exchange_current(pre[:, None], c, cv, self.j0_exp_c[:, None],
                                self.j0_exp_a[:, None])

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
        pre = self.j0_scale[:, None] * F * self.ce_factor[:, None] ** a \
            * np.exp(self.j0_log_offset)[:, None]
        ec = self.j0_exp_c[:, None]
        ea = self.j0_exp_a[:, None]
        cv = self.j0_vacancy_limit
        c = np.clip(cs, eps, cv - eps * cv / cm)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = c ** ec * (cv - c) ** ea
            dg = ec * c ** (ec - 1) * (cv - c) ** ea - ea * c ** ec * (cv - c) ** (ea - 1)
        dg = np.nan_to_num(dg, nan=0.0, posinf=0.0, neginf=0.0)
        inside = (cs > eps) & (cs < cv - eps * cv / cm)
        return pre * k * g, np.where(inside, pre * (dk * g + k * dg), 0.0)

    def cell_overpotential(self, I_g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """V − Φ as a function of the specific current I_g [A/kg] and its derivative."""
        return self._cell_overpotential(I_g, True)  # type: ignore[return-value]

    def cell_overpotential_value(self, I_g: np.ndarray) -> np.ndarray:
        """V − Φ alone (the compiled march and the exact engine need no derivative).

        A function of the model and the current: the first current's value is kept per
        model (read-only, as a cached property) and handed out again as a copy when the
        current is the same byte for byte (a rate sweep repeats its currents)."""
        I_g = np.asarray(I_g, dtype=float)
        return remember_first(self.__dict__, "_cell_overpotential_at",
                              (I_g.shape, I_g.tobytes()),
                              lambda: (self._cell_overpotential(I_g, False)[0],))[0]

    def _cell_overpotential(self, I_g: np.ndarray, derivative: bool
                            ) -> tuple[np.ndarray, np.ndarray | None]:
        IA = I_g * self.loading
        f = self.f
        resistance, electrolyte, lim, diffusion = self._overpotential_constants()
        # the Na-metal counter electrode: symmetric Butler-Volmer
        eta, deta = symmetric_overpotential(IA, self.j0_counter, f)
        h = IA * resistance + eta
        dh = self.loading * (resistance + deta) if derivative else None
        if electrolyte:
            # Quasi-steady profile (uniform reaction): with q = I_A·dc (anodic positive, so
            # q < 0 on sodiation, when Na+ from the metal piles up at x = 0), the salt at the
            # metal is c0 − s·q and its electrode mean c0 + (1 − s)·q (s from salt
            # conservation, see _electrolyte_split); the diffusion potential adds
            # 2(1 − t+)/f · ln(c̄_electrode/c_metal) to V. (q held within ±lim: np.clip's
            # values, without its Python wrappers.)
            c0 = self.c_e
            s = self.electrolyte_split
            q = np.minimum(np.maximum(IA * self.electrolyte_dc_per_current, -lim), lim)
            c_metal = c0 - s * q
            c_bar = c0 + (1 - s) * q
            h = h + diffusion * np.log(c_bar / c_metal)
            if derivative:
                free = np.abs(q) < lim
                dq = np.where(free, self.loading * self.electrolyte_dc_per_current, 0.0)
                dh = dh + diffusion * dq * ((1 - s) / c_bar + s / c_metal)
        return h, dh

    def _overpotential_constants(self) -> tuple[np.ndarray, bool, np.ndarray, np.ndarray]:
        """(ASR + electrolyte resistance, whether the electrolyte correction is on, the
        bound of I_A·dc beyond which the electrolyte is emptied, 2(1 − t+)/f): functions
        of the model alone, computed once (read-only, as a cached property)."""
        k = self.__dict__.get("_overpotential_consts")
        if k is None:
            s = self.electrolyte_split
            k = self.__dict__["_overpotential_consts"] = read_only((
                self.asr + self.electrolyte_resistance,
                bool(np.count_nonzero(self.electrolyte_dc_per_current > 0)),
                0.99 * self.c_e / np.maximum(s, 1 - s),   # beyond: depletion (not modelled)
                2 * (1 - self.transference) / self.f))
        return k

    @property
    def electrolyte_correction(self) -> bool:
        """Whether any member has the quasi-steady electrolyte correction."""
        return self._overpotential_constants()[1]

    def electrolyte_depleted(self, I_g: np.ndarray) -> np.ndarray:
        """Members (B,) whose current I_g [A/kg] would empty the electrolyte at one end.

        The quasi-steady correction (:meth:`cell_overpotential`) holds the salt there at 1 %
        of c_e beyond this current: the cell is then transport-limited, which the model
        does not describe, and its voltage is too optimistic.
        """
        dc = self.electrolyte_dc_per_current
        lim = self._overpotential_constants()[2]
        return (dc > 0) & (np.abs(I_g * self.loading * dc) >= lim)

    def implicit_operator(self, c: np.ndarray, dt: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Backward-Euler diffusion matrix (lower, diag, upper) and source for one step.

        (W/dt + K) c_new = W c/dt + src − A_R N_new e_N, with D lagged at ``c``. Without a
        shell OCP, K is the symmetric harmonic-mean FV operator and src = 0. With one, the
        interface face carries J = G_i (κ c_m + a − c_m+1), where c⁺ = a + κ c⁻ is the
        tangent of the equal-chemical-potential curve U_shell(c⁺) = U_core(c⁻) at the old
        core-side value, and G_i = A g⁻g⁺/(g⁻ + κ g⁺) (g = D/d on either side): a
        non-symmetric but still tridiagonal, conservative operator that reduces to the
        harmonic mean when the OCPs coincide.
        """
        D = self.cell_diffusivity(c)
        G = self.face_conductance(D)
        W = self.volumes / dt[:, None, None]
        lower = -G.copy()
        upper = -G.copy()
        diag = W.copy()
        src = np.zeros_like(c)
        if self.shell_ocp is None:
            diag[..., :-1] += G
            diag[..., 1:] += G
            return lower, diag, upper, src
        m = self.mesh.n_core - 1                   # last core cell; face m is the interface
        core_ocp = self.params.ocp
        cm = self.c_max
        x_lin = np.clip(c[..., m] / cm, 1e-300, None)
        x_plus = self.shell_ocp.inverse(core_ocp(x_lin))
        with np.errstate(divide="ignore", invalid="ignore"):
            kappa = core_ocp.derivative(x_lin) / self.shell_ocp.derivative(x_plus)
        kappa = np.where(np.isfinite(kappa) & (kappa > 0), kappa, 1.0)
        a = (x_plus - kappa * x_lin) * cm
        r_f = self.edges[..., m + 1]
        g_minus = D[..., m] / (r_f - self.centers[..., m])
        g_plus = D[..., m + 1] / (self.centers[..., m + 1] - r_f)
        Gi = self.face_area[..., m + 1] * g_minus * g_plus / (g_minus + kappa * g_plus)
        Gk = G.copy()
        Gk[..., m] = 0.0                            # the interface is added below
        diag[..., :-1] += Gk
        diag[..., 1:] += Gk
        lower[..., m] = -Gi * kappa                 # row m+1, column m
        upper[..., m] = -Gi                         # row m, column m+1
        diag[..., m] += Gi * kappa
        diag[..., m + 1] += Gi
        src[..., m] -= Gi * a
        src[..., m + 1] += Gi * a
        return lower, diag, upper, src

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
        # A tridiagonal eigensolver is ~30x faster than a dense eigh here. A batch
        # often repeats one particle (a rate or scan-rate sweep, a kinetics-only sweep):
        # each distinct operator is decomposed once.
        rows = np.concatenate([d, off], axis=-1).reshape(self.B * self.K, -1)
        first: list[int] = [0]
        inverse = np.zeros(len(rows), dtype=int)
        if not np.all(rows == rows[0]):
            first, seen = [], {}
            for i, r in enumerate(rows):
                u = seen.setdefault(r.tobytes(), len(first))
                if u == len(first):
                    first.append(i)
                inverse[i] = u
        lam_u = np.empty((len(first), self.N))
        U_u = np.empty((len(first), self.N, self.N))
        d_flat, off_flat = d.reshape(-1, self.N), off.reshape(-1, self.N - 1)
        for u, i in enumerate(first):
            lam_u[u], U_u[u] = tridiagonal_eigh(d_flat[i], off_flat[i])
        lam[...] = lam_u[inverse].reshape(lam.shape)
        U[...] = U_u[inverse].reshape(U.shape)
        # eigenvalues come ascending: the conserved (zero) mode comes last.
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


def _j0_law(p: ParameterSet, ocp: OCP, alpha: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Exponents, log-normalisation and vacancy limit of j0 = pre·c_s^e_c·(c_v − c_s)^e_a.

    "standard": e_c = α_c, e_a = α_a, c_v = c_max (PyBaMM's SPM form). "consistent" with a
    lattice-gas OCP of slope factor n and site limit x_max: the activity of inserted Na is
    a = (x/(x_max − x))^n, and Bazant's transition-state form j0 ∝ a^α_c/γ‡ with
    γ‡ = (x_max − x)^−n gives j0 ∝ [x^α_c (x_max − x)^α_a]^n: the cathodic rate is then
    ∝ (x_max − x)^n, so an emptied surface restarts sodiation at once, and the anodic rate
    ∝ x^n. It is normalised to equal the standard j0 at x = x_max/2, so k0 keeps its
    meaning. For n = 1 and x_max = 1 (and for tabulated OCPs) both laws coincide.
    """
    cm = p.c_max
    a_c, a_a = 1.0 - alpha, alpha
    if p.exchange_current_law == "standard" or ocp.kind != "lattice_gas":
        return a_c, a_a, np.zeros_like(alpha), cm
    n = ocp.slope_factor
    cl = min(1.0, ocp.x_max) * cm
    c_half = 0.5 * cl
    offset = (a_c * math.log(c_half) + a_a * math.log(cm - c_half)
              - n * (a_c * math.log(c_half) + a_a * math.log(cl - c_half)))
    return n * a_c, n * a_a, offset, cl


def _electrolyte_split(p: ParameterSet) -> float:
    """Share s of the across-cell Δc lying above c_e at the metal (salt conservation).

    Steady profile with a uniform reaction: linear in the separator, parabolic in the
    electrode; its porosity-weighted mean is c_e, which puts c(0) = c_e + s·Δc with
    Δc = c(0) − c̄_electrode.
    """
    b = p.bruggeman
    es, ep = p.separator_porosity, p.electrode_porosity
    Ls, Lp = p.separator_thickness, p.electrode_thickness
    ds, dp = es ** b, ep ** b            # D_eff / D_e in each region
    # ∫ S dx with c = c(0) − q S(x): separator Ls²/(2 ds); electrode Lp Ls/ds + Lp²/(3 dp)
    mean_S = (es * Ls ** 2 / (2 * ds) + ep * (Lp * Ls / ds + Lp ** 2 / (3 * dp))) \
        / (es * Ls + ep * Lp)
    drop = Ls / ds + Lp / (3 * dp)        # S at the electrode mean
    return mean_S / drop


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
    # copies: the model's arrays (read-only) must not be the caller's override arrays
    ov = {k: np.array(v, dtype=float) for k, v in (overrides or {}).items()}
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
    if not has_shell:
        # without a shell the mesh is one graded profile scaled by each radius
        edges[...] = radial_edges(1.0, 0.0, mesh) * R[..., None]
        edges[..., -1] = R
    else:
        # a batch usually repeats one particle (a rate sweep): each distinct (R, shell)
        # is meshed once
        meshed: dict[tuple[float, float], np.ndarray] = {}
        for b in range(B):
            for k in range(K):
                key = (float(R[b, k]), float(shell[b]))
                e = meshed.get(key)
                if e is None:
                    e = meshed[key] = radial_edges(key[0], key[1], mesh)
                edges[b, k] = e
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
    # a shell with its own OCP makes the interface condition nonlinear: implicit engine
    shell_ocp = p.shell_ocp if has_shell else None
    linear = not isinstance(D_core, Table1D) and not isinstance(D_shell, Table1D) \
        and shell_ocp is None
    surface_ocp = shell_ocp or p.ocp
    alpha = val("transfer_coefficient")
    j0_exp_c, j0_exp_a, j0_offset, c_vac = _j0_law(p, surface_ocp, alpha)

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
    split = _electrolyte_split(p)

    model = Model(
        params=p, mesh=mesh, overrides=ov, B=B, K=K, N=N, radius=R, edges=edges,
        centers=centers, volumes=volumes, face_area=face_area, in_shell=in_shell,
        mass_fraction=np.broadcast_to(wfrac, (B, K)).copy(), area_per_kg=area,
        c_max=p.c_max, D_core=D_core, D_shell=D_shell, D_core_scale=D_core_scale,
        D_shell_scale=D_shell_scale, linear=linear, k0=k0, k0_table=k_table,
        alpha=alpha, j0_scale=val("j0_scale"),
        ce_factor=np.full(B, p.electrolyte_concentration / p.reference_electrolyte_concentration),
        R_e=R_e, C_dl=val("double_layer_capacitance"), Gamma=val("site_density"),
        E0_site=val("site_potential"), g_site=val("site_interaction"),
        k_site=val("site_rate_constant"), alpha_site=val("site_transfer_coefficient"),
        loading=val("mass_loading"), asr=val("area_resistance"),
        j0_counter=val("counter_exchange_current"), T=T, f=F / (R_GAS * T),
        electrolyte_resistance=R_el, electrolyte_dc_per_current=dc,
        transference=p.transference_number, c_e=p.electrolyte_concentration,
        electrolyte_split=np.full(B, split),
        lam_rate=val("lam_coefficient") * val("volume_change") * (1 - val("bonding_factor")),
        sei_capacity=val("sei_capacity"), sei_fraction=val("sei_current_fraction"),
        x0=val("initial_stoichiometry"),
        surface_ocp=surface_ocp, shell_ocp=shell_ocp, j0_exp_c=j0_exp_c, j0_exp_a=j0_exp_a,
        j0_log_offset=j0_offset, j0_vacancy_limit=c_vac,
    )
    if linear:
        model.build_modes()
    read_only(model.__dict__)
    return model


