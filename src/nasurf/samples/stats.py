"""Replicate statistics: group mean, spread, t-interval, and Welch differences.

Replicate cells are few (typically 3 to 5), so intervals use Student's t with n − 1 degrees
of freedom, not a normal approximation; the difference of two group means uses Welch's
unequal-variance interval with the Welch–Satterthwaite degrees of freedom (the spread of
a treated group is rarely the spread of the pristine one).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Summary:
    """n, mean, sample SD (ddof = 1) and the two-sided t-interval of the mean."""

    n: int
    mean: float | None
    sd: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float = CONFIDENCE


@dataclass(frozen=True)
class Difference:
    """mean(b) − mean(a) with its Welch standard error, degrees of freedom and interval."""

    estimate: float | None
    se: float | None
    df: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float = CONFIDENCE


def _clean(values: Sequence[float | None]) -> np.ndarray:
    x = np.array([np.nan if v is None else v for v in values], float)
    return x[np.isfinite(x)]


def summarize(values: Sequence[float | None], confidence: float = CONFIDENCE) -> Summary:
    """Summary of the finite values (None/NaN are not replicates and are not counted)."""
    from scipy.stats import t

    x = _clean(values)
    n = int(x.size)
    if n == 0:
        return Summary(0, None, None, None, None, confidence)
    mean = float(np.mean(x))
    if n == 1:
        return Summary(1, mean, None, None, None, confidence)
    sd = float(np.std(x, ddof=1))
    half = float(t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return Summary(n, mean, sd, mean - half, mean + half, confidence)


def welch_difference(a: Sequence[float | None], b: Sequence[float | None],
                     confidence: float = CONFIDENCE) -> Difference:
    """mean(b) − mean(a) with Welch's interval; needs ≥ 2 replicates on each side."""
    from scipy.stats import t

    xa, xb = _clean(a), _clean(b)
    if xa.size == 0 or xb.size == 0:
        return Difference(None, None, None, None, None, confidence)
    est = float(np.mean(xb) - np.mean(xa))
    if xa.size < 2 or xb.size < 2:
        return Difference(est, None, None, None, None, confidence)
    va, vb = np.var(xa, ddof=1) / xa.size, np.var(xb, ddof=1) / xb.size
    se = math.sqrt(va + vb)
    if se == 0:
        return Difference(est, 0.0, None, est, est, confidence)
    df = float((va + vb) ** 2 / (va**2 / (xa.size - 1) + vb**2 / (xb.size - 1)))
    half = float(t.ppf(0.5 + confidence / 2, df)) * se
    return Difference(est, se, df, est - half, est + half, confidence)
