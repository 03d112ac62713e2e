"""Batched numerics of the numpy march (:mod:`nasurf.sim.engine_march`).

φ₁(z) = (eᶻ − 1)/z of exponential integration (its series where the difference quotient
loses digits), asinh(eᴸ) without overflow (Butler–Volmer in log form) and the tridiagonal
(Thomas) solve batched over leading axes.
"""

from __future__ import annotations

import numpy as np

from nasurf.sim.physics import softplus


def phi1(z: np.ndarray) -> np.ndarray:
    """(eᶻ − 1)/z elementwise."""
    small = np.abs(z) < 1e-6
    zs = np.where(small, 1.0, z)
    return np.where(small, 1.0 + z / 2 + z * z / 6, np.expm1(zs) / zs)


def asinh_exp(L: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """asinh(e^L) and its derivative by L, without overflow for any L (also ±inf)."""
    big = L > 0
    Lb = np.where(big, L, 0.0)
    val = np.where(big, Lb + np.log1p(np.sqrt(1.0 + np.exp(-2.0 * Lb))),
                   np.arcsinh(np.exp(np.where(big, 0.0, L))))
    return val, np.exp(-0.5 * softplus(-2.0 * L))


def thomas(lower: np.ndarray, diag: np.ndarray, upper: np.ndarray, rhs: np.ndarray
           ) -> np.ndarray:
    """Solve tridiagonal systems batched over leading axes; rhs (..., N, m)."""
    n = diag.shape[-1]
    cp = np.empty_like(diag)
    dp = np.empty_like(rhs)
    cp[..., 0] = upper[..., 0] / diag[..., 0] if n > 1 else 0.0
    dp[..., 0, :] = rhs[..., 0, :] / diag[..., 0, None]
    for i in range(1, n):
        den = diag[..., i] - lower[..., i - 1] * cp[..., i - 1]
        if i < n - 1:
            cp[..., i] = upper[..., i] / den
        dp[..., i, :] = (rhs[..., i, :] - lower[..., i - 1, None] * dp[..., i - 1, :]) \
            / den[..., None]
    x = np.empty_like(rhs)
    x[..., n - 1, :] = dp[..., n - 1, :]
    for i in range(n - 2, -1, -1):
        x[..., i, :] = dp[..., i, :] - cp[..., i, None] * x[..., i + 1, :]
    return x
