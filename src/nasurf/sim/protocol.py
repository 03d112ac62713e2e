"""The protocol driver: an :class:`~nasurf.sim.experiment.Experiment` run step by step.

One loop owns the protocol rules for every caller (:func:`nasurf.sim.simulate.simulate`,
:func:`nasurf.sim.batch.run_batch` and through it the sweeps and fits):

* a step becomes one solver :class:`~nasurf.sim.state.Segment` (:func:`step_segment`);
* cycle and half-cycle numbers follow the current's direction, as a cycler counts them: a
  half cycle starts where the direction changes, a cycle where sodiation follows
  desodiation (rests and holds keep the numbers);
* the GITT stop rule (``Experiment.stop_at_cutoff``): a member whose timed step ends at its
  cut-off stops there; it keeps its state and records nothing more;
* degradation: after every repetition the active material shrinks by the loss law of
  :func:`lam_factor` (also after the last one, so that the final state is the electrode
  after N cycles; no output of the run depends on it, only ``final_state``).

Where the two copies of this loop that existed before disagreed, these are the rules kept
(they are the ones ``simulate()`` applied, and the ones a cycler applies): the sweep's
copy counted "cycles" as repetitions of the protocol and skipped the degradation after
the last repetition; its step numbers per repetition are still given
(:attr:`StepRun.repetition`). The sweep's copy refused GITT; it now follows the stop rule.

What is kept of each step is decided by *recorders* (:class:`CapacityRecorder` for the
per-step capacities and warnings, :class:`CurveRecorder` for the measured-like curves,
:class:`MetricsRecorder` for a sweep's per-step arrays), so the loop is written once.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Protocol, TypeVar

import numpy as np

from nasurf.constants import FARADAY_C_PER_MOL as F
from nasurf.errors import ValidationError
from nasurf.options import choose
from nasurf.sim.experiment import Experiment, Step
from nasurf.sim.model import Model
from nasurf.sim.parameters import ParameterSet
from nasurf.sim.readonly import read_only
from nasurf.sim.state import (
    CAPACITIES_CONTROL,
    CURVES_CONTROL,
    Segment,
    State,
    StepControl,
    Trace,
    initial_state,
)

#: named step controls of the marches (``simulate``/``run_batch`` ``step_control=``)
STEP_CONTROLS = {"curves": CURVES_CONTROL, "capacities": CAPACITIES_CONTROL}


def step_control(control: str | StepControl, where: str = "") -> StepControl:
    """A :class:`StepControl` from its name ("curves", "capacities") or itself."""
    if isinstance(control, StepControl):
        return control
    return STEP_CONTROLS[choose("step_control", control, tuple(STEP_CONTROLS),
                                where=where or None)]

#: 1 mAh/g = 3.6 C/g = 3600 C/kg
C_PER_KG_PER_MAH_G = 3600.0

_T = TypeVar("_T")


@dataclass(frozen=True)
class StepRecord:
    """What one executed step did, for one batch member."""

    step_count: int
    step_index: int
    cycle: int
    half_cycle: int
    kind: str
    text: str
    current_mA_g: float          # anodic positive; nan under voltage control
    duration_s: float
    charge_mAh_g: float          # signed, anodic positive
    end_voltage_V: float
    ended_by: str                # cutoff | duration | current_limit | sweep_end


#: the fields a step's records share (the rest are each member's own)
_SHARED_RECORD_FIELDS = ("step_count", "step_index", "cycle", "half_cycle", "kind", "text")


def _frozen(cls: type[_T], names: tuple[str, ...], values: tuple[object, ...]) -> _T:
    """``cls(*values)`` for a frozen dataclass without defaults or __post_init__ whose
    fields are ``names``, its fields set in one dict update."""
    obj = object.__new__(cls)
    obj.__dict__.update(zip(names, values, strict=True))
    return obj


@dataclass(frozen=True)
class StepRun:
    """One executed step of the whole batch, as the recorders see it."""

    model: Model
    step: Step
    segment: Segment
    count: int                 # global step number, 1-based
    index: int                 # position in the experiment's step list, 1-based
    repetition: int            # repetition of the step list, 1-based
    cycle: int                 # cycle number by current direction (see module doc)
    half_cycle: int
    before: State
    after: State
    charge_mAh_g: np.ndarray   # (B,) signed charge passed, anodic positive
    duration_s: np.ndarray     # (B,)
    running: np.ndarray        # (B,) members not stopped before this step (GITT rule)
    trace: Trace
    trace_start: int           # first trace block written by this step
    scale: np.ndarray          # (B,) current multiplier of each member


_RUN_FIELDS = tuple(f.name for f in fields(StepRun))


class Recorder(Protocol):
    """What the driver calls after every step (and once at the end).

    A recorder may also say whether its ``step`` reads the step's trace rows
    (``reads_rows(model) -> bool``); one that does not say is taken to read them. A run
    that keeps no trace builds no rows when none of its recorders reads them.
    """

    def step(self, run: StepRun) -> None: ...


def _reads_rows(recorder: Recorder, model: Model) -> bool:
    reads = getattr(recorder, "reads_rows", None)
    return True if reads is None else bool(reads(model))


@dataclass
class ProtocolRun:
    """What the driver returns besides what the recorders kept."""

    final_state: State
    trace: Trace
    steps: int
    engines: tuple[str, ...] = ()   # the engine that ran each segment, in order


def direction(step: Step) -> int:
    """−1 for a sodiating step (or a cathodic sweep), +1 desodiating, 0 rest or hold."""
    if step.kind == "sodiate" or (step.kind == "sweep" and step.v_to < step.v_from):
        return -1
    if step.kind == "desodiate" or (step.kind == "sweep" and step.v_to > step.v_from):
        return 1
    return 0


# The susceptible fraction S of the fade law: the share of a fresh electrode's active
# material that volume-change damage can disconnect at all; the rest stays connected
# however long the electrode cycles (pulverisation stops once the fragments are small
# enough, and what stayed in contact keeps it). S = 0.23: a porous Sn anode (phase
# inversion; no carbon matrix or bonding named) in a Na half cell kept more than 519 of its
# 674 mAh/g first desodiation over 500 cycles (J. Power Sources 317 (2016) 153-158), so at
# most 23 % of it was lost. Assumption: every pulverising host's susceptible share is that
# of this one Na alloy anode (docs/simulation.md, "Fade law").
LAM_SUSCEPTIBLE_FRACTION = 0.23
# Hosts pulverise when their volume change is that of an alloy or conversion reaction
# (methods.md §9: +196 to +531 %); intercalation hosts swell "a few %" and do not (spinels
# with a few-% misfit stop cracking below ~1 um: Woodford, Carter, Chiang, J. Electrochem.
# Soc. 161 (2014) F3005), so their slow fade has no susceptible pool to use up (S = 1, the
# constant-rate law). 0.25 is an assumption: no packaged host lies between +6 and +97 %.
PULVERISING_VOLUME_CHANGE = 0.25


def susceptible_fraction(volume_change: np.ndarray | float,
                         bonding_factor: np.ndarray | float = 0.0) -> np.ndarray:
    """The fade law's susceptible fraction S·(1 − b) for a host of volume change ΔV/V0
    and a bonding factor b: S = :data:`LAM_SUSCEPTIBLE_FRACTION` if the host pulverises
    (ΔV/V0 ≥ :data:`PULVERISING_VOLUME_CHANGE`), else 1 (the constant-rate law).

    The bonding factor is the share of the volume-change damage a bond or buffer
    prevents, so it scales the whole damage curve: the first cycle's loss (through the
    LAM rate) and the share that can be lost at all (here), and the loss still slows at
    the host's own pace, r·d/(S·(1 − b)) = k_LAM·ΔV/V0·d/S per cycle.
    """
    dv = np.asarray(volume_change, dtype=float)
    # ufuncs, not np.clip/np.where: called once per simulated protocol on a few members
    keep = 1.0 - np.minimum(np.maximum(np.asarray(bonding_factor, dtype=float), 0.0), 1.0)
    return np.where(dv >= PULVERISING_VOLUME_CHANGE, LAM_SUSCEPTIBLE_FRACTION, 1.0) * keep


def lam_retention(lam_rate: np.ndarray | float, depth: np.ndarray | float,
                  cycles: int | np.ndarray,
                  active: np.ndarray | float = 1.0,
                  susceptible: np.ndarray | float = 1.0) -> np.ndarray:
    """Connected fraction of the active material after ``cycles`` cycles of equal depth,
    starting from the connected fraction ``active`` (the fade law, written once here).

    The loss is first order in the *susceptible* material still connected: with S the
    susceptible share of the fresh electrode and r·d the LAM rate × depth of sodiation,
    one cycle takes a to (1 − S) + (a − (1 − S))·(1 − r·d/S), so n cycles give
    (1 − S) + (a − (1 − S))·(1 − r·d/S)^n. A fresh electrode loses r·d in its first
    cycle (the constant-rate law); the loss slows as the susceptible material is used up
    and the connected fraction tends to 1 − S. S = 1 (the default) is the constant-rate
    law; a host's S is :func:`susceptible_fraction` of its volume change and bonding.
    ``depth`` is the sodiation charge over the host capacity (clipped to [0, 1]); the LAM
    rate is lam_coefficient × ΔV/V0 × (1 − bonding_factor) (the model's law). A connected
    fraction already at or below 1 − S is kept as it is.
    """
    # plain ufuncs (not np.clip/np.where/np.all): the protocol calls this once per cycle
    # on a few members, where numpy's per-call overhead is the whole cost
    sus = np.asarray(susceptible, dtype=float)
    if np.count_nonzero((sus >= 0.0) & (sus <= 1.0)) != sus.size:     # NaN fails both
        raise ValidationError(f"the susceptible fraction must lie in [0, 1], got {susceptible}",
                              field="susceptible")
    d = np.minimum(np.maximum(np.asarray(depth, dtype=float), 0.0), 1.0)
    a = np.asarray(active, dtype=float)
    floor = 1.0 - sus
    # S = 0 (a bond that prevents all damage) loses nothing: its LAM rate is 0 as well
    dose = np.where(sus > 0.0, np.asarray(lam_rate, dtype=float) * d / np.maximum(sus, 1e-300),
                    0.0)
    step = np.minimum(np.maximum(1.0 - dose, 0.0), 1.0)
    kept = floor + (a - floor) * step ** np.asarray(cycles, dtype=float)
    return np.where(a > floor, kept, a)     # at or below 1 − S: kept as it is


def lam_factor(lam_rate: np.ndarray | float, depth: np.ndarray | float,
               active: np.ndarray | float = 1.0,
               susceptible: np.ndarray | float = 1.0) -> np.ndarray:
    """Fraction of the connected active material kept over one cycle of depth ``depth``
    by an electrode whose connected fraction is ``active`` (:func:`lam_retention` over
    one cycle, divided by ``active``; a fresh electrode keeps 1 − LAM rate × depth)."""
    # the rule per member, compiled (nasurf.sim.fade_kernel.lam_member): the protocol
    # calls this once per cycle on a handful of members, where ~30 numpy calls (or a
    # Python loop) cost more than the arithmetic; tests/test_sim_fade.py checks the
    # values against lam_retention bit for bit
    arrays = [np.asarray(v, dtype=float) for v in (lam_rate, depth, active, susceptible)]
    shape = arrays[0].shape
    if any(a.shape != shape for a in arrays):
        arrays = np.broadcast_arrays(*arrays)
        shape = arrays[0].shape
    out = np.empty(math.prod(shape))
    # one array of the four (the kernel sees one array type, read-only inputs or not)
    members = np.concatenate(arrays if len(shape) == 1 else [a.reshape(-1) for a in arrays])
    if not _lam_factors()(members, out):
        raise ValidationError(f"the susceptible fraction must lie in [0, 1], got "
                              f"{susceptible}", field="susceptible")
    return out.reshape(shape)


@functools.cache
def _lam_factors() -> Callable[[np.ndarray, np.ndarray], bool]:
    # imported on first use: numba loads only when a simulation runs
    from nasurf.sim.fade_kernel import lam_factors

    return lam_factors


def _filled(B: int, value: float) -> np.ndarray:
    out = np.empty(B)     # np.full costs three times more on a handful of members
    out.fill(value)
    return out


#: Segment's defaults, for :func:`_segment`
_SEGMENT_DEFAULTS = {f.name: f.default for f in fields(Segment) if f.default is not MISSING}


def _segment(kind: str, **values: object) -> Segment:
    """``Segment(kind, **values)``, the same frozen object, without the frozen
    ``__init__``'s ``object.__setattr__`` per field (15 of them, once per step: they cost
    half of :func:`step_segment`). Segment has no ``__post_init__`` and no default
    factories; tests/test_sim_protocol.py checks the objects against ``Segment(...)``."""
    seg = object.__new__(Segment)
    seg.__dict__.update(_SEGMENT_DEFAULTS, kind=kind, **values)
    return seg


def step_segment(step: Step, exp: Experiment, basis: float, scale: np.ndarray, count: int,
                 B: int, sweep_rates: np.ndarray | None = None, *,
                 n_output: int | None = None, control: StepControl | None = None) -> Segment:
    """The solver segment of one protocol step for a batch of ``B`` parameter sets.

    ``scale`` multiplies the step's current per member; ``sweep_rates`` (V/s, per member)
    overrides the scan rate of a sweep step (used by sweeps over scan rate). ``n_output``
    (rows per step) and ``control`` (the marches' step control of a sodiation or
    desodiation step) replace the segment's defaults where given.
    """
    kw: dict = {} if n_output is None else {"n_output": int(n_output)}
    if step.kind in ("sodiate", "desodiate"):
        if control is not None:
            kw["control"] = control
        sign = -1.0 if step.kind == "sodiate" else 1.0
        lower = step.cutoff_V if (step.kind == "sodiate" and math.isfinite(step.cutoff_V)) \
            else exp.lower_cutoff_V
        upper = step.cutoff_V if (step.kind == "desodiate" and math.isfinite(step.cutoff_V)) \
            else exp.upper_cutoff_V
        # (sign × magnitude) × scale is sign × (magnitude × scale) to the bit (a product's
        # rounding is symmetric), with one numpy call fewer
        return _segment("current", current=(sign * step.current_magnitude(basis)) * scale,
                        duration=_filled(B, step.duration_s), v_lower=lower, v_upper=upper,
                        index=count, label=step.text, **kw)
    if step.kind == "rest":
        return _segment("current", current=np.zeros(B), duration=_filled(B, step.duration_s),
                        index=count, label=step.text, **kw)
    if step.kind == "hold":
        return _segment("voltage", v_start=_filled(B, step.hold_V), sweep_rate=np.zeros(B),
                        duration=_filled(B, step.duration_s), i_limit=step.current_limit_A_kg,
                        index=count, label=step.text, **kw)
    if step.kind == "sweep":
        rate = _filled(B, step.scan_rate_V_s) if sweep_rates is None else sweep_rates
        sign = 1.0 if step.v_to > step.v_from else -1.0
        return _segment("voltage", v_start=_filled(B, step.v_from), sweep_rate=sign * rate,
                        duration=abs(step.v_to - step.v_from) / rate,
                        index=count, label=step.text, **kw)
    raise ValidationError(f"unknown step kind {step.kind!r}")


def ended_by(step: Step, duration_s: float) -> str:
    """Why a step ended: ``sweep_end``, ``duration``, ``current_limit`` or ``cutoff``."""
    if step.kind == "sweep":
        return "sweep_end"
    if math.isfinite(step.duration_s) and duration_s >= step.duration_s * (1 - 1e-9):
        return "duration"
    if step.kind == "hold":
        return "current_limit"
    return "cutoff"


def equilibrated_parameters(p: ParameterSet, exp: Experiment,
                            overrides: dict | None = None) -> ParameterSet:
    """``p`` with the initial stoichiometry in equilibrium at ``exp.initial_voltage``.

    Unchanged without an initial voltage, or where the batch sets the stoichiometry itself
    (an override wins over the parameter set's value in the model).
    """
    if exp.initial_voltage is None or "initial_stoichiometry" in (overrides or {}):
        return p
    # the same set at the same voltage gets the same (immutable) object back, so that a
    # CV re-run finds its built model (nasurf.sim.model_cache keys on identity)
    key = (id(p), float(exp.initial_voltage))
    with _EQUILIBRATED_LOCK:
        hit = _EQUILIBRATED.get(key)
    if hit is not None and hit[0] is p:
        return hit[1]
    x0 = min(max(p.ocp.stoichiometry_at(exp.initial_voltage), 1e-200), 1 - 1e-9)
    q = p.with_changes(initial_stoichiometry=x0)
    with _EQUILIBRATED_LOCK:
        # the entry holds p itself, so its id cannot be reused while the entry lives
        _EQUILIBRATED[key] = (p, q)
        while len(_EQUILIBRATED) > 32:
            del _EQUILIBRATED[next(iter(_EQUILIBRATED))]
    return q


_EQUILIBRATED: dict[tuple[int, float], tuple[ParameterSet, ParameterSet]] = {}
_EQUILIBRATED_LOCK = threading.Lock()


def _susceptible(model: Model) -> np.ndarray | None:
    """The fade law's susceptible fraction of ``model``'s members (B,), None when none of
    them loses active material: a function of the model alone, computed once per model
    (kept in its ``__dict__``, read-only, as a cached property)."""
    hit = model.__dict__.get("_susceptible_fraction", False)
    if hit is not False:
        return hit
    p = model.params
    # per member where the batch overrides them, else one value for all: spread over the
    # members here, once, not by lam_factor's broadcasting every cycle
    sus = read_only(np.ascontiguousarray(np.broadcast_to(susceptible_fraction(
        model.overrides.get("volume_change", p.volume_change),
        model.overrides.get("bonding_factor", p.bonding_factor)), (model.B,)))) \
        if np.count_nonzero(model.lam_rate > 0) else None
    model.__dict__["_susceptible_fraction"] = sus
    return sus


def run_protocol(model: Model, exp: Experiment, recorders: Sequence[Recorder], *,
                 scale: np.ndarray | None = None, sweep_rates: np.ndarray | None = None,
                 n_output: int | None = None, engine: str = "auto",
                 quiet: bool = False, keep_trace: bool = True,
                 control: StepControl = CURVES_CONTROL) -> ProtocolRun:
    """Run every step of ``exp`` on ``model``'s batch; the recorders keep what they need.

    ``scale`` multiplies each member's step currents, ``sweep_rates`` (V/s) replaces each
    member's scan rate, ``n_output`` sets the rows (and the bracketing grid of the exact
    engine) per galvanostatic step; ``quiet`` silences NumPy's floating-point warnings of
    the solve (a sweep reports failures per member instead). Without ``keep_trace`` each
    step's rows are dropped once its recorders have seen them (capacities only: memory
    does not grow with the run). ``control`` is the marches' time-step control of the
    sodiation and desodiation steps (rests keep the curves' control: a relaxation is
    what a GITT analysis reads; see :class:`~nasurf.sim.state.StepControl`).
    """
    from nasurf.sim.solver import run_segment

    B = model.B
    scale = np.ones(B) if scale is None else scale
    p = model.params
    basis = p.capacity_basis_value
    host = p.host_capacity
    st = initial_state(model)
    rows = keep_trace or any(_reads_rows(r, model) for r in recorders)
    trace = Trace(rows_x=keep_trace, rows=rows)
    stopped = np.zeros(B, dtype=bool)
    n_stopped = 0          # members stopped by the GITT rule (np.any/all cost µs each)
    susceptible = _susceptible(model)
    degrades = susceptible is not None
    engines: list[str] = []
    cycle, half, last_dir = 1, 0, 0
    count = 0
    for rep in range(1, exp.cycles + 1):
        sod_charge = np.zeros(B)
        for idx, step in enumerate(exp.steps, start=1):
            d = direction(step)
            if d != 0:
                if last_dir == 1 and d == -1:
                    cycle += 1
                if d != last_dir:
                    half += 1
                last_dir = d
            count += 1
            seg = step_segment(step, exp, basis, scale, count, B, sweep_rates,
                               n_output=n_output,
                               control=None if control is CURVES_CONTROL else control)
            before = st
            if not keep_trace and count > 1:     # the previous step's rows: dropped
                trace = Trace(rows_x=False, rows=rows)
            n_blocks = len(trace.I)
            n_engines = len(trace.engines)
            if quiet:
                with np.errstate(all="ignore"):
                    st = run_segment(model, st, seg, trace, engine=engine)
            else:
                st = run_segment(model, st, seg, trace, engine=engine)
            engines.extend(trace.engines[n_engines:])
            if n_stopped:
                st = before.select(stopped, st)
            dq = (st.charge - before.charge) / C_PER_KG_PER_MAH_G
            if degrades:
                sod_charge += np.where(dq < 0, -dq * C_PER_KG_PER_MAH_G, 0.0)
            dur = st.t - before.t
            # StepRun(...) without a frozen __init__'s setattr per field (once per step)
            run = _frozen(StepRun, _RUN_FIELDS, (model, step, seg, count, idx, rep, cycle, half,
                                                 before, st, dq, dur, ~stopped, trace, n_blocks,
                                                 scale))
            for r in recorders:
                r.step(run)
            if exp.stop_at_cutoff and math.isfinite(step.duration_s):
                for b in np.flatnonzero(~stopped):
                    if ended_by(step, float(dur[b])) == "cutoff":
                        stopped[b] = True
                n_stopped = int(np.count_nonzero(stopped))
            if n_stopped == B:
                break
        if n_stopped == B:
            break
        # degradation between repetitions: LAM ∝ ΔV/V0 × (1 − bonding) × depth of sodiation,
        # first order in what is left of the susceptible share
        if degrades:
            st.active = st.active * lam_factor(model.lam_rate, sod_charge / host, st.active,
                                               susceptible)
    return ProtocolRun(st, trace if keep_trace else Trace(), count, tuple(engines))


def who(b: int, B: int, scale: np.ndarray | Sequence[float]) -> str:
    """How a warning names batch member b (and its current, when the batch scales it)."""
    if B == 1:
        return "" if scale[0] == 1.0 else f" (current x{scale[0]:g})"
    return f" (batch member {b}" + ("" if scale[b] == 1.0 else f", current x{scale[b]:g}") + ")"


# ---------------------------------------------------------------------------------------
# Recorders
# ---------------------------------------------------------------------------------------


@dataclass
class CapacityRecorder:
    """Capacities only: a :class:`StepRecord` per step and member, and the run's warnings.

    Warns (once per step and member) when a step ended at once with no charge, when it
    stopped at its cut-off having passed < 0.1 % of the capacity basis, and when the
    quasi-steady electrolyte would be emptied at the step's current.
    """

    B: int
    records: list[list[StepRecord]] = field(init=False)
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.records = [[] for _ in range(self.B)]

    def reads_rows(self, model: Model) -> bool:
        """Whether :meth:`step` reads the step's rows: for the electrolyte warning only."""
        return bool(model.electrolyte_correction)

    def step(self, run: StepRun) -> None:
        model, step, seg, st = run.model, run.step, run.segment, run.after
        B, scale, count = self.B, run.scale, run.count
        running = run.running
        if self.reads_rows(model):
            blocks = run.trace.I[run.trace_start:]
            I_step = np.concatenate(blocks) if blocks else np.zeros((0, B))
            # np.nanmax's values (it is fmax.reduce plus an all-NaN check, which the
            # initial value makes moot), without its Python wrappers
            I_max = np.fmax.reduce(np.abs(I_step), axis=0, initial=0.0)
            for b in np.flatnonzero(model.electrolyte_depleted(I_max) & running):
                self.warnings.append(
                    f"step {count} '{step.text}'{who(b, B, scale)}: at {I_max[b]:.4g} "
                    "mA/g the quasi-steady electrolyte would be emptied at one end; the "
                    "correction is held at 1 % of c_e there, so the voltage is too "
                    "optimistic (the cell is transport-limited)")
        basis = model.params.capacity_basis_value
        # Python floats once (float(a[b]) per member and field costs more than the rest)
        dq, dur, V = run.charge_mAh_g.tolist(), run.duration_s.tolist(), st.V.tolist()
        current = seg.current.tolist() if seg.current is not None else [math.nan] * B
        run_list = running.tolist()
        kind, text = step.kind, step.text
        scale = scale.tolist()          # who() reads a member's scale: as Python floats too
        # each record is StepRecord(...) without the frozen __init__'s setattr per field
        # (once per member and step, a tenth of a capacities-only sweep's Python time):
        # its __dict__ is the shared fields, then the member's own, in the fields' order
        shared = dict(zip(_SHARED_RECORD_FIELDS,
                          (count, run.index, run.cycle, run.half_cycle, kind, text), strict=True))
        # a step without a duration ends the same way for every member
        untimed = None if math.isfinite(step.duration_s) else ended_by(step, math.inf)
        for b in range(B):
            if not run_list[b]:
                continue
            ended = untimed or ended_by(step, dur[b])
            if dur[b] <= 0.0 and kind in ("sodiate", "desodiate", "sweep"):
                self.warnings.append(
                    f"step {count} '{text}'{who(b, B, scale)} ended at once with no "
                    f"charge passed at {V[b]:.3f} V: the cut-off was reached at the "
                    "first instant (ohmic and kinetic drop at this current) or the "
                    "solver could not start")
            elif (ended == "cutoff" and kind in ("sodiate", "desodiate")
                  and abs(dq[b]) < 1e-3 * basis / 3600.0):
                # a step that stops at its cut-off having passed < 0.1 % of the
                # capacity basis is as empty as one that never started: say so
                self.warnings.append(
                    f"step {count} '{text}'{who(b, B, scale)} ended at its cut-off "
                    f"({V[b]:.3f} V) after only {abs(dq[b]):.3g} mAh/g "
                    f"in {dur[b]:.3g} s: the host cannot take this current from "
                    "its present state (cut-off reached almost at once, or a filled/"
                    "emptied surface the solver cannot move)")
            rec = object.__new__(StepRecord)
            rec.__dict__.update(shared, current_mA_g=current[b], duration_s=dur[b],
                                charge_mAh_g=dq[b], end_voltage_V=V[b], ended_by=ended)
            self.records[b].append(rec)


