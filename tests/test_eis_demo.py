"""The EIS section of ``nasurf demo``: present, self-contained, numbers equal to the API's.

Truths: the numbers printed must be those of an independent call of the EIS API on the
same input (nasurf.io.read + analyze_eis on the real file; analyze_spectrum on the
synthetic spectrum); the synthetic spectrum must be the methods.md §6 case (σ = 16.663
Ω s^-½ for D = 1e-12 cm²/s, A = 1.13 cm², C = 0.01 mol/cm³) and its fit must recover it.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from nasurf.analysis.eis import analyze_eis, analyze_spectrum, fit_circuit
from nasurf.io import read
from nasurf.report import analysis_sections as analysis_demo
from nasurf.report.eis_section import (
    REAL_CIRCUIT,
    REAL_EIS_FILE,
    SYNTHETIC_AREA_CM2,
    SYNTHETIC_CIRCUIT,
    SYNTHETIC_CONCENTRATION_MOL_CM3,
    demo_eis_section,
    synthetic_randles_spectrum,
)


@pytest.fixture(scope="module")
def section(realdata):
    return demo_eis_section(SimpleNamespace(realdata=realdata))


def _g(x: float) -> str:
    return f"{x:.4g}"


def test_registered_after_kinetics():
    providers = analysis_demo.demo_sections()
    names = [p.__name__ for p in providers]
    assert names.index("_eis_provider") == names.index("_kinetics_provider") + 1


def test_section_is_self_contained(section):
    title, html = section
    assert title == "Impedance (EIS) analysis"
    assert "http" not in html.lower()              # no URLs at all, not even xmlns
    assert "<script" not in html and "<img" not in html and "<link" not in html
    assert not re.search(r"""(src|href)\s*=""", html.replace("xlink:href=\"#", ""))
    # Nyquist + Bode for each of the two spectra, inline
    assert html.count("<svg") == html.count("</svg>") == 4


def test_real_spectrum_numbers_match_the_fit_api(section, realdata):
    _, html = section
    assert REAL_EIS_FILE in html
    res = analyze_eis(read(realdata / REAL_EIS_FILE), REAL_CIRCUIT).spectra[0]
    fit = res.fit
    assert fit.n_points == 39
    for name, value in fit.parameters.items():
        lo, hi = fit.ci95[name]
        assert f"<td>{name}</td><td class=num>{_g(value)}</td>" in html, name
        assert f"[{_g(lo)}, {_g(hi)}]" in html, name
    # the values docs/analysis-eis.md quotes for this file (R0 63.46, R1 48.37 Ω)
    assert _g(fit.parameters["R0"]) == "63.46" and _g(fit.parameters["R1"]) == "48.37"
    assert f"<b>{res.linkk.verdict}</b>" in html and res.linkk.verdict == "questionable"
    assert f"RMS residual {100 * res.linkk.rms_residual:.2f} %" in html
    # no diffusion line in this spectrum: σ and D are not reported, and the page says why
    assert res.warburg.sigma is None
    assert "none found" in html and "not computed" in html
    assert "data do not determine it" in html       # the undetermined W1 is flagged


def test_synthetic_spectrum_is_the_methods_case_and_is_recovered(section):
    _, html = section
    f, z, truth = synthetic_randles_spectrum()
    # methods.md §6: D = 1e-12 cm²/s, A = 1.13 cm², C = 0.01 mol/cm³ → σ = 16.663 Ω s^-½
    assert truth["W1"] == pytest.approx(16.663, abs=5e-4)
    # noise-free: the fit returns the generating parameters (analytic check of the generator)
    f0, z0, _ = synthetic_randles_spectrum(noise=0.0)
    exact = fit_circuit(f0, z0, SYNTHETIC_CIRCUIT)
    for name, value in truth.items():
        assert exact.parameters[name] == pytest.approx(value, rel=1e-6), name
    a = analyze_spectrum(f, z, SYNTHETIC_CIRCUIT, area_cm2=SYNTHETIC_AREA_CM2,
                         concentration_mol_cm3=SYNTHETIC_CONCENTRATION_MOL_CM3)
    for name in a.fit.parameters:
        lo, hi = a.fit.ci95[name]
        assert lo <= truth[name] <= hi, name        # 0.2 % noise, seed 0: truth inside
        assert f"<td class=num>[{_g(lo)}, {_g(hi)}]</td>" in html, name
    assert html.count("<td>yes</td>") == len(truth) and "<td>no</td>" not in html
    assert a.linkk.verdict == "valid" and "<b>valid</b>" in html
    # D from the σ line and from the fitted W1, with the A and C used. 0.2 % noise on 81
    # points gives σ to ~0.2 %, so D (∝ 1/σ²) to ~0.5 %: 1 % tolerance
    (line_D,) = a.warburg.diffusion
    fitted_D = a.derived.diffusion["W1"]
    for est in (line_D, fitted_D):
        assert est.D_cm2_s == pytest.approx(1e-12, rel=0.01)
        assert est.area_cm2 == SYNTHETIC_AREA_CM2
        assert est.concentration_mol_cm3 == SYNTHETIC_CONCENTRATION_MOL_CM3
        assert f"{est.D_cm2_s:.4e}" in html and f"{est.D_cm2_s / 1e-12:.4f}" in html
    assert "<td class=num>1.13</td><td class=num>0.01</td>" in html
    assert f"{a.warburg.real.slope:.4g} ± {a.warburg.real.slope_stderr:.2g}" in html


def test_without_real_data_only_the_synthetic_part(tmp_path):
    _, html = demo_eis_section(SimpleNamespace(realdata=tmp_path))
    assert "not found" in html and "Synthetic Randles" in html
    assert html.count("<svg") == 2
