"""Publication-style figures of the CV-kinetics and GITT results.

Owns the plots of :mod:`nasurf.analysis.kinetics` and :mod:`nasurf.analysis.gitt` results: CV
with the shaded capacitive (k1·v) envelope, capacitive-fraction bars against scan rate,
log|ip| against log v with the power-law fits, b(E), the two Trasatti plots, GITT D
against state of charge, and the detail of one GITT pulse. Every function returns a
matplotlib ``Figure`` at journal width in the :mod:`nasurf.figures.style` paper style
(object-oriented API: no pyplot, no backend switch); :func:`save_figure` writes it through
:func:`nasurf.figures.style.write_figure`. Axes are labelled with units; anodic current is
plotted positive (methods.md §0).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nasurf.figures.style import (
    FLAG_MARKER,
    LINESTYLES,
    MARKERS,
    PALETTE,
    new_figure,
    styled,
    write_figure,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from nasurf.analysis.gitt import GittResult
    from nasurf.analysis.kinetics import (
        CV,
        BValueMap,
        CycleSummary,
        DunnResult,
        PeakKinetics,
        TrasattiResult,
    )
    from nasurf.io.table import EchemData

# Okabe-Ito: vermilion for anodic, blue for cathodic (as in the study figures' palette)
_BRANCH_COLOURS = {"anodic": PALETTE[1], "cathodic": PALETTE[0]}
_CAPACITIVE = PALETTE[4]            # orange fill of the k1·v share
_DIFFUSIVE = "0.45"


def _style(ax) -> None:
    """Kept for callers: the paper style already sets ticks and spines."""


def save_figure(fig: Figure, path: str | Path, dpi: int | None = None) -> Path:
    """Write a figure (format from the suffix; PNG at 600 dpi unless ``dpi``)."""
    return write_figure(fig, path, dpi=dpi)


@styled
def plot_cv_capacitive_envelope(dunn: DunnResult, scan_rate_V_s: float | None = None) -> Figure:
    """Measured CV at one rate with the capacitive current k1·v shaded (both branches)."""
    env = dunn.envelopes
    rates = np.unique(env["scan_rate_V_s"])
    v = rates[len(rates) // 2] if scan_rate_V_s is None else scan_rate_V_s
    v = rates[np.argmin(np.abs(rates - v))]
    per_g = dunn.mass_g is not None
    scale, unit = (1.0, "A g$^{-1}$") if per_g else (1e3, "mA")
    fig, ax = new_figure("single", aspect=0.75)
    for b in ("anodic", "cathodic"):
        sel = env[(env["branch"] == b) & np.isclose(env["scan_rate_V_s"], v)]
        if sel.empty:
            continue
        # ~500 points per branch are plenty for a figure and keep SVG output small
        step = max(1, len(sel) // 500)
        e = sel["potential_V"].to_numpy()[::step]
        i = sel["current"].to_numpy()[::step] * scale
        cap = sel["capacitive_current"].to_numpy()[::step] * scale
        ax.plot(e, i, color="k", lw=1.0, label="measured" if b == "anodic" else None)
        ax.fill_between(e, 0, cap, color=_CAPACITIVE, alpha=0.6, lw=0,
                        label="capacitive (k$_1$v)" if b == "anodic" else None)
    frac = dunn.fractions.loc[np.isclose(dunn.fractions["scan_rate_V_s"], v),
                              "capacitive_fraction"]
    ax.set_xlabel("Potential (V)")
    ax.set_ylabel(f"Current ({unit})")
    title = f"{v * 1e3:g} mV s$^{{-1}}$"
    if len(frac):
        title += f": {float(frac.iloc[0]):.0%} capacitive"
    ax.set_title(title)
    ax.axhline(0, color="0.6", lw=0.5)
    ax.legend()
    _style(ax)
    return fig


@styled
def plot_cv_cycles(cv: CV, summary: CycleSummary,
                   more: Sequence[tuple[CV, CycleSummary]] = ()) -> Figure:
    """The complete cycles of a single-rate CV, with each cycle's peaks marked.

    ``more`` adds further runs at the same rate (separate measurements of one file); the
    legend then names run and cycle.
    """
    from nasurf.analysis.kinetics import branch_of_cycle

    runs = [(cv, summary), *more]
    peak = max(float(np.abs(c.current_A).max()) for c, _ in runs)
    scale, unit = _current_scale(peak)
    fig, ax = new_figure("single", aspect=0.8)
    n = sum(len(s.table) for _, s in runs)
    cmap = _cycle_colours(n)
    k = 0
    for r, (c, s) in enumerate(runs, start=1):
        for _, row in s.table.iterrows():
            colour = cmap[k]
            # line style cycles too: identical cycles overlap, and a dashed line over a
            # solid one still shows both
            dash = LINESTYLES[k % len(LINESTYLES)]
            k += 1
            name = f"cycle {int(row['cycle'])}" if len(runs) == 1 else \
                f"run {r}, cycle {int(row['cycle'])}"
            for b in ("anodic", "cathodic"):
                e, i = branch_of_cycle(c, int(row["cycle"]), b)
                ax.plot(e, i * scale, color=colour, lw=0.9, ls=dash,
                        label=name if b == "anodic" else None)
                # hollow marker: the extreme sits at the vertex zone's edge, no real peak
                edge = bool(row.get(f"{b}_peak_at_edge", False))
                ax.plot(row[f"{b}_peak_potential_V"], row[f"{b}_peak_current_A"] * scale,
                        marker="^" if b == "anodic" else "v", color=colour, ms=4,
                        ls="none", mfc="none" if edge else colour)
    ax.axhline(0, color="0.6", lw=0.5)
    ax.set_xlabel("Potential (V)")
    ax.set_ylabel(f"Current ({unit}), anodic > 0")
    what = f"{n} cycle(s)" if len(runs) == 1 else f"{len(runs)} runs, {n} cycle(s)"
    ax.set_title(f"{cv.scan_rate_mV_s:.4g} mV s$^{{-1}}$, {what}; one rate: no b-value")
    ax.legend(ncol=2 if n > 4 else 1)
    _style(ax)
    return fig


def _cycle_colours(n: int) -> list[Any]:
    """n distinguishable colours: the Okabe-Ito palette up to 8, else viridis (which stays
    ordered for colour-blind readers and in greyscale)."""
    if n <= len(PALETTE):
        return list(PALETTE[:n])
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(k / (n - 1)) for k in range(n)]


def _current_scale(peak_A: float) -> tuple[float, str]:
    """A readable current unit for a figure (A, mA, µA or nA)."""
    for scale, unit in ((1.0, "A"), (1e3, "mA"), (1e6, "µA"), (1e9, "nA")):
        if peak_A * scale >= 1.0:
            return scale, unit
    return 1e9, "nA"


@styled
def plot_capacitive_fraction_bars(dunn: DunnResult) -> Figure:
    """Stacked bars of capacitive and diffusion-controlled shares at each scan rate."""
    fr = dunn.fractions
    v = fr["scan_rate_V_s"].to_numpy() * 1e3
    f = fr["capacitive_fraction"].to_numpy()
    fig, ax = new_figure("single", aspect=0.72)
    x = np.arange(v.size)
    ax.bar(x, f * 100, color=_CAPACITIVE, label="capacitive")
    ax.bar(x, (1 - f) * 100, bottom=f * 100, color=_DIFFUSIVE, label="diffusion-controlled")
    for xi, fi in zip(x, f, strict=True):
        ax.text(xi, fi * 100 / 2, f"{fi:.0%}", ha="center", va="center")
    ax.set_xticks(x, [f"{vi:g}" for vi in v])
    ax.set_xlabel("Scan rate (mV s$^{-1}$)")
    ax.set_ylabel("Contribution (%)")
    ax.set_ylim(0, 100)
    # the bars fill the axes to 100 %: the legend goes above them, never over a bar
    fig.legend(loc="outside upper center", ncols=2)
    ax.tick_params(axis="x", top=False)     # categories: no ticks on the top spine
    _style(ax)
    return fig


@styled
def plot_log_peak_current(kin: PeakKinetics) -> Figure:
    """log10|ip| against log10 v for every tracked peak, with the fitted lines."""
    fig, ax = new_figure("single", aspect=0.78)
    markers = "osD^v<>p"
    for k, (_, f) in enumerate(kin.fits.iterrows()):
        rows = kin.peaks[kin.peaks["peak_id"] == f["peak_id"]]
        lv = np.log10(rows["scan_rate_V_s"].to_numpy() * 1e3)
        li = np.log10(np.abs(rows["height_A"].to_numpy()))
        c = _BRANCH_COLOURS.get(f["branch"], "k")
        label = f"{f['peak_id']} ({f['branch']}) b = {f['b']:.2f}"
        # the k-th peak gets its own marker size and dash: symmetric anodic and cathodic
        # peaks fall on one line, and both must stay visible
        dash = LINESTYLES[k % len(LINESTYLES)]
        ms = 5.0 if k % 2 == 0 else 3.0
        if np.isfinite(f["b"]):
            # the fit is in V/s; shift the intercept to mV/s for the plot (b unchanged)
            xx = np.linspace(lv.min(), lv.max(), 20)
            ax.plot(xx, f["log10_a"] + f["b"] * (xx - 3), color=c, lw=0.9, ls=dash)
        ax.plot(lv, li, marker=markers[k % len(markers)], color=c, mfc="none", ms=ms,
                ls="none", label=label)
    ax.set_xlabel("log$_{10}$(v / mV s$^{-1}$)")
    ax.set_ylabel("log$_{10}$(|i$_p$| / A)")
    if len(kin.fits):
        ax.legend()
    else:
        # empty axes would read as a failed plot; say why there is nothing to draw
        ax.text(0.5, 0.5, "no peak tracked across enough scan rates:\nno b-value "
                "(see the warnings)", transform=ax.transAxes,
                ha="center", va="center", fontsize="small", color="0.3")
    _style(ax)
    return fig


@styled
def plot_b_map(bmap: BValueMap) -> Figure:
    """b against potential per branch (masked points omitted)."""
    fig, ax = new_figure("single", aspect=0.7)
    t = bmap.table
    for b in ("anodic", "cathodic"):
        sel = t[(t["branch"] == b) & ~t["masked"]]
        ax.plot(sel["potential_V"], sel["b"], ".", ms=1.5, color=_BRANCH_COLOURS[b], label=b)
    for y in (0.5, 1.0):
        ax.axhline(y, color="0.6", lw=0.6, ls="--")
    ax.set_xlabel("Potential (V)")
    ax.set_ylabel("b (i = a·v$^b$)")
    ax.legend(markerscale=4)
    _style(ax)
    return fig


@styled
def plot_trasatti(tr: TrasattiResult) -> Figure:
    """q* vs v^-½ (high-rate fit → q_outer) and 1/q* vs v^½ (low-rate fit → q_total)."""
    t = tr.table
    fig, (a1, a2) = new_figure("double", aspect=0.36, ncols=2)
    x1 = t["v_pow_minus_half"].to_numpy()
    hi = t[t["used_high_rate_fit"]]
    _fit_points(a1, x1, t["q"].to_numpy(), t["used_high_rate_fit"].to_numpy(bool))
    slope1 = np.polyfit(hi["v_pow_minus_half"], hi["q"], 1)[0]
    xx = np.linspace(0, x1.max(), 20)
    a1.plot(xx, tr.q_outer + slope1 * xx, color=_BRANCH_COLOURS["anodic"], lw=1)
    a1.set_xlabel("v$^{-1/2}$ ((V s$^{-1}$)$^{-1/2}$)")
    a1.set_ylabel(f"q* ({tr.charge_unit})")
    a1.set_title(f"q$_{{outer}}$ = {tr.q_outer:.4g} {tr.charge_unit}")
    x2 = t["v_pow_half"].to_numpy()
    lo = t[t["used_low_rate_fit"]]
    _fit_points(a2, x2, t["inverse_q"].to_numpy(), t["used_low_rate_fit"].to_numpy(bool))
    slope2 = np.polyfit(lo["v_pow_half"], lo["inverse_q"], 1)[0]
    xx = np.linspace(0, x2.max(), 20)
    a2.plot(xx, 1 / tr.q_total + slope2 * xx, color=_BRANCH_COLOURS["cathodic"], lw=1)
    a2.set_xlabel("v$^{1/2}$ ((V s$^{-1}$)$^{1/2}$)")
    a2.set_ylabel(f"1/q* ({tr.charge_unit}$^{{-1}}$)")
    a2.set_title(f"q$_{{total}}$ = {tr.q_total:.4g} {tr.charge_unit}")
    for a in (a1, a2):
        _style(a)
        a.legend(loc="upper left")
    return fig


def _fit_points(ax: Any, x: np.ndarray, y: np.ndarray, used: np.ndarray) -> None:
    """Points used by a fit filled, the others hollow: the line extends past the subset."""
    ax.plot(x[used], y[used], "o", color="k", ms=3.5, label="used in the fit")
    if (~used).any():
        ax.plot(x[~used], y[~used], "o", color="k", mfc="none", ms=3.5, label="not used")


def _keep_a_decade(ax: Any, values: np.ndarray) -> None:
    """Show at least one decade on a log axis.

    D values that agree to a few per cent would otherwise get an axis a few per cent tall,
    whose tick labels all read the same power of ten.
    """
    v = values[np.isfinite(values) & (values > 0)]
    if v.size == 0:
        return
    lo, hi = float(v.min()), float(v.max())
    if hi / lo < 10:
        centre = np.sqrt(lo * hi)
        ax.set_ylim(centre / np.sqrt(10), centre * np.sqrt(10))


@styled
def plot_gitt_diffusivity(res: GittResult) -> Figure:
    """D (both Weppner–Huggins forms) against SOC; flagged pulses drawn and marked ×."""
    p = res.pulses
    fig, ax = new_figure("single", aspect=0.75)
    flagged = p[res.flag_columns].any(axis=1).to_numpy() if len(p) else np.zeros(0, bool)
    # filled small circles over open larger squares: the two forms often agree, and the
    # circle must not hide the square (nor the reverse)
    forms = (("D_sqrt_t_cm2_s", "s", "√t form", {"mfc": "none", "ms": 5.0}),
             ("D_L2_cm2_s", "o", "L² form", {"ms": 2.8}))
    for col, marker, label, look in forms:
        for proc, colour in (("sodiation", _BRANCH_COLOURS["cathodic"]),
                             ("desodiation", _BRANCH_COLOURS["anodic"])):
            sel = (p["process"] == proc).to_numpy()
            ax.semilogy(p.loc[sel, "soc"], p.loc[sel, col], marker, color=colour, ls="none",
                        label=f"{proc}, {label}" if sel.any() else None, **look)
    if flagged.any():
        for col in ("D_L2_cm2_s", "D_sqrt_t_cm2_s"):
            ax.semilogy(p.loc[flagged, "soc"], p.loc[flagged, col], FLAG_MARKER, color="k",
                        ms=6, ls="none", label="flagged pulse" if col == "D_L2_cm2_s" else None)
    _keep_a_decade(ax, p[["D_L2_cm2_s", "D_sqrt_t_cm2_s"]].to_numpy())
    ax.set_xlabel("State of charge of the titration (fraction)")
    ax.set_ylabel("D (cm$^2$ s$^{-1}$)")
    ax.set_title(f"L = {res.diffusion_length_cm * 1e4:.3g} µm ({res.length_source})"
                 if res.diffusion_length_cm else "D not computed (no L)")
    ax.legend()
    _style(ax)
    return fig


@styled
def plot_gitt_pulse(data: EchemData, res: GittResult, pulse: int = 1) -> Figure:
    """E(t) around one pulse with E_rest, E(0+), E(τ), E(τ+) and ΔE_s, ΔE_τ marked."""
    from nasurf.io.table import TIME, VOLTAGE

    row = res.pulses[res.pulses["pulse"] == pulse].iloc[0]
    t = data.data[TIME].to_numpy(dtype=float)
    e = data.data[VOLTAGE].to_numpy(dtype=float)
    t0, tau = row["start_s"], row["tau_s"]
    sel = (t >= t0 - 0.2 * tau) & (t <= t0 + 3 * tau)
    fig, ax = new_figure("single", aspect=0.75)
    ax.plot((t[sel] - t0) / 60, e[sel], color="k", lw=1)
    marks = {
        "E$_{rest}$ before": (0, row["E_rest_before_V"]),
        "E(0+)": (0, row["E_0_V"]),
        "E(τ)": (tau / 60, row["E_tau_V"]),
        # E(τ+) is the first sample after the switch-off, drawn at its own time
        "E(τ+)": (float(t[np.argmax(t > t0 + tau)] - t0) / 60 if np.any(t > t0 + tau)
                  else tau / 60, row["E_tau_plus_V"]),
    }
    for k, (name, (x, y)) in enumerate(marks.items()):
        ax.plot(x, y, MARKERS[k], color=PALETTE[k], label=name)   # shape too, not colour only
    ax.axhline(row["E_rest_after_V"], color="0.5", ls="--", lw=0.8, label="E$_{rest}$ after")
    ax.set_xlabel("Time from pulse start (min)")
    ax.set_ylabel("Potential (V)")
    ax.set_title(f"Pulse {pulse}: ΔE$_s$ = {row['delta_Es_V'] * 1e3:.2f} mV, "
                 f"ΔE$_τ$ = {row['delta_Etau_V'] * 1e3:.2f} mV")
    ax.legend()
    _style(ax)
    return fig
