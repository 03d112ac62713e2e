"""Complex non-linear least-squares fitting of equivalent circuits to impedance spectra.

Owns :func:`fit_circuit` (one spectrum, multi-start), :func:`fit_series` (spectra in
order, each seeded by the previous result) and the :class:`EISFit` result.

How a fit runs (methods.md §6 step 2):

* start values come from the spectrum (:mod:`nasurf.analysis.eis.guess`) unless given;
* every parameter is mapped to an unbounded internal variable: positive quantities
  (R, C, Q, σ, τ, L ...) through a logarithm, bounded ones (CPE α in [0.3, 1]) through the
  MINUIT sine transform, so the optimiser (MINPACK Levenberg–Marquardt ``lmder`` through
  ``scipy.optimize.leastsq``, with the circuit's analytic Jacobian) can never leave the
  physical domain and works on relative changes for quantities spanning decades;
* several starts are tried: the guess (and, when the user gave one, also the
  spectrum-derived guess), a close check of each new best minimum (×/÷ 3), and restarts
  scattered log-uniformly around the guess (×/÷ ``spread``); the best χ² wins, and the loop
  stops early once the best minimum has been reached by ``min_agreeing`` starts;
* standard errors come from the Jacobian at the optimum in physical units,
  cov = (JᵀJ)⁻¹·χ²/(2N − p), and 95 % confidence intervals from Student's t.

The engine that runs one start (transforms, residuals and Jacobian, MINPACK, covariance) is
:mod:`nasurf.analysis.eis.lsq`; this module decides the starts and reports the result.

Residuals are complex, stacked as real and imaginary parts, divided by the weights:
``modulus`` |Z| on both parts (default), ``proportional`` |Z'| and |Z''| (floored at
1 % of |Z|), or ``unit`` (unweighted, impedance.py's default).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from nasurf.analysis.eis.circuits import Circuit
from nasurf.analysis.eis.guess import guess_parameters
from nasurf.analysis.eis.lsq import (
    SEARCH_DECADES,
    WEIGHTINGS,
    _covariance,
    _levenberg_marquardt,
    _Problem,
    _search_limits,
    _Transforms,
)
from nasurf.errors import ValidationError
from nasurf.options import choose

__all__ = [
    "DEFAULT_EXPONENT_BOUNDS",
    "EISFit",
    "fit_circuit",
    "fit_series",
    "prepare_spectrum",
]

DEFAULT_EXPONENT_BOUNDS = (0.3, 1.0)
# A parameter whose largest effect on the model is below this fraction of |Z| is not
# determined by the data (e.g. a Warburg σ driven to zero on a spectrum with no tail).
NEGLIGIBLE_CONTRIBUTION = 1e-4
# Multi-start schedule: the first restart lands within ×/÷ CONFIRM_SPREAD of the start value
# (a cheap check of the minimum), later restarts within ×/÷ spread. A restart first gets a
# probe budget of RESTART_PROBE_PER_PARAM evaluations per parameter; if it is still running
# then, it continues only when its χ² is already within RESTART_CONTINUE_RATIO of the best
# one. Restarts that wander off towards a bound or a far, poor minimum are where
# multi-start time goes, and they are cut at the probe.
CONFIRM_SPREAD = 3.0
CONFIRM_EXPONENT_STEP = 0.05     # exponents (CPE α ...) of the first restart move by ± this
RESTART_PROBE_PER_PARAM = 10
RESTART_CONTINUE_RATIO = 2.0


# --- input checks ---------------------------------------------------------------------------


def option(name: str, value: object, allowed: Sequence[str], *, where: str) -> str:
    """:func:`nasurf.options.choose` for the EIS functions, in their wording ("... is not one
    of ..."), which callers and tests match on."""
    try:
        return choose(name, value, allowed, where=where)
    except ValidationError:
        raise ValidationError(f"{where}: {name} {value!r} is not one of {', '.join(allowed)}",
                              field=name) from None


def _as_spectrum(frequencies_Hz: Any, Z: Any, where: str = "spectrum"
                 ) -> tuple[np.ndarray, np.ndarray]:
    try:
        f = np.asarray(frequencies_Hz, dtype=float).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{where}: frequencies must be numbers in Hz ({exc})",
                              field="frequencies_Hz") from None
    try:
        z = np.asarray(Z, dtype=complex).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{where}: impedance must be complex numbers in Ohm ({exc})",
                              field="Z") from None
    if f.size != z.size:
        raise ValidationError(
            f"{where}: {f.size} frequencies but {z.size} impedance values; they must pair up",
            field="Z",
        )
    bad_f = np.nonzero(~np.isfinite(f) | (f <= 0))[0]
    if bad_f.size:
        raise ValidationError(
            f"{where}: frequency at row {bad_f[0]} is {f[bad_f[0]]!r}; expected a finite "
            "frequency > 0 Hz",
            field="frequencies_Hz",
        )
    bad_z = np.nonzero(~np.isfinite(z.real) | ~np.isfinite(z.imag))[0]
    if bad_z.size:
        raise ValidationError(
            f"{where}: impedance at row {bad_z[0]} is {z[bad_z[0]]!r}; expected finite values",
            field="Z",
        )
    if np.any(np.abs(z) == 0):
        k = int(np.nonzero(np.abs(z) == 0)[0][0])
        raise ValidationError(f"{where}: impedance at row {k} is exactly zero", field="Z")
    return f, z


