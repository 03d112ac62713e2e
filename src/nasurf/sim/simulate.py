"""Run an :class:`~nasurf.sim.experiment.Experiment` on a material and return measured-like data.

Owns the protocol driver (steps → solver segments, cycle and half-cycle counters,
degradation between cycles, GITT stop rule) and the output: one
:class:`~nasurf.io.table.EchemData` per batch member, in the canonical column format with
anodic current positive, so ``nasurf analyze`` cannot tell it from a cycler file, plus a
summary of capacities per step and per cycle.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import ValidationError
from nasurf.io.table import (
    CURRENT,
    CYCLE,
    HALF_CYCLE,
    STEP_COUNT,
    STEP_INDEX,
    TIME,
    VOLTAGE,
    EchemData,
    Metadata,
)
from nasurf.sim.experiment import Experiment, Step
from nasurf.sim.model import MeshSpec, Model, build_model
from nasurf.sim.parameters import ParameterSet, load_material
from nasurf.sim.solver import Segment, State, Trace, initial_state, run_segment

STOICHIOMETRY = "Stoichiometry / 1"
DEFAULT_AREA_CM2 = 1.131  # 12 mm coin-cell electrode


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


@dataclass
class SimulationResult:
    """Simulated data of a batch: :meth:`echem` gives member b as canonical EchemData.

    The per-step charges, durations and end voltages are in :attr:`steps` at once; the
    measurement-format tables are built on first access (:meth:`echem`, :attr:`data`), so a
    rate sweep that only needs its capacities does not pay for B DataFrames.
    """

    params: ParameterSet
    experiment: Experiment
    model: Model
    tables: _EchemTables
    steps: list[list[StepRecord]]
    final_state: State
    warnings: tuple[str, ...] = ()
    conventions: dict[str, str] = field(default_factory=lambda: {
        "current": "anodic (desodiation of the working electrode) positive",
        "capacity": "mAh per g of active material, positive magnitudes by process",
        "voltage": "working electrode vs Na+/Na (Na-metal counter electrode)",
    })

    @property
    def engines(self) -> tuple[str, ...]:
        """The engine that ran each protocol segment, in order ("exact", "compiled_march",
        "modal_sweep" or "march")."""
        return self.tables.engines

    @property
    def data(self) -> list[EchemData]:
        """Every member's EchemData (built once, then kept)."""
        return [self.echem(b) for b in range(self.model.B)]

    def echem(self, b: int = 0) -> EchemData:
        """Member b as canonical EchemData (the same object on every call)."""
        if not -self.model.B <= b < self.model.B:
            raise ValidationError(f"batch member {b} does not exist (batch of {self.model.B})",
                                  field="b")
        return self.tables.get(b % self.model.B)

    def cycle_capacities(self, b: int = 0) -> pd.DataFrame:
        """Sodiation/desodiation capacity (mAh/g) and CE per cycle for member b."""
        rows: dict[int, dict[str, float]] = {}
        for r in self.steps[b]:
            if r.kind == "rest":
                continue
            d = rows.setdefault(r.cycle, {"cycle": r.cycle, "sodiation_mAh_g": 0.0,
                                          "desodiation_mAh_g": 0.0})
            if r.charge_mAh_g < 0:
                d["sodiation_mAh_g"] += -r.charge_mAh_g
            else:
                d["desodiation_mAh_g"] += r.charge_mAh_g
        df = pd.DataFrame(list(rows.values()))
        if not df.empty:
            df["coulombic_efficiency"] = df["desodiation_mAh_g"] / df["sodiation_mAh_g"].where(
                df["sodiation_mAh_g"] > 0)
        return df

    def summary(self, b: int = 0) -> dict[str, Any]:
        """JSON-ready summary: parameters, steps, per-cycle capacities, conventions."""
        cyc = self.cycle_capacities(b)
        return {
            "material": self.params.name,
            "strategy": self.params.strategy,
            "experiment": self.experiment.name,
            "protocol": [s.text for s in self.experiment.steps],
            "repetitions": self.experiment.cycles,
            "active_mass_g": self.data[b].metadata.active_mass_g,
            "capacity_basis_mAh_g": self.params.capacity_basis_value / 3600.0,
            "steps": [r.__dict__ for r in self.steps[b]],
            "cycles": cyc.to_dict(orient="records"),
            "conventions": self.conventions,
            "warnings": list(self.warnings),
        }


