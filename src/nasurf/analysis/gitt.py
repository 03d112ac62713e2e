"""GITT: pulse segmentation and Weppner–Huggins diffusion coefficients (methods.md §5).

This module owns :func:`gitt_analysis`: it cuts a time/potential/current record into
constant-current pulses and rests, reads for each pulse E_rest before and after, E(0+)
(intercept of an early-time E-vs-√t fit), E(τ), E(τ+) and the IR drops, computes
ΔE_s and ΔE_τ and the diffusion coefficient by both Weppner–Huggins forms
(L² form D = 4L²/(πτ)·(ΔE_s/ΔE_τ)² and √t form D = (4/π)·(L·ΔE_s/(τ·s))²), reports the
state of charge at each pulse midpoint, and runs the a-posteriori checks (τD/L² < 0.1,
relaxation |dE/dt| below a limit, R² of E vs √t, two-phase plateau, constant current).

Conventions: SI-derived units (s, V, A, g, cm, cm², cm²/s); anodic current (desodiation
of the anode) positive, cathodic (sodiation) negative; a pulse is labelled by its process.
The diffusion length L is given directly, or from particle radius (sphere: L = r/3), or
as L = m·V_M/(M·S) (= m/(ρ·S)) with S labelled ``geometric``, ``BET`` or ``particle``;
D depends on that choice by orders of magnitude, so the result carries it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from nasurf.constants import FARADAY_C_PER_MOL
from nasurf.errors import ValidationError
from nasurf.io.table import (
    CURRENT,
    FREQUENCY,
    STEP_COUNT,
    STEP_INDEX,
    TIME,
    VOLTAGE,
    EchemData,
)

AreaKind = Literal["geometric", "BET", "particle"]
# 1 mV/h, the default relaxation criterion of methods.md §5
DEFAULT_RELAXATION_LIMIT_V_S = 1e-3 / 3600.0


@dataclass(frozen=True, eq=False)
class GittResult:
    """Per-pulse GITT table, diffusion-length convention, checks and warnings.

    ``pulses`` columns: pulse, process (sodiation/desodiation), start_s, tau_s, current_A,
    charge_C, capacity_mAh (cumulative within the process, at the pulse midpoint),
    capacity_mAh_g, x_change (Na per formula unit since the start of the record, at the
    midpoint), soc (fraction of the process's total titrated charge at the midpoint),
    E_rest_before_V, E_0_V (E(0+)), E_tau_V, E_tau_plus_V, E_rest_after_V, ir_drop_V
    (E(τ) − E(τ+)), ir_drop_start_V (E(0+) − E_rest_before), resistance_ohm and
    resistance_start_ohm (the two drops divided by the current), delta_Es_V,
    delta_Etau_V, sqrt_t_slope_V_s05, sqrt_t_r2, D_L2_cm2_s, D_sqrt_t_cm2_s,
    tau_D_over_L2, dEdt_rest_before_V_s, dEdt_rest_after_V_s, and one boolean column per
    flag (``flag_*``).
    """

    pulses: pd.DataFrame
    diffusion_length_cm: float | None
    length_source: str
    area_cm2: float | None
    area_kind: str | None
    conventions: dict[str, Any]
    warnings: tuple[str, ...]

    @property
    def flag_columns(self) -> list[str]:
        return [c for c in self.pulses.columns if c.startswith("flag_")]

    def summary(self) -> dict[str, Any]:
        p = self.pulses
        out: dict[str, Any] = {"n_pulses": len(p)}
        for proc in ("sodiation", "desodiation"):
            sel = p[p["process"] == proc]
            out[f"n_{proc}_pulses"] = len(sel)
        good = p[~p[self.flag_columns].any(axis=1)] if len(p) else p
        out["n_pulses_without_flags"] = len(good)
        for col in ("D_L2_cm2_s", "D_sqrt_t_cm2_s"):
            vals = p[col].to_numpy(dtype=float)
            vals = vals[np.isfinite(vals) & (vals > 0)]
            out[f"{col}_median"] = float(np.median(vals)) if vals.size else None
            out[f"{col}_min"] = float(vals.min()) if vals.size else None
            out[f"{col}_max"] = float(vals.max()) if vals.size else None
        out["flag_counts"] = {c[5:]: int(p[c].sum()) for c in self.flag_columns}
        return out

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for _, r in self.pulses.iterrows():
            d = {k: r[k] for k in self.pulses.columns if not k.startswith("flag_")}
            d["flags"] = [c[5:] for c in self.flag_columns if bool(r[c])]
            rows.append(d)
        return {
            "pulses": rows,
            "summary": self.summary(),
            "diffusion_length_cm": self.diffusion_length_cm,
            "length_source": self.length_source,
            "area_cm2": self.area_cm2,
            "area_kind": self.area_kind,
            "conventions": self.conventions,
            "warnings": list(self.warnings),
        }

    def to_csv(self, directory: str | Path, prefix: str = "gitt") -> list[Path]:
        from nasurf.outputs import atomic_path

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        p = out / f"{prefix}_pulses.csv"
        with atomic_path(p) as tmp:
            self.pulses.to_csv(tmp, index=False)
        return [p]


def _active_mass(active_mass_g: float | None, mass_g: float | None) -> float | None:
    """``active_mass_g``, or the deprecated ``mass_g`` keyword (one name for one thing
    across nasurf) with a DeprecationWarning."""
    if mass_g is None:
        return active_mass_g
    import warnings

    warnings.warn("mass_g is renamed active_mass_g", DeprecationWarning, stacklevel=3)
    if active_mass_g is not None and active_mass_g != mass_g:
        raise ValidationError(f"active_mass_g={active_mass_g} and mass_g={mass_g} disagree; "
                              "give active_mass_g only", field="active_mass_g")
    return mass_g


def diffusion_length(
    *,
    diffusion_length_cm: float | None = None,
    particle_radius_cm: float | None = None,
    active_mass_g: float | None = None,
    molar_mass_g_mol: float | None = None,
    molar_volume_cm3_mol: float | None = None,
    density_g_cm3: float | None = None,
    area_cm2: float | None = None,
    area_kind: AreaKind = "geometric",
    mass_g: float | None = None,
) -> tuple[float | None, str]:
    """The Weppner–Huggins length L = V/S and a description of where it came from.

    Precedence: ``diffusion_length_cm``; then ``particle_radius_cm`` (spheres, L = r/3);
    then m·V_M/(M·S) or m/(ρ·S) with the area labelled by ``area_kind``. Returns
    ``(None, reason)`` when the inputs do not determine L. ``mass_g`` is the deprecated
    name of ``active_mass_g``.
    """
    mass_g = _active_mass(active_mass_g, mass_g)
    for name, val in (
        ("diffusion_length_cm", diffusion_length_cm),
        ("particle_radius_cm", particle_radius_cm),
        ("active_mass_g", mass_g),
        ("molar_mass_g_mol", molar_mass_g_mol),
        ("molar_volume_cm3_mol", molar_volume_cm3_mol),
        ("density_g_cm3", density_g_cm3),
        ("area_cm2", area_cm2),
    ):
        if val is not None and not (np.isfinite(val) and val > 0):
            raise ValidationError(f"{name} must be a positive number, got {val}", field=name)
    if area_kind not in ("geometric", "BET", "particle"):
        raise ValidationError(
            f"area_kind must be geometric, BET or particle, got {area_kind!r}", field="area_kind"
        )
    if molar_volume_cm3_mol is not None and density_g_cm3 is not None:
        raise ValidationError(
            "give either the molar volume or the density, not both", field="density_g_cm3"
        )
    if diffusion_length_cm is not None:
        return diffusion_length_cm, "given diffusion length"
    if particle_radius_cm is not None:
        return particle_radius_cm / 3.0, "particle radius (sphere, L = r/3)"
    if area_cm2 is not None and mass_g is not None:
        if molar_volume_cm3_mol is not None:
            if molar_mass_g_mol is None:
                raise ValidationError(
                    "L = m·V_M/(M·S) needs the molar mass with the molar volume",
                    field="molar_mass_g_mol",
                )
            volume = mass_g * molar_volume_cm3_mol / molar_mass_g_mol
            return volume / area_cm2, f"m·V_M/(M·S), S = {area_kind} area"
        if density_g_cm3 is not None:
            return mass_g / (density_g_cm3 * area_cm2), f"m/(ρ·S), S = {area_kind} area"
    return None, (
        "diffusion length unknown: give diffusion_length_cm, particle_radius_cm, or mass, "
        "area and molar volume (with molar mass) or density"
    )


def gitt_analysis(
    data: EchemData,
    *,
    active_mass_g: float | None = None,
    molar_mass_g_mol: float | None = None,
    molar_volume_cm3_mol: float | None = None,
    density_g_cm3: float | None = None,
    area_cm2: float | None = None,
    area_kind: AreaKind = "geometric",
    particle_radius_cm: float | None = None,
    diffusion_length_cm: float | None = None,
    threshold_fraction: float = 0.01,
    threshold_A: float | None = None,
    constant_tolerance: float = 0.01,
    relaxation_limit_V_s: float = DEFAULT_RELAXATION_LIMIT_V_S,
    fit_start_s: float = 2.0,
    e0_fit: Literal["sqrt_t_linear", "sqrt_t"] = "sqrt_t_linear",
    max_tau_D_L2: float = 0.1,
    min_sqrt_t_r2: float = 0.99,
    two_phase_ratio: float = 0.05,
    max_delta_Es_V: float = 0.02,
    x_start: float = 0.0,
    mass_g: float | None = None,
) -> GittResult:
    """Weppner–Huggins analysis of every constant-current pulse of a GITT record.

    Segmentation: a sample is under current when |I| exceeds ``threshold_fraction`` of the
    typical pulse current (or ``threshold_A``); consecutive such samples of one sign form a
    candidate pulse, kept as a pulse when at least 90 % of its samples lie within
    ``constant_tolerance`` (±1 %) of its median current (else it is reported as a
    non-constant-current segment, e.g. a CV hold, and only flagged). Impedance rows
    (a finite ``Frequency / Hz``) are ignored.

    For each pulse: E_rest,before is the last rest sample before it, E(0+) the intercept
    of an early-time fit over ``fit_start_s`` ≤ t ≤ min(τ, 0.1·L²/D_guess) (iterated,
    D_guess from the previous pass), E(τ) the last sample under current, E(τ+) the first
    sample after, E_rest,after the last sample of the following rest. The √t-form slope
    s and its R² come from the fit over the whole pulse (t ≥ ``fit_start_s``).

    ``e0_fit="sqrt_t_linear"`` (default) fits E = E0 + s·√t + c·t: the c·t term takes up
    the drift of the equilibrium potential and the curvature of non-planar (particle)
    diffusion, so E(0+) is the true post-ohmic potential for slabs and spheres alike
    (tested against the exact solutions). ``"sqrt_t"`` is the plain E0 + s·√t fit of
    methods.md §5, which biases D low for spheres (0.89 instead of 0.92 at τD/r² = 0.0024).

    ``mass_g`` is the deprecated name of ``active_mass_g``.
    """
    mass_g = _active_mass(active_mass_g, mass_g)
    d = data.data
    src = data.metadata.source
    for col in (TIME, VOLTAGE, CURRENT):
        if col not in d.columns:
            raise ValidationError(
                f"GITT needs the column '{col}'; found {list(d.columns)}", file=src, field=col
            )
    if mass_g is None and data.metadata.active_mass_g:
        mass_g = data.metadata.active_mass_g
    if area_cm2 is None and data.metadata.electrode_area_cm2 and area_kind == "geometric":
        area_cm2 = data.metadata.electrode_area_cm2
    L, length_source = diffusion_length(
        diffusion_length_cm=diffusion_length_cm,
        particle_radius_cm=particle_radius_cm,
        active_mass_g=mass_g,
        molar_mass_g_mol=molar_mass_g_mol,
        molar_volume_cm3_mol=molar_volume_cm3_mol,
        density_g_cm3=density_g_cm3,
        area_cm2=area_cm2,
        area_kind=area_kind,
    )
    t = pd.to_numeric(d[TIME], errors="coerce").to_numpy(dtype=float)
    e = pd.to_numeric(d[VOLTAGE], errors="coerce").to_numpy(dtype=float)
    i = pd.to_numeric(d[CURRENT], errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(t) & np.isfinite(e) & np.isfinite(i)
    warnings: list[str] = []
    if FREQUENCY in d.columns:
        f = pd.to_numeric(d[FREQUENCY], errors="coerce").to_numpy(dtype=float)
        eis = np.isfinite(f) & (f > 0)
        if eis.any():
            warnings.append(f"{int(eis.sum())} impedance rows ignored")
        keep &= ~eis
    dropped = int((~keep).sum())
    t, e, i = t[keep], e[keep], i[keep]
    if t.size < 10:
        raise ValidationError(
            f"a GITT record needs at least 10 valid time/voltage/current rows, got {t.size}",
            file=src,
        )
    if np.any(np.diff(t) < 0):
        row = int(np.argmax(np.diff(t) < 0)) + 1
        raise ValidationError(
            f"time goes backwards at valid row {row}", file=src, field=TIME
        )
    if dropped and FREQUENCY not in d.columns:
        warnings.append(f"{dropped} rows without finite time/voltage/current ignored")
    step_cols = [c for c in ("mode", "Ns changes", "step_type", "State", "MD", STEP_INDEX,
                             STEP_COUNT) if c in d.columns]
    pulses, others, thr = segment_pulses(
        t, i, threshold_fraction=threshold_fraction, threshold_A=threshold_A,
        constant_tolerance=constant_tolerance, voltage=e,
        columns=d.loc[keep, step_cols] if step_cols else None,
    )
    for a, b in others:
        warnings.append(
            f"segment at t = {t[a]:.0f}–{t[b - 1]:.0f} s carries current that is not constant "
            f"within ±{constant_tolerance:.0%}: not treated as a GITT pulse"
        )
    if not pulses:
        raise ValidationError(
            f"no constant-current pulse found (current threshold {thr:.3g} A)", file=src,
            field=CURRENT,
        )
    if L is None:
        warnings.append(f"D not computed: {length_source}")
    # cumulative charge (C) by trapezoid; used for capacity and x
    q = np.concatenate([[0.0], np.cumsum(0.5 * (i[1:] + i[:-1]) * np.diff(t))])
    rows = []
    for k, (a, b) in enumerate(pulses):
        prev_end = pulses[k - 1][1] if k > 0 else 0
        next_start = pulses[k + 1][0] if k + 1 < len(pulses) else t.size
        # rests are the samples between pulses that are below the threshold
        rest_before = np.arange(prev_end, a)
        rest_before = rest_before[np.abs(i[rest_before]) <= thr]
        rest_after = np.arange(b, next_start)
        rest_after = rest_after[np.abs(i[rest_after]) <= thr]
        rows.append(
            _analyse_pulse(
                k + 1, t, e, i, q, a, b, rest_before, rest_after, L,
                fit_start_s=fit_start_s,
                relaxation_limit_V_s=relaxation_limit_V_s,
                max_tau_D_L2=max_tau_D_L2,
                min_sqrt_t_r2=min_sqrt_t_r2,
                two_phase_ratio=two_phase_ratio,
                max_delta_Es_V=max_delta_Es_V,
                constant_tolerance=constant_tolerance,
                e0_fit=e0_fit,
                mass_g=mass_g,
                molar_mass_g_mol=molar_mass_g_mol,
                x_start=x_start,
            )
        )
    table = pd.DataFrame(rows)
    # capacity within each process and SOC as a fraction of that process's titrated charge
    table["capacity_mAh"] = np.nan
    table["soc"] = np.nan
    for proc in ("sodiation", "desodiation"):
        sel = table["process"] == proc
        if not sel.any():
            continue
        charges = table.loc[sel, "charge_C"].abs().to_numpy()
        before = np.concatenate([[0.0], np.cumsum(charges)[:-1]])
        mid = before + charges / 2
        table.loc[sel, "capacity_mAh"] = mid / 3.6
        table.loc[sel, "soc"] = mid / charges.sum()
    table["capacity_mAh_g"] = table["capacity_mAh"] / mass_g if mass_g else np.nan
    flag_cols = [c for c in table.columns if c.startswith("flag_")]
    table = table[[c for c in table.columns if not c.startswith("flag_")] + flag_cols]
    n_flagged = int(table[flag_cols].any(axis=1).sum())
    if n_flagged:
        counts = {c[5:]: int(table[c].sum()) for c in flag_cols if table[c].any()}
        warnings.append(f"{n_flagged} of {len(table)} pulses flagged: {counts}")
    if area_kind != "particle" and L is not None and particle_radius_cm is None and (
        diffusion_length_cm is None
    ):
        warnings.append(
            f"L from the {area_kind} area: D scales as L², and geometric vs particle area "
            "changes D by orders of magnitude; compare D only at the same convention"
        )
    conventions = {
        "current_sign": "anodic positive (desodiation of the anode)",
        "threshold_A": thr,
        "constant_tolerance": constant_tolerance,
        "relaxation_limit_V_s": relaxation_limit_V_s,
        "fit_start_s": fit_start_s,
        "E0_definition": ("intercept of E = E0 + s sqrt(t) + c t" if e0_fit == "sqrt_t_linear"
                          else "intercept of E = E0 + s sqrt(t)")
        + " over fit_start_s <= t <= min(tau, 0.1 L^2/D_guess)",
        "sqrt_t_form_fit": "E vs sqrt(t) over the whole pulse (t >= fit_start_s)",
        "D_L2": "4 L^2/(pi tau) (dEs/dEtau)^2",
        "D_sqrt_t": "(4/pi) (L dEs/(tau s))^2",
        "delta_Es": "|E_rest_after - E_rest_before|",
        "delta_Etau": "|E(tau) - E(0+)|",
        "ir_drop": "E(tau) - E(tau+)",
        "soc": "fraction of the process's total titrated charge at the pulse midpoint",
        "x_change": "Na per formula unit inserted since the record start (sodiation > 0)",
        "units": {"D": "cm2/s", "L": "cm", "time": "s", "potential": "V", "current": "A"},
    }
    return GittResult(
        table,
        L,
        length_source,
        area_cm2,
        area_kind if area_cm2 is not None or particle_radius_cm is not None else None,
        conventions,
        tuple(dict.fromkeys(warnings)),
    )


def segment_pulses(
    t: np.ndarray,
    i: np.ndarray,
    *,
    threshold_fraction: float = 0.01,
    threshold_A: float | None = None,
    constant_tolerance: float = 0.01,
    voltage: np.ndarray | None = None,
    columns: pd.DataFrame | None = None,
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], float]:
    """Index ranges [a, b) of constant-current pulses, of other current segments, and
    the current threshold used.

    The segments are the current-carrying steps of :func:`nasurf.io.steps.find_steps`
    (the instrument's step columns in ``columns``, row-aligned with ``t``, where given;
    else the sign of the current above the threshold); a step is a pulse when at least
    90 % of its rows lie within ``constant_tolerance`` of its median current.
    """
    from nasurf.io.steps import ACTIVE_KINDS, find_steps

    absi = np.abs(i)
    if threshold_A is None:
        if not np.any(absi > 0):
            return [], [], 0.0
        # the typical pulse current: the median |I| of the samples above 10 % of the
        # 99.9th percentile. Robust to a few spikes, to long densely sampled rests (even
        # when the instrument logs noise there instead of 0 A) and to short pulses.
        top = float(np.percentile(absi, 99.9))
        ref = float(np.median(absi[absi > 0.1 * top]))
        thr = threshold_fraction * ref
    else:
        thr = float(threshold_A)
    frame = pd.DataFrame({TIME: np.asarray(t, float), CURRENT: np.asarray(i, float),
                          VOLTAGE: (np.zeros(i.size) if voltage is None
                                    else np.asarray(voltage, float))})
    if columns is not None:
        for c in columns.columns:
            if c not in frame.columns:
                frame[c] = columns[c].to_numpy()
    steps = find_steps(frame, threshold_A=thr)
    tab = steps.columns
    pulses, others = [], []
    for a, last, kind in zip(tab["first_row"], tab["last_row"], tab["kind"], strict=True):
        b = last + 1
        if kind not in ACTIVE_KINDS or b - a < 3 or not np.any(absi[a:b] > thr):
            continue
        seg = i[a:b]
        med = float(np.median(seg))
        within = np.abs(seg - med) <= constant_tolerance * abs(med)
        if within.mean() >= 0.9:
            pulses.append((int(a), int(b)))
        else:
            others.append((int(a), int(b)))
    return pulses, others, thr


def _fit_sqrt_t(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """slope, intercept, R² of y = intercept + slope·x."""
    if x.size < 3:
        return math.nan, math.nan, math.nan
    s, c = np.polyfit(x, y, 1)
    res = y - (c + s * x)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1 - float(res @ res) / ss_tot if ss_tot > 0 else math.nan
    return float(s), float(c), r2


def _fit_e0(x_t: np.ndarray, y: np.ndarray, mode: str) -> float:
    """Intercept E(0+) of E = E0 + s·√t (+ c·t) over the early-time window."""
    if mode == "sqrt_t":
        return _fit_sqrt_t(np.sqrt(x_t), y)[1]
    if x_t.size < 4:
        return math.nan
    A = np.column_stack([np.ones_like(x_t), np.sqrt(x_t), x_t])
    return float(np.linalg.lstsq(A, y, rcond=None)[0][0])


def _rest_slope(t: np.ndarray, e: np.ndarray, idx: np.ndarray) -> float:
    """|dE/dt| at the end of a rest: slope over its last 10 % (at least 3 samples)."""
    if idx.size < 3:
        return math.nan
    n = max(3, idx.size // 10)
    sel = idx[-n:]
    if np.ptp(t[sel]) <= 0:
        return math.nan
    return abs(float(np.polyfit(t[sel] - t[sel][0], e[sel], 1)[0]))


def _analyse_pulse(
    number: int,
    t: np.ndarray,
    e: np.ndarray,
    i: np.ndarray,
    q: np.ndarray,
    a: int,
    b: int,
    rest_before: np.ndarray,
    rest_after: np.ndarray,
    L: float | None,
    *,
    fit_start_s: float,
    relaxation_limit_V_s: float,
    max_tau_D_L2: float,
    min_sqrt_t_r2: float,
    two_phase_ratio: float,
    max_delta_Es_V: float,
    constant_tolerance: float,
    e0_fit: str,
    mass_g: float | None,
    molar_mass_g_mol: float | None,
    x_start: float,
) -> dict[str, Any]:
    current = float(np.median(i[a:b]))
    # pulse start: if the instrument kept sampling at the pulse's rate across the switch,
    # the current came on just after the last rest sample; otherwise (a sample logged at
    # the step change) the first sample under current marks it
    dt_pulse = float(np.median(np.diff(t[a:min(b, a + 6)]))) if b - a > 1 else 0.0
    if rest_before.size and rest_before[-1] == a - 1 and t[a] - t[a - 1] <= 1.5 * dt_pulse:
        t0 = float(t[a - 1])
    else:
        t0 = float(t[a])
    tau = float(t[b - 1] - t0)
    tp = t[a:b] - t0
    ep = e[a:b]
    e_before = float(e[rest_before[-1]]) if rest_before.size else math.nan
    e_after = float(e[rest_after[-1]]) if rest_after.size else math.nan
    e_tau = float(ep[-1])
    e_tau_plus = float(e[b]) if b < e.size and rest_after.size and rest_after[0] == b else math.nan
    fit_sel = tp >= fit_start_s
    few = int(fit_sel.sum()) < 3
    if few:
        fit_sel = tp > 0
    s_all, c_all, r2_all = _fit_sqrt_t(np.sqrt(tp[fit_sel]), ep[fit_sel])
    delta_es = abs(e_after - e_before)
    # E(0+): intercept of an early-time √t fit; the window is limited to 0.1·L²/D with D
    # from the previous pass (semi-infinite behaviour only holds at short times)
    e0 = _fit_e0(tp[fit_sel], ep[fit_sel], e0_fit)
    if not np.isfinite(e0):
        e0 = c_all
    window = tau
    if L is not None and np.isfinite(e0) and np.isfinite(delta_es):
        for _ in range(4):
            d_guess = _d_l2(L, tau, delta_es, abs(e_tau - e0))
            if not (np.isfinite(d_guess) and d_guess > 0):
                break
            new_window = min(tau, 0.1 * L**2 / d_guess)
            sel = fit_sel & (tp <= new_window)
            if sel.sum() < 4:
                break
            c_new = _fit_e0(tp[sel], ep[sel], e0_fit)
            converged = math.isclose(new_window, window, rel_tol=1e-3)
            e0, window = c_new, new_window
            if converged:
                break
    delta_etau = abs(e_tau - e0)
    D_l2 = _d_l2(L, tau, delta_es, delta_etau) if L is not None else math.nan
    D_sqrt = (
        (4 / math.pi) * (L * delta_es / (tau * abs(s_all))) ** 2
        if L is not None and np.isfinite(s_all) and s_all != 0
        else math.nan
    )
    tdl = tau * D_l2 / L**2 if L is not None and np.isfinite(D_l2) else math.nan
    slope_before = _rest_slope(t, e, rest_before)
    slope_after = _rest_slope(t, e, rest_after)
    # I·τ, not the trapezoid of the samples: the switch happens between samples
    charge = current * tau
    q_mid = float(q[a - 1 if a > 0 else 0]) + charge / 2
    x_change = (
        x_start - q_mid * molar_mass_g_mol / (FARADAY_C_PER_MOL * mass_g)
        if mass_g and molar_mass_g_mol
        else math.nan
    )
    seg = i[a:b]
    not_constant = bool(np.mean(np.abs(seg - current) <= constant_tolerance * abs(current)) < 1)
    return {
        "pulse": number,
        "process": "desodiation" if current > 0 else "sodiation",
        "start_s": t0,
        "tau_s": tau,
        "current_A": current,
        "charge_C": charge,
        "x_change": x_change,
        "E_rest_before_V": e_before,
        "E_0_V": e0,
        "E_tau_V": e_tau,
        "E_tau_plus_V": e_tau_plus,
        "E_rest_after_V": e_after,
        "ir_drop_V": e_tau - e_tau_plus,
        "ir_drop_start_V": e0 - e_before,
        "resistance_ohm": (e_tau - e_tau_plus) / current,
        "resistance_start_ohm": (e0 - e_before) / current,
        "delta_Es_V": delta_es,
        "delta_Etau_V": delta_etau,
        "sqrt_t_slope_V_s05": s_all,
        "sqrt_t_r2": r2_all,
        "E0_fit_window_s": window,
        "D_L2_cm2_s": D_l2,
        "D_sqrt_t_cm2_s": D_sqrt,
        "tau_D_over_L2": tdl,
        "dEdt_rest_before_V_s": slope_before,
        "dEdt_rest_after_V_s": slope_after,
        "flag_tau_D_L2_above_limit": bool(np.isfinite(tdl) and tdl > max_tau_D_L2),
        "flag_unrelaxed_before": bool(not np.isfinite(slope_before)
                                      or slope_before > relaxation_limit_V_s),
        "flag_unrelaxed_after": bool(not np.isfinite(slope_after)
                                     or slope_after > relaxation_limit_V_s),
        "flag_sqrt_t_r2_low": bool(not np.isfinite(r2_all) or r2_all < min_sqrt_t_r2),
        "flag_two_phase_plateau": bool(np.isfinite(delta_es) and np.isfinite(delta_etau)
                                       and delta_es < two_phase_ratio * delta_etau),
        "flag_large_delta_Es": bool(np.isfinite(delta_es) and delta_es > max_delta_Es_V),
        "flag_current_not_constant": not_constant,
        "flag_no_rest_before": not rest_before.size,
        "flag_no_rest_after": not rest_after.size,
        "flag_few_points": few,
    }


def _d_l2(L: float | None, tau: float, des: float, detau: float) -> float:
    if L is None or not (np.isfinite(des) and np.isfinite(detau)) or detau <= 0 or tau <= 0:
        return math.nan
    return 4 * L**2 / (math.pi * tau) * (des / detau) ** 2


# --------------------------------------------------------------------------- workflow
@dataclass(frozen=True)
class GittFile:
    """One file's GITT analysis: the table read and the result (``nasurf analyze gitt``)."""

    path: Path
    data: EchemData
    result: GittResult

    def to_dict(self) -> dict[str, Any]:
        doc = self.result.to_dict()
        doc["file"] = str(self.path)
        return doc


def gitt_file(path: str | Path, *, active_mass_g: float | None = None,
              data: EchemData | None = None, **kwargs: Any) -> GittFile:
    """Read ``path`` (:func:`nasurf.io.read`) and run :func:`gitt_analysis` on it with
    ``kwargs`` (SI-style units as there: g, cm, cm², g/mol).

    ``data``: ``path`` already read with ``active_mass_g`` (the web workbench's kept
    table); it is used as is, not read again."""
    from nasurf.errors import NasurfError
    from nasurf.io import read

    path = Path(path)
    if data is None:
        if not path.is_file():
            raise NasurfError("no such file", file=str(path))
        data = read(path, active_mass_g=active_mass_g)
    return GittFile(path, data, gitt_analysis(data, active_mass_g=active_mass_g, **kwargs))


def write_gitt_outputs(gf: GittFile, out: Path) -> list[Path]:
    """The per-pulse CSV, ``gitt.json`` and the figures (D against state of charge, the
    first usable pulse) into ``out``; returns the files written."""
    from nasurf.analysis import plots_kinetics as pk
    from nasurf.jsonio import write_json

    res = gf.result
    written = res.to_csv(out)
    written.append(pk.save_figure(pk.plot_gitt_diffusivity(res), out / "gitt_D_vs_soc.png"))
    usable = res.pulses[~res.pulses["flag_no_rest_after"]]
    first = int(usable["pulse"].iloc[0]) if len(usable) else 1
    written.append(pk.save_figure(pk.plot_gitt_pulse(gf.data, res, first),
                                  out / f"gitt_pulse_{first}.png"))
    written.append(write_json(out / "gitt.json", gf.to_dict(), indent=2))
    return written
