"""The least-squares engine of the circuit fit: parameter transforms, weighted complex
residuals with the circuit's analytic Jacobian, MINPACK Levenberg–Marquardt, covariance.

:func:`nasurf.analysis.eis.fit.fit_circuit` decides what to fit from where (starts, bounds,
fixed parameters, multi-start schedule); this module runs one start and says how good its
minimum is. It knows nothing about circuits beyond ``Circuit.jacobian_omega``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import leastsq

from nasurf.analysis.eis.circuits import Circuit, FrequencyGrid
from nasurf.errors import ValidationError

WEIGHTINGS = ("modulus", "proportional", "unit")

# Every free parameter is fitted through the MINUIT sine transform between finite limits:
# y = lo + (hi − lo)·(sin u + 1)/2, with y = ln p for positive quantities (relative steps,
# no sign change) and y = p otherwise. Open limits are closed at SEARCH_DECADES decades
# around the start value so that a parameter drifting towards 0 or ∞ (a resistor in parallel
# with a CPE running away, a Warburg with no tail to fit) saturates instead of burning the
# evaluation budget; reaching such a limit is reported as "not determined by the data".
SEARCH_DECADES = 8.0


class _Transforms:
    """Vectorised map between internal variables u and physical parameters p."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, is_log: np.ndarray) -> None:
        self.lo, self.hi, self.is_log = lo, hi, is_log
        self.half_span = (hi - lo) / 2.0
        self.log_idx = np.nonzero(is_log)[0]
        self.all_log = bool(is_log.all())

    def to_internal(self, p: np.ndarray) -> np.ndarray:
        y = np.where(self.is_log, np.log(np.maximum(p, 1e-300)), p)
        # Strictly inside the limits, where the transform still has a gradient.
        edge = 1.0 - 1e-6
        return np.arcsin(np.clip((y - self.lo) / self.half_span - 1.0, -edge, edge))

    def to_physical(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(p, dp/du)."""
        p = self.lo + self.half_span * (np.sin(u) + 1.0)
        dp = self.half_span * np.cos(u)
        if self.all_log:
            p = np.exp(p)
            return p, p * dp
        k = self.log_idx
        p[k] = np.exp(p[k])
        dp[k] *= p[k]
        return p, dp


def _search_limits(kind: str, lo: float, hi: float, center: float
                   ) -> tuple[float, float, bool]:
    """Finite internal limits (in y = ln p or p) for one parameter."""
    if kind == "positive" and lo >= 0:
        c = math.log(center)
        width = SEARCH_DECADES * math.log(10.0)
        y_lo = max(math.log(lo), c - width) if lo > 0 else c - width
        y_hi = min(math.log(hi), c + width) if math.isfinite(hi) else c + width
        return y_lo, y_hi, True
    width = 10.0**SEARCH_DECADES * max(abs(center), 1.0)
    return (lo if math.isfinite(lo) else center - width,
            hi if math.isfinite(hi) else center + width, False)



def _weights(Z: np.ndarray, weighting: str) -> tuple[np.ndarray, np.ndarray]:
    absz = np.abs(Z)
    if weighting == "modulus":
        return absz, absz
    if weighting == "proportional":
        floor = 0.01 * absz
        return np.maximum(np.abs(Z.real), floor), np.maximum(np.abs(Z.imag), floor)
    if weighting == "unit":
        one = np.ones_like(absz)
        return one, one
    raise ValidationError(f"weighting {weighting!r} is not one of {', '.join(WEIGHTINGS)}",
                          field="weighting")


class _Problem:
    """Residuals and Jacobian in the internal variables, with the circuit compiled once."""

    def __init__(self, circuit: Circuit, f: np.ndarray, Z: np.ndarray, weighting: str,
                 free: list[int], transforms: _Transforms, fixed_values: np.ndarray
                 ) -> None:
        self.circuit = circuit
        self.w = FrequencyGrid(2.0 * np.pi * f)
        self.Z = Z
        wr, wi = _weights(Z, weighting)
        self.inv_wr, self.inv_wi = 1.0 / wr, 1.0 / wi
        self.free = np.array(free, dtype=int)
        self.all_free = len(free) == circuit.n_params
        self.transforms = transforms
        self.base = fixed_values.copy()
        self.m = Z.size
        self.nfev = 0
        self.njev = 0
        # One-point caches: MINPACK asks for the Jacobian at the point whose residuals it
        # has just evaluated, and leastsq's input checks evaluate at the start point.
        self._fun_key: bytes | None = None
        self._fun_val = np.empty(0)
        self._jac_key: bytes | None = None
        self._jac_val = np.empty((0, 0))
        self._pending: tuple[bytes, np.ndarray, np.ndarray] | None = None

    def physical(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pf, dp = self.transforms.to_physical(u)
        if self.all_free:
            return pf, dp
        p = self.base.copy()
        p[self.free] = pf
        return p, dp

    def residuals_from_Z(self, Zm: np.ndarray) -> np.ndarray:
        d = Zm - self.Z
        return np.concatenate([d.real * self.inv_wr, d.imag * self.inv_wi])

    def fun(self, u: np.ndarray) -> np.ndarray:
        """Weighted residuals at u. The Jacobian is formed in the same pass (the model and
        its derivatives share every intermediate), because MINPACK asks for it at nearly
        every point whose residuals it evaluates: only rejected trial steps do not.
        Called inside ``np.errstate(all="ignore")`` (see :func:`_levenberg_marquardt`)."""
        key = u.tobytes()
        if key == self._fun_key:
            return self._fun_val
        self.nfev += 1
        p, dp = self.physical(u)
        Zm, Jt = self._jacobian_t(p)
        r = self.residuals_from_Z(Zm)
        if not np.isfinite(r).all():
            # A non-finite model (overflow far from the data) is a very bad point, not a crash.
            r = np.where(np.isfinite(r), r, 1e150)
        self._fun_key, self._fun_val = key, r
        self._pending = (key, Jt, dp)
        return r

    def _jacobian_t(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Z_model, Jᵀ) with J = d(weighted residuals)/dp for the free parameters; Jᵀ is
        C-ordered, so J = Jᵀ.T is the column-major array MINPACK works on (no copy)."""
        Zm, D = self.circuit.jacobian_omega(p, self.w)
        Df = D if self.all_free else D[self.free]
        m = self.m
        Jt = np.empty((Df.shape[0], 2 * m))
        np.multiply(Df.real, self.inv_wr, out=Jt[:, :m])
        np.multiply(Df.imag, self.inv_wi, out=Jt[:, m:])
        return Zm, Jt

    def physical_jacobian(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(Z_model, J) with J = d(weighted residuals)/dp for the free parameters."""
        with np.errstate(all="ignore"):
            Zm, Jt = self._jacobian_t(p)
        return Zm, Jt.T

    def jac(self, u: np.ndarray, *args: Any) -> np.ndarray:
        """Jᵀ (n_free, 2m), C-ordered: MINPACK's column-major J without a copy."""
        key = u.tobytes()
        if key == self._jac_key:
            return self._jac_val
        self.njev += 1
        if self._pending is not None and self._pending[0] == key:
            _, Jt, dp = self._pending
        else:
            p, dp = self.physical(u)
            _, Jt = self._jacobian_t(p)
        self._pending = None
        Jt *= dp[:, None]
        if not np.isfinite(Jt).all():
            Jt[~np.isfinite(Jt)] = 0.0
        self._jac_key, self._jac_val = key, Jt
        return Jt


@dataclass(frozen=True)
class _LMRun:
    """One Levenberg–Marquardt run: internal optimum, residuals there and MINPACK's info."""

    x: np.ndarray
    fun: np.ndarray
    cost: float
    status: int          # MINPACK info: 1-4 converged, 5 out of evaluations, 6-8 stalled
    message: str

    @property
    def success(self) -> bool:
        return self.status in (1, 2, 3, 4, 6, 7, 8)

    @property
    def out_of_budget(self) -> bool:
        return self.status == 5


_MINPACK_MESSAGES = {
    1: "converged: relative reduction of chi2 below ftol",
    2: "converged: relative step below xtol",
    3: "converged: relative reduction of chi2 below ftol and relative step below xtol",
    4: "converged: residuals orthogonal to the Jacobian columns (gtol)",
    5: "maximum number of model evaluations reached",
    6: "converged to machine precision: no further reduction of chi2 possible",
    7: "converged to machine precision: no further improvement of the parameters possible",
    8: "converged to machine precision: residuals orthogonal to the Jacobian",
}
# Tight tolerances: the multi-start compares χ² of different starts to 1e-6 relative and
# the reported parameters should not depend on where a start came from.
_LM_TOL = 1e-12


def _levenberg_marquardt(prob: _Problem, u0: np.ndarray, max_nfev: int) -> _LMRun:
    """MINPACK ``lmder`` (scaled by the Jacobian's column norms, step bound factor 100) on
    the problem's residuals, called through ``scipy.optimize.leastsq``: the same iterations
    as ``least_squares(method="lm", x_scale="jac")`` without its per-call wrappers, which
    took about a quarter of a fit's time on these small problems. ``leastsq``'s own shape checks
    evaluate at ``u0`` and are answered from the problem's one-point cache."""
    # Far from the data the model can overflow; such points become very bad residuals
    # (see _Problem.fun), so floating-point warnings are noise here.
    with np.errstate(all="ignore"):
        x, _, info, _, ier = leastsq(prob.fun, u0, Dfun=prob.jac, full_output=True,
                                     col_deriv=True, ftol=_LM_TOL, xtol=_LM_TOL,
                                     gtol=_LM_TOL, maxfev=max_nfev)
    r = info["fvec"]
    return _LMRun(x=np.atleast_1d(x), fun=r, cost=0.5 * float(r @ r), status=int(ier),
                  message=_MINPACK_MESSAGES.get(int(ier), f"MINPACK info {ier}"))


def _covariance(J: np.ndarray, chi2: float, dof: int, scale: np.ndarray
                ) -> tuple[np.ndarray, list[int]]:
    """cov = (JᵀJ)⁻¹ s² via SVD of the column-scaled Jacobian; also the indices of
    parameters lying in a (numerically) unidentifiable direction."""
    n = J.shape[1]
    if n == 0:
        return np.zeros((0, 0)), []
    Js = J * scale
    _, s, vt = np.linalg.svd(Js, full_matrices=False)
    tol = s.max() * max(J.shape) * np.finfo(float).eps * 1e3 if s.size else 0.0
    good = s > tol
    inv_s2 = np.where(good, 1.0 / np.where(good, s, 1.0) ** 2, 0.0)
    cov_s = (vt.T * inv_s2) @ vt
    s2 = chi2 / dof if dof > 0 else math.nan
    cov = cov_s * np.outer(scale, scale) * s2
    bad: list[int] = []
    for k in np.nonzero(~good)[0]:
        bad.extend(int(i) for i in np.nonzero(np.abs(vt[k]) > 1e-3)[0])
    return cov, sorted(set(bad))
