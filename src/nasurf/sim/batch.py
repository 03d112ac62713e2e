"""The batch driver of the sweeps and fits: a protocol for B parameter sets, metrics only.

:func:`run_batch` runs an experiment through the protocol driver
(:func:`nasurf.sim.protocol.run_protocol`, the loop ``simulate()`` runs too) with a
:class:`~nasurf.sim.protocol.MetricsRecorder`, and returns per-step charges (and their
split into insertion, SEI and capacitive storage), end voltages and durations as arrays
(n_steps, B), without building one table per member. A batch whose solve raises is split
in halves down to the culprit, so one bad member costs speed, not the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nasurf.errors import NasurfError, ValidationError
from nasurf.options import choose
from nasurf.sim.experiment import Experiment
from nasurf.sim.model import MeshSpec, build_model
from nasurf.sim.parameters import ParameterSet
from nasurf.sim.protocol import (
    MetricsRecorder,
    StepInfo,
    equilibrated_parameters,
    run_protocol,
)
from nasurf.sim.protocol import step_control as step_control_of
from nasurf.sim.solver import ENGINES
from nasurf.sim.state import CURVES_CONTROL, StepControl


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
              n_output_metrics: int = 20, failures: str = "raise",
              step_control: str | StepControl = "curves") -> BatchRun:
    """Run ``experiment`` for a batch of parameter sets and return per-step results.

    ``overrides`` maps batchable fields to arrays of length B (or scalars);
    ``current_scale`` multiplies every step current per member; ``sweep_rates_V_s`` replaces
    the scan rate of every sweep step per member (a CV set as one batch). Degradation (loss
    of active material) is applied after each repetition and the GITT stop rule holds,
    as in :func:`nasurf.sim.simulate.simulate`: both run the one protocol driver
    (:func:`nasurf.sim.protocol.run_protocol`), this one without building output tables.
    ``n_output_metrics`` is the bracketing grid of the exact engine when no trace is kept
    (20 points change capacities by < 1e-6 relative against 150).

    If the batched solve raises, the batch is split in halves down to single members, so
    one bad member (or a solver path that fails only for batches) costs speed, not the
    result; ``warnings`` then says so. A single member that raises re-raises
    (``failures="raise"``) or becomes NaN results with its reason in ``problem``
    (``failures="mark"``). ``step_control``: the marches' time-step control of the
    galvanostatic steps, as in :func:`nasurf.sim.simulate.simulate`.
    """
    exp = _as_experiment(experiment)
    engine = choose("engine", engine, ENGINES, where="run_batch")
    p = equilibrated_parameters(params, exp, overrides)
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
    failures = choose("failures", failures, ("raise", "mark"), where="run_batch")
    control = step_control_of(step_control, where="run_batch")
    return _run_split(p, exp, ov, scale, rates, B, mesh, keep_trace, engine, n_output_metrics,
                      failures == "mark", control)


def _run_split(p: ParameterSet, exp: Experiment, ov: dict[str, np.ndarray], scale: np.ndarray,
               rates: np.ndarray | None, B: int, mesh: MeshSpec | None, keep_trace: bool,
               engine: str, n_output: int, mark: bool,
               control: StepControl = CURVES_CONTROL) -> BatchRun:
    try:
        return _run_once(p, exp, ov, scale, rates, B, mesh, keep_trace, engine, n_output,
                         control)
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
                                idx.size, mesh, keep_trace, engine, n_output, mark,
                                control))
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
              engine: str, n_output_metrics: int,
              control: StepControl = CURVES_CONTROL) -> BatchRun:
    model = build_model(p, mesh=mesh, overrides=ov, batch_size=B)
    rec = MetricsRecorder(B)
    # metrics only: a coarser bracketing grid (the cut-off is still located to the
    # solver's tolerance by its root refinement)
    run = run_protocol(model, exp, (rec,), scale=scale, sweep_rates=rates,
                       n_output=None if keep_trace else n_output_metrics, engine=engine,
                       quiet=True, control=control)
    return BatchRun(rec.steps, np.array(rec.charge), np.array(rec.insertion),
                    np.array(rec.sei), np.array(rec.v_end), np.array(rec.duration),
                    np.array(rec.ok), rec.problem,
                    run.trace.arrays() if keep_trace else None)

