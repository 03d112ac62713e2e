"""Lin-KK validity test of an impedance spectrum (Schönleber et al., Electrochim. Acta 131
(2014) 20, after Boukamp, J. Electrochem. Soc. 142 (1995) 1885).

Owns methods.md §6 step 1. The spectrum is fitted by a Kramers–Kronig-compliant model
Ẑ = R_0 + jωL + Σ_k R_k/(1 + jωτ_k) (optionally + 1/(jωC)) with M time constants τ_k
fixed log-uniformly from 1/ω_max to 1/ω_min, so only the R's, L (and C) are fitted, by
*linear* least squares with weights 1/|Z|. M grows from 1 until the under/over-fitting
measure μ = 1 − Σ_{R_k<0}|R_k| / Σ_{R_k≥0}|R_k| falls to ``mu_cutoff`` (0.85 in the paper).
Data that a KK-compliant model cannot follow (drift, non-linearity, non-stationarity)
leave relative residuals (Z − Ẑ)/|Z| well above the noise.

Verdict thresholds (stated, not hidden): ``valid`` when the RMS residual (real and
imaginary together) is ≤ 1 % and no point exceeds 5 %; ``questionable`` when the RMS is
≤ 2 % or the worst point exceeds 5 % on otherwise good data; ``invalid`` otherwise. Good
potentiostat data sit at 0.1–0.5 % RMS; 1 % is the level Schönleber et al. and the
impedance.py documentation treat as the edge of acceptable noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nasurf.analysis.eis.fit import option
from nasurf.errors import ValidationError

__all__ = ["LinKKResult", "linkk"]

RMS_VALID = 0.01
RMS_QUESTIONABLE = 0.02
MAX_POINT = 0.05
FIT_TYPES = ("complex", "real", "imag")
# M starts at this many time constants per decade: below it the grid is too coarse to follow
# an arc, the fit oscillates in sign and μ dips under the cut-off before the spectrum is
# represented (a premature stop that flags KK-compliant data; impedance.py starts at M = 1).
MIN_RC_PER_DECADE = 2.0


@dataclass(frozen=True, eq=False)
class LinKKResult:
    """Outcome of the lin-KK test: M, μ, fitted resistances, residuals and a verdict."""

    n_rc: int
    mu: float
    mu_cutoff: float
    fit_type: str
    taus_s: np.ndarray
    resistances_Ohm: np.ndarray       # R_k of the RC elements
    series_resistance_Ohm: float
    series_inductance_H: float
    series_capacitance_F: float | None
    frequencies_Hz: np.ndarray
    Z: np.ndarray
    Z_fit: np.ndarray
    residuals_real: np.ndarray        # (Z' − Ẑ')/|Z|
    residuals_imag: np.ndarray        # (Z'' − Ẑ'')/|Z|
    rms_residual: float
    max_residual: float
    verdict: str                      # "valid", "questionable" or "invalid"
    warnings: tuple[str, ...] = ()

    def residual_table(self) -> pd.DataFrame:
        return pd.DataFrame({
            "Frequency / Hz": self.frequencies_Hz,
            "Residual Real / 1": self.residuals_real,
            "Residual Imag / 1": self.residuals_imag,
        })

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict, "n_rc": self.n_rc, "mu": self.mu,
            "mu_cutoff": self.mu_cutoff, "fit_type": self.fit_type,
            "rms_residual": self.rms_residual, "max_residual": self.max_residual,
            "thresholds": {"valid_rms": RMS_VALID, "questionable_rms": RMS_QUESTIONABLE,
                           "max_point": MAX_POINT},
            "series_resistance_Ohm": self.series_resistance_Ohm,
            "series_inductance_H": self.series_inductance_H,
            "series_capacitance_F": self.series_capacitance_F,
            "warnings": list(self.warnings),
        }


def _time_constants(f: np.ndarray, M: int) -> np.ndarray:
    t_min = 1.0 / (2.0 * np.pi * f.max())
    t_max = 1.0 / (2.0 * np.pi * f.min())
    if M == 1:   # as impedance.py: a single element sits at the slowest time constant
        return np.array([t_max])
    return np.logspace(np.log10(t_min), np.log10(t_max), M)


def _open_low_frequency_end(f: np.ndarray, Z: np.ndarray) -> bool:
    """True when −Z'' rises over the three lowest frequencies (no real-axis intercept)."""
    order = np.argsort(f)
    mim = -Z.imag[order][:3]
    return bool(mim.size == 3 and mim[0] > 0 and mim[0] > mim[1] > mim[2])


def _mu(R: np.ndarray) -> float:
    pos = float(np.sum(R[R >= 0]))
    neg = float(-np.sum(R[R < 0]))
    if pos == 0:
        return -math.inf if neg > 0 else 1.0
    return 1.0 - neg / pos


def _design(w: np.ndarray, absz: np.ndarray, taus: np.ndarray, add_capacitance: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    """Real and imaginary design matrices, columns [R_0, R_1..R_M, (1/C), L], rows / |Z|."""
    wt = w[:, None] * taus[None, :]
    den = 1.0 + wt * wt
    cols_re = [np.ones_like(w)[:, None], 1.0 / den]
    cols_im = [np.zeros_like(w)[:, None], -wt / den]
    if add_capacitance:
        cols_re.append(np.zeros_like(w)[:, None])
        cols_im.append((-1.0 / w)[:, None])          # coefficient is 1/C
    cols_re.append(np.zeros_like(w)[:, None])
    cols_im.append(w[:, None])                        # coefficient is L
    a_re = np.hstack(cols_re) / absz[:, None]
    a_im = np.hstack(cols_im) / absz[:, None]
    return a_re, a_im


def _lstsq(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares with the columns scaled to unit norm first.

    The RC columns overlap and the R_0, 1/C and L columns differ from them by orders of
    magnitude: the weighted design's condition number reaches ~1e8 (the Gamry example, M = 19),
    so the BLAS kernel's rounding (AVX2 vs SSE OpenBLAS) moved R_0 by ~1e-7 relative. Scaled
    columns bring it to ~1e2 and the coefficients agree across kernels to ~1e-11."""
    norm = np.linalg.norm(a, axis=0)
    scale = np.divide(1.0, norm, out=np.ones_like(norm), where=norm > 0)
    return np.linalg.lstsq(a * scale, b, rcond=None)[0] * scale


