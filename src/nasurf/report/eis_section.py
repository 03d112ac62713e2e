"""The EIS section of ``nasurf demo`` (self-contained HTML, inline SVG figures).

(Formerly ``nasurf.analysis.demo_eis``.)

Two spectra go through the same :func:`nasurf.analysis.eis.analyze_spectrum` workflow a user
gets from ``nasurf analyze eis``: lin-KK check, equivalent-circuit fit with 95 % confidence
intervals, Warburg σ from the ω^-½ line and D from σ, R_ct and C_eff.

* a real spectrum, the BioLogic example of impedance.py (``impedance.py/
  exampleDataBioLogic.mpt`` under ``../shared/realdata``, read with :func:`nasurf.io.read`),
  fitted with ``R0-p(R1,CPE1)-W1``; it has no diffusion tail, and the section says so
  instead of reporting a σ;
* a synthetic Randles spectrum with known truth (methods.md §6 validation case:
  D = 1e-12 cm²/s, A = 1.13 cm², C = 0.01 mol/cm³ → σ = 16.663 Ω s^-½) with 0.2 % seeded
  noise, showing that the parameters, σ and D are recovered.

:func:`demo_eis_section` returns ``(title, html)``; :func:`demo_eis_analyses` returns the
analyses behind it (for tests and for users who want the numbers).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasurf.report.html import figure, find_realdata, number, svg, warnings_html

REAL_EIS_FILE = "impedance.py/exampleDataBioLogic.mpt"
REAL_CIRCUIT = "R0-p(R1,CPE1)-W1"
SYNTHETIC_CIRCUIT = "R0-p(R1-W1,CPE1)"
# methods.md §6 validation case
SYNTHETIC_D_CM2_S = 1e-12
SYNTHETIC_AREA_CM2 = 1.13
SYNTHETIC_CONCENTRATION_MOL_CM3 = 0.01
SYNTHETIC_NOISE = 0.002        # relative to |Z|, on Z' and Z'' independently
SYNTHETIC_SEED = 0


@dataclass(frozen=True)
class DemoSpectrum:
    """One analysed spectrum of the demo, with where it came from and its known truth."""

    label: str
    circuit: str
    analysis: Any                          # nasurf.analysis.eis.EISAnalysis
    source: str
    description: str
    truth: dict[str, float] | None = None  # generating parameters (synthetic only)
    area_cm2: float | None = None
    concentration_mol_cm3: float | None = None
    D_true_cm2_s: float | None = None


def synthetic_randles_spectrum(noise: float = SYNTHETIC_NOISE, seed: int = SYNTHETIC_SEED
                               ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """``(f_Hz, Z, truth)``: R0-p(R1-W1,CPE1), 100 kHz to 1 mHz, 10 points per decade.

    σ of W1 is the one of D = 1e-12 cm²/s, A = 1.13 cm², C = 0.01 mol/cm³ (16.663 Ω s^-½);
    ``noise`` × |Z| Gaussian noise is added to Z' and Z'' (seeded, so the page is stable).
    """
    from nasurf.analysis.eis import Circuit, sigma_from_diffusion

    sigma = sigma_from_diffusion(SYNTHETIC_D_CM2_S, area_cm2=SYNTHETIC_AREA_CM2,
                                 concentration_mol_cm3=SYNTHETIC_CONCENTRATION_MOL_CM3)
    truth = {"R0": 5.0, "R1": 50.0, "W1": sigma, "CPE1_0": 2e-5, "CPE1_1": 0.9}
    f = np.logspace(5, -3, 81)
    z = Circuit(SYNTHETIC_CIRCUIT).impedance(truth, f)
    rng = np.random.default_rng(seed)
    z = z + noise * np.abs(z) * (rng.standard_normal(f.size) + 1j * rng.standard_normal(f.size))
    return f, z, truth


def demo_eis_analyses(realdata: Path | None = None) -> list[DemoSpectrum]:
    """The analyses shown in the section: the real spectrum (when the data folder is there)
    and the synthetic one."""
    from nasurf.analysis.eis import analyze_eis, analyze_spectrum

    out: list[DemoSpectrum] = []
    root = realdata if realdata is not None else find_realdata()
    path = root / REAL_EIS_FILE if root is not None else None
    if path is not None and path.is_file():
        from nasurf.io import read

        data = read(path)
        series = analyze_eis(data, REAL_CIRCUIT)
        md = data.metadata
        out.append(DemoSpectrum(
            label="Real spectrum", circuit=REAL_CIRCUIT, analysis=series.spectra[0],
            source=REAL_EIS_FILE,
            description=(f"{md.instrument or md.file_format} {md.technique or ''} export "
                         "shipped with impedance.py, read by nasurf.io.read"),
            area_cm2=md.electrode_area_cm2))
    f, z, truth = synthetic_randles_spectrum()
    analysis = analyze_spectrum(f, z, SYNTHETIC_CIRCUIT, area_cm2=SYNTHETIC_AREA_CM2,
                                concentration_mol_cm3=SYNTHETIC_CONCENTRATION_MOL_CM3)
    out.append(DemoSpectrum(
        label="Synthetic Randles spectrum (known truth)", circuit=SYNTHETIC_CIRCUIT,
        analysis=analysis, source="synthetic",
        description=(f"generated from the circuit with {SYNTHETIC_NOISE:.1%} Gaussian noise "
                     f"(of |Z|) on Z' and Z'' (seed {SYNTHETIC_SEED}); W1 is the σ of "
                     f"D = {SYNTHETIC_D_CM2_S:g} cm²/s at A = {SYNTHETIC_AREA_CM2:g} cm², "
                     f"C = {SYNTHETIC_CONCENTRATION_MOL_CM3:g} mol/cm³ (methods.md §6)"),
        truth=truth, area_cm2=SYNTHETIC_AREA_CM2,
        concentration_mol_cm3=SYNTHETIC_CONCENTRATION_MOL_CM3,
        D_true_cm2_s=SYNTHETIC_D_CM2_S))
    return out


# ---------------------------------------------------------------------------------------
# HTML


fmt = number
"""Number as printed in the section ('–' for missing/NaN)."""


def _figures(spec: DemoSpectrum) -> str:
    from nasurf.analysis.eis.plots import plot_bode, plot_nyquist

    fit = spec.analysis.fit
    title = f"{spec.circuit}"
    parts = []
    for make, caption in (
        (plot_nyquist, "Nyquist plot (equal axes): data (circles) and fit (line); −Z'' up."),
        (plot_bode, "Bode plot: |Z| and −phase against frequency, data and fit."),
    ):
        parts.append(figure(svg(make(fit, title=title), drop_namespaces=True), caption,
                            style="flex:1 1 320px;margin:0"))
    return ("<div style='display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start'>"
            f"{''.join(parts)}</div>")


def _parameter_table(spec: DemoSpectrum) -> str:
    fit = spec.analysis.fit
    truth = spec.truth
    head = ("<tr><th>parameter</th><th>value</th><th>standard error</th><th>95 % CI</th>"
            "<th>unit</th>" + ("<th>truth</th><th>truth in CI</th>" if truth else "") + "</tr>")
    rows = []
    for name, value in fit.parameters.items():
        lo, hi = fit.ci95[name]
        cells = (f"<td>{html.escape(name)}</td><td class=num>{fmt(value)}</td>"
                 f"<td class=num>{fmt(fit.stderr[name], '{:.2g}')}</td>"
                 f"<td class=num>[{fmt(lo)}, {fmt(hi)}]</td><td>{html.escape(fit.units[name])}"
                 "</td>")
        if truth:
            t = truth[name]
            inside = "yes" if lo <= t <= hi else "no"
            cells += f"<td class=num>{fmt(t)}</td><td>{inside}</td>"
        rows.append(f"<tr>{cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _quality(spec: DemoSpectrum) -> str:
    a = spec.analysis
    fit = a.fit
    text = (f"Fit: χ² = {fmt(fit.chi2)} ({html.escape(fit.weighting)} weighting), relative "
            f"RMSE {fmt(100 * fit.relative_rmse, '{:.2f}')} % over {fit.n_points} points, "
            f"{fit.n_starts} start(s), {fit.n_agreeing} agreeing. ")
    kk = a.linkk
    if kk is not None:
        text += (f"lin-KK (Schönleber): <b>{html.escape(kk.verdict)}</b> (M = {kk.n_rc} RC "
                 f"elements, μ = {fmt(kk.mu, '{:.2f}')}, RMS residual "
                 f"{fmt(100 * kk.rms_residual, '{:.2f}')} %, worst "
                 f"{fmt(100 * kk.max_residual, '{:.2f}')} %; valid ≤ 1 % RMS and no point "
                 "> 5 %).")
    d = a.derived
    if d.R_ct_Ohm is not None:
        text += f" R<sub>ct</sub> ({html.escape(str(d.rct_element))}) = {fmt(d.R_ct_Ohm)} Ω"
        if d.R_ct_area_Ohm_cm2:
            text += f", R<sub>ct</sub>·A = {fmt(d.R_ct_area_Ohm_cm2)} Ω cm²"
        text += "."
    for name, c in d.effective_capacitance_F.items():
        text += f" C<sub>eff</sub> ({html.escape(name)}, Brug) = {fmt(c)} F."
    return f"<p>{text}</p>"


def _warburg_table(spec: DemoSpectrum) -> str:
    a = spec.analysis
    wb = a.warburg
    area = fmt(spec.area_cm2)
    conc = fmt(spec.concentration_mol_cm3)
    head = ("<tr><th>σ from</th><th>window (Hz)</th><th>σ (Ω s<sup>−½</sup>)</th>"
            "<th>A (cm²)</th><th>C (mol cm<sup>−3</sup>)</th><th>n</th><th>T (K)</th>"
            "<th>D (cm² s<sup>−1</sup>)</th>"
            + ("<th>D / D<sub>true</sub></th>" if spec.D_true_cm2_s else "") + "</tr>")
    rows = []

    def row(source: str, window: str, sigma: str, estimate: Any) -> None:
        D = estimate.D_cm2_s if estimate is not None else None
        cells = (f"<td>{source}</td><td>{window}</td><td class=num>{sigma}</td>"
                 f"<td class=num>{area}</td><td class=num>{conc}</td>"
                 f"<td class=num>{fmt(getattr(estimate, 'n_electrons', None), '{:g}')}</td>"
                 f"<td class=num>{fmt(getattr(estimate, 'temperature_K', None), '{:.2f}')}</td>"
                 f"<td class=num>{fmt(D, '{:.4e}')}</td>")
        if spec.D_true_cm2_s:
            ratio = D / spec.D_true_cm2_s if D is not None else None
            cells += f"<td class=num>{fmt(ratio, '{:.4f}')}</td>"
        rows.append(f"<tr>{cells}</tr>")

    if wb.real is not None:
        window = f"{fmt(wb.window_Hz[0])}–{fmt(wb.window_Hz[1])} ({html.escape(wb.window_source)})"
        est = next((e for e in wb.diffusion if e.form == "nernstian_R2T2"), None)
        row("Z' vs ω<sup>−½</sup> line", window,
            f"{fmt(wb.real.slope)} ± {fmt(wb.real.slope_stderr, '{:.2g}')}", est)
    else:
        row("Z' vs ω<sup>−½</sup> line", "none found", "not computed", None)
    d = a.derived
    for name, sigma in d.warburg_sigma_Ohm_s_half.items():
        fit = a.fit
        se = fit.stderr.get(name)
        row(f"fitted {html.escape(name)}", "whole spectrum",
            f"{fmt(sigma)} ± {fmt(se, '{:.2g}')}", d.diffusion.get(name))
    note = ("D = R²T²/(2A²n⁴F⁴C²σ²) (Nernstian form), an apparent value that scales as "
            "1/(A·C)²: compare only numbers computed with the same A and C.")
    if spec.area_cm2 is None or spec.concentration_mol_cm3 is None:
        note += (" D needs the electrode area A and the concentration C "
                 "(<code>--area-cm2</code>, <code>--concentration-mol-cm3</code>); "
                 "the file gives " + ("no area" if spec.area_cm2 is None else "the area")
                 + " and no concentration, so D is not computed here.")
    if spec.D_true_cm2_s:
        note += f" Truth: σ = {fmt(spec.truth['W1'])} Ω s<sup>−½</sup>, D = " \
                f"{fmt(spec.D_true_cm2_s, '{:.4e}')} cm² s<sup>−1</sup>."
    return f"<table>{head}{''.join(rows)}</table><p class=reading>{note}</p>"


def _spectrum_html(spec: DemoSpectrum) -> str:
    fit = spec.analysis.fit
    f = fit.frequencies_Hz
    where = (f"<code>{html.escape(spec.source)}</code>: " if spec.source != "synthetic" else "")
    return "".join([
        f"<h3>{html.escape(spec.label)}: {html.escape(spec.circuit)}</h3>",
        f"<p>{where}{html.escape(spec.description)}; {fit.n_points} points, "
        f"{fmt(f.min())}–{fmt(f.max())} Hz.</p>",
        _figures(spec),
        _parameter_table(spec),
        _quality(spec),
        _warburg_table(spec),
        warnings_html(spec.analysis.warnings),
    ])


def demo_eis_section(ctx: Any = None) -> tuple[str, str]:
    """(title, self-contained HTML) of the EIS part of ``nasurf demo``."""
    spectra = demo_eis_analyses(getattr(ctx, "realdata", None))
    body = [
        "<p>Impedance Z = Z' + jZ'' in Ω (capacitive arcs have Z'' &lt; 0), frequencies in "
        "Hz (ω = 2πf is formed inside, so σ and D cannot be off by 2π). Fits use modulus "
        "weighting and a multi-start; 95 % CI = value ± t<sub>0.975</sub>·SE from the "
        "Jacobian at the optimum. Circuit strings are those of impedance.py. In a Na "
        "half-cell the Na-metal counter electrode adds to the spectrum: R<sub>ct</sub> of "
        "a two-electrode spectrum is not the anode's alone. See "
        "<code>docs/analysis-eis.md</code>.</p>",
    ]
    if not any(s.source != "synthetic" for s in spectra):
        body.append(f"<div class=info>Real spectrum <code>{html.escape(REAL_EIS_FILE)}</code> "
                    "not found (../shared/realdata); only the synthetic example is shown."
                    "</div>")
    body += [_spectrum_html(s) for s in spectra]
    return "Impedance (EIS) analysis", "".join(body)