def prepare_spectrum(frequencies_Hz: Any, Z: Any, *, fmin: float | None = None,
                     fmax: float | None = None, drop_inductive: bool = False,
                     where: str = "spectrum") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Validate a spectrum, keep ``fmin <= f <= fmax`` and, optionally, drop inductive
    points (Z'' > 0). Returns (f, Z, notes) sorted from high to low frequency."""
    f, z = _as_spectrum(frequencies_Hz, Z, where)
    notes: list[str] = []
    keep = np.ones(f.size, bool)
    if fmin is not None:
        keep &= f >= fmin
    if fmax is not None:
        keep &= f <= fmax
    if (~keep).any():
        notes.append(f"{int((~keep).sum())} points outside the frequency window "
                     f"[{fmin if fmin is not None else 0:g}, "
                     f"{fmax if fmax is not None else math.inf:g}] Hz were left out")
    if drop_inductive:
        inductive = keep & (z.imag > 0)
        if inductive.any():
            notes.append(f"{int(inductive.sum())} inductive points (Z'' > 0, "
                         f"{f[inductive].min():.3g}-{f[inductive].max():.3g} Hz) were left "
                         "out; add an inductor (L or La) to the circuit to fit them")
            keep &= ~inductive
    f, z = f[keep], z[keep]
    order = np.argsort(f)[::-1]
    return f[order], z[order], notes

def _default_bounds(circuit: Circuit) -> dict[str, tuple[float, float]]:
    return {
        n: ((0.0, math.inf) if circuit.parameter_kinds[n] == "positive"
            else DEFAULT_EXPONENT_BOUNDS)
        for n in circuit.parameter_names
    }


# --- result ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EISFit:
    """Result of fitting one spectrum.

    ``parameters``, ``stderr`` and ``ci95`` are keyed by impedance.py parameter names
    (``R0``, ``CPE1_0`` ...) in the units of ``units``; fixed parameters (``constants``)
    have stderr 0. ``chi2`` is the weighted sum of squared residuals, ``weighted_rms`` its
    root mean square per residual (relative error for ``modulus`` weighting), and
    ``relative_rmse`` = sqrt(mean(|Z − Z_fit|²/|Z|²)) whatever the weighting.
    """

    circuit: str
    parameters: dict[str, float]
    stderr: dict[str, float]
    ci95: dict[str, tuple[float, float]]
    units: dict[str, str]
    fixed: tuple[str, ...]
    frequencies_Hz: np.ndarray
    Z: np.ndarray
    Z_fit: np.ndarray
    weighting: str
    chi2: float
    chi2_reduced: float
    weighted_rms: float
    relative_rmse: float
    dof: int
    success: bool
    message: str
    n_starts: int
    n_agreeing: int
    nfev: int                  # model evaluations (residuals) over all starts
    njev: int                  # Jacobian evaluations over all starts
    start_origin: str
    initial_guess: dict[str, float]
    covariance: np.ndarray = field(repr=False)
    warnings: tuple[str, ...] = ()

    @property
    def n_points(self) -> int:
        return int(self.frequencies_Hz.size)

    def predict(self, frequencies_Hz: Sequence[float] | np.ndarray) -> np.ndarray:
        """Model impedance (Ohm) at other frequencies (Hz)."""
        return Circuit(self.circuit).impedance(self.parameters, frequencies_Hz)

    def parameter_table(self) -> pd.DataFrame:
        """One row per parameter: value, unit, stderr, 95 % CI, relative stderr, fixed."""
        rows = []
        for n, v in self.parameters.items():
            lo, hi = self.ci95[n]
            se = self.stderr[n]
            rows.append({
                "parameter": n, "value": v, "unit": self.units[n], "stderr": se,
                "ci95_low": lo, "ci95_high": hi,
                "relative_stderr": se / abs(v) if v != 0 else math.nan,
                "fixed": n in self.fixed,
            })
        return pd.DataFrame(rows)

    def residual_table(self) -> pd.DataFrame:
        """Data, model and relative residuals (Z − Z_fit)/|Z| at every fitted frequency."""
        d = self.Z - self.Z_fit
        absz = np.abs(self.Z)
        return pd.DataFrame({
            "Frequency / Hz": self.frequencies_Hz,
            "Z Real / Ohm": self.Z.real, "Z Imag / Ohm": self.Z.imag,
            "Z Real fit / Ohm": self.Z_fit.real, "Z Imag fit / Ohm": self.Z_fit.imag,
            "Residual Real / 1": d.real / absz, "Residual Imag / 1": d.imag / absz,
        })

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-point arrays; those are in ``residual_table``)."""
        return {
            "circuit": self.circuit,
            "parameters": {
                n: {"value": v, "stderr": self.stderr[n], "ci95": list(self.ci95[n]),
                    "unit": self.units[n], "fixed": n in self.fixed}
                for n, v in self.parameters.items()
            },
            "weighting": self.weighting,
            "chi2": self.chi2, "chi2_reduced": self.chi2_reduced,
            "weighted_rms": self.weighted_rms, "relative_rmse": self.relative_rmse,
            "n_points": self.n_points, "dof": self.dof,
            "frequency_range_Hz": [float(self.frequencies_Hz.min()),
                                   float(self.frequencies_Hz.max())],
            "success": self.success, "message": self.message,
            "n_starts": self.n_starts, "n_agreeing": self.n_agreeing, "nfev": self.nfev,
            "njev": self.njev,
            "start_origin": self.start_origin, "initial_guess": self.initial_guess,
            "warnings": list(self.warnings),
        }

    def write(self, out_dir: str | Path, stem: str = "eis_fit") -> list[Path]:
        """Write ``<stem>_parameters.csv``, ``<stem>_residuals.csv`` and ``<stem>.json``."""
        from nasurf.jsonio import write_json

        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / f"{stem}_parameters.csv", out / f"{stem}_residuals.csv",
                 out / f"{stem}.json"]
        self.parameter_table().to_csv(paths[0], index=False)
        self.residual_table().to_csv(paths[1], index=False)
        write_json(paths[2], self.to_dict(), indent=2)
        return paths


