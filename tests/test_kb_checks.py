"""Consistency findings, on the review's real rows and on constructed records.

Truths: the arithmetic of the printed numbers (1355 / 0.91), the methods.md section 8
table of theoretical capacities (SnO2 1378, Na2Ti3O7 177.7 / 266.6, P 2596, NaC6 371.9,
NaC8 278.9), and the review's own text vs its Table 1.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from nasurf.knowledge import KnowledgeBase, check, parse_record
from nasurf.knowledge.checks import half_unit, interval
from nasurf.knowledge.vocabulary import RECORD_COLUMNS


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    with KnowledgeBase.open(tmp_path_factory.mktemp("c") / "kb.sqlite") as kb:
        return check(kb)


def _of(report, kind, ref=None):
    return [f for f in report.findings if f.kind == kind and (ref is None or ref in f.refs)]


def _curated(tmp_path: Path, rows: list[dict]) -> Path:
    """A constructed curated folder (observations.csv + references.csv)."""
    folder = tmp_path / "curated"
    folder.mkdir()
    with (folder / "observations.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=RECORD_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in RECORD_COLUMNS})
    refs = sorted({int(r["ref"]) for r in rows})
    with (folder / "references.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["ref", "citation", "doi"])
        for ref in refs:
            w.writerow([ref, f"constructed reference {ref}", ""])
    return folder


def _row(**kw) -> dict:
    base = {"material": "M", "material_key": "m", "host": "TiO2",
            "material_class": "intercalation", "strategy": "none", "sample_role": "treated",
            "unit": "mA h g^-1", "approximate": "false", "ref": "1"}
    return {**base, **kw}


def _check_rows(tmp_path, rows, **kw):
    with KnowledgeBase.open(tmp_path / "kb.sqlite", curated_dir=_curated(tmp_path, rows)) as kb:
        return check(kb, **kw)


# --------------------------------------------------------------------------- helpers


def test_printed_precision():
    assert half_unit(99) == 0.5 and half_unit(98.9) == pytest.approx(0.05)
    assert half_unit(1586.2) == pytest.approx(0.05) and half_unit(10000) == 0.5
    assert interval(1300, True) == pytest.approx((1235, 1365))  # "~" gives +/-5 %


# --------------------------------------------------------------------------- real rows


def test_p_span_retention_implies_more_than_first_discharge(report):
    (f,) = _of(report, "internal_contradiction", 117)
    assert f.severity == "warning"
    assert f.values["implied_reference_capacity_mAh_g"] == pytest.approx(1355 / 0.91)
    assert f.values["implied_reference_capacity_mAh_g"] == pytest.approx(1489.0, abs=0.1)
    assert f.values["first_discharge_mAh_g"] == 1300
    assert "1489" in f.message and "~1300" in f.message and "117" in f.message


def test_consistent_retention_rows_are_not_flagged(report):
    # Sb2S3-SnS2 (ref 78): 616/0.94 = 655.3 vs 655 first discharge: within printed rounding
    # (94 % stands for 93.5-94.5 %); SnO2-x/C (ref 65): 447/1.06 = 422 < 634
    assert not _of(report, "internal_contradiction", 78)
    assert not _of(report, "internal_contradiction", 65)


def test_sno2_quoted_theoretical_capacity(report):
    (f,) = [x for x in _of(report, "theoretical_quote") if "SnO2" in x.message]
    assert f.values["quoted_mAh_g"] == 1398
    assert f.values["computed_mAh_g"] == pytest.approx(1378, abs=0.5)  # methods.md §8
    assert f.values["back_calculated_electrons"] == pytest.approx(7.86, abs=0.005)


def test_na2ti3o7_quoted_310_exceeds_the_ti_limit(report):
    (f,) = [x for x in _of(report, "theoretical_quote") if "Na2Ti3O7" in x.message]
    assert f.values["computed_mAh_g"] == pytest.approx(177.7, abs=0.05)
    assert f.values["upper_bound_mAh_g"] == pytest.approx(266.6, abs=0.05)
    assert f.values["back_calculated_electrons"] == pytest.approx(3.49, abs=0.005)
    assert "3-electron limit" in f.message


def test_red_phosphorus_2600_is_not_flagged(report):
    # "~2600" vs P -> Na3P 2596 (methods.md §8): consistent
    assert not [f for f in _of(report, "theoretical_quote") if "P -> Na3P" in f.message]


def test_text_vs_table_phosphorylated_tio2(report):
    (f,) = _of(report, "text_vs_table", 102)
    assert (f.values["text_value"], f.values["table_value"]) == (569, 334)
    assert "states no current density" in f.reading


def test_text_under_other_conditions_is_not_flagged(report):
    # SnO2-x/C: 565 at 1 A g-1 after 2000 cycles (text) vs 447 at 2 A g-1 after 2500 (table)
    assert not _of(report, "text_vs_table", 65)
    # pinecone TiO2 retention 98.9 % (text) vs 99 % (table): rounding, not a difference
    assert not _of(report, "text_vs_table", 61)


def test_above_theoretical_tells_first_discharge_from_reversible(report):
    by_id = {f.record_ids[0]: f for f in _of(report, "above_theoretical")}
    # Na2Ti3O7 particles (ref 67): 316 mA h g-1 at 1C in a rate test > 177.7 and > 266.6
    rev = by_id["S2.na2ti3o7-particles-urea.rate_capacity.1c"]
    assert rev.severity == "warning"
    assert rev.values["theoretical_mAh_g"] == pytest.approx(177.7, abs=0.05)
    # MoS2-graphene first discharge 2220 > 669.7: info (SEI)
    first = by_id["T1.18.first_discharge_capacity"]
    assert first.severity == "info" and "SEI" in first.message
    assert first.values["theoretical_mAh_g"] == pytest.approx(669.7, abs=0.05)
    # P-CNT cycling 1586.2 < P 2596: nothing
    assert "T1.33.cycling_capacity" not in by_id


def test_every_finding_names_its_reference(report):
    assert report.findings
    for f in report.findings:
        assert f.refs and any(str(r) in f.message for r in f.refs)


# --------------------------------------------------------------------------- constructed


def test_hard_carbon_279_is_nac8_not_nac6(tmp_path):
    rep = _check_rows(tmp_path, [_row(
        id="S1.hc.theoretical_capacity", material="hard carbon", material_key="hc",
        host="carbon", material_class="adsorption_insertion",
        quantity="theoretical_capacity", value="279", sample_role="reference",
        raw_text="a theoretical capacity of 279 mA h g-1 (NaC6)", location="Section 1")])
    (f,) = rep.findings
    assert f.kind == "theoretical_quote" and f.severity == "warning"
    assert f.values["matching_nac_n"] == 8 and f.values["stated_nac_n"] == 6
    assert "NaC8, not NaC6" in f.message


def test_c_rate_that_does_not_match_its_current(tmp_path):
    rows = [
        # 10C on 335.6 is 3356 mA g-1, but 1000 is printed: flagged
        _row(id="S.bad", material_key="bad", quantity="rate_capacity", value="150",
             current_mA_g="1000", c_rate="10", c_rate_basis_mAh_g="335.6",
             location="Section 5"),
        # 10C on 335 = 3350 printed as 3350: consistent
        _row(id="S.good", material_key="good", quantity="rate_capacity", value="150",
             current_mA_g="3350", c_rate="10", c_rate_basis_mAh_g="335",
             location="Section 5"),
    ]
    rep = _check_rows(tmp_path, rows, kinds=["c_rate_mismatch"])
    (f,) = rep.findings
    assert f.record_ids == ("S.bad",)
    assert f.values["implied_current_mA_g"] == pytest.approx(3356.0)
    assert f.values["implied_basis_mAh_g"] == pytest.approx(100.0)


def test_c_rate_in_text_against_table_current(tmp_path):
    rows = [
        _row(id="T1.01.rate_capacity", material_key="x", quantity="rate_capacity", value="147",
             current_mA_g="1000", location="Table 1, row 1"),
        # the text prints the same 147 at 10C; on TiO2's 335.6 that is 3356, not 1000
        _row(id="S5.x.rate_capacity", material_key="x", quantity="rate_capacity", value="147",
             c_rate="10", location="Section 5"),
    ]
    rep = _check_rows(tmp_path, rows, kinds=["c_rate_mismatch"])
    (f,) = rep.findings
    assert f.severity == "info"  # basis assumed (theoretical), not stated
    assert f.values["printed_current_mA_g"] == 1000


def test_text_vs_table_same_conditions_flagged_other_conditions_not(tmp_path):
    rows = [
        _row(id="T1.01.cycling_capacity", material_key="s", quantity="cycling_capacity",
             value="447", current_mA_g="2000", cycles="2500", location="Table 1, row 1",
             host="SnO2", material_class="conversion_alloying"),
        _row(id="S2.s.cycling_capacity", material_key="s", quantity="cycling_capacity",
             value="565", current_mA_g="1000", cycles="2000", location="Section 2",
             host="SnO2", material_class="conversion_alloying"),
        _row(id="S2.s.cycling_capacity.same", material_key="s", quantity="cycling_capacity",
             value="500", current_mA_g="2000", cycles="2500", location="Section 2",
             host="SnO2", material_class="conversion_alloying"),
    ]
    rep = _check_rows(tmp_path, rows, kinds=["text_vs_table"])
    (f,) = rep.findings
    assert f.record_ids == ("S2.s.cycling_capacity.same", "T1.01.cycling_capacity")
    assert f.values["difference"] == pytest.approx(53)


def test_first_charge_above_first_discharge_and_ice(tmp_path):
    rows = [
        _row(id="T1.01.first_discharge_capacity", quantity="first_discharge_capacity",
             value="300", current_mA_g="50", location="Table 1, row 1"),
        _row(id="T1.01.first_charge_capacity", quantity="first_charge_capacity", value="320",
             current_mA_g="50", location="Table 1, row 1"),
        _row(id="T1.01.ice", quantity="initial_coulombic_efficiency", value="80", unit="%",
             location="Table 1, row 1"),
    ]
    rep = _check_rows(tmp_path, rows, kinds=["internal_contradiction"])
    messages = " | ".join(f.message for f in rep.findings)
    assert len(rep.findings) == 2
    assert "exceeds first sodiation" in messages
    assert "106.7 %" in messages  # 320/300


def test_user_records_are_checked_too(tmp_path):
    empty = tmp_path / "none"
    empty.mkdir()
    with KnowledgeBase.open(tmp_path / "u.sqlite", curated_dir=empty) as kb:
        kb.add([parse_record({"material": "my Sb", "host": "Sb", "material_class": "alloying",
                              "strategy": "none", "quantity": "reversible_capacity",
                              "value": "700", "unit": "mAh/g", "current": "100 mA g-1",
                              "citation": "me"})])
        rep = check(kb)
    (f,) = rep.findings
    assert f.kind == "above_theoretical" and f.severity == "warning"
    assert f.values["theoretical_mAh_g"] == pytest.approx(660, abs=0.5)  # Sb -> Na3Sb
    assert "me" in f.message
