"""Warburg σ and D: every methods.md §6 validation number, both D forms, the automatic window,
the disagreement flag and the f-vs-ω guard."""

from __future__ import annotations

import numpy as np
import pytest

from nasurf.analysis.eis import (
    Circuit,
    diffusion_from_sigma,
    diffusion_from_sigma_hrh,
    sigma_from_diffusion,
    warburg_analysis,
    warburg_window,
)
from nasurf.analysis.eis.warburg import angular_frequency_suspect
from nasurf.constants import FARADAY_C_PER_MOL as FARADAY
from nasurf.constants import GAS_CONSTANT_J_PER_MOL_K as GAS_CONSTANT
from nasurf.errors import ValidationError

D_TRUE, AREA, CONC = 1e-12, 1.13, 0.01          # cm²/s, cm² (12 mm disc), mol/cm³
F = np.logspace(5, -3, 81)                     # methods.md §6: 1e5..1e-3 Hz


def _spectrum(circuit: str) -> np.ndarray:
    sigma = sigma_from_diffusion(D_TRUE, area_cm2=AREA, concentration_mol_cm3=CONC)
    return Circuit(circuit).impedance(
        {"R0": 5.0, "R1": 50.0, "CPE1_0": 2e-5, "CPE1_1": 0.9, "W1": sigma}, F)


def test_sigma_from_d_validation_value():
    # methods.md §6 [verified]: σ = 16.663 Ω s^-½
    s = sigma_from_diffusion(D_TRUE, area_cm2=AREA, concentration_mol_cm3=CONC)
    assert s == pytest.approx(16.663, abs=5e-4)
    d = diffusion_from_sigma(s, area_cm2=AREA, concentration_mol_cm3=CONC)
    assert d.D_cm2_s == pytest.approx(D_TRUE, rel=1e-12)
    assert d.form == "nernstian_R2T2" and d.area_cm2 == AREA and d.concentration_mol_cm3 == CONC


def test_textbook_randles_low_frequency_fit():
    # methods.md §6 [verified]: fitting f <= 0.1 Hz gives slope 16.665, intercept 54.96,
    # D_est/D = 0.9998 for R0-p(R1-W1,CPE1)
    r = warburg_analysis(F, _spectrum("R0-p(R1-W1,CPE1)"), window_Hz=(1e-3, 0.1),
                         area_cm2=AREA, concentration_mol_cm3=CONC)
    assert r.window_source == "user"
    assert r.real.slope == pytest.approx(16.665, abs=5e-4)
    assert r.real.intercept == pytest.approx(54.96, abs=5e-3)
    assert r.diffusion[0].D_cm2_s / D_TRUE == pytest.approx(0.9998, abs=5e-5)
    assert r.disagreement < 0.01 and not any("differ" in w for w in r.warnings)


def test_series_variant_gives_same_slope():
    # methods.md §6 [verified]: R0-p(R1,CPE1)-W1 gives slope 16.663
    r = warburg_analysis(F, _spectrum("R0-p(R1,CPE1)-W1"), window_Hz=(1e-3, 0.1))
    assert r.real.slope == pytest.approx(16.663, abs=5e-4)


def test_frequency_instead_of_omega_trap():
    # methods.md §6 [verified]: regressing on f^-½ instead of ω^-½ gives D_est/D = 6.28
    Z = _spectrum("R0-p(R1-W1,CPE1)")
    sel = F <= 0.1
    slope_f = np.polyfit(F[sel] ** -0.5, Z.real[sel], 1)[0]
    d = diffusion_from_sigma(slope_f, area_cm2=AREA, concentration_mol_cm3=CONC)
    assert d.D_cm2_s / D_TRUE == pytest.approx(6.28, abs=0.01)
    # Our API takes Hz and forms ω itself, so the same data give the right D ...
    ok = warburg_analysis(F, Z, window_Hz=(1e-3, 0.1), area_cm2=AREA,
                          concentration_mol_cm3=CONC)
    assert ok.diffusion[0].D_cm2_s / D_TRUE == pytest.approx(1.0, abs=1e-3)
    # ... and angular frequencies passed as Hz are flagged.
    bad = warburg_analysis(2 * np.pi * F, Z)
    assert any("angular frequencies" in w for w in bad.warnings)
    assert not any("angular" in w for w in ok.warnings)


