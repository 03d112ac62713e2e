"""Parameter sweeps of the half-cell simulator: thousands of parameter sets, metrics only.

This module owns

* the names users give to sweepable/fittable parameters (``shell_D``, ``k0``, ``Gamma`` ...)
  and their mapping onto the simulator's batchable fields (:func:`resolve_parameter`);
* :class:`SweepProtocol`, the protocols a sweep runs (``rate``, ``discharge``, ``cycling``,
  ``cv``) and the metrics each yields (capacity at each rate, retention, fade, coulombic
  efficiency, the model's own capacitive fraction ...);
* :func:`run_batch`, a metrics-first driver of the core solver: it runs the steps of an
  experiment for a batch of B parameter sets at once (the solver is vectorised over B) and
  returns per-step charges, end voltages and, on request, the voltage/current traces, without
  building one DataFrame per member as :func:`nasurf.sim.simulate.simulate` does;
* :func:`sweep`: chunks of parameter sets evaluated in-process (``scheduler=None``) or on a
  ``dask.distributed`` cluster (``"local"`` starts ``LocalCluster(n_workers=2,
  threads_per_worker=1)``; ``"tcp://host:port"`` joins a running scheduler). Chunks stream back
  through ``as_completed`` with a bounded number in flight, and only metric rows are kept, so
  memory grows with the results, not with the sets in flight. A set that fails is a row with
  ``status = "failed"`` and its reason, never an aborted sweep.

Conventions: SI parameter values; capacities in mAh per g of active material as positive
magnitudes per process (sodiation / desodiation); currents anodic (desodiation) positive.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import NasurfError, ValidationError
from nasurf.sim.experiment import Experiment
from nasurf.sim.model import BATCHABLE, MeshSpec, build_model
from nasurf.sim.parameters import F, ParameterSet, Table1D
from nasurf.sim.simulate import step_segment
from nasurf.sim.solver import Trace, initial_state, run_segment

# 1 mAh/g = 3.6 C/g = 3600 C/kg
C_PER_KG_PER_MAH_G = 3600.0

# ---------------------------------------------------------------------------------------
# Parameter names
# ---------------------------------------------------------------------------------------

#: short names users type -> simulator field (any BATCHABLE field name is accepted too)
PARAMETER_ALIASES: dict[str, str] = {
    "shell_D": "shell_diffusivity",
    "D_shell": "shell_diffusivity",
    "D": "diffusivity",
    "D_core": "diffusivity",
    "k0": "rate_constant",
    "Gamma": "site_density",
    "C_dl": "double_layer_capacitance",
    "shell": "shell_thickness",
    "R": "particle_radius",
    "radius": "particle_radius",
    "sigma": "electronic_conductivity",
    "shell_sigma": "shell_conductivity",
    "E0_site": "site_potential",
    "k_site": "site_rate_constant",
    "ASR": "area_resistance",
    "asr": "area_resistance",
    "loading": "mass_loading",
    "x0": "initial_stoichiometry",
}

#: SI unit of each batchable field, for tables and help text
FIELD_UNITS: dict[str, str] = {
    "particle_radius": "m", "diffusivity": "m^2/s", "rate_constant": "m/s",
    "transfer_coefficient": "1", "j0_scale": "1", "electronic_conductivity": "S/m",
    "double_layer_capacitance": "F/m^2", "shell_thickness": "m", "shell_diffusivity": "m^2/s",
    "shell_conductivity": "S/m", "site_density": "mol/m^2", "site_potential": "V",
    "site_interaction": "1", "site_rate_constant": "1/s", "site_transfer_coefficient": "1",
    "mass_loading": "kg/m^2", "area_resistance": "ohm m^2", "counter_exchange_current": "A/m^2",
    "temperature": "K", "bonding_factor": "1", "lam_coefficient": "1", "sei_capacity": "C/kg",
    "sei_current_fraction": "1", "electrolyte_conductivity": "S/m", "volume_change": "1",
    "initial_stoichiometry": "1",
}

# fields that may be zero (all others must be > 0)
_MAY_BE_ZERO = {"double_layer_capacitance", "shell_thickness", "site_density", "area_resistance",
                "site_interaction", "bonding_factor", "lam_coefficient", "sei_capacity",
                "sei_current_fraction", "electrolyte_conductivity", "volume_change",
                "site_potential"}
_UNIT_INTERVAL = {"transfer_coefficient", "site_transfer_coefficient", "bonding_factor",
                  "sei_current_fraction", "initial_stoichiometry"}


def resolve_parameter(name: str) -> str:
    """The simulator field behind a user name (``shell_D`` -> ``shell_diffusivity``)."""
    field_name = PARAMETER_ALIASES.get(name, name)
    if field_name not in BATCHABLE:
        known = sorted(set(PARAMETER_ALIASES) | set(BATCHABLE))
        raise ValidationError(f"unknown or non-sweepable parameter {name!r}; known: "
                              f"{', '.join(known)}", field=name)
    return field_name


def is_table_factor(params: ParameterSet, field_name: str) -> bool:
    """True when the field is tabulated (D(c), k(c)): a value then scales the whole table."""
    value = getattr(params, field_name, None)
    if field_name == "shell_diffusivity" and not isinstance(value, Table1D):
        return False
    return isinstance(value, Table1D)


def nominal_value(params: ParameterSet, field_name: str) -> float:
    """The value a field has in ``params`` (1.0 for a tabulated field: the table factor)."""
    if is_table_factor(params, field_name):
        return 1.0
    if field_name == "shell_diffusivity":
        sd = params.shell_D
        return 1.0 if isinstance(sd, Table1D) else float(sd)
    if field_name == "shell_conductivity":
        return float(params.shell_sigma)
    return float(getattr(params, field_name))


def check_values(field_name: str, values: np.ndarray) -> np.ndarray:
    """Reason strings ('' when fine) for each value of a field, vectorised."""
    v = np.asarray(values, dtype=float)
    reason = np.full(v.shape, "", dtype=object)
    bad = ~np.isfinite(v)
    reason[bad] = f"{field_name} is not a finite number"
    if field_name in _MAY_BE_ZERO:
        neg = ~bad & (v < 0)
        reason[neg] = f"{field_name} must be >= 0"
    else:
        nonpos = ~bad & (v <= 0)
        reason[nonpos] = f"{field_name} must be > 0"
    if field_name in _UNIT_INTERVAL:
        out = ~bad & ((v < 0) | (v > 1) | ((field_name == "initial_stoichiometry")
                                           & ((v <= 0) | (v >= 1))))
        reason[out & (reason == "")] = f"{field_name} must lie in [0, 1]"
    return reason


# ---------------------------------------------------------------------------------------
# Batch driver
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepInfo:
    """One executed protocol step (shared by all members of a batch)."""

    count: int
    index: int
    repetition: int
    kind: str
    text: str


@dataclass
class BatchRun:
    """Per-step results of a batch: arrays shaped (n_steps, B).

    ``charge_mAh_g`` is the signed charge passed (anodic positive), ``insertion_mAh_g`` the
    part that changed the host's Na content and ``sei_mAh_g`` the part that formed SEI (signs
    as the charge: sodiation negative); the rest went to the double layer and the
    surface-redox store (:meth:`capacitive_mAh_g`). ``ok`` says whether
    the step ended as asked (cut-off reached, duration or sweep completed); ``problem``
    holds the first reason a member failed ('' when fine).
    """

    steps: list[StepInfo]
    charge_mAh_g: np.ndarray
    insertion_mAh_g: np.ndarray
    sei_mAh_g: np.ndarray
    end_voltage_V: np.ndarray
    duration_s: np.ndarray
    ok: np.ndarray
    problem: np.ndarray
    trace: dict[str, np.ndarray] | None = None
    warnings: list[str] = field(default_factory=list)

    def capacitive_mAh_g(self) -> np.ndarray:
        """Charge stored capacitively (double layer + surface redox), per step (signed)."""
        return self.charge_mAh_g - self.insertion_mAh_g - self.sei_mAh_g

    def capacitive_fraction(self, step: int) -> np.ndarray:
        """Capacitive share of the charge passed in step ``step`` (0-based), per member."""
        with np.errstate(all="ignore"):
            return self.capacitive_mAh_g()[step] / self.charge_mAh_g[step]

    @property
    def B(self) -> int:
        return int(self.charge_mAh_g.shape[1])


def _as_experiment(experiment: Experiment | Sequence[str] | str) -> Experiment:
    if isinstance(experiment, Experiment):
        return experiment
    if isinstance(experiment, str):
        experiment = [experiment]
    return Experiment.from_strings(list(experiment))


_BATCH_ERRORS = (NasurfError, ValueError, ArithmeticError, IndexError, np.linalg.LinAlgError)


def run_batch(params: ParameterSet, experiment: Experiment | Sequence[str] | str, *,
              overrides: Mapping[str, Any] | None = None,
              current_scale: Sequence[float] | np.ndarray | None = None,
              sweep_rates_V_s: Sequence[float] | np.ndarray | None = None,
              batch_size: int | None = None, mesh: MeshSpec | None = None,
              keep_trace: bool = False, engine: str = "auto",
              n_output_metrics: int = 20, failures: str = "raise") -> BatchRun:
    """Run ``experiment`` for a batch of parameter sets and return per-step results.

    ``overrides`` maps batchable fields to arrays of length B (or scalars);
    ``current_scale`` multiplies every step current per member; ``sweep_rates_V_s`` replaces
    the scan rate of every sweep step per member (a CV set as one batch). Degradation (loss
    of active material) is applied between repetitions as in
    :func:`nasurf.sim.simulate.simulate`, whose step loop this mirrors without building
    output tables. ``n_output_metrics`` is the bracketing grid of the exact engine when no
    trace is kept (20 points change capacities by < 1e-6 relative against 150).

    If the batched solve raises, the batch is split in halves down to single members, so
    one bad member (or a solver path that fails only for batches) costs speed, not the
    result; ``warnings`` then says so. A single member that raises re-raises
    (``failures="raise"``) or becomes NaN results with its reason in ``problem``
    (``failures="mark"``).
    """
    exp = _as_experiment(experiment)
    if exp.stop_at_cutoff:
        raise ValidationError("run_batch does not implement the GITT stop rule; use "
                              "nasurf.sim.simulate for GITT", field="experiment")
    p = params
    if exp.initial_voltage is not None and "initial_stoichiometry" not in (overrides or {}):
        x0 = min(max(p.ocp.stoichiometry_at(exp.initial_voltage), 1e-200), 1 - 1e-9)
        p = p.with_changes(initial_stoichiometry=x0)
    ov = {k: np.asarray(v, dtype=float) for k, v in (overrides or {}).items()}
    sizes = {v.size for v in ov.values() if v.ndim > 0}
    sizes |= {len(v) for v in (current_scale, sweep_rates_V_s) if v is not None}
    B = batch_size or (max(sizes) if sizes else 1)
    scale = np.ones(B) if current_scale is None else np.asarray(current_scale, dtype=float)
    rates = None if sweep_rates_V_s is None else np.asarray(sweep_rates_V_s, dtype=float)
    for name, arr in (("current_scale", scale), ("sweep_rates_V_s", rates)):
        if arr is not None and arr.shape != (B,):
            raise ValidationError(f"must have length {B}", field=name)
    for name, arr in ov.items():
        if arr.ndim > 0 and arr.shape != (B,):
            raise ValidationError(f"override must have length {B}", field=name)
    if failures not in ("raise", "mark"):
        raise ValidationError("must be 'raise' or 'mark'", field="failures")
    return _run_split(p, exp, ov, scale, rates, B, mesh, keep_trace, engine, n_output_metrics,
                      failures == "mark")


def _run_split(p: ParameterSet, exp: Experiment, ov: dict[str, np.ndarray], scale: np.ndarray,
               rates: np.ndarray | None, B: int, mesh: MeshSpec | None, keep_trace: bool,
               engine: str, n_output: int, mark: bool) -> BatchRun:
    try:
        return _run_once(p, exp, ov, scale, rates, B, mesh, keep_trace, engine, n_output)
    except _BATCH_ERRORS as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if B == 1:
            if mark:
                return _failed_run(exp, reason, keep_trace)
            raise
    half = B // 2
    parts = []
    for idx in (np.arange(half), np.arange(half, B)):
        sub = {k: (v[idx] if v.ndim > 0 else v) for k, v in ov.items()}
        parts.append(_run_split(p, exp, sub, scale[idx], None if rates is None else rates[idx],
                                idx.size, mesh, keep_trace, engine, n_output, mark))
    return _join(parts, f"the batched solve of {B} sets failed ({reason}); "
                        "they were run in smaller batches")


def _failed_run(exp: Experiment, reason: str, keep_trace: bool) -> BatchRun:
    """A one-member run whose solve raised: NaN results, the reason in ``problem``."""
    steps = [StepInfo(rep * len(exp.steps) + idx, idx, rep + 1, st.kind, st.text)
             for rep in range(exp.cycles) for idx, st in enumerate(exp.steps, start=1)]
    nan = np.full((len(steps), 1), np.nan)
    trace = None
    if keep_trace:
        trace = {k: np.zeros((0, 1)) for k in ("t", "V", "I", "x")}
        trace["step"] = np.zeros(0, dtype=int)
    return BatchRun(steps, nan, nan.copy(), nan.copy(), nan.copy(), nan.copy(),
                    np.zeros((len(steps), 1), dtype=bool),
                    np.array([f"simulation failed: {reason}"], dtype=object), trace)


def _join(parts: list[BatchRun], warning: str) -> BatchRun:
    """Members of several runs of the same experiment side by side (traces padded with NaN)."""
    a, b = parts

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(a, name), getattr(b, name)], axis=1)

    trace = None
    if a.trace is not None and b.trace is not None:
        trace = {}
        for k in a.trace:
            if k == "step":
                trace[k] = np.concatenate([a.trace[k], b.trace[k]])
                continue
            ta, tb = a.trace[k], b.trace[k]
            top = np.hstack([ta, np.full((ta.shape[0], tb.shape[1]), np.nan)])
            bottom = np.hstack([np.full((tb.shape[0], ta.shape[1]), np.nan), tb])
            trace[k] = np.vstack([top, bottom])
    return BatchRun(a.steps, cat("charge_mAh_g"), cat("insertion_mAh_g"), cat("sei_mAh_g"),
                    cat("end_voltage_V"), cat("duration_s"), cat("ok"),
                    np.concatenate([a.problem, b.problem]), trace,
                    list(dict.fromkeys([warning, *a.warnings, *b.warnings])))


def _run_once(p: ParameterSet, exp: Experiment, ov: dict[str, np.ndarray], scale: np.ndarray,
              rates: np.ndarray | None, B: int, mesh: MeshSpec | None, keep_trace: bool,
              engine: str, n_output_metrics: int) -> BatchRun:
    model = build_model(p, mesh=mesh, overrides=ov, batch_size=B)
    st = initial_state(model)
    trace = Trace()
    basis = p.capacity_basis_value
    host = p.host_capacity
    steps: list[StepInfo] = []
    charge, insertion, sei_charge, v_end, dur, oks = [], [], [], [], [], []
    problem = np.full(B, "", dtype=object)
    count = 0
    for rep in range(exp.cycles):
        sod_charge = np.zeros(B)
        for idx, step in enumerate(exp.steps, start=1):
            count += 1
            steps.append(StepInfo(count, idx, rep + 1, step.kind, step.text))
            seg = step_segment(step, exp, basis, scale, count, B, rates)
            if not keep_trace:
                # metrics only: a coarser bracketing grid (the cut-off is still located to
                # the solver's tolerance by its root refinement)
                seg = replace(seg, n_output=n_output_metrics)
            before = st
            na_before = model.sodium_content(before.c) * before.active
            with np.errstate(all="ignore"):
                st = run_segment(model, st, seg, trace, engine=engine)
            dq = (st.charge - before.charge) / C_PER_KG_PER_MAH_G
            na_after = model.sodium_content(st.c) * st.active
            ins = -(na_after - na_before) * F / C_PER_KG_PER_MAH_G
            # SEI formed draws a cathodic (negative) charge
            sei = -(before.sei_left - st.sei_left) / C_PER_KG_PER_MAH_G
            d = st.t - before.t
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
            problem = np.where((problem == "") & ~ok, why, problem)
            sod_charge += np.where(dq < 0, -dq * C_PER_KG_PER_MAH_G, 0.0)
            charge.append(dq)
            insertion.append(ins)
            sei_charge.append(sei)
            v_end.append(st.V.copy())
            dur.append(d)
            oks.append(ok)
        if np.any(model.lam_rate > 0) and rep + 1 < exp.cycles:
            depth = np.clip(sod_charge / host, 0.0, 1.0)
            st.active = st.active * np.clip(1.0 - model.lam_rate * depth, 0.0, 1.0)
    return BatchRun(steps, np.array(charge), np.array(insertion), np.array(sei_charge),
                    np.array(v_end), np.array(dur), np.array(oks), problem,
                    trace.arrays() if keep_trace else None)


# ---------------------------------------------------------------------------------------
# Protocols and metrics
# ---------------------------------------------------------------------------------------

PROTOCOL_KINDS = ("rate", "discharge", "cycling", "cv")
DEFAULT_RATE_CURRENTS_mA_g = (50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)
DEFAULT_SCAN_RATES_mV_s = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


def _label(x: float) -> str:
    return f"{x:g}".replace("+", "")


@dataclass(frozen=True)
class SweepProtocol:
    """What each parameter set is put through, and which metrics come out.

    * ``rate``: sodiate to ``lower_V`` and desodiate to ``upper_V`` at each current in turn
      (``currents_mA_g``, or ``c_rates`` against the material's capacity basis), then once
      more at the first; metrics ``sodiation_mAh_g@<rate>``, ``desodiation_mAh_g@<rate>``,
      ``retention`` (last rate / first rate, desodiation), ``recovery`` (return to the first
      rate / first), ``first_cycle_ce``.
    * ``discharge``: one sodiation (and desodiation) at ``currents_mA_g[0]`` or
      ``c_rates[0]``; metrics ``sodiation_mAh_g``, ``desodiation_mAh_g``, ``first_cycle_ce``,
      ``capacitive_fraction`` (share of the sodiation charge stored in the double layer and
      surface-redox sites: neither inserted into the host nor spent on SEI).
    * ``cycling``: ``cycles`` sodiation/desodiation cycles at the first current; metrics
      ``desodiation_mAh_g_first``, ``desodiation_mAh_g_last``, ``fade_percent``,
      ``first_cycle_ce``.
    * ``cv``: one cyclic-voltammetry cycle ``upper_V -> lower_V -> upper_V`` at each of
      ``scan_rates_mV_s`` (equilibrated at ``upper_V``); metrics
      ``capacitive_fraction@<v>`` (model's own split of the cathodic charge: stored in the
      double layer and surface-redox sites / passed), ``sodiation_mAh_g@<v>``,
      ``peak_sodiation_A_g@<v>``, ``b_value`` (slope of log |i_peak| on log v).
    """

    kind: str = "rate"
    currents_mA_g: tuple[float, ...] = ()
    c_rates: tuple[float, ...] = ()
    scan_rates_mV_s: tuple[float, ...] = ()
    cycles: int = 10
    lower_V: float = 0.01
    upper_V: float = 3.0

    def __post_init__(self) -> None:
        if self.kind not in PROTOCOL_KINDS:
            raise ValidationError(f"unknown protocol {self.kind!r}; expected one of "
                                  f"{', '.join(PROTOCOL_KINDS)}", field="protocol")
        for name in ("currents_mA_g", "c_rates", "scan_rates_mV_s"):
            vals = getattr(self, name)
            if any(not (math.isfinite(v) and v > 0) for v in vals):
                raise ValidationError("values must be positive numbers", field=name)
        if self.currents_mA_g and self.c_rates:
            raise ValidationError("give currents_mA_g or c_rates, not both", field="c_rates")
        if not self.lower_V < self.upper_V:
            raise ValidationError("lower_V must be below upper_V", field="lower_V")
        if self.cycles < 1:
            raise ValidationError("must be >= 1", field="cycles")

    # --------------------------------------------------------------------------------
    def _rates(self) -> list[str]:
        if self.c_rates:
            return [f"{_label(c)}C" for c in self.c_rates]
        cur = self.currents_mA_g or (DEFAULT_RATE_CURRENTS_mA_g if self.kind == "rate"
                                     else (100.0,))
        return [f"{_label(c)} mA g-1" for c in cur]

    def rate_labels(self) -> list[str]:
        """Column suffixes for the rates: ``100mA_g`` or ``2C``."""
        return [r.replace(" mA g-1", "mA_g") for r in self._rates()]

    def experiment(self) -> Experiment:
        """The galvanostatic experiment of this protocol (not for ``cv``)."""
        lo, hi = self.lower_V, self.upper_V
        rates = self._rates()
        if self.kind == "rate":
            seq = [*rates, rates[0]]
            steps = [s for r in seq for s in (f"Sodiate at {r} until {lo} V",
                                               f"Desodiate at {r} until {hi} V")]
            return Experiment.from_strings(steps, lower_cutoff_V=lo, upper_cutoff_V=hi,
                                           name="rate_capability")
        if self.kind in ("discharge", "cycling"):
            r = rates[0]
            return Experiment.from_strings(
                [f"Sodiate at {r} until {lo} V", f"Desodiate at {r} until {hi} V"],
                cycles=self.cycles if self.kind == "cycling" else 1,
                lower_cutoff_V=lo, upper_cutoff_V=hi, name=self.kind)
        raise ValidationError("a CV protocol has no galvanostatic experiment",
                              field="protocol")

    def metric_names(self) -> list[str]:
        if self.kind == "rate":
            labels = self.rate_labels()
            return ([f"sodiation_mAh_g@{r}" for r in labels]
                    + [f"desodiation_mAh_g@{r}" for r in labels]
                    + ["retention", "recovery", "first_cycle_ce"])
        if self.kind == "discharge":
            return ["sodiation_mAh_g", "desodiation_mAh_g", "first_cycle_ce",
                    "capacitive_fraction"]
        if self.kind == "cycling":
            return ["desodiation_mAh_g_first", "desodiation_mAh_g_last", "fade_percent",
                    "first_cycle_ce"]
        rates = [_label(v) for v in self._scan_rates()]
        return ([f"capacitive_fraction@{v}mV_s" for v in rates]
                + [f"sodiation_mAh_g@{v}mV_s" for v in rates]
                + [f"peak_sodiation_A_g@{v}mV_s" for v in rates] + ["b_value"])

    def _scan_rates(self) -> tuple[float, ...]:
        return self.scan_rates_mV_s or DEFAULT_SCAN_RATES_mV_s

    # --------------------------------------------------------------------------------
    def evaluate(self, params: ParameterSet, overrides: Mapping[str, np.ndarray], B: int,
                 mesh: MeshSpec | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Metrics (each an array of length B) and per-member failure reasons."""
        if self.kind == "cv":
            return self._evaluate_cv(params, overrides, B, mesh)
        run = run_batch(params, self.experiment(), overrides=overrides, batch_size=B,
                        mesh=mesh, failures="mark")
        sod = -run.charge_mAh_g   # positive for sodiation steps
        des = run.charge_mAh_g
        out: dict[str, np.ndarray] = {}
        if self.kind == "rate":
            labels = self.rate_labels()
            for j, r in enumerate(labels):
                out[f"sodiation_mAh_g@{r}"] = sod[2 * j]
                out[f"desodiation_mAh_g@{r}"] = des[2 * j + 1]
            first = des[1]
            with np.errstate(all="ignore"):
                out["retention"] = des[2 * len(labels) - 1] / first
                out["recovery"] = des[2 * len(labels) + 1] / first
                out["first_cycle_ce"] = des[1] / sod[0]
        elif self.kind == "discharge":
            out["sodiation_mAh_g"] = sod[0]
            out["desodiation_mAh_g"] = des[1]
            with np.errstate(all="ignore"):
                out["first_cycle_ce"] = des[1] / sod[0]
                out["capacitive_fraction"] = run.capacitive_fraction(0)
        else:
            n = len(run.steps) // 2
            out["desodiation_mAh_g_first"] = des[1]
            out["desodiation_mAh_g_last"] = des[2 * n - 1]
            with np.errstate(all="ignore"):
                out["fade_percent"] = 100.0 * (1.0 - des[2 * n - 1] / des[1])
                out["first_cycle_ce"] = des[1] / sod[0]
        return out, run.problem

    def _evaluate_cv(self, params: ParameterSet, overrides: Mapping[str, np.ndarray], B: int,
                     mesh: MeshSpec | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        rates = np.asarray(self._scan_rates(), dtype=float) * 1e-3
        R = rates.size
        # members ordered (set, rate): every set meets every scan rate in one batch
        tiled = {k: np.repeat(np.broadcast_to(np.asarray(v, dtype=float), (B,)), R)
                 for k, v in overrides.items()}
        exp = Experiment.from_strings(
            [f"Sweep from {self.upper_V} V to {self.lower_V} V at 1 mV/s",
             f"Sweep from {self.lower_V} V to {self.upper_V} V at 1 mV/s"],
            initial_voltage=self.upper_V, lower_cutoff_V=self.lower_V - 1.0,
            upper_cutoff_V=self.upper_V + 1.0, name="cv")
        run = run_batch(params, exp, overrides=tiled, batch_size=B * R,
                        sweep_rates_V_s=np.tile(rates, B), keep_trace=True, failures="mark")
        tr = run.trace or {}
        cath = (tr["step"] == run.steps[0].count)[:, None]
        I = np.where(cath, tr["I"], np.nan)
        with np.errstate(all="ignore"):
            peak = -np.nanmin(I, axis=0) / 1e3                     # A/kg -> A/g, positive
            frac = run.capacitive_fraction(0)
        peak = peak.reshape(B, R)
        frac = frac.reshape(B, R)
        sodq = (-run.charge_mAh_g[0]).reshape(B, R)
        out: dict[str, np.ndarray] = {}
        for j, v in enumerate(self._scan_rates()):
            out[f"capacitive_fraction@{_label(v)}mV_s"] = frac[:, j]
            out[f"sodiation_mAh_g@{_label(v)}mV_s"] = sodq[:, j]
            out[f"peak_sodiation_A_g@{_label(v)}mV_s"] = peak[:, j]
        lv = np.log(rates)
        with np.errstate(all="ignore"):
            lp = np.log(peak)
            lvc = lv - lv.mean()
            out["b_value"] = ((lp - lp.mean(axis=1, keepdims=True)) @ lvc) / (lvc @ lvc) \
                if R > 1 else np.full(B, np.nan)
        prob = run.problem.reshape(B, R)
        problem = np.array([next((s for s in row if s), "") for row in prob], dtype=object)
        return out, problem


def make_protocol(kind: str | SweepProtocol, **kw: Any) -> SweepProtocol:
    """A :class:`SweepProtocol` from a kind name and options (or pass one through)."""
    if isinstance(kind, SweepProtocol):
        return kind
    return SweepProtocol(kind=str(kind), **{k: (tuple(v) if isinstance(v, list | tuple |
                                                                      np.ndarray) else v)
                                           for k, v in kw.items() if v is not None})


# ---------------------------------------------------------------------------------------
# Grids and samples
# ---------------------------------------------------------------------------------------

_AXIS = re.compile(r"^\s*(?P<lo>[^:]+):(?P<hi>[^:]+):(?P<kind>lin|log):(?P<n>\d+)\s*$", re.I)


def parse_axis(text: str, *, name: str = "param") -> np.ndarray:
    """``"1e-15:1e-12:log:20"`` (or ``lin``), or a comma list ``"1e-15,1e-14"``, to values."""
    m = _AXIS.match(text)
    try:
        if m:
            lo, hi, n = float(m.group("lo")), float(m.group("hi")), int(m.group("n"))
            if n < 1:
                raise ValueError
            from nasurf.limits import MAX_AXIS_POINTS

            if n > MAX_AXIS_POINTS:
                raise ValidationError(f"{n} points on one axis; at most {MAX_AXIS_POINTS}",
                                      field=name)
            if m.group("kind").lower() == "log":
                if lo <= 0 or hi <= 0:
                    raise ValidationError("a log axis needs positive bounds", field=name)
                return np.geomspace(lo, hi, n)
            return np.linspace(lo, hi, n)
        values = np.array([float(v) for v in text.split(",") if v.strip()], dtype=float)
    except ValueError:
        raise ValidationError(f"cannot read axis {text!r}; expected 'lo:hi:log:n', "
                              "'lo:hi:lin:n' or a comma-separated list", field=name) from None
    if values.size == 0:
        raise ValidationError("empty axis", field=name)
    return values


def parse_param_option(text: str) -> tuple[str, np.ndarray]:
    """``"shell_D=1e-15:1e-12:log:20"`` -> (``"shell_D"``, values)."""
    if "=" not in text:
        raise ValidationError(f"expected NAME=lo:hi:log:n, got {text!r}", field="--param")
    name, spec = text.split("=", 1)
    name = name.strip()
    resolve_parameter(name)
    return name, parse_axis(spec, name=name)


def latin_hypercube(bounds: Mapping[str, tuple[float, float, str]], n: int, *,
                    seed: int | None = 0) -> pd.DataFrame:
    """``n`` Latin-hypercube samples; bounds ``{name: (lo, hi, "log"|"lin")}``."""
    from scipy.stats import qmc

    names = list(bounds)
    if n < 1 or not names:
        raise ValidationError("need n >= 1 and at least one parameter", field="samples")
    u = qmc.LatinHypercube(d=len(names), seed=seed).random(n)
    cols = {}
    for j, name in enumerate(names):
        lo, hi, kind = bounds[name]
        if kind == "log":
            cols[name] = np.exp(np.log(lo) + u[:, j] * (np.log(hi) - np.log(lo)))
        else:
            cols[name] = lo + u[:, j] * (hi - lo)
    return pd.DataFrame(cols)


@dataclass(frozen=True)
class _Design:
    """Parameter sets addressed by a flat index, generated lazily chunk by chunk."""

    names: tuple[str, ...]
    axes: tuple[np.ndarray, ...] | None = None
    samples: np.ndarray | None = None

    @property
    def size(self) -> int:
        if self.samples is not None:
            return int(self.samples.shape[0])
        return int(np.prod([a.size for a in self.axes or ()]))

    def rows(self, start: int, stop: int) -> np.ndarray:
        if self.samples is not None:
            return self.samples[start:stop]
        assert self.axes is not None
        idx = np.unravel_index(np.arange(start, stop), tuple(a.size for a in self.axes))
        return np.column_stack([a[i] for a, i in zip(self.axes, idx, strict=True)])


def _design(grid_or_samples: Mapping[str, Sequence[float] | np.ndarray] | pd.DataFrame
            ) -> _Design:
    if isinstance(grid_or_samples, pd.DataFrame):
        names = tuple(str(c) for c in grid_or_samples.columns)
        for n in names:
            resolve_parameter(n)
        try:
            values = grid_or_samples.to_numpy(dtype=float)
        except (TypeError, ValueError):
            raise ValidationError("sample values must be numbers", field="samples") from None
        return _Design(names, samples=values)
    if not isinstance(grid_or_samples, Mapping) or not grid_or_samples:
        raise ValidationError("give a grid {name: values} or a DataFrame of samples",
                              field="grid")
    names = tuple(grid_or_samples)
    axes = []
    for n in names:
        resolve_parameter(n)
        a = np.atleast_1d(np.asarray(grid_or_samples[n], dtype=float))
        if a.ndim != 1 or a.size == 0:
            raise ValidationError("grid values must be a non-empty 1-D list", field=n)
        axes.append(a)
    return _Design(names, axes=tuple(axes))


# ---------------------------------------------------------------------------------------
# Chunk evaluation (runs in-process or on a Dask worker)
# ---------------------------------------------------------------------------------------


def _evaluate_members(params: ParameterSet, fields: Sequence[str], values: np.ndarray,
                      protocol: SweepProtocol, mesh: MeshSpec | None
                      ) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Evaluate B members; on a batch-wide error, split the batch to isolate the culprits."""
    B = values.shape[0]
    names = protocol.metric_names()
    overrides = {f: values[:, j] for j, f in enumerate(fields)}
    try:
        metrics, problem = protocol.evaluate(params, overrides, B, mesh)
        return metrics, problem
    except (NasurfError, ArithmeticError, ValueError, np.linalg.LinAlgError) as exc:
        if B == 1:
            return ({n: np.full(1, np.nan) for n in names},
                    np.array([f"{type(exc).__name__}: {exc}"], dtype=object))
    half = B // 2
    m1, p1 = _evaluate_members(params, fields, values[:half], protocol, mesh)
    m2, p2 = _evaluate_members(params, fields, values[half:], protocol, mesh)
    return ({n: np.concatenate([m1[n], m2[n]]) for n in names},
            np.concatenate([p1, p2]))


def run_chunk(params: ParameterSet, names: Sequence[str], values: np.ndarray,
              start: int, protocol: SweepProtocol, mesh: MeshSpec | None = None
              ) -> pd.DataFrame:
    """Metric rows for parameter sets ``start .. start + len(values)`` (never raises on a set).

    Sets are pre-checked (ranges, shell thinner than the particle); a batch that still
    fails is split in halves until the failing sets are isolated. Sets with and without a
    shell run as separate batches (their meshes differ).
    """
    fields = [resolve_parameter(n) for n in names]
    values = np.asarray(values, dtype=float).reshape(-1, len(fields))
    n = values.shape[0]
    reason = np.full(n, "", dtype=object)
    for j, f in enumerate(fields):
        r = check_values(f, values[:, j])
        reason = np.where(reason == "", r, reason)
    full = {f: values[:, j] for j, f in enumerate(fields)}
    radius = full.get("particle_radius", np.full(n, params.particle_radius))
    shell = full.get("shell_thickness", np.full(n, params.shell_thickness))
    with np.errstate(invalid="ignore"):
        too_thick = (reason == "") & (shell >= radius)
    reason = np.where(too_thick, "shell_thickness must be smaller than particle_radius", reason)
    names_m = protocol.metric_names()
    metrics = {m: np.full(n, np.nan) for m in names_m}
    good = reason == ""
    with np.errstate(invalid="ignore"):
        has_shell = shell > 0
    for group in (good & has_shell, good & ~has_shell):
        idx = np.flatnonzero(group)
        if idx.size == 0:
            continue
        m, prob = _evaluate_members(params, fields, values[idx], protocol, mesh)
        for k in names_m:
            metrics[k][idx] = m[k]
        reason[idx] = prob
    for k in names_m:
        bad = ~np.isfinite(metrics[k]) & (reason == "")
        if k == "b_value" or k.startswith("peak_"):
            continue
        reason = np.where(bad, f"metric {k} is not finite", reason)
    df = pd.DataFrame({"set_id": np.arange(start, start + n)})
    for j, name in enumerate(names):
        df[name] = values[:, j]
    for k in names_m:
        # + 0.0 turns the -0.0 of an empty half cycle (-charge) into 0.0 in tables and CSV
        df[k] = metrics[k] + 0.0
    df["status"] = np.where(reason == "", "ok", "failed")
    df["reason"] = reason.astype(str)
    return df


# ---------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------


class _Progress:
    """A rich progress bar on stderr (or nothing)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.bar = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            from nasurf.clikit import stderr

            self.bar = Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), TimeRemainingColumn(), console=stderr,
                                transient=False)
            self.task = self.bar.add_task("sweep", total=total)
            self.bar.start()

    def advance(self, n: int) -> None:
        if self.bar is not None:
            self.bar.advance(self.task, n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _chunks(design: _Design, chunk_size: int) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, design.size, chunk_size):
        yield start, design.rows(start, min(start + chunk_size, design.size))


