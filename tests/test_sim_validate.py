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