# --- the fit --------------------------------------------------------------------------------


def _named(circuit: Circuit, values: Mapping[str, float] | Sequence[float] | np.ndarray | None,
           what: str) -> dict[str, float]:
    if values is None:
        return {}
    if isinstance(values, Mapping):
        unknown = [k for k in values if k not in circuit.parameter_names]
        if unknown:
            raise ValidationError(
                f"{what}: unknown parameter(s) {unknown} for circuit {str(circuit)!r}; "
                f"expected names from {list(circuit.parameter_names)}",
                field=what,
            )
        out = {}
        for k, v in values.items():
            try:
                out[k] = float(v)
            except (TypeError, ValueError):
                raise ValidationError(f"{what}: value of {k} is {v!r}; expected a number",
                                      field=what) from None
        return out
    seq = list(values)
    if len(seq) != circuit.n_params:
        raise ValidationError(
            f"{what}: circuit {str(circuit)!r} has {circuit.n_params} parameters "
            f"{list(circuit.parameter_names)}, got {len(seq)} values",
            field=what,
        )
    return {n: float(v) for n, v in zip(circuit.parameter_names, seq, strict=True)}



def fit_circuit(
    frequencies_Hz: Sequence[float] | np.ndarray,
    Z: Sequence[complex] | np.ndarray,
    circuit: str | Circuit,
    *,
    initial_guess: Mapping[str, float] | Sequence[float] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    constants: Mapping[str, float] | None = None,
    weighting: str = "modulus",
    n_starts: int = 8,
    min_agreeing: int = 2,
    spread: float = 10.0,
    seed: int | None = 0,
    max_nfev: int | None = None,
    use_spectrum_guess: bool = True,
    start_origin: str | None = None,
) -> EISFit:
    """Fit ``circuit`` to one spectrum (frequencies in Hz, Z = Z' + jZ'' in Ohm).

    ``initial_guess`` may name only some parameters; the others are derived from the
    spectrum. ``bounds`` maps parameter names to (low, high) in physical units (default
    [0, ∞) for positive quantities, [0.3, 1] for exponents). ``constants`` fixes
    parameters. ``n_starts`` is the maximum number of starts; the loop stops early once
    ``min_agreeing`` starts reached the same best χ² (relative 1e-6). With an
    ``initial_guess`` and ``use_spectrum_guess`` (default), the spectrum-derived guess is
    also tried as a start (it rescues a poor guess); ``n_starts=1`` uses only the guess.
    """
    circ = circuit if isinstance(circuit, Circuit) else Circuit(circuit)
    f, z = _as_spectrum(frequencies_Hz, Z)
    weighting = option("weighting", weighting, WEIGHTINGS, where="fit_circuit")
    if n_starts < 1:
        raise ValidationError(f"n_starts must be >= 1, got {n_starts}", field="n_starts")
    if spread <= 1:
        raise ValidationError(f"spread must be > 1 (a factor), got {spread}", field="spread")
    names = circ.parameter_names
    fixed_vals = _named(circ, constants, "constants")
    user_guess = _named(circ, initial_guess, "initial_guess")
    free = [i for i, n in enumerate(names) if n not in fixed_vals]
    n_free = len(free)
    n_resid = 2 * f.size
    if n_resid < n_free:
        raise ValidationError(
            f"{f.size} frequencies give {n_resid} residuals, fewer than the {n_free} free "
            f"parameters of {str(circ)!r}; measure more points or fix some parameters",
            field="frequencies_Hz",
        )
    bnd = _default_bounds(circ)
    for n, b in _named_bounds(circ, bounds).items():
        bnd[n] = b
    derived = guess_parameters(circ, f, z)
    guess = {n: user_guess.get(n, derived[n]) for n in names}
    if start_origin is None:
        start_origin = ("initial_guess" if len(user_guess) == len(names)
                        else "spectrum+initial_guess" if user_guess else "spectrum")
    warnings: list[str] = []
    for n in names:
        lo, hi = bnd[n]
        if n in fixed_vals:
            continue
        g = guess[n]
        if not math.isfinite(g):
            raise ValidationError(f"initial guess for {n} is {g}; expected a finite number",
                                  field="initial_guess")
        if n in user_guess and circ.parameter_kinds[n] == "positive" and lo >= 0 and g <= 0:
            raise ValidationError(
                f"initial guess {n} = {g:g}: must be > 0 because {n} is fitted on a log scale; "
                "to pin it at 0 pass it in constants instead",
                field="initial_guess",
            )
        if n in user_guess and not (lo <= g <= hi):
            raise ValidationError(
                f"initial guess {n} = {g:g} lies outside its bounds [{lo:g}, {hi:g}]",
                field="initial_guess",
            )
        # Keep starts strictly inside the bounds, where the transforms have a gradient.
        guess[n] = _inside(g, lo, hi)
    limits = [_search_limits(circ.parameter_kinds[names[i]], *bnd[names[i]], guess[names[i]])
              for i in free]
    transforms = _Transforms(np.array([x[0] for x in limits]), np.array([x[1] for x in limits]),
                             np.array([x[2] for x in limits], dtype=bool))
    base = np.array([fixed_vals.get(n, guess[n]) for n in names])
    prob = _Problem(circ, f, z, weighting, free, transforms, base)
    u0 = transforms.to_internal(np.array([guess[names[i]] for i in free]))

    rng = np.random.default_rng(seed)
    best = None
    n_agree = 0
    tried = 0
    log_spread = math.log(spread)
    scale_chi2 = float(np.sum(prob.residuals_from_Z(np.zeros_like(z)) ** 2))
    max_nfev = max_nfev or 50 * (n_free + 1)
    # Primary starts get the full budget: the (user's) guess and, when the user gave one,
    # also the spectrum-derived guess, which rescues a poor user guess.
    primary = [u0]
    if user_guess and use_spectrum_guess:
        derived_start = {n: _inside(derived[n], *bnd[n]) for n in names}
        u_derived = transforms.to_internal(np.array([derived_start[names[i]] for i in free]))
        if not np.allclose(u_derived, u0):
            primary.append(u_derived)
    confirm_pending = False
    for k in range(n_starts):
        budget = max_nfev
        if k < len(primary):
            u_start = primary[k]
        else:
            # A restart first checks the best minimum from close by (×/÷ CONFIRM_SPREAD);
            # once that is done, restarts explore ×/÷ spread around the guess.
            confirm = confirm_pending and best is not None
            centre = dict(zip((names[i] for i in free), prob.physical(best.x)[0][free],
                              strict=True)) if confirm else guess
            ls = min(log_spread, math.log(CONFIRM_SPREAD)) if confirm else log_spread
            confirm_pending = False
            budget = min(max_nfev, RESTART_PROBE_PER_PARAM * (n_free + 1))
            start = {}
            for i in free:
                n = names[i]
                lo, hi = bnd[n]
                if circ.parameter_kinds[n] == "positive" and lo >= 0:
                    v = centre[n] * math.exp(rng.uniform(-ls, ls))
                elif confirm:
                    v = centre[n] + rng.uniform(-CONFIRM_EXPONENT_STEP, CONFIRM_EXPONENT_STEP)
                else:
                    a = max(lo, 0.5) if math.isfinite(lo) else centre[n] - 0.5
                    b = hi if math.isfinite(hi) else centre[n] + 0.5
                    v = rng.uniform(min(a, b), max(a, b))
                start[n] = _inside(v, lo, hi)
            u_start = transforms.to_internal(np.array([start[names[i]] for i in free]))
        tried += 1
        if n_free == 0:
            break
        res = _levenberg_marquardt(prob, u_start, budget)
        if budget < max_nfev and res.out_of_budget and best is not None and \
                res.cost <= RESTART_CONTINUE_RATIO * best.cost:
            # The probe ran out of evaluations but is in a basin as good as the best one:
            # let it finish.
            res = _levenberg_marquardt(prob, res.x, max(max_nfev - budget, 1))
        cost = float(res.cost)
        same_tol = 1e-6 * (best.cost if best is not None else 0.0) + 1e-30 * scale_chi2
        if best is None or cost < best.cost - same_tol:
            best, n_agree = res, 1
            confirm_pending = True
        elif abs(cost - best.cost) <= same_tol:
            n_agree += 1
            if cost < best.cost:
                best = res
        if n_agree >= min_agreeing:
            break

    if best is not None:
        p_opt, _ = prob.physical(best.x)
        success = bool(best.success) and np.all(np.isfinite(best.fun))
        message = str(best.message)
    else:
        p_opt = base.copy()
        success, message = True, "all parameters fixed; nothing to fit"
    Zm, J = prob.physical_jacobian(p_opt)
    r = prob.residuals_from_Z(Zm)
    chi2 = float(np.sum(r**2))
    dof = n_resid - n_free
    scale = np.array([abs(p_opt[i]) if p_opt[i] != 0 else 1.0 for i in free])
    cov_free, unidentifiable = _covariance(J, chi2, dof, scale)
    t975 = _t975(dof)
    params = {n: float(p_opt[i]) for i, n in enumerate(names)}
    stderr = dict.fromkeys(names, 0.0)
    cov = np.zeros((len(names), len(names)))
    if free:
        cov[np.ix_(free, free)] = cov_free
    for a, i in enumerate(free):
        stderr[names[i]] = float(math.sqrt(max(cov_free[a, a], 0.0)))
    for a in unidentifiable:
        stderr[names[free[a]]] = math.nan
    ci95 = {n: (params[n] - t975 * stderr[n], params[n] + t975 * stderr[n]) for n in names}

    # --- warnings that tell the user what the numbers mean --------------------------------
    absz = np.abs(z)
    # Largest change of the model, relative to |Z|, that each parameter's full value makes.
    weighted_absz = np.concatenate([absz * prob.inv_wr, absz * prob.inv_wi])
    contributions = (np.max(np.abs(J) / weighted_absz[:, None], axis=0) *
                     np.abs(p_opt[free])) if free else np.zeros(0)
    for a, i in enumerate(free):
        n = names[i]
        negligible = bool(contributions[a] < NEGLIGIBLE_CONTRIBUTION)
        if negligible:
            warnings.append(f"{n} = {params[n]:.3g} {circ.parameter_units[n]} changes the model "
                            f"by less than {NEGLIGIBLE_CONTRIBUTION:.0e} of |Z|: the data do "
                            f"not determine it (element {circ.parameter_owner[n]} is not "
                            "supported by this spectrum)")
        if best is None:
            continue
        frac = (math.sin(float(best.x[a])) + 1.0) / 2.0
        lo, hi = bnd[n]
        if frac < 1e-6 and not negligible:
            if transforms.lo[a] == (math.log(lo) if transforms.is_log[a] and lo > 0 else lo):
                warnings.append(f"{n} = {params[n]:.4g} is at its lower bound {lo:g}")
            else:
                warnings.append(f"{n} = {params[n]:.3g} ran to its search limit "
                                f"({SEARCH_DECADES:g} decades below its start value): "
                                "effectively 0, not determined by the data")
        elif frac > 1.0 - 1e-6 and not negligible:
            if transforms.hi[a] == (math.log(hi) if transforms.is_log[a] else hi):
                warnings.append(f"{n} = {params[n]:.4g} is at its upper bound {hi:g}")
            else:
                warnings.append(f"{n} = {params[n]:.3g} ran to its search limit "
                                f"({SEARCH_DECADES:g} decades above its start value): "
                                "effectively infinite, not determined by the data")
    if unidentifiable:
        warnings.append(
            "parameters " + ", ".join(names[free[a]] for a in unidentifiable) +
            " are not separately identifiable (singular Jacobian); their standard errors "
            "are undefined")
    for n in names:
        se = stderr[n]
        if n not in fixed_vals and math.isfinite(se) and params[n] != 0 and \
                se > abs(params[n]) and not any(w.startswith(f"{n} =") for w in warnings):
            warnings.append(f"{n}: standard error ({se:.3g}) exceeds the value "
                            f"({params[n]:.3g}); the data barely constrain it")
    if not success:
        warnings.append(f"optimiser did not converge: {message}")
    weighted_rms = math.sqrt(chi2 / n_resid)
    rel = float(np.sqrt(np.mean(np.abs(z - Zm) ** 2 / absz**2)))
    if rel > 0.05:
        warnings.append(f"the model misses the data by {rel:.1%} RMS of |Z|; check the "
                        "circuit, the frequency window and the lin-KK residuals")
    return EISFit(
        circuit=str(circ), parameters=params, stderr=stderr, ci95=ci95,
        units=dict(circ.parameter_units), fixed=tuple(n for n in names if n in fixed_vals),
        frequencies_Hz=f, Z=z, Z_fit=Zm, weighting=weighting, chi2=chi2,
        chi2_reduced=chi2 / dof if dof > 0 else math.nan, weighted_rms=weighted_rms,
        relative_rmse=rel, dof=dof, success=bool(success), message=message,
        n_starts=tried, n_agreeing=n_agree, nfev=prob.nfev, njev=prob.njev,
        start_origin=start_origin,
        initial_guess={n: float(guess[n]) if n not in fixed_vals else fixed_vals[n]
                       for n in names},
        covariance=cov, warnings=tuple(warnings),
    )


