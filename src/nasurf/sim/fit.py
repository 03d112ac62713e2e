"""Fitting simulator parameters to measured curves, with bounds, multi-start and uncertainty.

This module owns :func:`fit_parameters` and its :class:`FitResult`. The targets are

* ``discharge``: one galvanostatic branch (sodiation by default) as voltage against specific
  capacity; residuals in volts on a common capacity grid;
* ``rate``: capacities per current of a rate test (a table, or read from the half cycles
  of a measurement); residuals in mAh g⁻¹;
* ``cv``: a set of cyclic voltammograms (one per scan rate); residuals are the currents on a
  common potential grid of each branch, divided by that scan rate's peak current (so slow
  and fast scans weigh alike).

Parameters are searched in normalised coordinates (``log`` bounds: ln x scaled to [0, 1];
``lin``: x scaled to [0, 1]) with ``scipy.optimize.least_squares`` (trust-region
reflective, bounds) from several starts (the centre, then a seeded Latin hypercube). The
Jacobian is a forward difference computed as *one batched simulation* of all perturbed
parameter sets (the solver is vectorised over parameter sets), so a 2-parameter Jacobian
costs about one simulation. At the optimum a central-difference Jacobian gives the
covariance s²(JᵀJ)⁻¹ (s² = residual sum of squares / degrees of freedom) in the natural
coordinates (ln x for log parameters, x for linear ones), hence standard errors, 95 %
confidence intervals (Student t; asymmetric for log parameters), the correlation matrix and
identifiability warnings (a parameter at a bound, a parameter without effect, a pair the
data cannot tell apart).
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import ValidationError
from nasurf.io.table import CURRENT, HALF_CYCLE, TIME, VOLTAGE, EchemData
from nasurf.sim.experiment import Experiment
from nasurf.sim.model import MeshSpec
from nasurf.sim.parameters import ParameterSet
from nasurf.sim.sweep import (
    C_PER_KG_PER_MAH_G,
    FIELD_UNITS,
    check_values,
    is_table_factor,
    resolve_parameter,
    run_batch,
)

TARGETS = ("discharge", "rate", "cv")
_FAILED = 1e3  # residual standing in for a failed simulation
Measured = EchemData | pd.DataFrame


# ---------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FitStart:
    """One local optimisation: where it started and where it ended."""

    initial: dict[str, float]
    final: dict[str, float]
    cost: float
    evaluations: int
    status: str


@dataclass(frozen=True)
class FitResult:
    """Best parameters with their uncertainty, and how the fit went.

    ``values``, ``std_errors`` and ``ci95`` are in the parameters' SI units (a tabulated
    D(c) or k(c) is fitted as a factor on its table: unit "factor"). For ``log`` parameters
    the CI is exp(ln x ± t·se(ln x)) and ``std_errors`` the delta-method x·se(ln x).
    ``correlation`` is in the natural coordinates (ln x or x). ``residual_rms`` is in
    ``residual_unit``. ``evaluations`` counts simulated parameter sets.
    """

    target: str
    names: tuple[str, ...]
    fields: tuple[str, ...]
    scales: tuple[str, ...]
    units: dict[str, str]
    values: dict[str, float]
    std_errors: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    correlation: np.ndarray
    residual_rms: float
    residual_unit: str
    n_residuals: int
    dof: int
    evaluations: int
    starts: tuple[FitStart, ...]
    seconds: float
    material: str
    strategy: str
    experiment: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    conventions: dict[str, str] = field(default_factory=lambda: {
        "current": "anodic (desodiation of the working electrode) positive",
        "capacity": "mAh per g of active material, positive magnitude per process",
        "uncertainty": "s^2 (J^T J)^-1 at the optimum; 95 % CI with Student t "
                       "(n_residuals - n_parameters dof); log parameters in ln x",
    })

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target, "material": self.material, "strategy": self.strategy,
            "experiment": list(self.experiment),
            "parameters": [{"name": n, "field": f, "scale": s, "unit": self.units[n],
                            "value": self.values[n], "std_error": self.std_errors[n],
                            "ci95": list(self.ci95[n])}
                           for n, f, s in zip(self.names, self.fields, self.scales,
                                              strict=True)],
            "correlation": {"names": list(self.names),
                            "matrix": np.asarray(self.correlation).tolist()},
            "residual_rms": self.residual_rms, "residual_unit": self.residual_unit,
            "n_residuals": self.n_residuals, "dof": self.dof,
            "evaluations": self.evaluations, "seconds": self.seconds,
            "starts": [s.__dict__ for s in self.starts],
            "warnings": list(self.warnings), "conventions": self.conventions,
        }


# ---------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Param:
    name: str
    field: str
    lo: float
    hi: float
    scale: str
    unit: str

    def to_x(self, u: np.ndarray) -> np.ndarray:
        if self.scale == "log":
            return np.exp(math.log(self.lo) + u * (math.log(self.hi) - math.log(self.lo)))
        return self.lo + u * (self.hi - self.lo)

    def to_u(self, x: float) -> float:
        if self.scale == "log":
            return (math.log(x) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo))
        return (x - self.lo) / (self.hi - self.lo)

    @property
    def dtheta_du(self) -> float:
        """d(natural coordinate)/du: ln-range for log, range for lin."""
        if self.scale == "log":
            return math.log(self.hi) - math.log(self.lo)
        return self.hi - self.lo


def _parse_params(spec: Mapping[str, Any], params: ParameterSet) -> list[_Param]:
    if not spec:
        raise ValidationError("give at least one parameter to fit, e.g. "
                              "{'shell_D': (1e-16, 1e-12, 'log')}", field="parameters")
    out = []
    seen = set()
    for name, bounds in spec.items():
        f = resolve_parameter(name)
        if f in seen:
            raise ValidationError("parameter given twice (under two names)", field=name)
        seen.add(f)
        try:
            lo, hi = float(bounds[0]), float(bounds[1])
            scale = str(bounds[2]) if len(bounds) > 2 else "log"
        except (TypeError, ValueError, IndexError):
            raise ValidationError("bounds must be (lower, upper[, 'log'|'lin'])",
                                  field=name) from None
        if scale not in ("log", "lin"):
            raise ValidationError(f"scale must be 'log' or 'lin', got {scale!r}", field=name)
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ValidationError(f"need finite bounds with lower < upper, got ({lo}, {hi})",
                                  field=name)
        if scale == "log" and lo <= 0:
            raise ValidationError("log bounds must be positive", field=name)
        bad = [r for r in check_values(f, np.array([lo, hi])) if r]
        if bad:
            raise ValidationError(f"bounds outside the allowed range: {bad[0]}", field=name)
        if f == "shell_diffusivity" and params.shell_thickness <= 0 and \
                "shell_thickness" not in {resolve_parameter(n) for n in spec}:
            raise ValidationError("the material has no shell (shell_thickness = 0), so the "
                                  "shell diffusivity has no effect: choose a strategy with a "
                                  "shell or fit shell_thickness too", field=name)
        unit = "factor" if is_table_factor(params, f) else FIELD_UNITS.get(f, "")
        out.append(_Param(name, f, lo, hi, scale, unit))
    return out


# ---------------------------------------------------------------------------------------
# Measured data
# ---------------------------------------------------------------------------------------


def _frame(measured: Measured, what: str) -> tuple[pd.DataFrame, float | None, str]:
    if isinstance(measured, EchemData):
        return measured.data, measured.metadata.active_mass_g, str(
            measured.metadata.source or what)
    if isinstance(measured, pd.DataFrame):
        return measured, None, what
    raise ValidationError("expected EchemData or a pandas DataFrame", field=what)


def _need_columns(df: pd.DataFrame, cols: Sequence[str], src: str) -> None:
    for c in cols:
        if c not in df.columns:
            raise ValidationError(f"missing column '{c}' (columns: {', '.join(map(str, df))})",
                                  file=src, field=c)
        v = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(v))
        if bad.size:
            raise ValidationError(f"non-finite value at data row {int(bad[0])}", file=src,
                                  field=c)


def _mass(mass: float | None, src: str) -> float:
    if mass is None or not (math.isfinite(mass) and mass > 0):
        raise ValidationError("the active mass is needed to compare with the simulator "
                              "(specific current and capacity): pass active_mass_g or read "
                              "the file with it", file=src, field="active_mass_g")
    return float(mass)


def _segments(df: pd.DataFrame) -> list[np.ndarray]:
    """Row indices of each half cycle, from the one step model (:mod:`nasurf.io.steps`,
    through :func:`nasurf.analysis.cycling.segment_half_cycles`): current steps of
    one direction in a row; rest, OCV and impedance rows never inside; constant-voltage
    holds left out (the simulated step is galvanostatic)."""
    from nasurf.analysis.cycling import segment_half_cycles
    from nasurf.io.steps import CONSTANT_VOLTAGE, find_steps

    seg = segment_half_cycles(df)
    hold = find_steps(df).rows_of(CONSTANT_VOLTAGE)
    out = []
    for h in range(1, len(seg.half_cycle_sign) + 1):
        runs = np.flatnonzero(seg.run_half_cycle == h)
        rows = np.concatenate([np.arange(seg.run_start[r], seg.run_stop[r]) for r in runs])
        rows = rows[~hold[rows]]
        if rows.size:
            out.append(rows)
    return out


def _branch_segments(df: pd.DataFrame, branch: str) -> list[np.ndarray]:
    want = -1 if branch == "sodiation" else 1
    I = df[CURRENT].to_numpy(dtype=float)
    segs = []
    for idx in _segments(df):
        cur = I[idx]
        loaded = idx[np.abs(cur) > 0.01 * np.max(np.abs(cur))] if np.any(cur != 0) else idx[:0]
        if loaded.size >= 2 and np.sign(np.median(I[loaded])) == want:
            segs.append(loaded)
    return segs


def _constant_current_part(df: pd.DataFrame, seg: np.ndarray, src: str) -> np.ndarray:
    """The galvanostatic rows of a half cycle: its first run within 5 % of the median current.

    A constant-voltage hold at the end (C/N + CV protocols) or a current change is cut off,
    since the simulated step is galvanostatic; a segment that is mostly not galvanostatic
    is refused.
    """
    I = np.abs(df[CURRENT].to_numpy(dtype=float)[seg])
    med = float(np.median(I))
    cc = np.abs(I - med) <= 0.05 * med
    first = int(np.argmax(cc))
    stop = first + (int(np.argmin(cc[first:])) if not cc[first:].all() else cc.size - first)
    part = seg[first:stop]
    t = df[TIME].to_numpy(dtype=float)
    i = df[CURRENT].to_numpy(dtype=float)
    total = _capacity_curve(t[seg], i[seg])[-1]
    if part.size < 10 or _capacity_curve(t[part], i[part])[-1] < 0.5 * total:
        raise ValidationError("the selected segment is not galvanostatic (its current varies "
                              "by more than 5 % while passing most of its charge); pass an "
                              "experiment that describes it, or another half cycle", file=src,
                              field=CURRENT)
    return part


def _capacity_curve(t: np.ndarray, I: np.ndarray) -> np.ndarray:
    """|∫I dt| from the segment start, made non-decreasing (units of I·t)."""
    q = np.concatenate([[0.0], np.cumsum(0.5 * (I[1:] + I[:-1]) * np.diff(t))])
    return np.maximum.accumulate(np.abs(q))


# ---------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------


class _Target(ABC):
    """Builds the experiment, runs a batch, and returns residuals (B, n_res)."""

    kind = ""
    unit = ""
    experiment: Experiment
    last_problem: np.ndarray = np.zeros(0, dtype=object)
    last_warnings: tuple[str, ...] = ()

    @abstractmethod
    def residuals(self, params: ParameterSet, overrides: dict[str, np.ndarray], B: int,
                  mesh: MeshSpec | None) -> np.ndarray:
        """Residuals of ``B`` parameter sets against the measurement, shape (B, n_res)."""

    def members(self, B: int) -> int:
        return B


class _DischargeTarget(_Target):
    kind = "discharge"
    unit = "V"

    def __init__(self, measured: Measured, *, branch: str, half_cycle: int | None,
                 active_mass_g: float | None, n_points: int,
                 experiment: Experiment | None, initial_voltage: float | None) -> None:
        df, mass, src = _frame(measured, "measured")
        _need_columns(df, (TIME, VOLTAGE, CURRENT), src)
        mass_g = _mass(active_mass_g or mass, src)
        if half_cycle is not None and HALF_CYCLE in df.columns:
            idx = np.flatnonzero(df[HALF_CYCLE].to_numpy() == half_cycle)
            if idx.size < 2:
                raise ValidationError(f"no half cycle {half_cycle} in the data", file=src,
                                      field=HALF_CYCLE)
            segs = [idx]
        else:
            segs = _branch_segments(df, branch)
            if not segs:
                raise ValidationError(f"no {branch} segment (current "
                                      f"{'< 0' if branch == 'sodiation' else '> 0'}) found",
                                      file=src, field=CURRENT)
        seg = _constant_current_part(df, segs[0], src)
        t = df[TIME].to_numpy(dtype=float)[seg]
        V = df[VOLTAGE].to_numpy(dtype=float)[seg]
        I = df[CURRENT].to_numpy(dtype=float)[seg]
        q = _capacity_curve(t, I) / mass_g / 3.6          # A s / g -> mAh/g
        if q[-1] <= 0:
            raise ValidationError("the selected segment passes no charge", file=src,
                                  field=CURRENT)
        # Compare at measured points (interpolating noisy data would average the noise and
        # correlate residuals, biasing s² low); long records are decimated evenly in capacity.
        keep = np.flatnonzero(np.concatenate([[True], np.diff(q) > 0]))
        if keep.size > n_points:
            want = np.linspace(0.0, q[-1], int(n_points))
            keep = np.unique(keep[np.clip(np.searchsorted(q[keep], want), 0, keep.size - 1)])
        self.grid = q[keep]
        self.v_meas = V[keep]
        i_mA_g = float(np.mean(np.abs(I))) / mass_g * 1e3
        self.current_mA_g = i_mA_g
        sodiate = np.median(I) < 0
        self.step_kind = "sodiate" if sodiate else "desodiate"
        if experiment is None:
            cut = float(np.min(V) if sodiate else np.max(V))
            verb = "Sodiate" if sodiate else "Desodiate"
            experiment = Experiment.from_strings(
                [f"{verb} at {i_mA_g:.10g} mA g-1 until {cut:.10g} V"],
                initial_voltage=initial_voltage,
                lower_cutoff_V=min(cut, 0.0), upper_cutoff_V=max(cut, 3.0), name="discharge")
        self.experiment = experiment
        kinds = [s.kind for s in experiment.steps]
        if self.step_kind not in kinds:
            raise ValidationError(f"the experiment has no '{self.step_kind}' step to compare "
                                  "with the measured segment", field="experiment")
        self.step_number = kinds.index(self.step_kind) + 1

    def residuals(self, params: ParameterSet, overrides: dict[str, np.ndarray], B: int,
                  mesh: MeshSpec | None) -> np.ndarray:
        run = run_batch(params, self.experiment, overrides=overrides, batch_size=B, mesh=mesh,
                        keep_trace=True, failures="mark")
        self.last_problem = run.problem
        self.last_warnings = tuple(run.warnings)
        tr = run.trace or {}
        rows = tr["step"] == run.steps[self.step_number - 1].count
        t, V, I = tr["t"][rows], tr["V"][rows], tr["I"][rows]
        out = np.empty((B, self.grid.size))
        for b in range(B):
            ok = np.isfinite(t[:, b])
            tb, Vb, Ib = t[ok, b], V[ok, b], I[ok, b]
            if tb.size < 2 or not np.all(np.isfinite(Vb)):
                out[b] = np.nan
                continue
            q = _capacity_curve(tb, Ib) / C_PER_KG_PER_MAH_G
            keep = np.concatenate([[True], np.diff(q) > 0])
            # past the simulated end the cell sits at its cut-off voltage
            out[b] = np.interp(self.grid, q[keep], Vb[keep]) - self.v_meas
        return out


class _RateTarget(_Target):
    kind = "rate"
    unit = "mAh/g"

    def __init__(self, measured: Measured, *, branch: str, active_mass_g: float | None,
                 lower_V: float | None, upper_V: float | None) -> None:
        if isinstance(measured, pd.DataFrame) and {"current_mA_g", "capacity_mAh_g"} <= set(
                measured.columns):
            src = "rate table"
            _need_columns(measured, ("current_mA_g", "capacity_mAh_g"), src)
            cur = measured["current_mA_g"].to_numpy(dtype=float)
            cap = measured["capacity_mAh_g"].to_numpy(dtype=float)
            if np.any(cur <= 0) or np.any(cap < 0):
                raise ValidationError("currents must be > 0 and capacities >= 0 (magnitudes)",
                                      file=src, field="current_mA_g")
            lo = 0.01 if lower_V is None else lower_V
            hi = 3.0 if upper_V is None else upper_V
        else:
            df, mass, src = _frame(measured, "measured")
            _need_columns(df, (TIME, VOLTAGE, CURRENT), src)
            mass_g = _mass(active_mass_g or mass, src)
            segs = _branch_segments(df, branch)
            if not segs:
                raise ValidationError(f"no {branch} half cycles found", file=src,
                                      field=CURRENT)
            t = df[TIME].to_numpy(dtype=float)
            I = df[CURRENT].to_numpy(dtype=float)
            V = df[VOLTAGE].to_numpy(dtype=float)
            cur = np.array([np.mean(np.abs(I[s])) / mass_g * 1e3 for s in segs])
            cap = np.array([_capacity_curve(t[s], I[s])[-1] / mass_g / 3.6 for s in segs])
            lo = float(np.min(V)) if lower_V is None else lower_V
            hi = float(np.max(V)) if upper_V is None else upper_V
        self.currents = cur
        self.cap_meas = cap
        self.branch = branch
        steps = [s for c in cur for s in (f"Sodiate at {c:.10g} mA g-1 until {lo:.10g} V",
                                          f"Desodiate at {c:.10g} mA g-1 until {hi:.10g} V")]
        self.experiment = Experiment.from_strings(steps, lower_cutoff_V=lo, upper_cutoff_V=hi,
                                                  name="rate_capability")

    def residuals(self, params: ParameterSet, overrides: dict[str, np.ndarray], B: int,
                  mesh: MeshSpec | None) -> np.ndarray:
        run = run_batch(params, self.experiment, overrides=overrides, batch_size=B, mesh=mesh,
                        failures="mark")
        self.last_problem = run.problem
        self.last_warnings = tuple(run.warnings)
        off = 0 if self.branch == "sodiation" else 1
        q = np.abs(run.charge_mAh_g[off::2])           # (n_rates, B)
        return (q - self.cap_meas[:, None]).T


class _CVTarget(_Target):
    kind = "cv"
    unit = "fraction of the peak current"

    def __init__(self, measured: Any, *, active_mass_g: float | None, n_points: int) -> None:
        items: list[tuple[float, Measured]] = []
        if isinstance(measured, Mapping):
            items = [(float(k), v) for k, v in measured.items()]
        elif isinstance(measured, Sequence) and not isinstance(measured, str | pd.DataFrame):
            for m in measured:
                rate = m.metadata.scan_rate_V_s if isinstance(m, EchemData) else None
                if rate is None:
                    raise ValidationError("a CV without a scan rate in its metadata: pass a "
                                          "mapping {scan_rate_V_s: data}", field="measured")
                items.append((float(rate), m))
        else:
            raise ValidationError("a CV target needs several CVs: {scan_rate_V_s: data} or a "
                                  "list of EchemData with scan rates", field="measured")
        if not items:
            raise ValidationError("no CVs given", field="measured")
        items.sort(key=lambda kv: kv[0])
        self.rates = np.array([r for r, _ in items])
        if np.any(self.rates <= 0):
            raise ValidationError("scan rates must be positive (V/s)", field="measured")
        curves = []
        highs, lows = [], []
        for rate, m in items:
            df, mass, src = _frame(m, f"CV at {rate:g} V/s")
            _need_columns(df, (VOLTAGE, CURRENT), src)
            mass_g = _mass(active_mass_g or mass, src)
            V = df[VOLTAGE].to_numpy(dtype=float)
            i = df[CURRENT].to_numpy(dtype=float) / mass_g          # A/g
            curves.append((V, i, src))
            highs.append(float(np.max(V)))
            lows.append(float(np.min(V)))
        self.high_V = float(np.median(highs))
        self.low_V = float(np.median(lows))
        span = self.high_V - self.low_V
        # stay clear of the vertices, where the branch assignment is ambiguous
        self.grid = np.linspace(self.low_V + 0.02 * span, self.high_V - 0.02 * span,
                                max(10, n_points // 2))
        meas = []
        self.scale = np.empty(len(items))
        for k, (V, i, src) in enumerate(curves):
            cath, anod = _branches(V, i, self.grid, src)
            meas.append(np.concatenate([cath, anod]))
            self.scale[k] = max(np.max(np.abs(i)), 1e-300)
        self.i_meas = np.array(meas)                     # (R, 2G) A/g
        self.experiment = Experiment.from_strings(
            [f"Sweep from {self.high_V:.10g} V to {self.low_V:.10g} V at 1 mV/s",
             f"Sweep from {self.low_V:.10g} V to {self.high_V:.10g} V at 1 mV/s"],
            initial_voltage=self.high_V, lower_cutoff_V=self.low_V - 1.0,
            upper_cutoff_V=self.high_V + 1.0, name="cv")

    def members(self, B: int) -> int:
        return B * self.rates.size

    def residuals(self, params: ParameterSet, overrides: dict[str, np.ndarray], B: int,
                  mesh: MeshSpec | None) -> np.ndarray:
        R = self.rates.size
        tiled = {k: np.repeat(np.broadcast_to(v, (B,)), R) for k, v in overrides.items()}
        run = run_batch(params, self.experiment, overrides=tiled, batch_size=B * R, mesh=mesh,
                        sweep_rates_V_s=np.tile(self.rates, B), keep_trace=True,
                        failures="mark")
        self.last_problem = run.problem
        self.last_warnings = tuple(run.warnings)
        tr = run.trace or {}
        out = np.empty((B, R * self.i_meas.shape[1]))
        c1, c2 = run.steps[0].count, run.steps[1].count
        for b in range(B):
            res = []
            for r in range(R):
                m = b * R + r
                V = tr["V"][:, m]
                i = tr["I"][:, m] / 1e3                    # A/kg -> A/g
                st = tr["step"]
                ok = np.isfinite(V)
                cath = _interp_branch(V[ok & (st == c1)], i[ok & (st == c1)], self.grid)
                anod = _interp_branch(V[ok & (st == c2)], i[ok & (st == c2)], self.grid)
                sim = np.concatenate([cath, anod])
                res.append((sim - self.i_meas[r]) / self.scale[r])
            out[b] = np.concatenate(res)
        return out


def _interp_branch(V: np.ndarray, i: np.ndarray, grid: np.ndarray) -> np.ndarray:
    if V.size < 2:
        return np.full(grid.size, np.nan)
    order = np.argsort(V, kind="stable")
    return np.interp(grid, V[order], i[order])


def _branches(V: np.ndarray, i: np.ndarray, grid: np.ndarray, src: str
              ) -> tuple[np.ndarray, np.ndarray]:
    """Measured current of the last complete cathodic and anodic sweeps on ``grid``."""
    dV = np.diff(V)
    direction = np.sign(np.concatenate([dV[:1], dV]))
    # fill zero steps with the previous direction
    for k in range(1, direction.size):
        if direction[k] == 0:
            direction[k] = direction[k - 1]
    out = []
    for want in (-1, 1):
        runs = []
        start = None
        for k in range(direction.size + 1):
            inside = k < direction.size and direction[k] == want
            if inside and start is None:
                start = k
            if not inside and start is not None:
                runs.append(np.arange(start, k))
                start = None
        covering = [r for r in runs if V[r].min() <= grid[0] and V[r].max() >= grid[-1]]
        if not covering:
            raise ValidationError(f"no complete {'cathodic' if want < 0 else 'anodic'} sweep "
                                  f"across {grid[0]:.3g}-{grid[-1]:.3g} V", file=src,
                                  field=VOLTAGE)
        r = covering[-1]
        out.append(_interp_branch(V[r], i[r], grid))
    return out[0], out[1]


# ---------------------------------------------------------------------------------------
# The fit
# ---------------------------------------------------------------------------------------


class _Objective:
    """Residual vector of normalised parameters u, with batched finite-difference Jacobians."""

    def __init__(self, target: _Target, params: ParameterSet, plist: list[_Param],
                 mesh: MeshSpec | None, h: float) -> None:
        self.target, self.params, self.plist, self.mesh, self.h = target, params, plist, mesh, h
        self.evaluations = 0
        self.cache: dict[bytes, np.ndarray] = {}
        self.jac_cache: dict[bytes, np.ndarray] = {}
        # Evaluate the forward-difference points together with every new point: in one
        # batch they cost little more than the point alone, and least_squares asks for the
        # Jacobian at every accepted point. Turned off if batches turn out not to run whole.
        self.speculative = True

    def batch(self, U: np.ndarray) -> np.ndarray:
        """Residuals (B, n_res) for B rows of normalised parameters."""
        U = np.atleast_2d(U)
        B = U.shape[0]
        overrides = {p.field: p.to_x(U[:, j]) for j, p in enumerate(self.plist)}
        with np.errstate(all="ignore"):
            r = self.target.residuals(self.params, overrides, B, self.mesh)
        self.evaluations += self.target.members(B)
        if B > 1 and self.target.last_warnings:
            self.speculative = False
        # a failed simulation must push the optimiser away, not crash it: a large residual
        return np.where(np.isfinite(r), r, _FAILED)

    def _steps(self, u: np.ndarray) -> np.ndarray:
        return np.where(u + self.h <= 1.0, self.h, -self.h)

    def __call__(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        key = u.tobytes()
        if key not in self.cache:
            if len(self.cache) > 64:
                self.cache.clear()
                self.jac_cache.clear()
            if self.speculative:
                steps = self._steps(u)
                U = np.vstack([u[None, :], u[None, :] + np.diag(steps)])
                R = self.batch(U)
                self.cache[key] = R[0]
                self.jac_cache[key] = ((R[1:] - R[0][None, :]) / steps[:, None]).T
            else:
                self.cache[key] = self.batch(u[None, :])[0]
        return self.cache[key]

    def jac(self, u: np.ndarray) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        r0 = self(u)
        key = u.tobytes()
        if key in self.jac_cache:
            return self.jac_cache[key]
        steps = self._steps(u)
        R = self.batch(u[None, :] + np.diag(steps))
        return ((R - r0[None, :]) / steps[:, None]).T

    def jac_central(self, u: np.ndarray) -> np.ndarray:
        n = u.size
        h = np.minimum(self.h, np.minimum(u, 1.0 - u))
        h = np.where(h > 1e-9, h, self.h)
        up = np.clip(u[None, :] + np.diag(h), 0.0, 1.0)
        dn = np.clip(u[None, :] - np.diag(h), 0.0, 1.0)
        R = self.batch(np.vstack([up, dn]))
        span = (up - dn)[np.arange(n), np.arange(n)]
        return ((R[:n] - R[n:]) / span[:, None]).T


def _starts(plist: list[_Param], initial: Mapping[str, float] | None, n_starts: int,
            seed: int | None) -> np.ndarray:
    n = len(plist)
    u0 = np.full(n, 0.5)
    for j, p in enumerate(plist):
        if initial and p.name in initial:
            x = float(initial[p.name])
            if not p.lo <= x <= p.hi:
                raise ValidationError(f"initial value {x:g} outside the bounds "
                                      f"[{p.lo:g}, {p.hi:g}]", field=p.name)
            u0[j] = p.to_u(x)
    starts = [u0]
    if n_starts > 1:
        from scipy.stats import qmc

        lhs = qmc.LatinHypercube(d=n, seed=seed).random(n_starts - 1)
        # keep starts off the bounds, where a forward difference has no room
        starts += list(0.05 + 0.9 * lhs)
    return np.array(starts)


def _make_target(target: str, measured: Any, *, branch: str, half_cycle: int | None,
                 active_mass_g: float | None, n_points: int, experiment: Any,
                 initial_voltage: float | None, lower_V: float | None,
                 upper_V: float | None) -> _Target:
    if target == "discharge":
        exp = None
        if experiment is not None:
            exp = experiment if isinstance(experiment, Experiment) else \
                Experiment.from_strings(list(experiment) if not isinstance(experiment, str)
                                        else [experiment])
        return _DischargeTarget(measured, branch=branch, half_cycle=half_cycle,
                                active_mass_g=active_mass_g, n_points=n_points,
                                experiment=exp, initial_voltage=initial_voltage)
    if target == "rate":
        return _RateTarget(measured, branch=branch, active_mass_g=active_mass_g,
                           lower_V=lower_V, upper_V=upper_V)
    if target == "cv":
        return _CVTarget(measured, active_mass_g=active_mass_g, n_points=n_points)
    raise ValidationError(f"unknown target {target!r}; expected one of {', '.join(TARGETS)}",
                          field="target")


def fit_parameters(measured: Any, *, material: str | Path | ParameterSet,
                   parameters: Mapping[str, Sequence[Any]],
                   strategy: str | Path | None = "none", target: str = "discharge",
                   experiment: Experiment | Sequence[str] | None = None,
                   branch: str = "sodiation", half_cycle: int | None = None,
                   active_mass_g: float | None = None, initial: Mapping[str, float] | None = None,
                   initial_voltage: float | None = None, lower_V: float | None = None,
                   upper_V: float | None = None, n_starts: int = 4, seed: int | None = 0,
                   n_points: int = 500, max_evaluations: int = 200,
                   diff_step: float | None = None, mesh: MeshSpec | None = None) -> FitResult:
    """Fit ``parameters`` of ``material`` (with ``strategy``) to ``measured``.

    ``parameters`` maps names (``shell_D``, ``k0``, ``D``, ``Gamma``, ``C_dl``,
    ``shell_thickness`` ... or any batchable field) to ``(lower, upper[, "log"|"lin"])``
    in SI units (a tabulated D(c)/k(c) takes a factor on its table). ``target``:

    * ``"discharge"``: ``measured`` is an :class:`EchemData` (or a DataFrame with the
      canonical columns); the first ``branch`` segment (or ``half_cycle``) is compared as
      voltage against capacity. Without ``experiment`` the protocol is one galvanostatic
      step at the measured mean specific current down (up) to the measured end voltage,
      starting from the material's initial state (or ``initial_voltage``).
    * ``"rate"``: a DataFrame with ``current_mA_g`` and ``capacity_mAh_g`` (one row per
      rate, ``branch`` capacity), or a measurement whose ``branch`` half cycles are used;
      simulated as consecutive sodiation/desodiation cycles at those currents between
      ``lower_V`` and ``upper_V``.
    * ``"cv"``: ``{scan_rate_V_s: EchemData | DataFrame}`` or a list of EchemData with
      scan rates; one cycle per scan rate from the highest to the lowest measured potential.

    The active mass comes from the data's metadata or ``active_mass_g`` (g). ``n_starts``
    local fits start from the centre of the bounds (or ``initial``) and from a Latin
    hypercube seeded by ``seed``; the best is reported with its uncertainty.
    """
    from scipy.optimize import least_squares
    from scipy.stats import t as student_t

    from nasurf.sim.simulate import resolve_parameters

    t_start = time.perf_counter()
    if branch not in ("sodiation", "desodiation"):
        raise ValidationError("branch must be 'sodiation' or 'desodiation'", field="branch")
    if n_starts < 1:
        raise ValidationError("must be >= 1", field="n_starts")
    params = resolve_parameters(material, strategy)
    plist = _parse_params(parameters, params)
    tgt = _make_target(target, measured, branch=branch, half_cycle=half_cycle,
                       active_mass_g=active_mass_g, n_points=n_points, experiment=experiment,
                       initial_voltage=initial_voltage, lower_V=lower_V, upper_V=upper_V)
    if diff_step is None:
        # The exact (modal) engine is smooth to round-off, so a small step keeps the forward
        # difference accurate; the adaptive marching engine carries step-size noise of order
        # 1e-5 relative and needs a larger one. Ask the solver which engine will run.
        from nasurf.sim.model import build_model
        from nasurf.sim.solver import Segment, can_use_exact

        probe = build_model(params, mesh=mesh)
        exact = (tgt.kind != "cv"
                 and can_use_exact(probe, Segment("current", current=np.array([-1.0])))
                 and not any(p.field == "site_density" for p in plist))
        diff_step = 1e-4 if exact else 3e-3
    obj = _Objective(tgt, params, plist, mesh, diff_step)
    r_check = obj(np.full(len(plist), 0.5))
    if np.all(r_check == _FAILED):
        why = next((str(x) for x in tgt.last_problem if x), "non-finite residuals")
        raise ValidationError(f"the simulation fails at the centre of the bounds: {why}",
                              field="parameters")
    m = r_check.size
    n = len(plist)
    if m <= n:
        raise ValidationError(f"{m} residuals cannot determine {n} parameters",
                              field="measured")
    starts = _starts(plist, initial, n_starts, seed)
    runs: list[FitStart] = []
    best_u, best_cost = None, math.inf
    ends = []
    for u0 in starts:
        try:
            sol = least_squares(obj, u0, jac=obj.jac, bounds=(0.0, 1.0), method="trf",
                                x_scale=1.0, max_nfev=max_evaluations, xtol=1e-8, ftol=1e-10,
                                gtol=1e-10)
            u_end, cost, nfev, status = sol.x, float(2 * sol.cost), int(sol.nfev), sol.message
        except (ValueError, np.linalg.LinAlgError) as exc:
            u_end, cost, nfev, status = u0, math.inf, 0, f"failed: {exc}"
        runs.append(FitStart({p.name: float(p.to_x(u0[j])) for j, p in enumerate(plist)},
                             {p.name: float(p.to_x(u_end[j])) for j, p in enumerate(plist)},
                             cost, nfev, str(status)))
        ends.append((cost, u_end))
        if cost < best_cost:
            best_cost, best_u = cost, u_end
    if best_u is None or not math.isfinite(best_cost):
        raise ValidationError("every start failed to simulate; check the bounds and the "
                              "protocol", field="parameters")
    warnings: list[str] = []
    r_best = obj(best_u)
    ssr = float(np.sum(r_best ** 2))
    dof = m - n
    s2 = ssr / dof
    J = obj.jac_central(best_u) / np.array([p.dtheta_du for p in plist])[None, :]
    # SVD-based inverse: a rank-deficient J (unidentifiable combination) must not blow up
    _Uj, sv, Vt = np.linalg.svd(J, full_matrices=False)
    tol = sv.max() * max(J.shape) * np.finfo(float).eps if sv.size and sv.max() > 0 else 0.0
    inv_sv2 = np.where(sv > tol, 1.0 / np.where(sv > tol, sv, 1.0) ** 2, np.inf)
    cov = (Vt.T * inv_sv2) @ Vt * s2 if np.all(np.isfinite(inv_sv2)) else \
        np.full((n, n), np.inf)
    se_theta = np.sqrt(np.clip(np.diag(cov), 0.0, np.inf))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(se_theta, se_theta)
    corr = np.where(np.isfinite(corr), corr, np.nan)
    np.fill_diagonal(corr, 1.0)
    tq = float(student_t.ppf(0.975, dof))
    values, ses, cis = {}, {}, {}
    for j, p in enumerate(plist):
        x = float(p.to_x(best_u[j]))
        values[p.name] = x
        if p.scale == "log":
            ses[p.name] = float(x * se_theta[j])
            with np.errstate(over="ignore"):
                half = tq * float(se_theta[j])
                cis[p.name] = (float(x * np.exp(-half)), float(x * np.exp(half)))
        else:
            ses[p.name] = float(se_theta[j])
            cis[p.name] = (x - tq * float(se_theta[j]), x + tq * float(se_theta[j]))
        if best_u[j] < 1e-3 or best_u[j] > 1 - 1e-3:
            side = "lower" if best_u[j] < 0.5 else "upper"
            warnings.append(f"{p.name} is at its {side} bound ({x:.4g} {p.unit}): the optimum "
                            "may lie outside; widen the bounds (the CI is not meaningful)")
    # identifiability: a column of J that vanishes next to the others means no effect
    col = np.linalg.norm(J * np.array([p.dtheta_du for p in plist])[None, :], axis=0)
    for j, p in enumerate(plist):
        if col[j] <= 1e-9 * max(float(col.max()), 1e-300):
            warnings.append(f"{p.name} has no effect on the residuals: it cannot be "
                            "identified from these data")
    for a in range(n):
        for b in range(a + 1, n):
            c = corr[a, b]
            if np.isfinite(c) and abs(c) > 0.95:
                warnings.append(f"{plist[a].name} and {plist[b].name} are strongly correlated "
                                f"(r = {c:+.3f}): the data cannot tell them apart; fix one, or "
                                "add data at other conditions (rates, scan rates)")
    if not np.all(np.isfinite(se_theta)):
        warnings.append("the Jacobian is rank-deficient at the optimum: at least one "
                        "combination of parameters is not identifiable")
    else:
        for j, p in enumerate(plist):
            wide = (se_theta[j] > math.log(10.0)) if p.scale == "log" \
                else (2 * tq * se_theta[j] > p.hi - p.lo)
            if wide:
                warnings.append(f"{p.name} is poorly determined: its 95 % CI is wider than "
                                + ("two decades" if p.scale == "log" else "the bounds"))
    # several starts ending on distinct, equally good optima
    distinct = [u for c, u in ends if math.isfinite(c) and c <= best_cost * 1.05 + 1e-30
                and np.max(np.abs(u - best_u)) > 0.05]
    if distinct:
        warnings.append(f"{len(distinct)} other start(s) reached a different point with "
                        "(nearly) the same residual: the optimum is not unique")
    return FitResult(
        target=tgt.kind, names=tuple(p.name for p in plist),
        fields=tuple(p.field for p in plist), scales=tuple(p.scale for p in plist),
        units={p.name: p.unit for p in plist}, values=values, std_errors=ses, ci95=cis,
        correlation=corr, residual_rms=math.sqrt(ssr / m), residual_unit=tgt.unit,
        n_residuals=m, dof=dof, evaluations=obj.evaluations, starts=tuple(runs),
        seconds=time.perf_counter() - t_start, material=params.name,
        strategy=params.strategy, experiment=tuple(s.text for s in tgt.experiment.steps),
        warnings=tuple(dict.fromkeys(warnings)))


__all__ = ["TARGETS", "FitResult", "FitStart", "fit_parameters"]