def _failed_chunk(names: Sequence[str], values: np.ndarray, start: int,
                  protocol: SweepProtocol, reason: str) -> pd.DataFrame:
    df = pd.DataFrame({"set_id": np.arange(start, start + len(values))})
    for j, name in enumerate(names):
        df[name] = values[:, j]
    for k in protocol.metric_names():
        df[k] = np.nan
    df["status"] = "failed"
    df["reason"] = reason
    return df


def sweep(base: str | Path | ParameterSet,
          grid_or_samples: Mapping[str, Sequence[float] | np.ndarray] | pd.DataFrame,
          protocol: str | SweepProtocol = "rate",
          metrics: Sequence[str] | None = None, *,
          strategy: str | Path | None = None,
          scheduler: str | None = None, chunk_size: int = 250,
          max_in_flight: int | None = None, progress: bool = True,
          mesh: MeshSpec | None = None,
          on_result: Callable[[pd.DataFrame], None] | None = None) -> pd.DataFrame:
    """Evaluate ``protocol`` for every parameter set; one row per set.

    ``grid_or_samples``: ``{name: values}`` (full factorial grid, generated lazily) or a
    DataFrame of samples (one row per set, e.g. :func:`latin_hypercube`). Names are user
    names (``shell_D``, ``k0`` ...; see :data:`PARAMETER_ALIASES`) or batchable fields, in
    SI units; a tabulated D(c) or k(c) takes a factor on its table.
    ``metrics``: subset of ``protocol.metric_names()`` to keep (default all).
    ``scheduler``: None runs the chunks in this process (vectorised over each chunk);
    ``"local"`` starts a ``LocalCluster(n_workers=2, threads_per_worker=1)``;
    ``"tcp://host:port"`` uses that scheduler's workers. At most ``max_in_flight`` chunks
    (default 2 per worker) are submitted at a time. ``on_result`` is called with each
    finished chunk's rows (e.g. to append them to a file).

    Returns the rows sorted by ``set_id`` with the parameter columns, the metrics, and
    ``status`` (``ok``/``failed``) with a ``reason``.
    """
    from nasurf.sim.simulate import resolve_parameters

    params = resolve_parameters(base, strategy)
    proto = make_protocol(protocol)
    design = _design(grid_or_samples)
    available = proto.metric_names()
    keep = list(metrics) if metrics else available
    unknown = [m for m in keep if m not in available]
    if unknown:
        raise ValidationError(f"unknown metric for protocol '{proto.kind}'; available: "
                              f"{', '.join(available)}", field=unknown[0])
    for n in design.names:
        f = resolve_parameter(n)
        if f == "shell_diffusivity" and params.shell_thickness <= 0 and \
                "shell_thickness" not in {resolve_parameter(x) for x in design.names}:
            raise ValidationError("the material has no shell (shell_thickness = 0): choose a "
                                  "strategy with a shell or sweep shell_thickness too",
                                  field=n)
    if chunk_size < 1:
        raise ValidationError("must be >= 1", field="chunk_size")
    columns = ["set_id", *design.names, *keep, "status", "reason"]
    bar = _Progress(design.size, progress)
    results: list[pd.DataFrame] = []

    def collect(df: pd.DataFrame) -> None:
        df = df[columns]
        results.append(df)
        bar.advance(len(df))
        if on_result is not None:
            on_result(df)

    try:
        if scheduler is None:
            for start, values in _chunks(design, chunk_size):
                collect(run_chunk(params, design.names, values, start, proto, mesh))
        else:
            _sweep_dask(params, design, proto, mesh, scheduler, chunk_size, max_in_flight,
                        collect)
    finally:
        bar.close()
    if not results:
        return pd.DataFrame(columns=columns)
    return pd.concat(results, ignore_index=True).sort_values("set_id", kind="stable") \
        .reset_index(drop=True)