def resolve_parameters(material: str | Path | ParameterSet, strategy: str | Path | None = None
                       ) -> ParameterSet:
    """A material (name, file or ParameterSet) with a strategy preset (name or file) applied."""
    p = material if isinstance(material, ParameterSet) else load_material(material)
    if strategy not in (None, "", "none"):
        from nasurf.sim.strategies import apply_strategy

        p = apply_strategy(p, strategy)
    return p


def _direction(step: Step) -> int:
    if step.kind == "sodiate" or (step.kind == "sweep" and step.v_to < step.v_from):
        return -1
    if step.kind == "desodiate" or (step.kind == "sweep" and step.v_to > step.v_from):
        return 1
    return 0


def simulate(material: str | Path | ParameterSet, experiment: Experiment | Sequence[str], *,
             strategy: str | Path | None = None, mesh: MeshSpec | None = None,
             overrides: Mapping[str, Any] | None = None,
             electrode_area_cm2: float = DEFAULT_AREA_CM2, engine: str = "auto",
             current_scale: Sequence[float] | np.ndarray | None = None,
             points_per_step: int = 150) -> SimulationResult:
    """Simulate ``experiment`` on ``material`` (optionally with a strategy preset).

    ``overrides`` varies batchable parameters across a batch (arrays of length B);
    ``current_scale`` multiplies every step current per member (e.g. a rate sweep as a
    batch). ``points_per_step`` is the number of output rows of a galvanostatic step or
    rest on the exact engine (plus a tail refined toward a cut-off); raise it for dQ/dV of
    simulated curves (the adaptive march sets its own rows). Returns one EchemData per
    member.
    """
    if not isinstance(points_per_step, int | np.integer) or points_per_step < 3:
        raise ValidationError(f"points_per_step must be an integer >= 3, got {points_per_step!r}",
                              field="points_per_step")
    exp = experiment if isinstance(experiment, Experiment) else \
        Experiment.from_strings(list(experiment))
    p = resolve_parameters(material, strategy)
    if exp.initial_voltage is not None:
        x0 = p.ocp.stoichiometry_at(exp.initial_voltage)
        x0 = min(max(x0, 1e-200), 1 - 1e-9)
        p = p.with_changes(initial_stoichiometry=x0)
    model = build_model(p, mesh=mesh, overrides=overrides,
                        batch_size=None if current_scale is None else len(current_scale))
    B = model.B
    scale = np.ones(B) if current_scale is None else np.asarray(current_scale, dtype=float)
    if scale.shape != (B,):
        raise ValidationError(f"current_scale must have length {B}", field="current_scale")
    st = initial_state(model)
    trace = Trace()
    step_meta: list[tuple[int, int, int]] = []   # per global step: (index, cycle, half)
    records: list[list[StepRecord]] = [[] for _ in range(B)]
    cycle, half, last_dir = 1, 0, 0
    warnings: list[str] = []
    stopped = np.zeros(B, dtype=bool)
    basis = p.capacity_basis_value
    host = p.host_capacity
    step_count = 0
    for rep in range(exp.cycles):
        sod_charge = np.zeros(B)
        for idx, step in enumerate(exp.steps, start=1):
            d = _direction(step)
            if d != 0:
                if last_dir == 1 and d == -1:
                    cycle += 1
                if d != last_dir:
                    half += 1
                last_dir = d
            step_count += 1
            step_meta.append((idx, cycle, half))
            seg = step_segment(step, exp, basis, scale, step_count, B)
            if points_per_step != seg.n_output:
                seg = replace(seg, n_output=int(points_per_step))
            before = st
            n_blocks = len(trace.I)
            st = run_segment(model, st, seg, trace, engine=engine)
            if np.any(model.electrolyte_dc_per_current > 0):
                I_step = np.concatenate(trace.I[n_blocks:]) if len(trace.I) > n_blocks \
                    else np.zeros((0, B))
                I_max = np.nanmax(np.abs(I_step), axis=0, initial=0.0)
                for b in np.flatnonzero(model.electrolyte_depleted(I_max) & ~stopped):
                    who = _who(b, B, scale)
                    warnings.append(
                        f"step {step_count} '{step.text}'{who}: at {I_max[b]:.4g} "
                        "mA/g the quasi-steady electrolyte would be emptied at one end; the "
                        "correction is held at 1 % of c_e there, so the voltage is too "
                        "optimistic (the cell is transport-limited)")
            st = before.select(stopped, st) if np.any(stopped) else st
            dq = (st.charge - before.charge) / 3600.0   # C/kg -> mAh/g
            sod_charge += np.where(dq < 0, -dq * 3600.0, 0.0)
            dur = st.t - before.t
            for b in range(B):
                if stopped[b]:
                    continue
                ended = _ended_by(step, seg, dur[b], st, b)
                if dur[b] <= 0.0 and step.kind in ("sodiate", "desodiate", "sweep"):
                    who = _who(b, B, scale)
                    warnings.append(
                        f"step {step_count} '{step.text}'{who} ended at once with no charge "
                        f"passed at {float(st.V[b]):.3f} V: the cut-off was reached at the "
                        "first instant (ohmic and kinetic drop at this current) or the "
                        "solver could not start")
                elif (ended == "cutoff" and step.kind in ("sodiate", "desodiate")
                      and abs(float(dq[b])) < 1e-3 * basis / 3600.0):
                    # a step that stops at its cut-off having passed < 0.1 % of the
                    # capacity basis is as empty as one that never started: say so
                    who = _who(b, B, scale)
                    warnings.append(
                        f"step {step_count} '{step.text}'{who} ended at its cut-off "
                        f"({float(st.V[b]):.3f} V) after only {abs(float(dq[b])):.3g} mAh/g "
                        f"in {float(dur[b]):.3g} s: the host cannot take this current from "
                        "its present state (cut-off reached almost at once, or a filled/"
                        "emptied surface the solver cannot move)")
                records[b].append(StepRecord(
                    step_count, idx, cycle, half, step.kind, step.text,
                    float(seg.current[b]) if seg.current is not None else math.nan,
                    float(dur[b]), float(dq[b]), float(st.V[b]), ended))
                if exp.stop_at_cutoff and ended == "cutoff" and math.isfinite(step.duration_s):
                    stopped[b] = True
            if np.all(stopped):
                break
        if np.all(stopped):
            break
        # degradation between repetitions: LAM ∝ ΔV/V0 × (1 − bonding) × depth of sodiation
        if np.any(model.lam_rate > 0):
            st.active = st.active * lam_factor(model.lam_rate, sod_charge / host)
        del rep
    tables = _EchemTables(model, p, exp, trace, step_meta, electrode_area_cm2,
                          tuple(warnings))
    return SimulationResult(p, exp, model, tables, records, st, tuple(warnings))


