"""Each strategy preset moves the metric the review says it moves, by a stated amount.

Review = Xia, Liu, Zhao, J. Mater. Chem. A 2022 (reference numbers are the review's). The
sizes asserted are those of the packaged presets (deterministic simulations) with a margin
below the simulated effect; the comments give the simulated numbers and the review figure
each preset rests on.
"""

from __future__ import annotations

import numpy as np
import pytest

from nasurf.analysis import CVSet, dunn_analysis, prepare_branches
from nasurf.sim import cyclic_voltammetry, galvanostatic_cycling, rate_capability, simulate


def _desodiation(material: str, currents: list[float], strategy: str) -> list[float]:
    exp = rate_capability(currents, return_to_first=False)
    steps = simulate(material, exp, strategy=strategy).steps[0]
    return [abs(s.charge_mAh_g) for s in steps if s.kind == "desodiate"]


@pytest.fixture(scope="module")
def nto_5c() -> dict[str, list[float]]:
    # Na2Ti3O7, the review's pristine A-Na2Ti3O7 nanoarray control (R = 75 nm, D = 1e-17
    # m2/s): C/5 and 5 A/g (~28C on the 177.7 mAh/g basis)
    return {s: _desodiation("na2ti3o7", [35.5, 5000.0], s)
            for s in ("none", "surface_oxygen_vacancies", "heterointerfaces",
                      "2d_superlattices")}


def test_oxygen_vacancies_raise_high_rate_capacity(nto_5c):
    # review §2, ref 68: H-Na2Ti3O7 conductivity x706, 5-fold carriers and a faster OV
    # shell, on the paper's own A-Na2Ti3O7 control: simulated 5 A/g capacity 49.8 -> 96.2
    # mAh/g (x1.9), the slow rate unchanged. The review gives no capacity ratio for this
    # pair (H-Na2Ti3O7 keeps 71 mAh/g at 6.2 A/g, Table 1); the direction and a gain of the
    # order of the removed drop are asserted.
    base, ov = nto_5c["none"], nto_5c["surface_oxygen_vacancies"]
    assert ov[0] == pytest.approx(base[0], rel=0.02)
    assert ov[1] > 1.05 * base[1]


def test_heterointerfaces_raise_high_rate_capacity(nto_5c):
    # review §3, refs 78-81: faster Na transport across the interfacial region (shell D x20,
    # k0 x3); simulated 5 A/g capacity 49.8 -> 113.4 mAh/g (x2.3) on the nanoarray control
    base, het = nto_5c["none"], nto_5c["heterointerfaces"]
    assert het[0] == pytest.approx(base[0], rel=0.02)
    assert het[1] > 1.10 * base[1]


def test_2d_superlattices_raise_high_rate_capacity_most(nto_5c):
    # review §4, refs 35, 98: expanded interlayers (bulk D x30); simulated 5 A/g capacity
    # 49.8 -> 135.0 mAh/g (x2.7): the only preset acting on the whole diffusion length, so
    # it beats the surface-only treatments
    base, sl = nto_5c["none"], nto_5c["2d_superlattices"]
    assert sl[1] > 1.55 * base[1]
    assert sl[1] > nto_5c["heterointerfaces"][1]


@pytest.fixture(scope="module")
def tio2_rates() -> dict[str, list[float]]:
    # pristine nano-anatase (40 nm, D = 1e-19 m2/s): C/10 and 10C on the 335.6 mAh/g basis
    return {s: _desodiation("anatase_tio2", [33.6, 3356.0], s)
            for s in ("none", "surface_structural_disorder", "surface_functionalisation")}


@pytest.mark.parametrize("strategy", ["surface_structural_disorder",
                                      "surface_functionalisation"])
