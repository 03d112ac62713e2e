"""Fitting simulator parameters to measured curves, with bounds, multi-start and uncertainty.

This module owns :func:`fit_parameters` and its :class:`FitResult`; the targets (how
measured data are read and compared, :mod:`nasurf.sim.fit_targets`) are

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nasurf.errors import ValidationError
from nasurf.options import choose
from nasurf.sim.experiment import Experiment
from nasurf.sim.fit_targets import (
    _FAILED,
    TARGETS,
    _Target,
    make_fit_target,
)
from nasurf.sim.model import MeshSpec
from nasurf.sim.parameters import ParameterSet
from nasurf.sim.sweep_grid import (
    FIELD_UNITS,
    check_values,
    is_table_factor,
    nominal_value,
    resolve_parameter,
)

# the name the web workbench imports (before the target builder was public)
_make_target = make_fit_target


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
        scale = choose("scale", scale, ("log", "lin"), where=f"bounds of {name}")
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




def parse_bounds(text: str | Sequence[str] | None) -> dict[str, tuple[float, float, str]]:
    """Fit bounds from text: ``NAME=lo:hi[:log|lin]`` entries (a list, or comma-separated).

    Without a scale an entry is ``log``. The result is the ``parameters`` mapping of
    :func:`fit_parameters`.
    """
    out: dict[str, tuple[float, float, str]] = {}
    entries = [text] if isinstance(text, str) else list(text or [])
    for entry in entries:
        for item in entry.split(","):
            item = item.strip()
            if not item:
                continue
            if "=" not in item:
                raise ValidationError(f"expected NAME=lo:hi[:log|lin], got {item!r}",
                                      field="--bounds")
            name, spec = item.split("=", 1)
            parts = spec.split(":")
            try:
                lo, hi = float(parts[0]), float(parts[1])
            except (ValueError, IndexError):
                raise ValidationError(f"expected NAME=lo:hi[:log|lin], got {item!r}",
                                      field="--bounds") from None
            scale = parts[2].strip().lower() if len(parts) > 2 else "log"
            out[name.strip()] = (lo, hi, scale)
    return out


def default_bounds(params: ParameterSet, name: str) -> tuple[float, float, str]:
    """Two decades either side of the material's value (log), when no bounds are given."""
    value = nominal_value(params, resolve_parameter(name))
    if not (math.isfinite(value) and value > 0):
        raise ValidationError(f"the material's value is {value:g}: give bounds with "
                              f"--bounds {name}=lo:hi[:log|lin]", field=name)
    return (value / 100.0, value * 100.0, "log")


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
    branch = choose("branch", branch, ("sodiation", "desodiation"), where="fit_parameters")
    if n_starts < 1:
        raise ValidationError("must be >= 1", field="n_starts")
    params = resolve_parameters(material, strategy)
    plist = _parse_params(parameters, params)
    tgt = make_fit_target(target, measured, branch=branch, half_cycle=half_cycle,
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


__all__ = [
    "TARGETS",
    "FitResult",
    "FitStart",
    "default_bounds",
    "fit_parameters",
    "make_fit_target",
    "parse_bounds",
]