@dataclass
class CurveRecorder:
    """Full curves: the step, cycle and half-cycle number of every step, for the table of
    rows the solver wrote into the trace (see :class:`nasurf.sim.simulate.SimulationResult`).
    """

    step_meta: list[tuple[int, int, int]] = field(default_factory=list)

    def reads_rows(self, model: Model) -> bool:
        """The rows are the trace's to keep (``keep_trace``): this reads none."""
        return False

    def step(self, run: StepRun) -> None:
        self.step_meta.append((run.index, run.cycle, run.half_cycle))


@dataclass(frozen=True)
class StepInfo:
    """One executed protocol step (shared by all members of a batch)."""

    count: int
    index: int
    repetition: int
    kind: str
    text: str
    cycle: int = 0
    half_cycle: int = 0


@dataclass
class MetricsRecorder:
    """Sweep metrics: per-step arrays (n_steps, B) of charge, its split, end voltage,
    duration and whether the step ended as asked, plus the first problem per member."""

    B: int
    steps: list[StepInfo] = field(default_factory=list)
    charge: list[np.ndarray] = field(default_factory=list)
    insertion: list[np.ndarray] = field(default_factory=list)
    sei: list[np.ndarray] = field(default_factory=list)
    v_end: list[np.ndarray] = field(default_factory=list)
    duration: list[np.ndarray] = field(default_factory=list)
    ok: list[np.ndarray] = field(default_factory=list)
    problem: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.problem = np.full(self.B, "", dtype=object)

    def reads_rows(self, model: Model) -> bool:
        """The metrics come from the steps' states: this reads no rows."""
        return False

    def step(self, run: StepRun) -> None:
        model, step, seg, before, st = run.model, run.step, run.segment, run.before, run.after
        p = model.params
        count = run.count
        self.steps.append(StepInfo(count, run.index, run.repetition, step.kind, step.text,
                                   run.cycle, run.half_cycle))
        dq, d = run.charge_mAh_g, run.duration_s
        na_before = model.sodium_content(before.c) * before.active
        na_after = model.sodium_content(st.c) * st.active
        ins = -(na_after - na_before) * F / C_PER_KG_PER_MAH_G
        # SEI formed draws a cathodic (negative) charge
        sei = -(before.sei_left - st.sei_left) / C_PER_KG_PER_MAH_G
        ok = np.isfinite(st.V) & np.isfinite(dq)
        why = np.where(ok, "", f"step {count} '{step.text}': non-finite result")
        if step.kind in ("sodiate", "desodiate"):
            target = seg.v_lower if step.kind == "sodiate" else seg.v_upper
            by_time = math.isfinite(step.duration_s) & (d >= step.duration_s * (1 - 1e-9))
            # The cut-off is approached on a near-vertical branch, where the reported end
            # voltage is ill-conditioned; a member is flagged only when it ended clearly
            # short of the cut-off (a stalled solve, or a cut-off the model cannot reach).
            at_cut = (target + 0.1 >= st.V) if step.kind == "sodiate" \
                else (target - 0.1 <= st.V)
            # A host emptied (or filled) before the cut-off ends the step legitimately.
            x_end = model.average_stoichiometry(st.c)
            x_full = p.ocp.x_max if p.ocp.kind == "lattice_gas" else 1.0
            exhausted = (x_end < 0.02) if step.kind == "desodiate" \
                else (x_end > 0.98 * x_full)
            reached = by_time | at_cut | exhausted
            why = np.where(ok & ~reached,
                           f"step {count} '{step.text}': stopped at "
                           + np.char.mod("%.4g", st.V).astype(object)
                           + f" V before the {target:g} V cut-off", why)
            ok = ok & reached
        self.problem = np.where((self.problem == "") & ~ok, why, self.problem)
        self.charge.append(dq)
        self.insertion.append(ins)
        self.sei.append(sei)
        self.v_end.append(st.V.copy())
        self.duration.append(d)
        self.ok.append(ok)


__all__ = [
    "C_PER_KG_PER_MAH_G",
    "STEP_CONTROLS",
    "CapacityRecorder",
    "CurveRecorder",
    "MetricsRecorder",
    "ProtocolRun",
    "Recorder",
    "StepInfo",
    "StepRecord",
    "StepRun",
    "direction",
    "ended_by",
    "equilibrated_parameters",
    "lam_factor",
    "lam_retention",
    "run_protocol",
    "step_control",
    "step_segment",
    "susceptible_fraction",
    "who",
]