def test_angular_frequency_heuristic():
    assert angular_frequency_suspect(2 * np.pi * F)
    assert not angular_frequency_suspect(F)
    assert not angular_frequency_suspect(np.array([199998.1, 1.00006]))   # instrument grid


def test_automatic_window_finds_diffusion_line():
    Z = _spectrum("R0-p(R1-W1,CPE1)")
    lo, hi = warburg_window(F, Z)
    assert lo == pytest.approx(1e-3)
    assert 0.1 <= hi <= 10           # below the charge-transfer arc (apex near 150 Hz)
    r = warburg_analysis(F, Z, area_cm2=AREA, concentration_mol_cm3=CONC)
    assert r.window_source == "auto"
    # the arc's tail inside the automatic window biases σ by < 0.1 %
    assert r.sigma == pytest.approx(16.663, rel=1e-3)
    assert r.diffusion[0].D_cm2_s == pytest.approx(D_TRUE, rel=3e-3)


def test_no_diffusion_line():
    Z = Circuit("R0-p(R1,CPE1)").impedance([5, 50, 2e-5, 0.9], F)
    assert warburg_window(F, Z) is None
    r = warburg_analysis(F, Z, area_cm2=AREA, concentration_mol_cm3=CONC)
    assert r.sigma is None and r.diffusion == ()
    assert any("no Warburg" in w for w in r.warnings)


def test_disagreement_flag():
    # an anomalous-diffusion tail Z ∝ (jω)^-0.35: Z' and −Z'' have different slopes vs ω^-½
    Z = 5 + 40 * (1j * 2 * np.pi * F) ** -0.35
    r = warburg_analysis(F, Z, window_Hz=(1e-3, 0.1))
    assert r.disagreement > 0.2
    assert any("differ" in w for w in r.warnings)


def test_hrh_form_reduces_to_nernstian():
    # Ho–Raistrick–Huggins with dE/dc = RT/(nFc): V_M |dE/dx| = RT/(nF c) (x = c V_M)
    s, Vm, n, T = 16.663, 9.0, 1.0, 298.15
    dEdx = GAS_CONSTANT * T / (n * FARADAY * CONC * Vm)
    hrh = diffusion_from_sigma_hrh(s, area_cm2=AREA, molar_volume_cm3_mol=Vm, dE_dx_V=dEdx)
    nern = diffusion_from_sigma(s, area_cm2=AREA, concentration_mol_cm3=CONC)
    assert hrh.D_cm2_s == pytest.approx(nern.D_cm2_s, rel=1e-12)
    assert hrh.form == "ho_raistrick_huggins" and hrh.dE_dx_V == pytest.approx(dEdx)
    # sign of dE/dx does not matter
    assert diffusion_from_sigma_hrh(s, area_cm2=AREA, molar_volume_cm3_mol=Vm,
                                    dE_dx_V=-dEdx).D_cm2_s == pytest.approx(hrh.D_cm2_s)


def test_both_forms_reported_with_conventions():
    Z = _spectrum("R0-p(R1-W1,CPE1)")
    r = warburg_analysis(F, Z, window_Hz=(1e-3, 0.1), area_cm2=AREA, concentration_mol_cm3=CONC,
                         molar_volume_cm3_mol=9.0, dE_dx_V=0.5)
    forms = {d.form for d in r.diffusion}
    assert forms == {"nernstian_R2T2", "ho_raistrick_huggins"}
    d = r.to_dict()
    assert d["regressor"].startswith("omega^-1/2")
    assert d["sigma_from_real"]["n_points"] == int(np.sum((F >= 1e-3) & (F <= 0.1)))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: diffusion_from_sigma(-1, area_cm2=1, concentration_mol_cm3=1), "sigma"),
    (lambda: diffusion_from_sigma(1, area_cm2=0, concentration_mol_cm3=1), "area_cm2"),
    (lambda: diffusion_from_sigma(1, area_cm2=1, concentration_mol_cm3=float("nan")),
     "concentration"),
    (lambda: diffusion_from_sigma_hrh(1, area_cm2=1, molar_volume_cm3_mol=1, dE_dx_V=0),
     "plateau"),
    (lambda: warburg_analysis(F, np.ones(F.size), window_Hz=(1e-3, 1.2e-3)), "at least 3"),
    (lambda: warburg_analysis(F[:3], np.ones(4)), "3 frequencies but 4"),
])
def test_bad_input(call, message):
    with pytest.raises(ValidationError, match=message):
        call()
