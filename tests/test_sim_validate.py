"""`nasurf simulate validate`: how records are read and counted (issue 13, accuracy).

Truths: YAML's own rule that a mapping key is unique (PyYAML keeps the last silently, so
the loader must refuse it), and the knowledge base's rule of one row per measurement
(``nasurf.knowledge.query.distinct_measurements``), applied once a cited condition of
``validation.yaml`` fills a record's missing current.
"""

from __future__ import annotations

import math
from importlib import resources

import pandas as pd
import pytest
import yaml

from nasurf.errors import ValidationError
from nasurf.sim.validate import _same_measurement, load_unique_yaml, validate_literature


def test_a_key_given_twice_is_refused_with_its_lines():
    text = "hosts:\n  TiO2: anatase_tio2\nmorphology:\n  a: {radius: 1}\n  a: {radius: 2}\n"
    with pytest.raises(ValidationError) as exc:
        load_unique_yaml(text, "validation.yaml")
    msg = str(exc.value)
    assert "'a'" in msg and "lines 4 and 5" in msg and "validation.yaml" in msg
    # a key repeated in another mapping is not a duplicate
    assert load_unique_yaml("x: {a: 1}\ny: {a: 2}\n", "f.yaml") == {"x": {"a": 1},
                                                                    "y": {"a": 2}}


def test_packaged_validation_file_has_each_sample_once():
    # the packaged file parses under the unique-key rule and reads as plain YAML does
    text = (resources.files("nasurf.sim") / "data" / "validation.yaml").read_text("utf-8")
    assert load_unique_yaml(text, "validation.yaml") == yaml.safe_load(text)


def _rec(rid, current, location="Table 1"):
    return {"id": rid, "material_key": "p-o-c-red-p-cnt", "quantity": "cycling_capacity",
            "sample_role": "treated", "current_mA_g": current, "cycles": 100.0,
            "temperature_C": math.nan, "location": location, "duplicate_of": None}


def test_a_cited_current_that_makes_two_records_one_measurement_counts_once():
    # truth: the knowledge base's rule, a text figure restating a Table 1 row under the same
    # conditions is one measurement (the Table 1 row kept)
    df = pd.DataFrame([_rec("T1.33.c", 520.0), _rec("S7.c", math.nan, "Section 7"),
                       _rec("S7.other", math.nan, "Section 7")])
    assert _same_measurement(df, {"S7.c": (520.0, "cited")}) == {"S7.c": "T1.33.c"}
    # another current is another measurement; a record left without one is kept
    assert _same_measurement(df, {"S7.c": (1000.0, "cited")}) == {}
    assert _same_measurement(df, {}) == {}


def test_duplicate_record_is_listed_but_not_counted(tmp_path):
    # the P-O-C red P/CNT value after 100 cycles is printed in Section 7 without a current
    # and in Table 1 row 33 at 520 mA/g; validation.yaml supplies the 520 mA/g
    rep = validate_literature(tmp_path / "kb.sqlite", hosts=["P"])
    by = {r.record_id: r for r in rep.rows}
    dup = by["S7.p-o-c-red-p-cnt.cycling_capacity"]
    assert dup.status == "duplicate" and "T1.33.cycling_capacity" in dup.reason
    assert dup.current_mA_g == 520 and math.isnan(dup.relative_error)
    kept = by["T1.33.cycling_capacity"]
    assert math.isfinite(kept.relative_error) and kept.reported_mAh_g == dup.reported_mAh_g
    counted = [r for r in rep.rows if math.isfinite(r.relative_error)]
    assert rep.per_host["P"].n == len(counted) == len(rep.rows) - 1
    assert rep.to_dict()["summary"]["simulated"] == len(counted)


def test_binder_free_arrays_state_their_loading():
    # one rule for every array grown on the current collector (validation.yaml header):
    # each states the lower binder-free loading, the pure TiO2 tubes (the review's control
    # of the phosphorylated tubes, the same anodised arrays) as well
    from nasurf.sim.validate import validation_config

    morph = validation_config()["morphology"]
    arrays = [k for k, (_, basis, _, _) in morph.items()
              if "array" in k or "same anodised tubes" in basis]
    assert "tio2-tubes-pure" in arrays and len(arrays) >= 8
    for k in arrays:
        assert morph[k][2] is not None, k
    assert morph["tio2-tubes-pure"][:1] + morph["tio2-tubes-pure"][2:3] == \
        morph["p-tio2-nanotube-arrays"][:1] + morph["p-tio2-nanotube-arrays"][2:3]


def test_reversible_rows_are_read_after_a_formation_cycle(tmp_path):
    # truth: the protocol built here from the library's own pieces — the pinecone TiO2 at
    # its 30 nm size with the OV preset, one cycle at its Table 1 first-discharge current
    # (50 mA/g), then one at the record's 10 A/g; the cycle-2 desodiation scaled by the
    # connected fraction the fade law leaves after the formation cycle
    from nasurf.sim import load_material, simulate
    from nasurf.sim.experiment import Experiment
    from nasurf.sim.parameters import at_particle_radius
    from nasurf.sim.protocol import lam_factor, susceptible_fraction
    from nasurf.sim.simulate import resolve_parameters

    rep = validate_literature(tmp_path / "kb.sqlite", hosts=["TiO2"])
    by = {r.record_id: r for r in rep.rows}
    row = by["T1.03.rate_capacity"]
    assert any(a.startswith("formation cycle at 50 mA/g (the sample's own first-discharge")
               for a in row.assumptions), row.assumptions
    base = load_material("anatase_tio2")
    if base.size_distribution is not None:
        base = base.with_changes(size_distribution=None)
    p = resolve_parameters(at_particle_radius(base, 15e-9), "surface_oxygen_vacancies")
    exp = Experiment.from_strings(
        ["Sodiate at 50 mA g-1 until 0.01 V", "Desodiate at 50 mA g-1 until 3.0 V",
         "Sodiate at 10000 mA g-1 until 0.01 V", "Desodiate at 10000 mA g-1 until 3.0 V"],
        lower_cutoff_V=0.01, upper_cutoff_V=3.0)
    res = simulate(p, exp)
    cyc = res.cycle_capacities()
    a2 = float(lam_factor(float(res.model.lam_rate[0]),
                          cyc["sodiation_mAh_g"].iloc[0] / p.host_capacity_mAh_g, 1.0,
                          susceptible_fraction(p.volume_change, p.bonding_factor)))
    assert 0.99 < a2 < 1.0
    assert row.simulated_mAh_g == pytest.approx(a2 * cyc["desodiation_mAh_g"].iloc[1],
                                                rel=1e-9)
    # a first sodiation is its own formation cycle, at its own current: no formation line
    first = by["T1.03.first_discharge_capacity"]
    assert first.simulated_mAh_g == pytest.approx(cyc["sodiation_mAh_g"].iloc[0], rel=1e-9)
    assert not any(a.startswith("formation cycle") for a in first.assumptions)
    # a sample without a first-discharge current is formed at the host's lowest cited one
    tubes = by["S5.tio2-tubes-pure.rate_capacity"]
    assert any(a.startswith("formation cycle at 33.6 mA/g (no first-discharge current")
               for a in tubes.assumptions), tubes.assumptions
