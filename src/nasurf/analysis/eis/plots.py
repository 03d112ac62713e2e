"""Publication-style figures for EIS: Nyquist (equal aspect) and Bode (|Z| and phase)
with the fitted model overlaid, lin-KK residuals, and the Warburg σ plot (Z' and −Z''
against ω^-½). Every function returns a matplotlib Figure at journal width in the
:mod:`nasurf.figures.style` paper style (object-oriented API: no pyplot, no backend switch)
and optionally saves it through :func:`nasurf.figures.style.write_figure`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from nasurf.analysis.eis.fit import EISFit
from nasurf.analysis.eis.linkk import LinKKResult
from nasurf.analysis.eis.warburg import WarburgAnalysis
from nasurf.figures.style import PALETTE, new_figure, styled, write_figure

__all__ = ["plot_bode", "plot_linkk", "plot_nyquist", "plot_sigma"]

_DATA = {"ls": "none", "marker": "o", "ms": 3, "mfc": "none", "mew": 0.7, "color": PALETTE[0],
         "label": "data"}
_FIT = {"color": PALETTE[1], "lw": 1.0, "label": "fit"}


def _smooth_curve(fit: EISFit, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    f = np.logspace(np.log10(fit.frequencies_Hz.min()), np.log10(fit.frequencies_Hz.max()), n)
    return f, fit.predict(f)


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        write_figure(fig, path)
    return fig


@styled
def plot_nyquist(fit: EISFit | None = None, *, frequencies_Hz: np.ndarray | None = None,
                 Z: np.ndarray | None = None, title: str | None = None,
                 path: str | Path | None = None) -> Figure:
    """Nyquist plot (−Z'' against Z', equal axes) of the data, with the fit if given."""
    if fit is not None:
        Z = fit.Z
    if Z is None:
        raise ValueError("plot_nyquist needs a fit or Z")
    fig, ax = new_figure("single", aspect=0.85)
    ax.plot(Z.real, -Z.imag, **_DATA)
    if fit is not None:
        _, Zf = _smooth_curve(fit)
        ax.plot(Zf.real, -Zf.imag, **_FIT)
    ax.set_xlabel("Z' / Ω")
    ax.set_ylabel("−Z'' / Ω")
    ax.set_aspect("equal", adjustable="datalim")
    ax.axhline(0, color="0.7", lw=0.6)
    ax.legend()
    if title:
        ax.set_title(title)
    return _save(fig, path)


@styled
def plot_bode(fit: EISFit | None = None, *, frequencies_Hz: np.ndarray | None = None,
              Z: np.ndarray | None = None, title: str | None = None,
              path: str | Path | None = None) -> Figure:
    """Bode plot: |Z| (log-log) and phase −φ against frequency, with the fit if given."""
    if fit is not None:
        frequencies_Hz, Z = fit.frequencies_Hz, fit.Z
    if Z is None or frequencies_Hz is None:
        raise ValueError("plot_bode needs a fit or frequencies_Hz and Z")
    fig, (ax1, ax2) = new_figure("single", aspect=1.0, nrows=2, sharex=True)
    ax1.loglog(frequencies_Hz, np.abs(Z), **_DATA)
    ax2.semilogx(frequencies_Hz, -np.degrees(np.angle(Z)), **_DATA)
    if fit is not None:
        ff, Zf = _smooth_curve(fit)
        ax1.loglog(ff, np.abs(Zf), **_FIT)
        ax2.semilogx(ff, -np.degrees(np.angle(Zf)), **_FIT)
    ax1.set_ylabel("|Z| / Ω")
    ax2.set_ylabel("−Phase / °")
    ax2.set_xlabel("Frequency / Hz")
    fig.align_ylabels([ax1, ax2])
    ax1.legend()
    if title:
        ax1.set_title(title)
    return _save(fig, path)


@styled
def plot_linkk(result: LinKKResult, *, path: str | Path | None = None) -> Figure:
    """Lin-KK relative residuals (%) against frequency, with the ±1 % validity band."""
    fig, ax = new_figure("single", aspect=0.62)
    f = result.frequencies_Hz
    ax.semilogx(f, 100 * result.residuals_real, "o-", ms=2, lw=0.6, color=PALETTE[0],
                label="Δ real")
    ax.semilogx(f, 100 * result.residuals_imag, "s--", ms=2, lw=0.6, color=PALETTE[1],
                label="Δ imag")
    ax.axhspan(-1, 1, color="0.9", zorder=0, label="±1 %")
    ax.set_xlabel("Frequency / Hz")
    ax.set_ylabel("Residual / % of |Z|")
    ax.set_title(f"lin-KK: M = {result.n_rc}, μ = {result.mu:.2f}, {result.verdict}")
    # above the axes: residuals fill the whole frequency range
    fig.legend(loc="outside upper center", ncols=3)
    return _save(fig, path)


@styled
def plot_sigma(analysis: WarburgAnalysis, frequencies_Hz: np.ndarray, Z: np.ndarray, *,
               path: str | Path | None = None) -> Figure:
    """Z' and −Z'' against ω^-½ (ω in rad/s), the Warburg window and both regressions."""
    fig, ax = new_figure("single", aspect=0.75)
    x = (2 * np.pi * np.asarray(frequencies_Hz)) ** -0.5
    Z = np.asarray(Z)
    ax.plot(x, Z.real, "o", ms=2.5, mfc="none", color=PALETTE[0], label="Z'")
    ax.plot(x, -Z.imag, "s", ms=2.5, mfc="none", color=PALETTE[1], label="−Z''")
    if analysis.real is not None and analysis.imag is not None:
        xw = analysis.table["omega^-1/2 / s1/2"].to_numpy()
        xs = np.linspace(0, xw.max() * 1.05, 50)
        ax.plot(xs, analysis.real.intercept + analysis.real.slope * xs, color=PALETTE[0],
                label=f"σ' = {analysis.real.slope:.4g} Ω s$^{{-1/2}}$")
        ax.plot(xs, analysis.imag.intercept + analysis.imag.slope * xs, color=PALETTE[1], ls="--",
                label=f"σ'' = {analysis.imag.slope:.4g} Ω s$^{{-1/2}}$")
        ax.axvspan(xw.min(), xw.max(), color="0.92", zorder=0, label="Warburg window")
    ax.set_xlabel("ω$^{-1/2}$ / s$^{1/2}$")
    ax.set_ylabel("Z', −Z'' / Ω")
    ax.legend()
    return _save(fig, path)
