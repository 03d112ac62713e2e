"""Solver state, protocol segments and the recorded trace: what every engine shares.

Owns :class:`State` (the batch's unknowns), :class:`Segment` (one executable step),
:class:`Trace` (output rows), the equilibrium start (:func:`initial_state`) and the two
surface helpers the marching and modal-sweep engines both need (:func:`surface_limit`,
:func:`logit_surface`). Engines: :mod:`.engine_exact`, :mod:`.engine_march`,
:mod:`.fast_cv`; the dispatcher is :func:`nasurf.sim.solver.run_segment`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nasurf.constants import FARADAY_C_PER_MOL as F
from nasurf.constants import GAS_CONSTANT_J_PER_MOL_K as R_GAS
from nasurf.sim.model import Model
from nasurf.sim.readonly import read_only


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


#: an SEI budget left at most this fraction of the step's starting budget (of 1 C/kg at
#: least) is used up: a step that ends at the SEI end leaves a round-off residue of either
#: sign, and a residue > 0 would switch the SEI share on again for a step of 1e-9 of the
#: characteristic time, a step decision that then differs between the marches
SEI_ROUNDOFF = 1e-9


def per_member(v: object, B: int) -> np.ndarray:
    """A fresh float array (B,) of a segment's per-member value or scalar (current,
    duration) for an engine that writes into it."""
    if type(v) is np.ndarray and v.shape == (B,):
        return v.astype(float)          # the common case, without broadcast_to's cost
    return np.broadcast_to(np.asarray(v, dtype=float), (B,)).astype(float)


def sei_after_step(left, start):
    """The SEI budget [C/kg] a step leaves: ``left`` (its balance after the step from
    ``start``), exactly 0 where that is at most a round-off of ``start``.

    Plain NumPy on a scalar or an array (no ``np.where``): the numpy march calls it on
    arrays, the compiled march compiles the same function (one owner of the rule)."""
    return np.maximum(left, 0.0) * (left > SEI_ROUNDOFF * np.maximum(start, 1.0))


#: Newton iterations of an implicit step of the marches
NEWTON_ITERATIONS = 30


def newton_out_of_reach(dphi, dPhi, iteration):
    """Whether a damped Newton solve of a march step can no longer converge in time.

    ``dphi`` (largest interfacial-potential update of the classes) and ``dPhi`` (electrode
    potential) are the full Newton updates [V] of iteration ``iteration`` (from 0). The
    solve moves a potential by at most 0.25 V per iteration and converges only once the
    full update is within that; along a steady direction the update then shrinks by about
    0.25 V per iteration. At a wall (the host cannot take the current, Φ runs off toward
    −20 V at 0.25 V per iteration) a solve whose update still needs more than twice the
    iterations left has failed: now rather than after all NEWTON_ITERATIONS (the march
    then cuts the step 4-fold, as after a failed solve). Logits are left out (their updates
    shrink faster than linearly near a full or empty surface). Plain NumPy on scalars or
    arrays: the numpy march calls it, the compiled march compiles it (one owner).
    """
    return 4.0 * np.maximum(np.abs(dphi), np.abs(dPhi)) > 2.0 * (NEWTON_ITERATIONS - 1 - iteration)


#: the Newton stop's thresholds at tolerance 1 (:func:`newton_converged`,
#: :func:`newton_update_size`): logit updates and potential updates [V]
LOGIT_STOP = 1e-5
POTENTIAL_STOP_V = 1e-6


def newton_converged(du, u_size, dphi, dPhi, dw, tolerance):
    """Whether the update of a march step's Newton iteration is small enough to stop.

    ``du``/``dw``: the largest update of the surface and coverage logits, ``u_size`` the
    largest |u|, ``dphi``/``dPhi`` the largest interfacial-potential update and the
    electrode potential's [V]; converged when the logits moved by < ``tolerance`` × 1e-5
    (u relative to 1 + |u|) and the potentials by < ``tolerance`` × 1e-6 V. Newton
    converges quadratically: after an update δ the error left is ~δ² (the default 1 leaves
    ~1e-12 V; the capacities' control, 100: ~1e-8 V, far inside its per-step tolerance,
    and saves the iteration that only confirms). The charge balance is closed exactly
    whatever the tolerance. Plain NumPy on scalars or arrays: the numpy march calls it,
    the compiled march compiles it (one owner of the rule).
    """
    return (du < tolerance * LOGIT_STOP * (1.0 + u_size)) \
        & (dphi < tolerance * POTENTIAL_STOP_V) \
        & (abs(dPhi) < tolerance * POTENTIAL_STOP_V) & (dw < tolerance * LOGIT_STOP)


def newton_update_size(du, u_size, dphi, dPhi, dw, tolerance):
    """A march step's Newton update relative to the stop of :func:`newton_converged`: the
    largest of its parts over their thresholds (below 1: that stop holds). Plain NumPy on
    scalars or arrays: both marches call it (one owner of the rule)."""
    return np.maximum(np.maximum(du / (tolerance * LOGIT_STOP * (1.0 + u_size)),
                                 np.maximum(dphi, abs(dPhi)) / (tolerance * POTENTIAL_STOP_V)),
                      dw / (tolerance * LOGIT_STOP))


def newton_settled(size, size_prev, factor):
    """Whether a Newton solve may stop before its next update is computed: that update,
    predicted from the last two, is below ``factor`` × the stop.

    ``size``, ``size_prev``: the last two updates relative to the stop
    (:func:`newton_update_size`), both undamped (``size_prev`` 0: none). Newton converges
    quadratically, δₖ₊₁ ≈ C·δₖ² with C ≈ δₖ/δₖ₋₁², so the next update is ≈ δₖ³/δₖ₋₁²: the
    iteration that would only confirm convergence (most steps of a capacities sweep take
    three, the third a confirmation) is not spent. The state is then off by about that
    update (≤ ``factor`` × 1e-4 V under the capacities' stop, 100: 1e-5 V with its factor
    0.1) where the plain stop leaves ~1e-8 V; the charge balance is closed exactly either
    way. Plain NumPy on scalars or arrays: both marches call it (one owner of the rule).
    """
    return size * size * size < factor * size_prev * size_prev


#: a march's first step under current control, in characteristic times (the curves'
#: control; :class:`StepControl` ``first_step``), and the step the first-step cut is set for
FIRST_STEP = 1e-5


def failed_step_cut(started, first_step=FIRST_STEP):
    """The factor a march cuts its step by after the step's Newton solve failed.

    4-fold once the member has accepted a step of the segment (``started``); 1024-fold on
    its first step: a member that cannot take the current at all (a wall) fails every
    retry until the step is below 1e-11 of the characteristic time, which from the first
    step's 1e-5 took 10 failed solves of ~20 Newton iterations at 4-fold and takes 2 now
    (the same end: the member stops at the cut-off). A control's larger ``first_step`` (in
    characteristic times) is cut by as much more: 2 failed solves still reach the wall, and
    a member that only fails the larger step starts again where 1e-5 would after one cut.
    Plain NumPy on scalars or arrays: the numpy march calls it, the compiled march
    compiles it (one owner of the rule).
    """
    first = (1.0 / 1024.0) * np.minimum(1.0, FIRST_STEP / first_step)
    return 0.25 * started + first * (1 - started)


def cutoff_tolerance(v_tolerance, factor, floor, V, cut):
    """The local-error tolerance [V] of a step from V toward the cut-off ``cut``: the
    control's ``v_tolerance``, shrunk to ``factor`` × the distance to the cut-off (never
    below ``floor``). Plain NumPy on scalars or arrays: :meth:`StepControl.voltage_tolerance`
    calls it, the compiled march compiles it (one owner of the rule)."""
    return np.minimum(v_tolerance, np.maximum(factor * np.abs(V - cut), floor))


#: the floor of the charge a cut-off's location is held to (:func:`locate_step_tolerance`),
#: a fraction of the capacity basis: a member that passes (almost) nothing before the cut-off
#: is held to this share of the basis, not to a vanishing fraction of nothing (0.18-2.6
#: mAh/g over the packaged hosts: the scale of the 1 mAh/g below which the accuracy tests
#: hold a capacity absolutely)
LOCATE_CHARGE_FLOOR = 1e-3


def locate_step_tolerance(tolerance, passed, basis, step_charge):
    """The bracket on the step fraction within which a crossed cut-off counts as located.

    The located state is the bracket's inside end and the charge is linear in the step
    fraction (every store's BDF2 and backward-Euler history is exact for a constant
    current), so its capacity is off by at most the bracket's charge, width ×
    ``step_charge`` (the step's |I|·dt [C/kg]). The bracket is settled below
    ``tolerance`` × max(|``passed``|, LOCATE_CHARGE_FLOOR × ``basis``) of charge
    (``passed``: the segment's charge at the step's start, ``basis``: the capacity basis,
    both C/kg). A ``tolerance`` of 0 gives 0: the marches then locate on the voltage
    alone (within 1e-6 V of the cut-off). No charge in the step (a rest): any bracket.
    Plain NumPy on scalars or arrays: the numpy march calls it, the compiled march compiles
    it (one owner of the rule).
    """
    bound = tolerance * np.maximum(np.abs(passed), LOCATE_CHARGE_FLOOR * basis)
    return bound / np.maximum(step_charge, 1e-300)


#: how much looser the step cap is beyond the control's reach of the cut-off
FAR_CAP = 4.0


def step_cap(dt_max, reach, distance, dV, dt, char):
    """The cap [s] on a march's next step after a step of ``dt`` that moved V by ``dV``
    and left it ``distance`` [V] from the cut-off: ``dt_max`` (char / min_steps), or
    FAR_CAP × that where the control's ``reach`` > 0 and at that step's slope V would take
    more than ``reach`` × ``char`` to get to the cut-off.

    The cap bounds the error that the voltage estimate does not see (a plateau's flat V
    hides the particle's evolving profile); it matters where that error decides the
    crossing: within reach of the cut-off, where the capacity is decided. Farther off, a
    misplaced charge has the rest of the segment to relax and the local-error control
    still holds V (the capacities' worst error against the 10x tighter march stayed
    0.37 % for reach 0.25 to 2 characteristic times and caps 4x to unbounded, while the cap
    halved everywhere, min_steps 10, moves it to 0.85 %). Plain NumPy on scalars or
    arrays: the numpy march calls it, the compiled march compiles it (one owner).
    """
    far = (reach > 0.0) * (distance * dt > reach * char * dV)
    return dt_max * (1.0 + (FAR_CAP - 1.0) * far)


@dataclass(frozen=True)
class StepControl:
    """Time-step control of the implicit marches under a non-zero current.

    ``v_tolerance`` [V]: the local error of V allowed per step (its estimate is the
    distance to the linear extrapolation of the two previous steps); ``min_steps``: the
    step is capped at 1/min_steps of the segment's characteristic time (its duration or the
    time to pass the capacity basis); ``cutoff_factor`` > 0 adds the cut-off
    rule (:func:`cutoff_tolerance`): within reach of the cut-off the tolerance shrinks to
    ``cutoff_factor`` × the distance of V to the cut-off it is heading to (never below
    ``v_tolerance_floor``), because there the voltage error decides when the cut-off is
    crossed: on a plateau just above it (hard carbon's, at 0.01 V), by a large charge.
    ``newton_tolerance`` scales the stop of each step's Newton solve
    (:func:`newton_converged`; 1: updates below 1e-6 V and 1e-5 in the logits).
    ``locate_charge_tolerance`` > 0 settles a crossed cut-off once its capacity is known to
    that fraction (:func:`locate_step_tolerance`), not only once V is within 1e-6 V of it;
    its trials then start Newton on the line from the step's start to its full solution,
    and on a segment's first step the first trial is at that tolerance (V jumps as the
    current switches on, so the start's V misleads the secant). 0: V alone.
    ``first_step``: a segment's first step, in characteristic times; ``cap_reach`` > 0
    lifts the step cap where the cut-off is out of reach (:func:`step_cap`; 0: the cap
    holds everywhere). ``newton_settle`` > 0 also stops a Newton solve once its next
    update, predicted from the last two, is below that fraction of the stop
    (:func:`newton_settled`; 0: only the computed update counts).
    ``voltage_step_factor`` scales the segment's cap on the voltage change per step
    (:attr:`Segment.voltage_step`).

    :data:`CURVES_CONTROL` (the default, the scheme the snapshots and the march-vs-march
    tests pin) keeps the curves to 2 mV per step away from the cut-off;
    :data:`CAPACITIES_CONTROL` is for sweeps that keep only capacities: looser away from
    the cut-off. Both have the cut-off rule (0.02 × the distance) and are within 0.5 % of
    a 10x tighter march on every packaged material and preset
    (tests/test_sim_step_control.py). Without the rule, the 2 mV control puts
    hard_carbon/heterointerfaces at 2C 9 % high (287.7 against 264.06 mAh/g converged).
    """

    v_tolerance: float = 2e-3
    min_steps: float = 40.0
    cutoff_factor: float = 0.0
    v_tolerance_floor: float = 5e-5
    newton_tolerance: float = 1.0
    locate_charge_tolerance: float = 0.0
    first_step: float = FIRST_STEP
    cap_reach: float = 0.0
    newton_settle: float = 0.0
    voltage_step_factor: float = 1.0

    def voltage_tolerance(self, V: np.ndarray, cut: np.ndarray, current: np.ndarray
                          ) -> np.ndarray:
        """Per-member tolerance [V] of a step from voltage V toward the cut-off ``cut``
        (``current``: where the member carries a current); the compiled march
        (:mod:`nasurf.sim.march_kernel`) evaluates the same rule per member."""
        tol = np.full(np.shape(V), self.v_tolerance)
        if self.cutoff_factor <= 0:
            return tol
        near = current & np.isfinite(cut)
        return np.where(near, cutoff_tolerance(self.v_tolerance, self.cutoff_factor,
                                               self.v_tolerance_floor, V,
                                               np.where(near, cut, 0.0)), tol)


#: the march's control for curves (2 mV per step, at least 40 steps per characteristic
#: time; near the cut-off 0.02 × the distance to it, ≥ 50 µV)
CURVES_CONTROL = StepControl(cutoff_factor=0.02)
#: capacity-targeted control for capacities-only sweeps (see StepControl): the tolerance is
#: 0.02 × the distance to the cut-off up to 1 V from it (20 mV beyond), at least 20 steps
#: per characteristic time within half of one of the cut-off (5 beyond, :func:`step_cap`),
#: Newton stopped at 1e-4 V; the first step 3e-4 of the characteristic time (the curves'
#: 1e-5 spends ~5 steps on the start transient, whose errors relax long before a crossing;
#: a member that crosses within it is located on it, 1e-3 costs more rejected steps); a
#: crossed cut-off settled once its capacity is known to 1e-4 (of at least 1e-3 of the
#: capacity basis): 1/50 of the 0.5 % the control is held to
#: (tests/test_sim_step_control.py), as the cut-off's own error; Newton stopped once its
#: next update is predicted below a tenth of its stop (saves the confirming iteration;
#: at the full stop, V off by up to 1e-4 V moved a located cut-off past the charge
#: tolerance, red_p/2d_superlattices at C/2: 1.06 of it); at most
#: 0.3 V per step (the 0.1 V cap cut the start transient into many steps and rejected
#: the first step again and again while the double layer charged; the local-error
#: control and the cut-off rule still bound the steps where the capacity is decided)
CAPACITIES_CONTROL = StepControl(v_tolerance=2e-2, min_steps=20.0, cutoff_factor=0.02,
                                 newton_tolerance=100.0, first_step=3e-4, cap_reach=0.5,
                                 locate_charge_tolerance=1e-4, newton_settle=0.1,
                                 voltage_step_factor=3.0)


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
    max_voltage_step: float = 0.1
    sweep_step: float = 0.02
    n_output: int = 150
    control: StepControl = CURVES_CONTROL

    @property
    def voltage_step(self) -> float:
        """The cap [V] on the voltage change per step of a march: ``max_voltage_step``
        scaled by the control's ``voltage_step_factor`` (both marches read it here)."""
        return self.max_voltage_step * self.control.voltage_step_factor


@dataclass
class Trace:
    """Recorded output rows, kept as blocks of shape (n, B) (NaN where a member did not record).

    Rows arrive one at a time from the marching engine and as whole blocks from the exact
    engine; :meth:`arrays` joins them once at the end.
    """

    t: list[np.ndarray] = field(default_factory=list)
    V: list[np.ndarray] = field(default_factory=list)
    I: list[np.ndarray] = field(default_factory=list)
    x: list[np.ndarray] = field(default_factory=list)
    step: list[np.ndarray] = field(default_factory=list)
    engines: list[str] = field(default_factory=list)   # the engine of each segment, in order
    #: whether anyone reads the rows' x: a run that keeps no trace does not, and the
    #: compiled march then leaves it NaN (its per-row stoichiometry sum is skipped)
    rows_x: bool = True
    #: whether anyone reads the rows at all: a run that keeps no trace and whose recorders
    #: read none (capacities only) drops them here, and the engines need not build them
    rows: bool = True

    def add(self, model: Model, st: State, mask: np.ndarray, step: int) -> None:
        if not self.rows:
            return
        nan = np.full(model.B, np.nan)
        self.t.append(np.where(mask, st.t, nan)[None])
        self.V.append(np.where(mask, st.V, nan)[None])
        self.I.append(np.where(mask, st.I, nan)[None])
        self.x.append(np.where(mask, model.average_stoichiometry(st.c), nan)[None])
        self.step.append(_step_column(1, step))

    def add_rows(self, t: np.ndarray, V: np.ndarray, I: np.ndarray, x: np.ndarray,
                 step: int) -> None:
        """Rows from the exact engine: arrays (n, B)."""
        if not self.rows:
            return
        self.t.append(t)
        self.V.append(V)
        self.I.append(I)
        self.x.append(x)
        self.step.append(_step_column(t.shape[0], step))

    def arrays(self) -> dict[str, np.ndarray]:
        if not self.t:
            return {"t": np.zeros((0, 0))}
        return {"t": np.concatenate(self.t), "V": np.concatenate(self.V),
                "I": np.concatenate(self.I), "x": np.concatenate(self.x),
                "step": np.concatenate(self.step)}


def _step_column(n: int, step: int) -> np.ndarray:
    """np.full(n, step) (the same dtype) without its Python wrapper: once per segment of
    a rate sweep, where it cost as much as the rest of Trace."""
    col = np.empty(n, dtype=np.int64 if type(step) is int else np.asarray(step).dtype)
    col.fill(step)
    return col


# ---------------------------------------------------------------------------------------
# Equilibrium helpers
# ---------------------------------------------------------------------------------------


def site_coverage_eq(model: Model, E: np.ndarray) -> np.ndarray:
    """Equilibrium Frumkin coverage θ(E): θ/(1−θ)·e^{g(θ−½)} = e^{−f(E−E0)}.

    The bisection of :func:`nasurf.sim.physics.frumkin_coverage`, compiled (60 halvings
    as numpy array operations cost ~0.4 ms, a third of a 1C solve of a host with sites).
    """
    from nasurf.sim.compiled import site_coverage

    rhs = -model.f[:, None] * (np.asarray(E, dtype=float) - model.E0_site[:, None])
    rhs = np.ascontiguousarray(np.broadcast_to(rhs, (model.B, rhs.shape[1])))
    return site_coverage(rhs, np.ascontiguousarray(model.g_site, dtype=float))


def _equilibrium_start(model: Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c, U(c_s), θ) of the start, a function of the model alone: computed once per
    model (kept in its ``__dict__``, as a cached property, read-only; a State gets copies)."""
    start = model.__dict__.get("_equilibrium_start")
    if start is None:
        c = model.initial_concentration()
        U = model.ocp_value(c[..., -1])
        # θ only matters where there are sites (elsewhere the site residual pins it): skip
        # the 60-step bisection for a batch without any (a third of a 1C re-solve)
        theta = site_coverage_eq(model, U) if np.count_nonzero(model.Gamma > 0) \
            else np.full((model.B, model.K), 0.5)
        start = model.__dict__["_equilibrium_start"] = read_only((c, U, theta))
    return start


def _start_blocks(model: Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The start state's fields in three blocks: c (B, K, N); Δφ, θ, i_F stacked
    (3, B, K); t, Φ, I, V, active, SEI left, charge stacked (7, B). A function of the
    model alone, computed once per model (kept in its ``__dict__``, read-only, as a cached
    property), so that :func:`initial_state` copies three arrays, not eleven."""
    blocks = model.__dict__.get("_start_blocks")
    if blocks is None:
        c, U, theta = _equilibrium_start(model)
        zeros, V0 = np.zeros(model.B), U[:, 0]
        blocks = model.__dict__["_start_blocks"] = read_only((
            c, np.stack([U, theta, np.zeros_like(U)]),
            np.stack([zeros, V0, zeros, V0, np.ones(model.B), model.sei_capacity, zeros])))
    return blocks


def initial_state(model: Model) -> State:
    """The model's equilibrium start, in fresh writable arrays (the fields of a block are
    rows of one copy of it)."""
    c, per_class, vectors = _start_blocks(model)
    phi, theta, iF = per_class.copy()
    t, Phi, I, V, active, sei_left, charge = vectors.copy()
    return State(t=t, c=c.copy(), phi=phi, theta=theta, Phi=Phi, I=I, iF=iF, V=V,
                 active=active, sei_left=sei_left, charge=charge)


def surface_limit(model: Model) -> float:
    """Upper bound of c_s: the lattice-gas OCP diverges at x_max, a table goes to c_max."""
    ocp = model.surface_ocp
    xl = min(1.0, ocp.x_max) if ocp.kind == "lattice_gas" else 1.0
    return xl * model.c_max



def logit_surface(model: Model, st: State) -> np.ndarray:
    """Initial guess of u = logit(c_s/c_lim) for a new segment.

    From the last cell and the last flux where that is well conditioned; near an empty or
    full surface (where the extrapolation cancels to round-off) from the OCP at the present
    interfacial potential instead.
    """
    cl = surface_limit(model)
    cs = model.surface_concentration(st.c, -st.iF / F)
    # np.clip's values (positive bounds), without its Python wrappers: this runs once per
    # segment on a handful of members, where numpy's per-call overhead is the whole cost
    cs_c = np.minimum(np.maximum(cs, 1e-300 * cl), cl * (1 - 1e-16))
    u_ext = np.log(cs_c) - np.log(cl - cs_c)
    if np.count_nonzero((cs >= 1e-6 * cl) & (cs <= cl * (1 - 1e-6))) == cs.size:
        return u_ext          # the usual case: every surface inside, no edge test can fire
    # The OCP guess assumes the surface is at equilibrium with Δφ, which a (nearly)
    # blocked host is not: use it only where the extrapolation really cancelled, i.e. c_s
    # (or c_lim − c_s) is a round-off remainder of much larger terms.
    c_last = st.c[..., -1]
    step_term = np.abs(cs - c_last)
    low = (cs < 1e-6 * cl) & (cs < 1e-8 * (np.abs(c_last) + step_term))
    high = (cs > cl * (1 - 1e-6)) & ((cl - cs) < 1e-8 * (np.abs(cl - c_last) + step_term))
    edge = low | high | ~(cs > 0) | ~(cs < cl)
    if not np.count_nonzero(edge):
        return u_ext          # the usual case: no OCP inversion needed
    ocp = model.surface_ocp
    if ocp.kind == "lattice_gas" and ocp.x_max <= 1.0:
        nf = ocp.slope_factor * R_GAS * ocp.temperature / F
        u_ocp = (ocp.E0 - st.phi) / nf
    else:
        x = np.clip(ocp.inverse(st.phi) * model.c_max / cl,
                    1e-12, 1 - 1e-12)
        u_ocp = np.log(x) - np.log1p(-x)
    return np.where(edge, u_ocp, u_ext)



# the engines' private names of these helpers
_surface_limit = surface_limit
_logit_surface = logit_surface