def _who(b: int, B: int, scale: np.ndarray) -> str:
    """How a warning names batch member b (and its current, when the batch scales it)."""
    if B == 1:
        return "" if scale[0] == 1.0 else f" (current x{scale[0]:g})"
    return f" (batch member {b}" + ("" if scale[b] == 1.0 else f", current x{scale[b]:g}") + ")"


def lam_factor(lam_rate: np.ndarray | float, depth: np.ndarray | float) -> np.ndarray:
    """Fraction of active material kept over one cycle: 1 − LAM rate × depth of sodiation.

    ``depth`` is the cycle's sodiation charge over the host capacity (clipped to [0, 1]);
    the LAM rate is lam_coefficient × ΔV/V0 × (1 − bonding_factor) (the model's law).
    """
    d = np.clip(np.asarray(depth, dtype=float), 0.0, 1.0)
    return np.clip(1.0 - np.asarray(lam_rate, dtype=float) * d, 0.0, 1.0)


def step_segment(step: Step, exp: Experiment, basis: float, scale: np.ndarray, count: int,
                 B: int, sweep_rates: np.ndarray | None = None) -> Segment:
    """The solver segment of one protocol step for a batch of ``B`` parameter sets.

    ``scale`` multiplies the step's current per member; ``sweep_rates`` (V/s, per member)
    overrides the scan rate of a sweep step (used by sweeps over scan rate).
    """
    if step.kind in ("sodiate", "desodiate"):
        mag = step.current_magnitude(basis) * scale
        sign = -1.0 if step.kind == "sodiate" else 1.0
        lower = step.cutoff_V if (step.kind == "sodiate" and math.isfinite(step.cutoff_V)) \
            else exp.lower_cutoff_V
        upper = step.cutoff_V if (step.kind == "desodiate" and math.isfinite(step.cutoff_V)) \
            else exp.upper_cutoff_V
        return Segment("current", current=sign * mag, duration=np.full(B, step.duration_s),
                       v_lower=lower, v_upper=upper, index=count, label=step.text)
    if step.kind == "rest":
        return Segment("current", current=np.zeros(B), duration=np.full(B, step.duration_s),
                       index=count, label=step.text)
    if step.kind == "hold":
        return Segment("voltage", v_start=np.full(B, step.hold_V), sweep_rate=np.zeros(B),
                       duration=np.full(B, step.duration_s), i_limit=step.current_limit_A_kg,
                       index=count, label=step.text)
    if step.kind == "sweep":
        rate = np.full(B, step.scan_rate_V_s) if sweep_rates is None else sweep_rates
        sign = 1.0 if step.v_to > step.v_from else -1.0
        return Segment("voltage", v_start=np.full(B, step.v_from), sweep_rate=sign * rate,
                       duration=abs(step.v_to - step.v_from) / rate,
                       index=count, label=step.text)
    raise ValidationError(f"unknown step kind {step.kind!r}")