def _solve(f: np.ndarray, Z: np.ndarray, M: int, fit_type: str, add_capacitance: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    w = 2.0 * np.pi * f
    absz = np.abs(Z)
    taus = _time_constants(f, M)
    a_re, a_im = _design(w, absz, taus, add_capacitance)
    b_re, b_im = Z.real / absz, Z.imag / absz
    n_rc = M
    if fit_type == "complex":
        coef = _lstsq(np.vstack([a_re, a_im]), np.concatenate([b_re, b_im]))
    elif fit_type == "real":
        # R_0 and R_k from the real part; L (and 1/C) then from what the RC part leaves in the
        # imaginary part (they have no real component).
        coef = np.zeros(a_re.shape[1])
        coef[: n_rc + 1] = _lstsq(a_re[:, : n_rc + 1], b_re)
        rest = b_im - a_im[:, : n_rc + 1] @ coef[: n_rc + 1]
        coef[n_rc + 1:] = _lstsq(a_im[:, n_rc + 1:], rest)
    else:  # "imag": R_k, L (1/C) from the imaginary part; R_0 from the weighted real mean
        coef = np.zeros(a_re.shape[1])
        idx = np.r_[1: n_rc + 1, n_rc + 1: a_im.shape[1]]
        coef[idx] = _lstsq(a_im[:, idx], b_im)
        z_rc_re = (a_re[:, 1: n_rc + 1] @ coef[1: n_rc + 1]) * absz
        weights = 1.0 / absz**2          # Boukamp 1995, eq. 7
        coef[0] = float(np.sum(weights * (Z.real - z_rc_re)) / np.sum(weights))
    return coef, taus


def _evaluate(coef: np.ndarray, taus: np.ndarray, f: np.ndarray, add_capacitance: bool
              ) -> np.ndarray:
    w = 2.0 * np.pi * f
    M = taus.size
    Z = coef[0] + (coef[1: M + 1][None, :] / (1.0 + 1j * w[:, None] * taus[None, :])).sum(1)
    if add_capacitance:
        Z = Z + coef[M + 1] / (1j * w)
    return Z + 1j * w * coef[-1]


def linkk(frequencies_Hz: Any, Z: Any, *, mu_cutoff: float = 0.85, max_rc: int = 50,
          fit_type: str = "complex", add_capacitance: bool | None = None,
          n_rc: int | None = None, min_rc: int | None = None) -> LinKKResult:
    """Run the lin-KK test on one spectrum (frequencies in Hz, Z = Z' + jZ'' in Ohm).

    ``mu_cutoff`` (Schönleber's c, 0.85) stops the growth of M; ``max_rc`` caps it.
    ``fit_type`` chooses which part is fitted ("complex" as in Schönleber's eq. 14,
    "real" or "imag" as in Boukamp); ``add_capacitance`` adds a series capacitance for
    spectra without a low-frequency real-axis intercept (blocking electrodes, long
    diffusion tails); by default (None) it is added when −Z'' still rises towards the
    lowest frequencies. ``min_rc`` is the first M tried (default: 2 per decade of
    frequency; ``min_rc=1`` with ``add_capacitance=False`` reproduces impedance.py's
    ``linKK``); ``n_rc`` fixes M and skips the μ search.
    """
    f = np.asarray(frequencies_Hz, dtype=float).reshape(-1)
    z = np.asarray(Z, dtype=complex).reshape(-1)
    if f.size != z.size:
        raise ValidationError(f"{f.size} frequencies but {z.size} impedance values", field="Z")
    if f.size < 4:
        raise ValidationError(f"lin-KK needs at least 4 frequencies, got {f.size}",
                              field="frequencies_Hz")
    if np.any(~np.isfinite(f) | (f <= 0)) or np.any(~np.isfinite(z)) or np.any(z == 0):
        raise ValidationError("lin-KK needs finite frequencies > 0 Hz and finite, non-zero "
                              "impedances", field="Z")
    fit_type = option("fit_type", fit_type, FIT_TYPES, where="linkk")
    if not 0 < mu_cutoff <= 1:
        raise ValidationError(f"mu_cutoff must be in (0, 1], got {mu_cutoff}", field="mu_cutoff")
    if add_capacitance is None:
        add_capacitance = _open_low_frequency_end(f, z)
    # More RC elements than the data can support makes the normal equations singular.
    max_rc = int(min(max_rc, max(1, f.size - 3)))
    warnings: list[str] = []
    coef = taus = None
    if n_rc is not None:
        if not 1 <= n_rc <= max_rc:
            raise ValidationError(f"n_rc must be between 1 and {max_rc} for {f.size} points, "
                                  f"got {n_rc}", field="n_rc")
        n_el = int(n_rc)
        coef, taus = _solve(f, z, n_el, fit_type, add_capacitance)
        mu = _mu(coef[1: n_el + 1])
    else:
        if min_rc is None:
            min_rc = math.ceil(MIN_RC_PER_DECADE * math.log10(f.max() / f.min()))
        n_el = max(0, min(int(min_rc), max_rc) - 1)
        mu = 1.0
        while mu > mu_cutoff and n_el < max_rc:
            n_el += 1
            coef, taus = _solve(f, z, n_el, fit_type, add_capacitance)
            mu = _mu(coef[1: n_el + 1])
    assert coef is not None and taus is not None
    if n_rc is None and mu > mu_cutoff:
        warnings.append(f"μ stayed above the cut-off {mu_cutoff} up to M = {n_el} RC elements; "
                        "the test may under-fit")
    Z_fit = _evaluate(coef, taus, f, add_capacitance)
    rel = (z - Z_fit) / np.abs(z)
    rms = float(np.sqrt(np.mean(np.concatenate([rel.real, rel.imag]) ** 2)))
    worst = float(np.max(np.abs(np.concatenate([rel.real, rel.imag]))))
    if rms <= RMS_VALID and worst <= MAX_POINT:
        verdict = "valid"
    elif rms <= RMS_QUESTIONABLE or (rms <= RMS_VALID and worst > MAX_POINT):
        verdict = "questionable"
    else:
        verdict = "invalid"
    if verdict != "valid":
        k = int(np.argmax(np.abs(rel.real) + np.abs(rel.imag)))
        warnings.append(f"lin-KK residuals: RMS {rms:.2%}, worst {worst:.2%} (largest at "
                        f"{f[k]:.3g} Hz); the spectrum is {verdict} for equivalent-circuit "
                        "fitting (drift, non-linearity or instrument artefacts)")
    return LinKKResult(
        n_rc=n_el, mu=float(mu), mu_cutoff=mu_cutoff, fit_type=fit_type, taus_s=taus,
        resistances_Ohm=coef[1: n_el + 1].copy(), series_resistance_Ohm=float(coef[0]),
        series_inductance_H=float(coef[-1]),
        series_capacitance_F=(float(1.0 / coef[n_el + 1])
                              if add_capacitance and coef[n_el + 1] != 0 else None),
        frequencies_Hz=f, Z=z, Z_fit=Z_fit, residuals_real=rel.real.copy(),
        residuals_imag=rel.imag.copy(), rms_residual=rms, max_residual=worst, verdict=verdict,
        warnings=tuple(warnings),
    )