def start_local_cluster(n_workers: int = 2) -> Any:
    """A ``LocalCluster(n_workers, threads_per_worker=1, processes=True)`` tuned for sweeps.

    Dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers; an explicit trim
    threshold switches off glibc's dynamic mmap threshold, so every temporary array of a
    batch is mmapped and page-faulted afresh, which doubled the solve time of a chunk here
    (0.41 s -> 0.85 s for 1 000 sets). The variable is therefore left unset. Logs are
    silenced: a worker heartbeat racing the shutdown logs a harmless traceback, and a
    chunk's own failure still comes back through its future.
    """
    import dask
    from dask.distributed import LocalCluster

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        return LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                            dashboard_address=None, silence_logs=logging.CRITICAL)


def _sweep_dask(params: ParameterSet, design: _Design, proto: SweepProtocol,
                mesh: MeshSpec | None, scheduler: str, chunk_size: int,
                max_in_flight: int | None, collect: Callable[[pd.DataFrame], None]) -> None:
    from dask.distributed import Client, as_completed

    cluster = None
    if scheduler == "local":
        cluster = start_local_cluster()
        client = Client(cluster)
    elif scheduler.startswith(("tcp://", "tls://", "inproc://", "ws://", "wss://")):
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise ValidationError(f"cannot reach the Dask scheduler {scheduler}: {exc}",
                                  field="scheduler") from None
    else:
        raise ValidationError(f"scheduler must be None, 'local' or an address such as "
                              f"tcp://host:8786, got {scheduler!r}", field="scheduler")
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        limit = max_in_flight or 2 * n_workers
        remote_params = client.scatter(params, broadcast=True)
        chunks = _chunks(design, chunk_size)
        pending: dict[Any, tuple[int, np.ndarray]] = {}

        def submit(item: tuple[int, np.ndarray]) -> Any:
            start, values = item
            fut = client.submit(run_chunk, remote_params, design.names, values, start, proto,
                                mesh, pure=False)
            pending[fut] = item
            return fut

        ac = as_completed([submit(c) for c in itertools.islice(chunks, limit)])
        for fut in ac:
            start, values = pending.pop(fut)
            try:
                df = fut.result()
            except Exception as exc:  # a worker died or the chunk crashed: keep going
                df = _failed_chunk(design.names, values, start, proto,
                                   f"chunk failed on the cluster: {type(exc).__name__}: {exc}")
            fut.release()
            collect(df)
            nxt = next(chunks, None)
            if nxt is not None:
                ac.add(submit(nxt))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


__all__ = [
    "FIELD_UNITS",
    "PARAMETER_ALIASES",
    "PROTOCOL_KINDS",
    "BatchRun",
    "DEFAULT_RATE_CURRENTS_mA_g",
    "DEFAULT_SCAN_RATES_mV_s",
    "StepInfo",
    "SweepProtocol",
    "check_values",
    "is_table_factor",
    "latin_hypercube",
    "make_protocol",
    "nominal_value",
    "parse_axis",
    "parse_param_option",
    "resolve_parameter",
    "run_batch",
    "run_chunk",
    "start_local_cluster",
    "sweep",
]
