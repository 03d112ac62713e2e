"""Packaged hosts against the literature they cite (issue 13).

Each host file carries ``literature`` entries: a reported capacity at a stated current with
its source and a band (the spread between reports, stated in the file). The simulated value
must fall in that band; the expert complaints of issue 13 are asserted directly.
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np
import pytest
import yaml

from nasurf.analysis import CVSet, dunn_analysis, prepare_branches
from nasurf.sim import (
    cyclic_voltammetry,
    galvanostatic_cycling,
    list_materials,
    load_material,
    rate_capability,
    simulate,
)
from nasurf.sim.cli import rate_table
from nasurf.sim.parameters import at_particle_radius, specific_surface_area

HOSTS = ("hard_carbon", "anatase_tio2", "na2ti3o7", "sno2", "mos2", "sb", "red_p", "sb2s3")
# the metal sulfide/selenide families of Table 1 (rows 9-12, 32)
HOSTS += ("sns", "snse", "bi2s3", "cose2", "fe3se4")
HOSTS += ("co3o4", "mno2", "ti087o2")   # issue 13: oxide and titania-nanosheet families


def _doc(name: str) -> dict:
    text = (resources.files("nasurf.sim") / "data" / "materials" / f"{name}.yaml").read_text()
    return yaml.safe_load(text)


def _cycle2_desodiation(material: str, current_mA_g: float, strategy: str = "none") -> float:
    # cycle 2: after the first-cycle irreversible capacity is spent
    r = simulate(material, galvanostatic_cycling(f"{current_mA_g} mA g-1", cycles=2),
                 strategy=strategy)
    return float(r.cycle_capacities()["desodiation_mAh_g"].iloc[1])


def test_every_family_of_the_issue_is_packaged():
    assert set(HOSTS) <= set(list_materials())


@pytest.mark.parametrize("name", HOSTS)
def test_host_file_states_morphology_limits_and_literature(name):
    doc = _doc(name)
    assert doc["morphology"].strip()
    assert len(doc["limits"]) >= 2
    assert doc["literature"], "at least one cited capacity"
    for entry in doc["literature"]:
        assert entry["source"].strip() and 0 < entry["band"] <= 2.0
    # every parameter carries a source (the loader refuses otherwise; checked here too)
    assert all(str(v.get("source", "")).strip() for v in doc["parameters"].values())


# Conversion hosts carry their accessible (reversible) fraction in `electrons`, cited from
# real electrodes in each host file; the band of each entry is its own, stated there
LOW_RATE = [pytest.param(name, e, id=name)
            for name in HOSTS for e in _doc(name)["literature"]
            if e["quantity"] == "reversible_capacity"]


@pytest.mark.parametrize(("name", "entry"), LOW_RATE)
def test_low_rate_capacity_within_the_cited_band(name, entry):
    sim = _cycle2_desodiation(name, entry["current_mA_g"])
    lo = entry["value"] / (1 + entry["band"]) if entry["band"] >= 1 else \
        entry["value"] * (1 - entry["band"])
    hi = entry["value"] * (1 + entry["band"])
    assert lo <= sim <= hi, (name, sim, entry["value"], entry["source"])


@pytest.mark.parametrize("name", HOSTS)
def test_capacity_falls_with_current_and_no_silent_zero(name):
    currents = [50, 500, 2000, 5000]
    r = simulate(name, rate_capability(currents, return_to_first=False))
    table = rate_table(r)
    assert [row["current_mA_g"] for row in table] == currents   # no row vanishes
    des = np.array([row["desodiation_mAh_g"] for row in table])
    assert np.all(np.diff(des) <= 1e-6 * des[0]) and des[-1] < des[0], (name, des)
    for row, rec in zip(table, [s for s in r.steps[0] if s.kind == "desodiate"], strict=True):
        if row["desodiation_mAh_g"] == 0.0:
            # a zero is explained twice: in the rate table and in the warnings
            assert "ended at once" in row["note"]
            assert any(f"step {rec.step_count} " in w or "ended at once" in w
                       for w in r.warnings)


def test_hard_carbon_matches_the_expert_ranges():
    # issue 13: ~250-330 mAh/g at <= 50 mA/g, ~100-200 at 1 A/g (plateau lost, slope kept)
    r = simulate("hard_carbon", rate_capability([20, 50, 1000], return_to_first=False))
    des = [row["desodiation_mAh_g"] for row in rate_table(r)]
    assert 250 <= des[0] <= 330 and 250 <= des[1] <= 330
    assert 100 <= des[2] <= 200


def test_na2ti3o7_control_is_the_reviews_nanoarray_and_keeps_capacity_at_high_rate():
    # issue 13: 0 at 2 and 5 A/g with the 5 A/g row missing. The packaged control is now
    # the review's pristine A-Na2Ti3O7 nanoarray (ref 68; the conductivity of the file is
    # that paper's): every rate row holds charge and capacity falls with current
    r = simulate("na2ti3o7", rate_capability())
    table = rate_table(r)
    assert [t["current_mA_g"] for t in table] == [50, 100, 200, 500, 1000, 2000, 5000, 50]
    des = [t["desodiation_mAh_g"] for t in table]
    assert all(d > 10.0 for d in des), des
    assert des[0] > 0.9 * 177.7                        # 2 Na at low rate (Senguttuvan 2011)
    assert des[6] < 0.5 * des[0]                       # 5 A/g: plateau margin used up


def test_micro_sized_na2ti3o7_explains_its_empty_rows():
    # the micro-sized solid-state powder (R = 1 um) cannot pass 2 A/g within the 0.3 V
    # plateau margin: those rows are present, hold nothing and say why
    p = load_material("na2ti3o7").with_changes(particle_radius=1e-6)
    r = simulate(p, rate_capability())
    table = rate_table(r)
    assert [t["current_mA_g"] for t in table] == [50, 100, 200, 500, 1000, 2000, 5000, 50]
    for t in table:
        assert t["desodiation_mAh_g"] > 0 or "ended at once" in t["note"]
    assert table[5]["desodiation_mAh_g"] == 0.0 and table[6]["desodiation_mAh_g"] == 0.0
    # a step that held no charge leaves no data rows: the data's own notes say why
    assert any("ended at once" in n and "5000 mA g-1" in n
               for n in r.echem().metadata.notes)


def test_first_cycle_loss_scales_with_the_surface():
    # the titanates' first-cycle loss is a surface reaction: q_A x 3/(rho R) on top of the
    # file's control (nasurf.sim.parameters.at_particle_radius)
    p = load_material("anatase_tio2")
    assert at_particle_radius(p, p.particle_radius).sei_capacity == pytest.approx(
        p.sei_capacity)
    small = at_particle_radius(p, p.particle_radius / 2)
    extra = p.sei_area_capacity * specific_surface_area(p)     # doubling the surface
    assert small.sei_capacity == pytest.approx(p.sei_capacity + extra)
    assert p.sei_capacity == pytest.approx(p.sei_area_capacity * specific_surface_area(p),
                                           rel=0.01)
    # the cited source: untreated TiO2 tubes, first discharge 402 mAh/g (review §5, ref
    # 102), walls ~15 nm (R = 22 nm): the simulated first sodiation spends the loss
    tubes = at_particle_radius(p, 22e-9)
    r = simulate(tubes, galvanostatic_cycling("33.5 mA g-1", cycles=1))
    first = float(r.cycle_capacities()["sodiation_mAh_g"].iloc[0])
    assert first == pytest.approx(402, rel=0.10)
    # hosts without a per-area loss keep their file value at any size
    hc = load_material("hard_carbon")
    assert at_particle_radius(hc, 50e-9).sei_capacity == hc.sei_capacity


def test_functionalisation_sites_are_one_na_per_surface_group():
    # review §6: redox-active surface groups; one Na per group at full coverage
    # (4.6 groups/nm2 = 7.6e-6 mol/m2) on the sample's own surface, not a layer of host
    # sites: the site capacity is Gamma x 3/(rho R) whatever the host
    from nasurf.sim.parameters import F
    from nasurf.sim.simulate import resolve_parameters

    for host, radius in (("hard_carbon", 15e-9), ("anatase_tio2", 6e-9)):
        p = resolve_parameters(at_particle_radius(load_material(host), radius),
                               "surface_functionalisation")
        assert p.site_density == pytest.approx(4.6e18 / 6.02214076e23, rel=0.01)
        sites = p.site_density * specific_surface_area(p) * F / 3600.0   # mAh/g
        # tens of mAh/g on 10-30 nm particles (the 2 nm host layer gave ~300 on 12 nm TiO2)
        assert 10 < sites < 60, (host, sites)
    # and the preset raises the high-rate capacity of a nano carbon (review §6: rate)
    carbon = at_particle_radius(load_material("hard_carbon"), 15e-9)
    base = _cycle2_desodiation_p(carbon, 10000.0, "none")
    treated = _cycle2_desodiation_p(carbon, 10000.0, "surface_functionalisation")
    assert treated > 1.1 * base, (base, treated)


def _cycle2_desodiation_p(p, current_mA_g: float, strategy: str) -> float:
    r = simulate(p, galvanostatic_cycling(f"{current_mA_g} mA g-1", cycles=2),
                 strategy=strategy)
    return float(r.cycle_capacities()["desodiation_mAh_g"].iloc[1])


def test_micro_sb_fades_with_rate():
    # issue 13: micro-sized Sb must fade with rate (nanostructures/carbon are needed)
    r = simulate("sb", rate_capability([50, 1000, 5000], return_to_first=False))
    des = [row["desodiation_mAh_g"] for row in rate_table(r)]
    assert des[0] > 0.85 * 660
    assert des[1] < 0.6 * des[0]
    assert des[2] < 0.2 * des[0]


def _dunn_capacitive(strategy: str) -> np.ndarray:
    data = [simulate("anatase_tio2", cyclic_voltammetry(v, high_V=2.5, low_V=0.05, cycles=1),
                     strategy=strategy, engine="march").echem()
            for v in (0.2, 0.5, 1.0, 2.0, 5.0)]
    d = dunn_analysis(prepare_branches(CVSet.from_echem(data)),
                      mass_g=data[0].metadata.active_mass_g)
    return d.fractions["capacitive_fraction"].to_numpy()


def test_pristine_anatase_cv_leaves_room_for_surface_strategies():
    # issue 13: 97.5 % capacitive at 1 mV/s without treatment left no room. Pristine 40 nm
    # anatase (D = 1e-19 m2/s) is now 0.49 at 1 mV/s; disorder 0.67, OV shell 0.70
    base = _dunn_capacitive("none")
    assert base[2] < 0.6
    for strategy in ("surface_structural_disorder", "surface_oxygen_vacancies"):
        treated = _dunn_capacitive(strategy)
        assert treated[2] > base[2] + 0.1, (strategy, treated, base)


@pytest.mark.parametrize(("host", "strategy", "current"), [
    ("sno2", "surface_oxygen_vacancies", 2000.0),
    ("mos2", "2d_superlattices", 2000.0),
    ("sb2s3", "heterointerfaces", 5000.0),
    ("sns", "heterointerfaces", 5000.0),
    ("bi2s3", "heterointerfaces", 5000.0),
    ("cose2", "heterointerfaces", 5000.0),
    ("fe3se4", "heterointerfaces", 5000.0),
    ("co3o4", "heterointerfaces", 5000.0),
    ("mno2", "2d_superlattices", 5000.0),
    ("ti087o2", "2d_superlattices", 2000.0),
])
def test_transport_presets_raise_high_rate_capacity_of_new_hosts(host, strategy, current):
    # review §2-4: OV shells, 2D superlattices and heterointerfaces are rate strategies;
    # the gain at 2-5 A/g is at least 10 % on the pristine controls (order of the review's
    # treated-vs-control ratios, e.g. x1.7 for P-TiO2 at 10C, ref 102)
    base = _cycle2_desodiation(host, current)
    treated = _cycle2_desodiation(host, current, strategy)
    assert treated > 1.1 * base, (host, strategy, base, treated)


@pytest.mark.parametrize("host", ["red_p", "sno2", "snse", "co3o4", "mno2"])
def test_chemical_bonds_slow_the_fade_of_new_alloy_hosts(host):
    # review §7, refs 117/119: ~91 % retention after 100 cycles with P-C/P-O-C bonds versus
    # fast fade of unbonded alloys; bonding factor 0.8 removes 80 % of the LAM
    exp = galvanostatic_cycling("100 mA g-1", cycles=30)
    keep = {}
    for s in ("none", "interfacial_chemical_bonds"):
        cyc = simulate(host, exp, strategy=s).cycle_capacities()
        keep[s] = cyc["desodiation_mAh_g"].iloc[-1] / cyc["desodiation_mAh_g"].iloc[1]
    assert keep["interfacial_chemical_bonds"] > keep["none"]
    fade_none = 1 - keep["none"]
    assert 1 - keep["interfacial_chemical_bonds"] < 0.5 * fade_none
    assert math.isfinite(fade_none) and fade_none > 0.02


def test_validate_lists_every_record_with_a_reason(tmp_path):
    # `nasurf simulate validate --json` on two hosts: every knowledge-base capacity record
    # of those hosts is a row; rows outside 25 % or beyond the host say why; the medians
    # are those of the rows (recomputed here)
    import json

    from typer.testing import CliRunner

    from nasurf.knowledge import KnowledgeBase, query
    from nasurf.sim.cli import app
    from nasurf.sim.validate import CAPACITY_QUANTITIES

    db = tmp_path / "kb.sqlite"
    res = CliRunner().invoke(app, ["validate", "--db", str(db), "--host", "Sb,P", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    with KnowledgeBase.open(db) as kb:
        df = query(kb, quantity=list(CAPACITY_QUANTITIES), host=["Sb", "P"], distinct=True)
    assert sorted(r["record_id"] for r in doc["rows"]) == sorted(df["id"])
    errs = []
    for r in doc["rows"]:
        assert r["citation"].strip()
        if r["status"] != "within":
            assert r["reason"].strip(), r
        if r["relative_error"] is not None:
            errs.append(abs(r["relative_error"]))
            assert r["relative_error"] == pytest.approx(
                r["simulated_mAh_g"] / r["reported_mAh_g"] - 1, rel=1e-9)
            assert any(a.startswith("R = ") for a in r["assumptions"])
    assert doc["summary"]["overall"]["n"] == len(errs)
    assert doc["summary"]["overall"]["median_abs_relative_error"] == pytest.approx(
        float(np.median(errs)))
    assert set(doc["per_host"]) == {"Sb", "P"}


MEASURED_MEDIAN = 0.287   # `nasurf simulate validate --json`, all 105 counted rows
# (0.281 before reversible rows were read after a formation cycle at the sample's
# first-discharge current; 0.279 over 106 before the Section 7 restatement of Table 1
# row 33 counted once;
# 0.282 over 82 rows before the eight hosts of the Table 1 families added in the third pass;
# 0.308 over 106 before the fade law saturated for pulverising hosts, docs "Fade law")


def test_validate_median_over_every_record(tmp_path):
    # Issue 13 asks for a median |error| <= 25 % over all records with a preset, failures
    # included. Measured: 28.2 % over 82 rows, unchanged by the cited carbon partner of
    # composites and the SnO2 cycled volume change (no row crossed the 25 % line); 30.8 %
    # over 106 with the SnS, SnSe, Bi2S3, CoSe2, Fe3Se4, Co3O4, MnO2 and Ti0.87O2 hosts
    # (docs/simulation.md, "Hosts"); 27.3 % with the saturating fade law of alloy and
    # conversion hosts (susceptible share 23 %); 27.9 % once bonding scaled it; 28.1 % over
    # 105 once a Section 7 restatement of Table 1 row 33 counts once; 28.7 % with the
    # formation cycle before reversible rows: NOT met, and reported as such. This pins the
    # measured number (a rise by more than 2 points fails) and checks that every
    # knowledge-base capacity record of a mapped host is a row.
    from nasurf.knowledge import KnowledgeBase, query
    from nasurf.sim.validate import CAPACITY_QUANTITIES, validate_literature

    db = tmp_path / "kb.sqlite"
    rep = validate_literature(db)
    with KnowledgeBase.open(db) as kb:
        df = query(kb, quantity=list(CAPACITY_QUANTITIES), distinct=True)
    hosts = {"carbon", "TiO2", "Na2Ti3O7", "SnO2", "MoS2", "Sb", "P", "Sb2S3"}
    hosts |= {"SnS", "SnSe", "Bi2S3", "CoSe2", "Fe3Se4"}
    hosts |= {"Co3O4", "MnO2", "Ti0.87O2"}
    assert sorted(r.record_id for r in rep.rows) == sorted(df[df["host"].isin(hosts)]["id"])
    sim = [r for r in rep.rows if r.relative_error == r.relative_error]
    assert rep.overall.n == len(sim) == 105
    assert [r.record_id for r in rep.rows if r.status == "duplicate"] == [
        "S7.p-o-c-red-p-cnt.cycling_capacity"]
    assert rep.overall.median_abs == pytest.approx(
        float(np.median([abs(r.relative_error) for r in sim])))
    assert rep.overall.median_abs <= MEASURED_MEDIAN + 0.02
    assert rep.meets_target == (rep.overall.median_abs <= 0.25)
    assert set(rep.per_host) == hosts
    # every row that is not simulated or misses says why; simulated rows state the size
    for r in rep.rows:
        if r.status != "within":
            assert r.reason.strip(), r
        if r.relative_error == r.relative_error:
            assert r.assumptions[0].startswith("R = ")
    by = {r.record_id: r for r in rep.rows}
    # a record measured away from room temperature is listed, not simulated, and says why
    # (the host parameters carry no activation energies): the Ti0.87O2 superlattice at -5 C
    cold = by["S4.ti087o2-graphene-superlattice.rate_capacity.minus5c"]
    assert cold.status == "not_simulated" and cold.simulated_mAh_g != cold.simulated_mAh_g
    assert "-5 degC" in cold.reason and cold.current_mA_g == 12800
    # a condition the record leaves out but its source states: 100C = 17.7 A/g (ref 114)
    nh3 = by["S6.nh3-na2ti3o7-nanobelts.rate_capacity"]
    assert nh3.current_mA_g == 17700 and any("17.7 A g-1" in a for a in nh3.assumptions)
    # a composite's current is per composite mass and splits at equal C-rate: the host
    # carries I * Q_h / (f Q_h + (1 - f) Q_c), Q_c the cited carbon partner's 174.3 mAh/g
    # at 40 mA/g (rGO, Wang et al., Carbon 57 (2013) 202); recomputed here from the file
    from nasurf.sim.parameters import load_material

    p_go = by["T1.30.rate_capacity"]
    q_h = load_material("red_p").host_capacity_mAh_g
    host_cur = 10000.0 * q_h / (0.6 * q_h + 0.4 * 174.3)
    assert any(f"{host_cur:.4g} mA per g of host" in a for a in p_go.assumptions), \
        (host_cur, p_go.assumptions)
    assert any(a.startswith("carbon partner (0.4 of the mass)") for a in p_go.assumptions)


def test_carbon_partner_capacity_follows_the_cited_points():
    # truth: the two cited rGO points (Wang, Chou, Liu, Dou, Carbon 57 (2013) 202: 174.3
    # mAh/g at 40 mA/g, 93.3 at 1 A/g), their log-midpoint (200 mA/g) halfway between, held
    # below 40 mA/g, the same log slope above 1 A/g, never below 0
    from nasurf.sim.validate import carbon_partner_capacity

    assert carbon_partner_capacity(40.0)[0] == pytest.approx(174.3)
    assert carbon_partner_capacity(1000.0)[0] == pytest.approx(93.3)
    assert carbon_partner_capacity(200.0)[0] == pytest.approx((174.3 + 93.3) / 2)
    assert carbon_partner_capacity(5.0) == (pytest.approx(174.3), "held")
    slope = (93.3 - 174.3) / math.log(1000 / 40)
    q, how = carbon_partner_capacity(5000.0)
    assert how == "extrapolated" and q == pytest.approx(93.3 + slope * math.log(5))
    assert carbon_partner_capacity(1e7)[0] == 0.0


# Metal sulfide/selenide hosts: each file's capacity and volume change recomputed here by
# the library's own calculators (nasurf.materials: the reaction's Na count and IUPAC molar
# mass; V per formula unit from the stated density or cell) from the inputs the file
# states, so a typo in a hand-computed number fails. Truth: the stoichiometry and crystal
# data; tolerance: the files round to 3 significant figures (electrons to 0.1 Na).
def _phase(formula, density=None, **cell):
    from nasurf.materials.volume import Lattice, Phase

    return Phase(formula, density_g_cm3=density, lattice=Lattice(**cell) if cell else None)


_NA15SN4 = {"system": "cubic", "a": 13.14, "Z": 4}           # methods.md §9
_NA2S = {"system": "cubic", "a": 6.54, "Z": 4}               # antifluorite
_NA2SE = {"system": "cubic", "a": 6.81, "Z": 4}              # antifluorite
_NA3BI = {"system": "hexagonal", "a": 5.448, "c": 9.655, "Z": 2}
CHALCOGENIDES = [
    # name, reaction, accessible fraction, host phase, product phases per host
    ("sns", "SnS + 5.75 Na -> Na2S + Na3.75Sn", 0.7, ("SnS", 5.08, {}),
     [(0.25, "Na15Sn4", None, _NA15SN4), (1, "Na2S", None, _NA2S)]),
    ("snse", "SnSe + 5.75 Na -> Na2Se + Na3.75Sn", 0.7, ("SnSe", 6.18, {}),
     [(0.25, "Na15Sn4", None, _NA15SN4), (1, "Na2Se", None, _NA2SE)]),
    ("bi2s3", "Bi2S3 + 12 Na -> 3 Na2S + 2 Na3Bi", 0.7,
     ("Bi2S3", None, {"system": "orthorhombic", "a": 11.305, "b": 3.981, "c": 11.147,
                      "Z": 4}),
     [(2, "Na3Bi", None, _NA3BI), (3, "Na2S", None, _NA2S)]),
    ("cose2", "CoSe2 + 4 Na -> Co + 2 Na2Se", 0.8,
     ("CoSe2", None, {"system": "cubic", "a": 5.859, "Z": 4}),
     [(1, "Co", 8.90, {}), (2, "Na2Se", None, _NA2SE)]),
    ("fe3se4", "Fe3Se4 + 8 Na -> 3 Fe + 4 Na2Se", 0.8,
     ("Fe3Se4", None, {"system": "monoclinic", "a": 6.208, "b": 3.541, "c": 11.281,
                       "beta": 91.8, "Z": 2}),
     [(3, "Fe", 7.874, {}), (4, "Na2Se", None, _NA2SE)]),
]


@pytest.mark.parametrize(("name", "reaction", "fraction", "host", "products"), CHALCOGENIDES,
                         ids=[c[0] for c in CHALCOGENIDES])
def test_chalcogenide_host_follows_its_reaction_and_crystal_data(name, reaction, fraction,
                                                                 host, products):
    from nasurf.materials import theoretical_capacity
    from nasurf.materials.volume import volume_change

    doc = _doc(name)
    par = doc["parameters"]
    th = theoretical_capacity(reaction)
    assert par["molar_mass"]["value"] == pytest.approx(th.molar_mass_g_mol, rel=1e-4)
    # the accessible fraction of the stated reaction, rounded to 0.1 Na
    assert par["electrons"]["value"] == pytest.approx(fraction * th.electrons, abs=0.05)
    p = load_material(name)
    assert p.host_capacity_mAh_g == pytest.approx(
        th.capacity_mAh_g * par["electrons"]["value"] / th.electrons, rel=1e-3)
    formula, density, cell = host
    hp = _phase(formula, density, **cell)
    if density is None:      # a density stated from the cell must be that cell's
        rho = th.molar_mass_g_mol / (hp.volume_per_formula_unit_A3() * 0.602214076)
        assert par["density"]["value"] == pytest.approx(rho, rel=5e-3)
    vc = volume_change(hp, [(k, _phase(f, d, **(c or {}))) for k, f, d, c in products])
    assert par["volume_change"]["value"] == pytest.approx(vc.volume_change_dV_V0, rel=0.01)
    # the reaction and its capacity are what the file says
    assert f"{th.capacity_mAh_g:.0f}" in par["electrons"]["source"] or \
        f"{th.capacity_mAh_g:.1f}" in par["electrons"]["source"]
# IUPAC atomic weights (independent of the host files)
_AW = {"Co": 58.933194, "Mn": 54.938043, "Ti": 47.867, "O": 15.999}
_F_MAH = 96485.33212 / 3.6   # mAh per mol of electrons, per g -> mAh/g


@pytest.mark.parametrize(("name", "formula", "sodium"), [
    ("co3o4", {"Co": 3, "O": 4}, 8),      # Co3O4 + 8 Na -> 3 Co + 4 Na2O
    ("mno2", {"Mn": 1, "O": 2}, 4),       # MnO2 + 4 Na -> Mn + 2 Na2O
])
def test_conversion_oxide_first_sodiation_converts_the_whole_formula(name, formula, sodium):
    # truth: Q = n F / (3.6 M) from the reaction's stoichiometry and IUPAC masses. The host
    # keeps its accessible part, the rest of the conversion is the first-cycle loss, so the
    # two add up to the theoretical capacity, a slow first sodiation passes ~all of it
    # (within 3 %: the site store adds, the cut-off takes a little) and cycle 2 returns the
    # host (within 5 %)
    q_theo = sodium * _F_MAH / sum(_AW[el] * k for el, k in formula.items())
    p = load_material(name)
    assert p.molar_mass * 1e3 == pytest.approx(sum(_AW[el] * k for el, k in formula.items()),
                                               rel=1e-5)
    assert p.host_capacity_mAh_g + p.sei_capacity / 3600.0 == pytest.approx(q_theo, rel=2e-3)
    r = simulate(name, galvanostatic_cycling("25 mA g-1", cycles=2))
    cyc = r.cycle_capacities()
    assert cyc["sodiation_mAh_g"].iloc[0] == pytest.approx(q_theo, rel=0.03)
    assert cyc["desodiation_mAh_g"].iloc[1] == pytest.approx(p.host_capacity_mAh_g, rel=0.05)
    assert not r.warnings


def test_ti087o2_capacity_is_all_ti4_reduced_to_ti3():
    # truth: 0.87 e- per Ti0.87O2 (every Ti4+ -> Ti3+), M from IUPAC masses: 316.6 mAh/g at
    # x = 1; the lattice-gas OCP exhausts its sites at x_max = 0.6 (the anatase couple), so a
    # slow cycle 2 returns at most 0.6 of it and at least 85 % of that
    q_theo = 0.87 * _F_MAH / (0.87 * _AW["Ti"] + 2 * _AW["O"])
    p = load_material("ti087o2")
    assert p.host_capacity_mAh_g == pytest.approx(q_theo, rel=1e-4)
    des = _cycle2_desodiation("ti087o2", 10.0)
    assert 0.85 * 0.6 * q_theo < des <= 0.6 * q_theo * 1.02, des
