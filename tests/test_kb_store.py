"""The SQLite store: schema, curated sync, user adds, duplicates, bad input, concurrency."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nasurf.errors import DuplicateRecordError, FileFormatError, UnitError, ValidationError
from nasurf.knowledge import SCHEMA_VERSION, KnowledgeBase, default_path, parse_record
from nasurf.knowledge.store import packaged_data_dir

DATA = Path(__file__).parent / "data"
FIXTURE = DATA / "kb_fixture"

USER_ROW = {
    "material": "My TiO2", "host": "TiO2", "material_class": "intercalation",
    "strategy": "surface_oxygen_vacancies", "quantity": "rate_capacity", "value": "250",
    "unit": "mA h g-1", "current": "1 A g-1", "citation": "A. Author, Test J., 2025",
}


@pytest.fixture()
def kb(tmp_path):
    with KnowledgeBase.open(tmp_path / "kb.sqlite") as kb:
        yield kb


# --------------------------------------------------------------------------- schema / paths


def test_open_creates_versioned_schema_in_wal_mode(kb):
    assert kb.schema_version == SCHEMA_VERSION == 2
    mode = kb.connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    tables = {r[0] for r in kb.connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"observations", "refs", "meta"} <= tables


def test_default_path_follows_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("NASURF_DB", str(tmp_path / "chosen.sqlite"))
    assert default_path() == tmp_path / "chosen.sqlite"
    with KnowledgeBase.open() as kb:
        assert kb.path == tmp_path / "chosen.sqlite"
    assert (tmp_path / "chosen.sqlite").is_file()


def test_v1_database_is_migrated_keeping_user_rows(tmp_path):
    from nasurf.knowledge.store import _V1

    db = tmp_path / "old.sqlite"
    conn = sqlite3.connect(db)
    conn.executescript(_V1)
    conn.execute("INSERT INTO observations (id, origin, material, material_key, host, "
                 "material_class, strategy, sample_role, quantity, value, unit, citation) "
                 "VALUES ('U.old', 'user', 'm', 'm', 'TiO2', 'intercalation', 'none', "
                 "'treated', 'rate_capacity', 100, 'mA h g^-1', 'c')")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with KnowledgeBase.open(db) as kb:
        assert kb.schema_version == 2
        assert kb.get("U.old").value == 100
        assert kb.counts()["curated"] > 0
        restated = kb.frame("duplicate_of IS NOT NULL")
        assert len(restated) > 0 and set(restated["origin"]) == {"curated"}


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "future.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(FileFormatError, match="newer than this nasurf"):
        KnowledgeBase.open(db)


def test_not_a_database_is_a_clear_error(tmp_path):
    bad = tmp_path / "notes.sqlite"
    bad.write_text("this is not sqlite\n" * 100)
    with pytest.raises(FileFormatError, match=r"notes\.sqlite"):
        KnowledgeBase.open(bad)


# --------------------------------------------------------------------------- curated data


def test_curated_rows_match_the_packaged_csv(kb):
    import csv

    with (packaged_data_dir() / "observations.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert kb.counts()["curated"] == len(rows)
    # the P-SPAN cycling cell of Table 1 (ref 117): "1355/100/520, 91%"
    obs = kb.get("T1.31.cycling_capacity")
    assert (obs.value, obs.cycles, obs.current_mA_g, obs.ref) == (1355.0, 100, 520.0, 117)
    assert obs.origin == "curated"


def test_curated_units_are_converted_to_canonical(kb):
    # "6.89 angstrom" is stored as 0.689 nm (1 Å = 0.1 nm exactly)
    spacing = kb.get("S4.titania-carbon-superlattice.interlayer_spacing.min")
    assert spacing.unit == "nm"
    assert spacing.value == pytest.approx(0.689, rel=1e-12)


def test_curated_resync_when_the_packaged_data_change(tmp_path):
    curated = tmp_path / "curated"
    shutil.copytree(FIXTURE, curated)
    db = tmp_path / "kb.sqlite"
    with KnowledgeBase.open(db, curated_dir=curated) as kb:
        n0 = kb.counts()["curated"]
        kb.add([parse_record(USER_ROW)])
    lines = (curated / "observations.csv").read_text(encoding="utf-8").splitlines(True)
    (curated / "observations.csv").write_text("".join(lines[:-1]), encoding="utf-8")
    with KnowledgeBase.open(db, curated_dir=curated) as kb:
        assert kb.counts()["curated"] == n0 - 1
        assert kb.counts()["user"] == 1  # user rows survive a re-sync


def test_reopening_without_changes_does_not_rewrite(tmp_path):
    db = tmp_path / "kb.sqlite"
    with KnowledgeBase.open(db, curated_dir=FIXTURE) as kb:
        digest = kb.content_digest()
    with KnowledgeBase.open(db, curated_dir=FIXTURE) as kb:
        assert kb.sync_curated() is False
        assert kb.content_digest() == digest


# --------------------------------------------------------------------------- units at the edge


@pytest.mark.parametrize("unit", ["mA h g⁻¹", "mA h g−1", "mAh/g", "mA h g-1", "mA h g^-1",
                                  "A h kg^-1", "mA·h·g⁻¹"])
def test_capacity_unit_spellings_give_the_same_value(unit):
    obs = parse_record({**USER_ROW, "unit": unit, "value": "250"})
    # 1 A h kg-1 = 1 mA h g-1 exactly; pint conversions are exact to rounding
    assert obs.value == pytest.approx(250.0, rel=1e-12)
    assert obs.unit == "mA h g^-1"


@pytest.mark.parametrize("current", ["1 A g-1", "1 A g⁻¹", "1000 mA g−1", "1000 mA/g",
                                     "1 A/g"])
def test_current_spellings_are_converted_to_mA_per_g(current):
    obs = parse_record({**USER_ROW, "current": current})
    assert obs.current_mA_g == pytest.approx(1000.0, rel=1e-12)


def test_a_c_rate_is_never_a_unit():
    with pytest.raises(UnitError, match="C-rate"):
        parse_record({**USER_ROW, "unit": "2C"})


def test_c_rate_converts_only_with_a_basis():
    row = {k: v for k, v in USER_ROW.items() if k != "current"}
    with_basis = parse_record({**row, "c_rate": "10C", "c_rate_basis_mAh_g": "335.6"})
    assert with_basis.current_mA_g == pytest.approx(3356.0)  # xC = x * Q_ref (methods §7)
    assert with_basis.current_source == "c_rate"
    without = parse_record({**row, "c_rate": "10"})
    assert without.current_mA_g is None and without.c_rate == 10


def test_wrong_dimension_is_refused_naming_the_field():
    with pytest.raises(UnitError) as exc:
        parse_record({**USER_ROW, "unit": "mA g-1"}, file="x.csv", line=3)
    assert "x.csv, line 3, field 'unit'" in str(exc.value)


@pytest.mark.parametrize(("field", "value", "match"), [
    ("value", "6000", "outside the allowed range"),
    ("value", "-5", "outside the allowed range"),
    ("cycles", "0", ">= 1"),
    ("cycles", "10.5", "whole number"),
    ("current", "-1 A g-1", "> 0"),
    ("strategy", "magic", "not one of"),
    ("material_class", "metal", "not one of"),
    ("quantity", "awesomeness", "unknown quantity"),
])
def test_range_and_vocabulary_checks(field, value, match):
    with pytest.raises(ValidationError, match=match) as exc:
        parse_record({**USER_ROW, field: value}, file="in.csv", line=2)
    assert "in.csv, line 2" in str(exc.value)


def test_retention_range():
    row = {**USER_ROW, "quantity": "capacity_retention", "unit": "%", "cycles": "100"}
    assert parse_record({**row, "value": "106"}).value == 106.0  # > 100 % happens (activation)
    with pytest.raises(ValidationError, match="outside"):
        parse_record({**row, "value": "250"})


# --------------------------------------------------------------------------- user adds


def test_add_file_all_rows(kb):
    result = kb.add_file(DATA / "kb_user_good.csv")
    assert len(result.added) == 3
    assert all(i.startswith("U.") for i in result.added)
    user = kb.frame("origin = 'user'")
    assert sorted(user["value"]) == [95.5, 180.0, 250.0]
    assert set(user["citation"]) == {"A. Author et al., Test J., 2025, 1, 1"}


def test_duplicate_is_refused_and_db_unchanged(kb):
    kb.add([parse_record(USER_ROW)])
    before = kb.content_digest()
    # same sample, quantity and conditions, other spelling of the same current
    with pytest.raises(DuplicateRecordError, match="replace"):
        kb.add([parse_record({**USER_ROW, "value": "260", "current": "1000 mA g-1"})])
    assert kb.content_digest() == before


def test_replace_replaces_only_user_rows(kb):
    first = kb.add([parse_record(USER_ROW)])
    second = kb.add([parse_record({**USER_ROW, "value": "260"})], replace=True)
    assert second.replaced == first.added
    assert kb.frame("origin = 'user'")["value"].tolist() == [260.0]


def test_user_record_never_overwrites_curated(kb):
    curated = kb.get("T1.31.rate_capacity")
    clash = {**USER_ROW, "material": curated.material, "material_key": curated.material_key,
             "host": "P", "material_class": "alloying",
             "strategy": "interfacial_chemical_bonds", "value": "900",
             "current": f"{curated.current_mA_g} mA g-1"}
    before = kb.content_digest()
    with pytest.raises(DuplicateRecordError, match="curated"):
        kb.add([parse_record(clash)], replace=True)
    assert kb.content_digest() == before
    # a user id equal to a curated id lands in the U. namespace instead
    obs = parse_record({**USER_ROW, "id": "T1.31.rate_capacity"})
    assert obs.id == "U.T1.31.rate_capacity"
    kb.add([obs])
    assert kb.get("T1.31.rate_capacity").value == 827.0


def test_curated_rows_cannot_be_removed(kb):
    with pytest.raises(ValidationError, match="curated"):
        kb.remove(["T1.31.rate_capacity"])


# --------------------------------------------------------------------------- bad input files


def _digest_after_failed(kb, path, exc_type):
    before = kb.content_digest()
    with pytest.raises(exc_type) as exc:
        kb.add_file(path)
    assert kb.content_digest() == before, "a failed add must leave the database unchanged"
    return str(exc.value)


def test_unknown_unit_names_file_line_field(kb):
    msg = _digest_after_failed(kb, DATA / "kb_user_bad_unit.csv", UnitError)
    assert "kb_user_bad_unit.csv, line 3, field 'unit'" in msg
    assert "parsec" in msg


def test_missing_citation_names_file_line_field(kb):
    msg = _digest_after_failed(kb, DATA / "kb_user_no_citation.csv", ValidationError)
    assert "kb_user_no_citation.csv, line 4, field 'citation'" in msg


def test_malformed_csv_names_file_and_line(kb):
    msg = _digest_after_failed(kb, DATA / "kb_user_malformed.csv", FileFormatError)
    assert "kb_user_malformed.csv, line 3" in msg
    assert "fields" in msg


def test_duplicate_within_a_file_names_the_line(kb, tmp_path):
    lines = (DATA / "kb_user_good.csv").read_text(encoding="utf-8").splitlines()
    dup = tmp_path / "dup.csv"
    dup.write_text("\n".join([*lines, lines[1]]) + "\n", encoding="utf-8")
    msg = _digest_after_failed(kb, dup, DuplicateRecordError)
    assert "dup.csv, line 5" in msg and "line 2" in msg


def test_duplicate_against_the_database_names_the_line(kb):
    kb.add_file(DATA / "kb_user_good.csv")
    msg = _digest_after_failed(kb, DATA / "kb_user_good.csv", DuplicateRecordError)
    assert "kb_user_good.csv, line 2" in msg


def test_yaml_errors_name_the_record_line(kb):
    msg = _digest_after_failed(kb, DATA / "kb_user_records.yaml", ValidationError)
    # the second record (retention 250 %) starts on line 12 of the file
    assert "kb_user_records.yaml, line 12, field 'value'" in msg


def test_json_errors_name_the_record_line(kb):
    msg = _digest_after_failed(kb, DATA / "kb_user_records.json", UnitError)
    assert "kb_user_records.json, line 5, field 'unit'" in msg
    assert "C-rate" in msg


def test_json_and_yaml_records_load(kb, tmp_path):
    good = tmp_path / "ok.json"
    text = (DATA / "kb_user_records.json").read_text(encoding="utf-8")
    good.write_text(text.replace('"unit": "2C"', '"unit": "mAh/g"'), encoding="utf-8")
    result = kb.add_file(good)
    assert len(result.added) == 2
    assert sorted(kb.frame("origin = 'user'")["value"]) == [380.0, 420.0]  # A h kg-1 = mA h g-1


def test_malformed_json_and_yaml(tmp_path, kb):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('[\n {"material": "x",\n  "value": }\n]\n')
    msg = _digest_after_failed(kb, bad_json, FileFormatError)
    assert "bad.json, line 3" in msg
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("- material: x\n  value: [1, 2\n")
    msg = _digest_after_failed(kb, bad_yaml, FileFormatError)
    assert "bad.yaml" in msg and "line" in msg


def test_empty_and_unknown_files(tmp_path, kb):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert "empty" in _digest_after_failed(kb, empty, FileFormatError)
    odd = tmp_path / "records.xlsx"
    odd.write_bytes(b"PK\x03\x04")
    _digest_after_failed(kb, odd, FileFormatError)
    unknown_col = tmp_path / "typo.csv"
    unknown_col.write_text("material,host,material_class,strategy,quantity,value,unit,curent,"
                           "citation\nx,TiO2,intercalation,none,rate_capacity,1,mAh/g,1,c\n")
    msg = _digest_after_failed(kb, unknown_col, ValidationError)
    assert "line 2, field 'curent'" in msg and "unknown column" in msg


# --------------------------------------------------------------------------- concurrency

_WRITER = textwrap.dedent("""
    import sys
    from nasurf.knowledge import KnowledgeBase, parse_record
    db, tag, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    row = {"material": "m", "host": "TiO2", "material_class": "intercalation",
           "strategy": "none", "quantity": "rate_capacity", "unit": "mA h g-1",
           "citation": "concurrency test"}
    with KnowledgeBase.open(db) as kb:
        for i in range(n):
            # one transaction per record, interleaving with the other writer
            kb.add([parse_record({**row, "material_key": f"{tag}-{i}", "value": str(100 + i),
                                  "current_mA_g": "1000"})])
    print("done", tag)
""")


def test_two_processes_adding_at_once_lose_nothing(tmp_path):
    db = tmp_path / "shared.sqlite"
    with KnowledgeBase.open(db) as kb:  # create schema and curated rows first
        curated = kb.counts()["curated"]
    n = 40
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, str(db), tag, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
             for tag in ("a", "b")]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err.decode()
    with KnowledgeBase.open(db) as kb:
        counts = kb.counts()
        keys = {k for (k,) in kb.connection.execute(
            "SELECT material_key FROM observations WHERE origin = 'user'")}
    assert counts["user"] == 2 * n
    assert counts["curated"] == curated
    assert keys == {f"{t}-{i}" for t in "ab" for i in range(n)}
