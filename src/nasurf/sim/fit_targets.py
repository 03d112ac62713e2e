"""What a fit compares: measured data read into targets with their residuals.

Owns the three targets of :func:`nasurf.sim.fit.fit_parameters` and how each reads its
measured data: ``discharge`` (one galvanostatic branch as voltage against specific
capacity; residuals in volts on a common capacity grid), ``rate`` (capacities per current
of a rate test, from a table or the half cycles of a measurement; residuals in mAh g⁻¹) and
``cv`` (one voltammogram per scan rate; currents on a common potential grid of each
branch over that scan rate's peak current). :func:`make_fit_target` builds one; its
``residuals(params, overrides, B, mesh)`` simulates B parameter sets at once.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import ValidationError
from nasurf.io.table import CURRENT, HALF_CYCLE, TIME, VOLTAGE, EchemData
from nasurf.options import choose
from nasurf.sim.batch import run_batch
from nasurf.sim.experiment import Experiment
from nasurf.sim.model import MeshSpec
from nasurf.sim.parameters import ParameterSet
from nasurf.sim.protocol import C_PER_KG_PER_MAH_G

TARGETS = ("discharge", "rate", "cv")
_FAILED = 1e3  # residual standing in for a failed simulation
Measured = EchemData | pd.DataFrame


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



def make_fit_target(target: str, measured: Any, *, branch: str = "sodiation",
                    half_cycle: int | None = None, active_mass_g: float | None = None,
                    n_points: int = 500, experiment: Any = None,
                    initial_voltage: float | None = None, lower_V: float | None = None,
                    upper_V: float | None = None) -> _Target:
    """The comparison :func:`fit_parameters` minimises, built from measured data.

    ``target`` is ``discharge``, ``rate`` or ``cv`` (see :func:`fit_parameters` for what
    each compares). Its ``residuals(params, overrides, B, mesh)`` gives the residual
    vector of B parameter sets: e.g. to draw the measured curve against the model at a
    fitted optimum.
    """
    target = choose("target", target, TARGETS, where="fit")
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
    raise AssertionError(target)   # choose() admits only TARGETS




__all__ = ["TARGETS", "Measured", "make_fit_target"]