def test_surface_sites_raise_capacity_at_high_rate(tio2_rates, strategy):
    # review §5, ref 102: P-TiO2 147 vs 85 mAh/g at 10C (x1.7); §6 refs 110-112 functional
    # groups. Simulated 10C: 23.4 -> 138.0 (disorder) and 53.9 (functionalisation) mAh/g:
    # the surface-redox sites add capacity that does not wait for solid diffusion. The
    # disorder ratio (x5.9) exceeds the review's x1.7 because the pristine 40 nm control
    # is slower than the review's pure TiO2 tubes (23 vs 85 mAh/g at 10C): same order of
    # magnitude, stated.
    base, treated = tio2_rates["none"], tio2_rates[strategy]
    assert treated[1] > 1.5 * base[1]
    if strategy == "surface_functionalisation":
        # added functional groups: one Na per group at full coverage (7.6e-6 mol/m2,
        # 8 mAh/g on 40 nm anatase) plus the doubled double layer: 197.5 -> 220.6 mAh/g
        assert treated[0] > base[0] + 15.0
    else:
        # the disordered layer's sites are the host's own Ti (from_host): they move that
        # layer's charge from insertion to surface redox, so the low-rate capacity rises
        # only by the part the insertion host could not use (x_max = 0.6) and never
        # exceeds the host's theoretical 335.6 mAh/g
        assert base[0] < treated[0] < 335.6


def _dunn_fractions(strategy: str) -> np.ndarray:
    # every preset on the implicit engine: the untreated particle alone would qualify for
    # the modal sweep engine, and the comparison is of presets, not of engines
    data = [simulate("anatase_tio2", cyclic_voltammetry(v, high_V=2.5, low_V=0.05, cycles=1),
                     strategy=strategy, engine="march").echem()
            for v in (0.2, 0.5, 1.0, 2.0, 5.0)]
    dunn = dunn_analysis(prepare_branches(CVSet.from_echem(data)),
                         mass_g=data[0].metadata.active_mass_g)
    return dunn.fractions["capacitive_fraction"].to_numpy()


def test_surface_sites_raise_the_dunn_capacitive_fraction():
    # review §5-6: disorder and functional groups store charge pseudocapacitively. Dunn
    # fraction of the simulated TiO2 CV set (0.2-5 mV/s, 2.5-0.05 V) at 0.2 / 0.5 / 1 mV/s:
    # none 0.41 / 0.43 / 0.49 (pristine 40 nm anatase is partly diffusion-limited, issue
    # 13), disorder 0.65 / 0.67 / 0.70, functionalisation 0.43 / 0.45 / 0.51: a monolayer
    # of groups (8 mAh/g on 40 nm particles) moves the share by ~0.02 only; the review's
    # functionalised samples are nanocrystals and porous carbons with 5-50x the surface.
    # Asserted at the three lowest rates, where the fit is best conditioned.
    base = _dunn_fractions("none")
    frac = _dunn_fractions("surface_structural_disorder")
    assert np.all(frac[:3] > base[:3] + 0.1), (frac, base)
    frac = _dunn_fractions("surface_functionalisation")
    assert np.all(frac[:3] > base[:3] + 0.01), (frac, base)


def test_chemical_bonds_slow_alloy_fade():
    # review §7, refs 117/119: ~91 % retention after 100 cycles with M-C/P-O-C bonds; the
    # preset's bonding factor 0.8 removes 80 % of the volume-change LAM of Sb. Simulated
    # (micro-sized Sb, 1C): 77 % retained bare, 92 % bonded (the fade law saturates: bare
    # Sb loses almost all of its susceptible share, 23 %, within 100 cycles)
    exp = galvanostatic_cycling("660 mA g-1", cycles=100)
    fade = {}
    for s in ("none", "interfacial_chemical_bonds"):
        cyc = simulate("sb", exp, strategy=s).cycle_capacities()
        fade[s] = 1 - cyc["desodiation_mAh_g"].iloc[-1] / cyc["desodiation_mAh_g"].iloc[1]
    assert fade["none"] > 0.2                               # bare Sb fades fast
    assert fade["interfacial_chemical_bonds"] < 0.5 * fade["none"]
    assert 0.85 < 1 - fade["interfacial_chemical_bonds"] < 0.97   # ~91 % retained (ref 117)
