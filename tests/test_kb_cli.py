"""``nasurf kb`` through typer's CliRunner: JSON contract, errors, exports, plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasurf.cli import app

DATA = Path(__file__).parent / "data"
runner = CliRunner()


@pytest.fixture()
def db(tmp_path):
    return tmp_path / "kb.sqlite"


def run(*args, db=None):
    argv = [*args] + (["--db", str(db)] if db is not None else [])
    return runner.invoke(app, argv)


def run_json(*args, db=None):
    result = run(*args, "--json", db=db)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_every_kb_command_has_help():
    for cmd in (["kb"], ["kb", "list"], ["kb", "query"], ["kb", "show"], ["kb", "summary"],
                ["kb", "check"], ["kb", "add"], ["kb", "import"], ["kb", "export"],
                ["kb", "place"], ["kb", "refs"], ["kb", "info"], ["kb", "remove"],
                ["kb", "plot", "rate-map"], ["kb", "plot", "cycling-map"],
                ["kb", "plot", "strategies"], ["demo"]):
        result = runner.invoke(app, [*cmd, "--help"])
        assert result.exit_code == 0, (cmd, result.output)
        assert "Usage" in result.output


def test_list_json_is_one_document(db):
    doc = run_json("kb", "list", "--host", "P", "--quantity", "rate_capacity",
                   "--min-current", "1 A g-1", db=db)
    assert doc["count"] == len(doc["records"]) > 0
    assert doc["filters"]["min_current_mA_g"] == 1000.0
    assert all(r["host"] == "P" and r["current_mA_g"] >= 1000 for r in doc["records"])


def test_show_summary_check_refs_info_json(db):
    rec = run_json("kb", "show", "T1.31.cycling_capacity", db=db)
    assert (rec["value"], rec["cycles"], rec["ref"]) == (1355.0, 100, 117)
    summary = run_json("kb", "summary", "--min-current", "1000", db=db)
    assert len(summary["strategies"]) >= 6 and summary["capacity_unit"] == "mA h g^-1"
    checks = run_json("kb", "check", "--severity", "warning", db=db)
    assert checks["counts"]["internal_contradiction"] >= 1
    assert all(f["severity"] == "warning" for f in checks["findings"])
    refs = run_json("kb", "refs", "--used", db=db)
    assert 117 in {r["ref"] for r in refs["references"]}
    info = run_json("kb", "info", db=db)
    assert info["schema_version"] == 2 and info["counts"]["curated"] > 100


def test_human_output_goes_to_stdout_without_json(db):
    result = run("kb", "summary", db=db)
    assert result.exit_code == 0
    assert "Strategies (rate capacity at >= 1000 mA g-1)" in result.stdout


def test_add_flags_then_duplicate_then_replace(db):
    args = ["kb", "add", "--material", "My TiO2", "--host", "TiO2", "--material-class",
            "intercalation", "--strategy", "surface_oxygen_vacancies", "--quantity",
            "rate_capacity", "--value", "250", "--unit", "mA h g⁻¹", "--current", "1 A g−1",
            "--citation", "Me et al., 2025"]
    added = run_json(*args, db=db)
    assert len(added["added"]) == 1 and added["added"][0].startswith("U.")
    dup = run(*args, db=db)
    assert dup.exit_code == 2
    assert "duplicate" in dup.output and "--replace" in dup.output
    replaced = run_json(*args, "--replace", db=db)
    assert replaced["replaced"] == added["added"]


def test_add_refuses_c_rate_unit_and_missing_citation(db):
    base = ["kb", "add", "--material", "X", "--host", "TiO2", "--material-class",
            "intercalation", "--strategy", "none", "--quantity", "rate_capacity",
            "--value", "100"]
    r = run(*base, "--unit", "2C", "--citation", "c", db=db)
    assert r.exit_code == 2 and "C-rate" in r.output and "field 'unit'" in r.output
    r = run(*base, "--unit", "mAh/g", db=db)
    assert r.exit_code == 2 and "field 'citation'" in r.output


def test_add_bad_file_names_file_line_field_and_changes_nothing(db):
    before = run_json("kb", "info", db=db)["counts"]
    r = run("kb", "add", str(DATA / "kb_user_bad_unit.csv"), db=db)
    assert r.exit_code == 2
    assert "kb_user_bad_unit.csv, line 3, field 'unit'" in " ".join(r.output.split())
    assert run_json("kb", "info", db=db)["counts"] == before


def test_import_export_round_trip_and_table1_contract(db, tmp_path):
    run_json("kb", "import", str(DATA / "kb_user_good.csv"), db=db)
    out = tmp_path / "table1.csv"
    doc = run_json("kb", "export", "--format", "csv", "-o", str(out), db=db)
    assert Path(doc["path"]) == out
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 34
    assert list(rows[0])[:11] == [
        "ref", "strategy", "material", "first_discharge_mAh_g",
        "first_discharge_current_mA_g", "cycling_capacity_mAh_g", "cycles",
        "cycling_current_mA_g", "retention_pct", "rate_capacity_mAh_g", "rate_current_mA_g"]
    pkg = tmp_path / "pkg"
    run_json("kb", "export", "--format", "datapackage", "-o", str(pkg), db=db)
    fresh = tmp_path / "fresh.sqlite"
    imported = run_json("kb", "import", str(pkg), db=fresh)
    assert len(imported["added"]) == 3


def test_place_json(db):
    doc = run_json("kb", "place", "--capacity", "250", "--current", "1000",
                   "--material-class", "intercalation", db=db)
    assert doc["material_class"] == "intercalation"
    assert doc["current_window_mA_g"] == [500.0, 2000.0]
    assert 0 <= doc["percentile"] <= 100 and doc["n_comparable"] >= 1


def test_plot_commands_write_figures(db, tmp_path):
    png = tmp_path / "rate.png"
    assert run("kb", "plot", "rate-map", "-o", str(png), "--capacity", "250", "--current",
               "1 A g-1", db=db).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "cyc.svg"
    assert run("kb", "plot", "cycling-map", "-o", str(svg), "--y", "retention",
               "--highlight", "T1.31.capacity_retention", db=db).exit_code == 0
    assert "<svg" in svg.read_text(encoding="utf-8")
    pdf = tmp_path / "s.pdf"
    assert run("kb", "plot", "strategies", "-o", str(pdf), db=db).exit_code == 0
    assert pdf.read_bytes()[:5] == b"%PDF-"
    bad = run("kb", "plot", "rate-map", "-o", str(tmp_path / "x.gif"), db=db)
    assert bad.exit_code == 2 and "unsupported figure format" in bad.output


def test_unknown_record_and_filter_errors(db):
    r = run("kb", "show", "nope", db=db)
    assert r.exit_code == 2 and "no record with id 'nope'" in r.output
    r = run("kb", "list", "--strategy", "vacancies", db=db)
    assert r.exit_code == 2 and "unknown strategy" in r.output
    r = run("kb", "list", "--min-current", "2C", db=db)
    assert r.exit_code == 2 and "C-rate" in r.output
