"""Ordinary least squares for the kinetics fits, vectorised over potentials.

Every fit of :mod:`nasurf.analysis.kinetics` (log|ip| on log v, b(E), Dunn's i/√v on √v,
Trasatti's two lines, |ip| on √v) goes through these, so slope, intercept, standard errors
and R² are computed one way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _OLS:
    slope: np.ndarray
    intercept: np.ndarray
    slope_se: np.ndarray
    intercept_se: np.ndarray
    r2: np.ndarray
    n: int


def _ols(x: np.ndarray, y: np.ndarray) -> _OLS:
    """y = intercept + slope·x for each column of ``y`` (shape (n,) or (n, m))."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n = x.size
    xm = x.mean()
    dx = x - xm
    sxx = float(dx @ dx)
    ym = y.mean(axis=0)
    dy = y - ym
    slope = np.tensordot(dx, dy, axes=(0, 0)) / sxx
    intercept = ym - slope * xm
    resid = dy - np.multiply.outer(dx, slope) if y.ndim > 1 else dy - dx * slope
    ss_res = np.sum(resid**2, axis=0)
    ss_tot = np.sum(dy**2, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        # R² is undefined when y does not vary; a relative floor keeps round-off in an
        # exactly constant y from producing a meaningless number
        scale = np.maximum(np.sum(y**2, axis=0), np.finfo(float).tiny)
        r2 = np.where(ss_tot > 1e-24 * scale, 1.0 - ss_res / ss_tot, np.nan)
        if n > 2:
            s2 = ss_res / (n - 2)
            slope_se = np.sqrt(s2 / sxx)
            intercept_se = np.sqrt(s2 * (1.0 / n + xm**2 / sxx))
        else:
            slope_se = np.full_like(np.asarray(slope, dtype=float), np.nan)
            intercept_se = np.full_like(np.asarray(slope, dtype=float), np.nan)
    return _OLS(slope, intercept, slope_se, intercept_se, r2, n)


def _ols_origin(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """y = slope·x through the origin: slope, SE, uncentred R²."""
    sxx = float(x @ x)
    slope = float(x @ y) / sxx
    resid = y - slope * x
    n = x.size
    se = math.sqrt(float(resid @ resid) / (n - 1) / sxx) if n > 1 else math.nan
    r2 = 1.0 - float(resid @ resid) / float(y @ y) if float(y @ y) > 0 else math.nan
    return slope, se, r2


def _noise_level(i: np.ndarray) -> float:
    """Robust noise estimate from second differences (a smooth CV has tiny ones)."""
    if i.size < 5:
        return 0.0
    d2 = np.diff(i, 2)
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / math.sqrt(6.0))
