"""The CV-kinetics and GITT section of ``nasurf demo``, on known-answer data.

No real multi-scan-rate NIB CV set or licensed raw GITT file is public, so the section
runs the analyses on the exact sets of :mod:`nasurf.analysis.known_answers` and prints
the known answers next to the results. :func:`demo_kinetics_section` returns
``(title, html)`` with inline SVG figures.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np


def _svg(fig: Any) -> str:
    from nasurf.figures.style import to_svg

    return to_svg(fig, inline=True)


def _figure(fig: Any, caption: str) -> str:
    return f"<figure>{_svg(fig)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def demo_kinetics_section(ctx: Any = None) -> tuple[str, str]:
    """(title, self-contained HTML) of the CV-kinetics and GITT demo."""
    from nasurf.analysis import plots_kinetics as pk
    from nasurf.analysis.gitt import gitt_analysis
    from nasurf.analysis.kinetics import b_value_peaks, dunn_analysis, prepare_branches
    from nasurf.analysis.known_answers import synthetic_dunn_cvset, synthetic_gitt_record

    prep = prepare_branches(synthetic_dunn_cvset(), vertex_exclusion_V=0.0)
    kin = b_value_peaks(prep)
    dunn = dunn_analysis(prep)
    exact = [0.5302, 0.6148, 0.7162, 0.7811, 0.8346]
    rows = "".join(
        f"<tr><td class=num>{v * 1e3:g}</td><td class=num>{f:.4f}</td>"
        f"<td class=num>{x:.4f}</td></tr>"
        for v, f, x in zip(dunn.scan_rates_V_s, dunn.capacitive_fraction, exact, strict=True)
    )
    peak = kin.fits.query("branch == 'anodic'").iloc[0]
    rec = synthetic_gitt_record()
    g = gitt_analysis(rec, diffusion_length_cm=1e-4)
    d_med = float(np.median(g.pulses["D_L2_cm2_s"]))
    body = [
        "<p>Known-answer data from <code>methods.md</code> (no real multi-rate NIB CV set is "
        "public yet). Anodic current is positive; every analysis runs per branch. See "
        "<code>docs/analysis-kinetics.md</code> for the interpretation caveats: b ≈ 1 does "
        "not prove pseudocapacitance, the capacitive fraction depends on the window and on "
        "iR drop, and k1 lumps all surface processes.</p>",
        "<h3>CV kinetics: Dunn k1·v + k2·v<sup>½</sup></h3>",
        f"<p>Anodic peak at {peak['potential_low_rate_V']:.3f} V: b = {peak['b']:.4f} ± "
        f"{peak['b_stderr']:.4f} (R² {peak['r2']:.4f}); expected 0.5905. A b between 0.5 "
        "and 1 is a mixture, not a mechanism.</p>",
        "<table><tr><th>scan rate (mV s⁻¹)</th><th>capacitive fraction</th>"
        f"<th>exact</th></tr>{rows}</table>",
        _figure(pk.plot_cv_capacitive_envelope(dunn, 1e-3),
                "CV at 1 mV/s with the capacitive current k1·v shaded."),
        _figure(pk.plot_capacitive_fraction_bars(dunn),
                "Capacitive and diffusion-controlled shares of the charge per scan rate."),
        _figure(pk.plot_log_peak_current(kin), "log|ip| vs log v with the power-law fits."),
        "<h3>GITT (Weppner–Huggins)</h3>",
        f"<p>{len(g.pulses)} sodiation pulses of 60 s on an exact slab (L = 1 µm, "
        f"D = 1e-11 cm² s⁻¹, τD/L² = 0.06): median D (L² form) = {d_med:.4e} cm² s⁻¹; "
        "E(0+) from the early E-vs-√t intercept, IR from the switch-off jump.</p>",
        _figure(pk.plot_gitt_diffusivity(g), "GITT D against state of charge."),
        _figure(pk.plot_gitt_pulse(rec, g, 1), "Detail of pulse 1."),
    ]
    return "CV kinetics and GITT", "".join(body)