@functools.lru_cache(maxsize=256)
def _t975(dof: int) -> float:
    return float(stats.t.ppf(0.975, dof)) if dof > 0 else math.nan


def _inside(v: float, lo: float, hi: float) -> float:
    if math.isfinite(lo) and math.isfinite(hi):
        pad = 1e-6 * (hi - lo)
        return min(max(v, lo + pad), hi - pad)
    if math.isfinite(lo) and v <= lo:
        return lo + max(abs(lo) * 1e-6, 1e-300) if lo != 0 else max(v, 1e-300)
    if math.isfinite(hi) and v >= hi:
        return hi - max(abs(hi) * 1e-6, 1e-300)
    return v


def _named_bounds(circ: Circuit, bounds: Mapping[str, tuple[float, float]] | None
                  ) -> dict[str, tuple[float, float]]:
    if not bounds:
        return {}
    out = {}
    for n, b in bounds.items():
        if n not in circ.parameter_names:
            raise ValidationError(
                f"bounds: unknown parameter {n!r} for circuit {str(circ)!r}; expected names "
                f"from {list(circ.parameter_names)}",
                field="bounds",
            )
        try:
            lo, hi = (float(b[0]), float(b[1]))
        except (TypeError, ValueError, IndexError):
            raise ValidationError(f"bounds for {n}: expected (low, high), got {b!r}",
                                  field="bounds") from None
        if not lo < hi:
            raise ValidationError(f"bounds for {n}: low {lo:g} must be below high {hi:g}",
                                  field="bounds")
        if circ.parameter_kinds[n] == "positive" and lo < 0:
            # Allowed (e.g. a negative resistance for an artefact) but then fitted linearly.
            pass
        out[n] = (lo, hi)
    return out


