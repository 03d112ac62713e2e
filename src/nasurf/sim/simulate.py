"""Run an :class:`~nasurf.sim.experiment.Experiment` on a material and return measured-like data.

The steps run through the protocol driver (:mod:`nasurf.sim.protocol`: segments, cycle and
half-cycle counters, degradation between cycles, GITT stop rule). This module owns the
output: one
:class:`~nasurf.io.table.EchemData` per batch member, in the canonical column format with
anodic current positive, so ``nasurf analyze`` cannot tell it from a cycler file, plus a
summary of capacities per step and per cycle.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    validate,
)
from nasurf.options import choose
from nasurf.sim.experiment import Experiment, as_experiment
from nasurf.sim.model import MeshSpec, Model
from nasurf.sim.model_cache import cached_model, remember_derived
from nasurf.sim.parameters import ParameterSet, load_material
from nasurf.sim.protocol import (
    CapacityRecorder,
    CurveRecorder,
    StepRecord,
    equilibrated_parameters,
    lam_factor,
    run_protocol,
    step_segment,
)
from nasurf.sim.protocol import step_control as step_control_of
from nasurf.sim.solver import ENGINES
from nasurf.sim.state import CURVES_CONTROL, State, StepControl, Trace

STOICHIOMETRY = "Stoichiometry / 1"
#: what ``simulate(record=...)`` keeps: the measured-like curves (and the capacities), or
#: the per-step capacities only
RECORDS = ("curves", "capacities")
DEFAULT_AREA_CM2 = 1.131  # 12 mm coin-cell electrode
#: the exact engine's bracketing grid of a capacities-only, capacity-targeted run (as
#: run_batch's n_output_metrics: 20 points change capacities by < 1e-6 against 150)
CAPACITIES_GRID = 20


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
            "active_mass_g": self.tables.active_mass_g(b),
            "capacity_basis_mAh_g": self.params.capacity_basis_value / 3600.0,
            "steps": [r.__dict__ for r in self.steps[b]],
            "cycles": cyc.to_dict(orient="records"),
            "conventions": self.conventions,
            "warnings": list(self.warnings),
        }


def resolve_parameters(material: str | Path | ParameterSet, strategy: str | Path | None = None
                       ) -> ParameterSet:
    """A material (name, file or ParameterSet) with a strategy preset (name or file) applied."""
    if strategy not in (None, "", "none"):
        from nasurf.sim.strategies import apply_strategy, packaged_preset

        if isinstance(material, str) and isinstance(strategy, str):
            preset = packaged_preset(material, strategy)
            if preset is not None:
                return preset
        p = material if isinstance(material, ParameterSet) else load_material(material)
        return apply_strategy(p, strategy)
    return material if isinstance(material, ParameterSet) else load_material(material)


def simulate(material: str | Path | ParameterSet, experiment: Experiment | Sequence[str], *,
             strategy: str | Path | None = None, mesh: MeshSpec | None = None,
             overrides: Mapping[str, Any] | None = None,
             electrode_area_cm2: float = DEFAULT_AREA_CM2, engine: str = "auto",
             current_scale: Sequence[float] | np.ndarray | None = None,
             points_per_step: int = 150, record: str = "curves",
             step_control: str | StepControl = "curves") -> SimulationResult:
    """Simulate ``experiment`` on ``material`` (optionally with a strategy preset).

    ``overrides`` varies batchable parameters across a batch (arrays of length B);
    ``current_scale`` multiplies every step current per member (e.g. a rate sweep as a
    batch). ``points_per_step`` is the number of output rows of a galvanostatic step or
    rest on the exact engine (plus a tail refined toward a cut-off); raise it for dQ/dV of
    simulated curves (the adaptive march sets its own rows). Returns one EchemData per
    member. ``record="capacities"`` keeps the per-step capacities, warnings and final
    state but not the curves (a long cycling run in constant memory; :meth:`~SimulationResult.echem`
    then says so). ``step_control`` sets the marches' time-step control of the
    galvanostatic steps: ``"curves"`` (2 mV per step, the default) or ``"capacities"``
    (capacity-targeted, for rate sweeps that keep only the capacities: looser away from
    the cut-off, tighter near it; within 0.5 % of a 10x tighter march on every packaged
    material and preset), or a :class:`~nasurf.sim.state.StepControl`. The exact engine
    has no time step; with ``record="capacities"`` and a capacity-targeted control its
    grid only brackets the cut-off (20 points, as :func:`~nasurf.sim.batch.run_batch`).
    """
    if not isinstance(points_per_step, int | np.integer) or points_per_step < 3:
        raise ValidationError(f"points_per_step must be an integer >= 3, got {points_per_step!r}",
                              field="points_per_step")
    exp = as_experiment(experiment)
    engine = choose("engine", engine, ENGINES, where="simulate")
    record = choose("record", record, RECORDS, where="simulate")
    control = step_control_of(step_control, where="simulate")
    p = equilibrated_parameters(resolve_parameters(material, strategy), exp)
    # the built model of an identical (parameter set, mesh, overrides, batch size) is
    # reused (its arrays are read-only and shared): only the currents changed
    model = cached_model(p, mesh=mesh, overrides=overrides,
                         batch_size=None if current_scale is None else len(current_scale))
    B = model.B
    scale = np.ones(B) if current_scale is None else np.asarray(current_scale, dtype=float)
    if scale.shape != (B,):
        raise ValidationError(f"current_scale must have length {B}", field="current_scale")
    caps = CapacityRecorder(B)
    curves = CurveRecorder()
    keep = record == "curves"
    # the curves' step numbers are read only with the curves' rows
    recorders = (caps, curves) if keep else (caps,)
    n_output = points_per_step
    if not keep and control != CURVES_CONTROL and control.cutoff_factor > 0:
        # a capacity-targeted run that keeps no rows: the exact engine's grid only brackets
        # the cut-off (which it then locates to 1e-11 V), so it is run_batch's 20 points
        # (the default control has a cut-off rule too, but keeps the default grid)
        n_output = min(points_per_step, CAPACITIES_GRID)
    run = run_protocol(model, exp, recorders, scale=scale, n_output=n_output,
                       engine=engine, keep_trace=keep, control=control)
    remember_derived(model)
    warnings = caps.warnings
    tables = _EchemTables(model, p, exp, run.trace if keep else None, curves.step_meta,
                          electrode_area_cm2, tuple(warnings), engines=run.engines)
    return SimulationResult(p, exp, model, tables, caps.records, run.final_state,
                            tuple(warnings))



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

    def __init__(self, model: Model, p: ParameterSet, exp: Experiment, trace: Trace | None,
                 step_meta: list[tuple[int, int, int]], area_cm2: float,
                 warnings: tuple[str, ...] = (), *, engines: tuple[str, ...] = ()) -> None:
        self.model, self.params, self.experiment = model, p, exp
        self.engines = engines   # the engine that ran each segment
        self.warnings = warnings
        self.arrays = trace.arrays() if trace is not None else None
        self._step_meta = step_meta      # as an array on the first table built
        self.area_cm2 = area_cm2
        self._built: dict[int, EchemData] = {}
        self._parameters: dict[str, Any] | None = None

    @functools.cached_property
    def step_meta(self) -> np.ndarray:
        """(step index, cycle, half cycle) of every executed step, (n_steps, 3)."""
        return np.asarray(self._step_meta, dtype=int).reshape(-1, 3)

    def _member_warnings(self, b: int) -> tuple[str, ...]:
        # the run's warnings travel with the data (a step that held no charge leaves no
        # rows an analysis could see, so the file itself must say why)
        if self.model.B == 1:
            return self.warnings
        tags = (f"(batch member {b})", f"(batch member {b},")
        return tuple(w for w in self.warnings
                     if any(t in w for t in tags) or "(batch member" not in w)

    def active_mass_g(self, b: int) -> float:
        """Member b's active mass [g] on the electrode area (the batch mean for B = 1)."""
        model = self.model
        if model.B > 1:
            return float(model.loading[b]) * 1e3 * self.area_cm2 * 1e-4
        return float(np.mean(model.loading)) * 1e3 * self.area_cm2 * 1e-4   # kg/m2 -> g

    def get(self, b: int) -> EchemData:
        if self.arrays is None:
            raise ValidationError("this simulation was run with record='capacities': it "
                                  "kept the per-step capacities (steps, cycle_capacities, "
                                  "summary), not the curves; run it with record='curves'",
                                  field="record")
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
        # the reader's contract (finite required columns, time never decreasing): a solver
        # failure that left NaN rows is one clear error here, never a table of NaN
        return validate(EchemData(df, meta))


def write_echem_csv(data: EchemData, path: str | Path) -> Path:
    """Write canonical columns to CSV plus a ``.json`` sidecar with the metadata."""
    from nasurf.jsonio import write_json
    from nasurf.outputs import atomic_path

    path = Path(path)
    with atomic_path(path) as tmp:
        data.data.to_csv(tmp, index=False, float_format="%.10g")
    m = data.metadata
    side = {"source": m.source, "instrument": m.instrument, "file_format": m.file_format,
            "technique": m.technique, "active_mass_g": m.active_mass_g,
            "electrode_area_cm2": m.electrode_area_cm2, "scan_rate_V_s": m.scan_rate_V_s,
            "current_sign": m.current_sign, "notes": list(m.notes), "header": m.header}
    write_json(path.with_suffix(".json"), side, indent=1)
    return path


# re-exported: these lived here before the protocol driver had its own module
__all__ = [
    "DEFAULT_AREA_CM2",
    "STOICHIOMETRY",
    "SimulationResult",
    "StepRecord",
    "lam_factor",
    "resolve_parameters",
    "simulate",
    "step_segment",
    "write_echem_csv",
]