def _ended_by(step: Step, seg: Segment, dur: float, st: State, b: int) -> str:
    if step.kind == "sweep":
        return "sweep_end"
    if math.isfinite(step.duration_s) and dur >= step.duration_s * (1 - 1e-9):
        return "duration"
    if step.kind == "hold":
        return "current_limit"
    return "cutoff"


def _technique(exp: Experiment) -> str:
    kinds = {s.kind for s in exp.steps}
    if kinds == {"sweep"}:
        return "CV"
    if exp.name == "gitt":
        return "GITT"
    if kinds <= {"sodiate", "desodiate", "rest"}:
        return "GCPL"
    return "mixed"


class _EchemTables:
    """Builds each member's EchemData from the solver trace on first request."""

    def __init__(self, model: Model, p: ParameterSet, exp: Experiment, trace: Trace,
                 step_meta: list[tuple[int, int, int]], area_cm2: float,
                 warnings: tuple[str, ...] = ()) -> None:
        self.model, self.params, self.experiment = model, p, exp
        self.warnings = warnings
        self.arrays = trace.arrays()
        self.engines = tuple(trace.engines)   # the engine that ran each segment
        self.step_meta = np.asarray(step_meta, dtype=int).reshape(-1, 3)
        self.area_cm2 = area_cm2
        self._built: dict[int, EchemData] = {}
        self._parameters: dict[str, Any] | None = None

    def _member_warnings(self, b: int) -> tuple[str, ...]:
        # the run's warnings travel with the data (a step that held no charge leaves no
        # rows an analysis could see, so the file itself must say why)
        if self.model.B == 1:
            return self.warnings
        tags = (f"(batch member {b})", f"(batch member {b},")
        return tuple(w for w in self.warnings
                     if any(t in w for t in tags) or "(batch member" not in w)

    def get(self, b: int) -> EchemData:
        if b not in self._built:
            self._built[b] = self._build(b)
        return self._built[b]

    def _build(self, b: int) -> EchemData:
        model, p, exp, arr = self.model, self.params, self.experiment, self.arrays
        area_cm2 = self.area_cm2
        mass_g = float(np.mean(model.loading)) * 1e3 * area_cm2 * 1e-4  # kg/m2 -> g
        scan_rates = {s.scan_rate_V_s for s in exp.steps if s.kind == "sweep"}
        counts = np.asarray(arr.get("step", np.zeros(0)), dtype=int)
        mass_b = float(model.loading[b]) * 1e3 * area_cm2 * 1e-4
        t = arr["t"][:, b] if arr["t"].size else np.zeros(0)
        ok = np.isfinite(t)
        cnt = counts[ok]
        info = self.step_meta[cnt - 1] if cnt.size else np.zeros((0, 3), dtype=int)
        tk = t[ok]
        df = pd.DataFrame({
            TIME: tk,
            VOLTAGE: arr["V"][ok, b] if tk.size else tk,
            CURRENT: arr["I"][ok, b] * mass_b * 1e-3 if tk.size else tk,  # A/kg × kg
            CYCLE: info[:, 1],
            STEP_INDEX: info[:, 0],
            STEP_COUNT: cnt,
            HALF_CYCLE: info[:, 2],
            STOICHIOMETRY: arr["x"][ok, b] if tk.size else tk,
        }, copy=False)   # the columns are fresh arrays already
        # The solver records rows in time order, so the stable sort is normally the
        # identity: test the (time, step) order cheaply and sort only when it is broken.
        dt_rows, dc_rows = np.diff(tk), np.diff(cnt)
        if not np.all((dt_rows > 0) | ((dt_rows == 0) & (dc_rows >= 0))):
            df = df.sort_values([TIME, STEP_COUNT], kind="stable").reset_index(drop=True)
        if self._parameters is None:
            self._parameters = p.to_dict()
        header = {"material": p.name, "strategy": p.strategy,
                  "experiment": exp.name, "protocol": [s.text for s in exp.steps],
                  "repetitions": exp.cycles, "parameters": dict(self._parameters),
                  "overrides": {k: (v.tolist() if np.ndim(v) else float(v))
                                for k, v in model.overrides.items()}, "batch_member": b}
        meta = Metadata(source="simulation", instrument="nasurf simulator",
                        file_format="nasurf-sim", technique=_technique(exp),
                        active_mass_g=mass_b if model.B > 1 else mass_g,
                        electrode_area_cm2=area_cm2,
                        scan_rate_V_s=scan_rates.pop() if len(scan_rates) == 1 else None,
                        notes=("simulated data; current anodic positive",
                               *self._member_warnings(b)), header=header)
        return EchemData(df, meta)


def write_echem_csv(data: EchemData, path: str | Path) -> Path:
    """Write canonical columns to CSV plus a ``.json`` sidecar with the metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    data.data.to_csv(tmp, index=False, float_format="%.10g")
    tmp.replace(path)
    m = data.metadata
    side = {"source": m.source, "instrument": m.instrument, "file_format": m.file_format,
            "technique": m.technique, "active_mass_g": m.active_mass_g,
            "electrode_area_cm2": m.electrode_area_cm2, "scan_rate_V_s": m.scan_rate_V_s,
            "current_sign": m.current_sign, "notes": list(m.notes), "header": m.header}
    from nasurf.clikit import to_jsonable

    path.with_suffix(".json").write_text(json.dumps(to_jsonable(side), indent=1),
                                         encoding="utf-8")
    return path
