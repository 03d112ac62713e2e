"""Warburg coefficient σ from the low-frequency diffusion line, and D from σ.

Owns methods.md §6 steps 3-5: the automatic Warburg window (local Nyquist slope angle
45° ± 7°, below the charge-transfer arc, above a finite-length upturn), σ by ordinary
least squares of Z' and of −Z'' against ω^-½ (ω = 2πf in rad/s, computed here from Hz so
the f-instead-of-ω trap, which makes D 2π ≈ 6.28× too high, cannot happen through this
API), a flag when the two σ disagree by more than 20 %, and D from σ in both forms:

* Nernstian (R²T²) form: D = R²T² / (2 A² n⁴ F⁴ C² σ²);
* Ho–Raistrick–Huggins form: D = (V_M |dE/dx| / (√2 n F A σ))²,
  which reduces to the first when dE/dc = RT/(nFc).

Units: σ in Ω s^-½, A in cm², C in mol/cm³, V_M in cm³/mol, dE/dx in V, D in cm²/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from scipy.signal import find_peaks

from nasurf.constants import FARADAY_C_PER_MOL as FARADAY
from nasurf.constants import GAS_CONSTANT_J_PER_MOL_K as GAS_CONSTANT
from nasurf.constants import ROOM_TEMPERATURE_K as T_DEFAULT
from nasurf.errors import ValidationError

__all__ = [
    "DiffusionEstimate",
    "LineFit",
    "WarburgAnalysis",
    "diffusion_from_sigma",
    "diffusion_from_sigma_hrh",
    "sigma_from_diffusion",
    "warburg_analysis",
    "warburg_window",
]

DISAGREEMENT_LIMIT = 0.20      # |σ' − σ''| / σ' above this is flagged (methods.md §6 step 4)
PHASE_TARGET_DEG = 45.0
PHASE_TOLERANCE_DEG = 7.0
MIN_WINDOW_POINTS = 3


@dataclass(frozen=True)
class LineFit:
    """OLS line y = slope·x + intercept with standard errors."""

    slope: float
    slope_stderr: float
    intercept: float
    intercept_stderr: float
    r_squared: float
    n_points: int

    def to_dict(self) -> dict[str, Any]:
        return {"slope": self.slope, "slope_stderr": self.slope_stderr,
                "intercept": self.intercept, "intercept_stderr": self.intercept_stderr,
                "r_squared": self.r_squared, "n_points": self.n_points}


def _ols(x: np.ndarray, y: np.ndarray) -> LineFit:
    n = x.size
    res = stats.linregress(x, y)
    se_slope = float(res.stderr) if n > 2 else math.nan
    se_int = float(res.intercept_stderr) if n > 2 else math.nan
    return LineFit(float(res.slope), se_slope, float(res.intercept), se_int,
                   float(res.rvalue**2), n)


def _check_spectrum(frequencies_Hz: Any, Z: Any) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(frequencies_Hz, dtype=float).reshape(-1)
    z = np.asarray(Z, dtype=complex).reshape(-1)
    if f.size != z.size:
        raise ValidationError(f"{f.size} frequencies but {z.size} impedance values",
                              field="Z")
    if np.any(~np.isfinite(f) | (f <= 0)):
        raise ValidationError("frequencies must be finite and > 0 Hz", field="frequencies_Hz")
    order = np.argsort(f)[::-1]
    return f[order], z[order]


def angular_frequency_suspect(frequencies_Hz: np.ndarray) -> bool:
    """True when the 'Hz' values look like ω = 2πf of a round frequency grid.

    Instruments step frequencies on round decades (1, 2, 5 × 10^k, or n points per decade
    from a round start). If the largest and smallest values divided by 2π are round while
    the values themselves are not, someone probably passed rad/s as Hz."""
    f = np.asarray(frequencies_Hz, float)

    def round_number(v: float) -> bool:
        if v <= 0:
            return False
        mant = v / 10.0 ** math.floor(math.log10(v))
        return any(abs(mant - m) < 1e-6 * m for m in (1.0, 2.0, 2.5, 5.0, 10.0))

    ends = (float(f.max()), float(f.min()))
    as_f = [round_number(v / (2 * math.pi)) for v in ends]
    as_is = [round_number(v) for v in ends]
    return all(as_f) and not any(as_is)


def warburg_window(frequencies_Hz: Any, Z: Any, *,
                   phase_target_deg: float = PHASE_TARGET_DEG,
                   phase_tolerance_deg: float = PHASE_TOLERANCE_DEG
                   ) -> tuple[float, float] | None:
    """Automatic Warburg window (fmin, fmax) in Hz, or None if there is no diffusion line.

    The local Nyquist slope angle θ = atan(Δ(−Z'')/ΔZ') between neighbouring points
    (ordered high → low frequency) must lie within 45° ± 7°; the window is the longest run
    of at least 3 points that satisfies this, restricted to frequencies below the apex of
    the capacitive arc (the charge-transfer semicircle) and ending where a finite-length
    upturn (θ → 90°) or a bend-over starts.
    """
    f, z = _check_spectrum(frequencies_Hz, Z)
    if f.size < MIN_WINDOW_POINTS:
        return None
    mim = -z.imag
    # Below the arc apex: the first local maximum of −Z'' going down in frequency, after any
    # inductive high-frequency part.
    start = 0
    peaks, _ = find_peaks(mim, prominence=0.05 * max(float(np.ptp(mim)), 1e-300))
    if peaks.size:
        start = int(peaks[0])
    angle = np.degrees(np.arctan2(np.diff(mim), np.diff(z.real)))   # segment k: points k, k+1
    ok = np.abs(angle - phase_target_deg) <= phase_tolerance_deg
    ok[: max(start, 0)] = False
    best: tuple[int, int] | None = None
    k = 0
    while k < ok.size:
        if ok[k]:
            j = k
            while j + 1 < ok.size and ok[j + 1]:
                j += 1
            n_pts = j - k + 2          # segments k..j cover points k..j+1
            if n_pts >= MIN_WINDOW_POINTS and (best is None or n_pts > best[1] - best[0] + 1 or
                                                (n_pts == best[1] - best[0] + 1)):
                best = (k, j + 1)     # ties go to the lower-frequency run (later in order)
            k = j + 1
        else:
            k += 1
    if best is None:
        return None
    return float(f[best[1]]), float(f[best[0]])


@dataclass(frozen=True)
class DiffusionEstimate:
    """D in cm²/s from σ, with the convention it was computed under."""

    D_cm2_s: float
    form: str                 # "nernstian_R2T2" or "ho_raistrick_huggins"
    sigma_Ohm_s_half: float
    area_cm2: float
    n_electrons: float
    temperature_K: float | None = None
    concentration_mol_cm3: float | None = None
    molar_volume_cm3_mol: float | None = None
    dE_dx_V: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _positive(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a number, got {value!r}", field=name) from None
    if not (math.isfinite(v) and v > 0):
        raise ValidationError(f"{name} must be a finite number > 0, got {value!r}", field=name)
    return v


def diffusion_from_sigma(sigma_Ohm_s_half: float, *, area_cm2: float,
                         concentration_mol_cm3: float, n_electrons: float = 1.0,
                         temperature_K: float = T_DEFAULT) -> DiffusionEstimate:
    """D = R²T² / (2 A² n⁴ F⁴ C² σ²) (cm²/s): single mobile species, Nernstian E(c).

    ``concentration_mol_cm3`` is the concentration of the diffusing species in the host
    (mol/cm³), ``area_cm2`` the electrode area the current is referred to; state both.
    """
    s = _positive(sigma_Ohm_s_half, "sigma_Ohm_s_half")
    A = _positive(area_cm2, "area_cm2")
    C = _positive(concentration_mol_cm3, "concentration_mol_cm3")
    n = _positive(n_electrons, "n_electrons")
    T = _positive(temperature_K, "temperature_K")
    D = (GAS_CONSTANT * T) ** 2 / (2.0 * A**2 * n**4 * FARADAY**4 * C**2 * s**2)
    return DiffusionEstimate(D, "nernstian_R2T2", s, A, n, temperature_K=T,
                             concentration_mol_cm3=C)


def sigma_from_diffusion(D_cm2_s: float, *, area_cm2: float, concentration_mol_cm3: float,
                         n_electrons: float = 1.0, temperature_K: float = T_DEFAULT) -> float:
    """σ = RT / (√2 n² F² A C √D) in Ω s^-½ (the inverse of :func:`diffusion_from_sigma`)."""
    D = _positive(D_cm2_s, "D_cm2_s")
    A = _positive(area_cm2, "area_cm2")
    C = _positive(concentration_mol_cm3, "concentration_mol_cm3")
    n = _positive(n_electrons, "n_electrons")
    T = _positive(temperature_K, "temperature_K")
    return GAS_CONSTANT * T / (math.sqrt(2.0) * n**2 * FARADAY**2 * A * C * math.sqrt(D))


def diffusion_from_sigma_hrh(sigma_Ohm_s_half: float, *, area_cm2: float,
                             molar_volume_cm3_mol: float, dE_dx_V: float,
                             n_electrons: float = 1.0) -> DiffusionEstimate:
    """Ho–Raistrick–Huggins form D = (V_M |dE/dx| / (√2 n F A σ))² (cm²/s).

    ``dE_dx_V`` is the slope of the equilibrium (OCV/GITT) curve against x in Na_xHost
    (V per unit x, sign ignored); ``molar_volume_cm3_mol`` the host's molar volume.
    """
    s = _positive(sigma_Ohm_s_half, "sigma_Ohm_s_half")
    A = _positive(area_cm2, "area_cm2")
    Vm = _positive(molar_volume_cm3_mol, "molar_volume_cm3_mol")
    try:
        dEdx = abs(float(dE_dx_V))
    except (TypeError, ValueError):
        raise ValidationError(f"dE_dx_V must be a number, got {dE_dx_V!r}",
                              field="dE_dx_V") from None
    if not (math.isfinite(dEdx) and dEdx > 0):
        raise ValidationError(f"dE_dx_V must be finite and non-zero, got {dE_dx_V!r} (a flat "
                              "two-phase plateau has no diffusion-controlled σ)",
                              field="dE_dx_V")
    n = _positive(n_electrons, "n_electrons")
    D = (Vm * dEdx / (math.sqrt(2.0) * n * FARADAY * A * s)) ** 2
    return DiffusionEstimate(D, "ho_raistrick_huggins", s, A, n, molar_volume_cm3_mol=Vm,
                             dE_dx_V=dEdx)


@dataclass(frozen=True)
class WarburgAnalysis:
    """σ from the diffusion line, both from Z' and from −Z'', plus D where inputs allow.

    ``sigma_real`` = slope of Z' against ω^-½ (the reference value; its intercept estimates
    R_s + R_ct); ``sigma_imag`` = slope of −Z'' against ω^-½. ω is in rad/s.
    """

    window_Hz: tuple[float, float] | None
    window_source: str                       # "auto", "user" or "none"
    real: LineFit | None
    imag: LineFit | None
    disagreement: float | None               # |σ'' − σ'| / σ'
    diffusion: tuple[DiffusionEstimate, ...]
    table: pd.DataFrame                      # points used: f, ω, ω^-½, Z', −Z''
    warnings: tuple[str, ...] = ()

    @property
    def sigma(self) -> float | None:
        return self.real.slope if self.real is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "window_Hz": list(self.window_Hz) if self.window_Hz else None,
            "window_source": self.window_source,
            "sigma_Ohm_s_half": self.sigma,
            "sigma_from_real": self.real.to_dict() if self.real else None,
            "sigma_from_imag": self.imag.to_dict() if self.imag else None,
            "intercept_Ohm": self.real.intercept if self.real else None,
            "disagreement": self.disagreement,
            "disagreement_limit": DISAGREEMENT_LIMIT,
            "regressor": "omega^-1/2 with omega = 2*pi*f in rad/s",
            "diffusion": [d.to_dict() for d in self.diffusion],
            "warnings": list(self.warnings),
        }


def warburg_analysis(frequencies_Hz: Any, Z: Any, *,
                     window_Hz: tuple[float, float] | None = None,
                     area_cm2: float | None = None,
                     concentration_mol_cm3: float | None = None,
                     molar_volume_cm3_mol: float | None = None,
                     dE_dx_V: float | None = None,
                     n_electrons: float = 1.0,
                     temperature_K: float = T_DEFAULT) -> WarburgAnalysis:
    """σ from Z' and −Z'' against ω^-½ over the Warburg window, and D in both forms.

    Frequencies are in Hz (ω = 2πf is computed here). ``window_Hz`` = (fmin, fmax)
    overrides the automatic window. D (R²T² form) needs ``area_cm2`` and
    ``concentration_mol_cm3``; the Ho–Raistrick–Huggins form needs ``area_cm2``,
    ``molar_volume_cm3_mol`` and ``dE_dx_V``.
    """
    f, z = _check_spectrum(frequencies_Hz, Z)
    warnings: list[str] = []
    if angular_frequency_suspect(f):
        warnings.append(
            "the frequencies look like angular frequencies ω = 2πf (their ends are round "
            "numbers after dividing by 2π): this function expects Hz; passing rad/s makes σ "
            "√(2π) too large and D 2π too small")
    if window_Hz is not None:
        lo, hi = sorted(float(v) for v in window_Hz)
        source = "user"
    else:
        auto = warburg_window(f, z)
        if auto is None:
            return WarburgAnalysis(
                None, "none", None, None, None, (),
                pd.DataFrame(columns=["Frequency / Hz", "omega / rad s-1",
                                      "omega^-1/2 / s1/2", "Z Real / Ohm", "-Z Imag / Ohm"]),
                (*warnings, "no Warburg (45° ± 7°) line found in the spectrum; σ and D "
                 "were not computed (pass window_Hz to force a window)"),
            )
        lo, hi = auto
        source = "auto"
    sel = (f >= lo * (1 - 1e-12)) & (f <= hi * (1 + 1e-12))
    if sel.sum() < MIN_WINDOW_POINTS:
        raise ValidationError(
            f"Warburg window {lo:g}-{hi:g} Hz holds {int(sel.sum())} points; at least "
            f"{MIN_WINDOW_POINTS} are needed",
            field="window_Hz",
        )
    fw, zw = f[sel], z[sel]
    omega = 2.0 * np.pi * fw
    x = omega**-0.5
    real = _ols(x, zw.real)
    imag = _ols(x, -zw.imag)
    disagreement = abs(imag.slope - real.slope) / abs(real.slope) if real.slope != 0 else math.inf
    if disagreement > DISAGREEMENT_LIMIT:
        warnings.append(f"σ from Z' ({real.slope:.4g}) and from −Z'' ({imag.slope:.4g}) differ "
                        f"by {disagreement:.0%} (> {DISAGREEMENT_LIMIT:.0%}): the window is not "
                        "a clean semi-infinite diffusion line (finite-length, CPE or porous "
                        "behaviour); treat σ and D with caution")
    if real.slope <= 0:
        warnings.append(f"σ from Z' is {real.slope:.4g} ≤ 0: no diffusion line in the window")
    if real.r_squared < 0.98:
        warnings.append(f"Z' vs ω^-½ is not linear in the window (R² = {real.r_squared:.3f})")
    diffusion: list[DiffusionEstimate] = []
    if real.slope > 0 and area_cm2 is not None:
        if concentration_mol_cm3 is not None:
            diffusion.append(diffusion_from_sigma(real.slope, area_cm2=area_cm2,
                                                  concentration_mol_cm3=concentration_mol_cm3,
                                                  n_electrons=n_electrons,
                                                  temperature_K=temperature_K))
        if molar_volume_cm3_mol is not None and dE_dx_V is not None:
            diffusion.append(diffusion_from_sigma_hrh(real.slope, area_cm2=area_cm2,
                                                      molar_volume_cm3_mol=molar_volume_cm3_mol,
                                                      dE_dx_V=dE_dx_V, n_electrons=n_electrons))
    if diffusion:
        warnings.append("D from σ is an apparent value: it scales as 1/(A·C)² and depends on "
                        "the area and concentration conventions recorded with it")
    table = pd.DataFrame({"Frequency / Hz": fw, "omega / rad s-1": omega,
                          "omega^-1/2 / s1/2": x, "Z Real / Ohm": zw.real,
                          "-Z Imag / Ohm": -zw.imag})
    return WarburgAnalysis((float(fw.min()), float(fw.max())), source, real, imag,
                           float(disagreement), tuple(diffusion), table, tuple(warnings))