def fit_series(
    spectra: Sequence[tuple[Sequence[float] | np.ndarray, Sequence[complex] | np.ndarray]],
    circuit: str | Circuit,
    *,
    initial_guess: Mapping[str, float] | Sequence[float] | None = None,
    refit_factor: float = 1.5,
    n_starts: int = 8,
    **kwargs: Any,
) -> list[EISFit]:
    """Fit a series of spectra in order; each fit starts from the previous result.

    The first spectrum gets the multi-start fit. Each later one starts once from the
    previous parameters; if that fit fails or its weighted RMS exceeds ``refit_factor``
    times the previous one, a fresh multi-start fit from spectrum-derived guesses is run
    and the better of the two kept (the result says which in ``start_origin``).
    """
    circ = circuit if isinstance(circuit, Circuit) else Circuit(circuit)
    if len(spectra) == 0:
        raise ValidationError("fit_series: no spectra given", field="spectra")
    results: list[EISFit] = []
    prev: EISFit | None = None
    for k, item in enumerate(spectra):
        try:
            f, z = item
        except (TypeError, ValueError):
            raise ValidationError(f"fit_series: spectrum {k} must be a (frequencies_Hz, Z) "
                                  "pair", field="spectra") from None
        if prev is None:
            fit = fit_circuit(f, z, circ, initial_guess=initial_guess, n_starts=n_starts,
                              **kwargs)
        else:
            seed_guess = {n: v for n, v in prev.parameters.items() if n not in prev.fixed}
            fit = fit_circuit(f, z, circ, initial_guess=seed_guess, n_starts=1,
                              start_origin="previous spectrum", **kwargs)
            poor = (not fit.success) or fit.weighted_rms > refit_factor * max(
                prev.weighted_rms, 1e-12)
            if poor:
                fresh = fit_circuit(f, z, circ, n_starts=n_starts, **kwargs)
                note = (f"seeded fit from the previous spectrum was poor (weighted RMS "
                        f"{fit.weighted_rms:.3g} vs {prev.weighted_rms:.3g}); refitted from "
                        "spectrum-derived guesses")
                if fresh.chi2 < fit.chi2:
                    fit = dataclasses.replace(fresh, start_origin="spectrum (re-seeded)",
                                              warnings=(*fresh.warnings, note))
                else:
                    fit = dataclasses.replace(fit, warnings=(*fit.warnings, note +
                                                             "; the seeded fit was kept"))
        results.append(fit)
        prev = fit
    return results
