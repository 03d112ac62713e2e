"""``nasurf simulate`` through typer's CliRunner, and the demo section."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from nasurf.report.simulation_section import demo_section
from nasurf.sim.cli import app
from nasurf.sim.strategies import list_strategies

runner = CliRunner()


def test_list_json_has_kb_strategies_plus_none():
    res = runner.invoke(app, ["list", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert set(doc["strategies"]) == {
        "none", "surface_oxygen_vacancies", "heterointerfaces", "2d_superlattices",
        "surface_structural_disorder", "surface_functionalisation",
        "interfacial_chemical_bonds"}
    assert {"hard_carbon", "na2ti3o7", "anatase_tio2", "sb"} <= set(doc["materials"])
    assert doc["strategies"] == list_strategies()


def test_rate_json_writes_files(tmp_path):
    res = runner.invoke(app, ["rate", "--material", "na2ti3o7", "--rates", "35.5,355",
                              "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert len(doc["rate_table"]) == 3          # two currents + return to the first
    assert doc["rate_table"][0]["desodiation_mAh_g"] > doc["rate_table"][1]["desodiation_mAh_g"]
    assert (tmp_path / "rate.csv").is_file() and (tmp_path / "summary.json").is_file()
    header = (tmp_path / "rate.csv").read_text().splitlines()[0]
    assert "Test Time / s" in header and "Current / A" in header


def test_bad_material_is_a_clear_error(tmp_path):
    res = runner.invoke(app, ["rate", "--material", "unobtainium", "--out", str(tmp_path)])
    assert res.exit_code == 2
    assert "unknown material" in res.output


def test_demo_section_is_quick_html():
    title, html = demo_section()
    assert "Na2Ti3O7" in title and "<table>" in html and "base64" in html


def test_demo_sections_hook_and_nasurf_demo_page(tmp_path):
    from nasurf.report.demo import write_demo
    from nasurf.report.simulation_section import demo_sections

    providers = demo_sections()
    assert len(providers) == 1 and callable(providers[0])
    res = write_demo(tmp_path / "demo")
    assert any("Simulation" in s for s in res.sections), res.sections
    assert not any("Simulation" in s for s in res.failed_sections)
    assert "rate capability of surface-engineered Na2Ti3O7" in res.path.read_text()


def test_list_names_the_1c_basis_it_prints():
    # SnO2's file sets 2.45 accessible Na per SnO2 (M = 150.71 g/mol): 2.45·F/M = 435.7 mAh/g,
    # the host's x 0 -> 1 capacity, not the 1378 mAh/g of the full conversion + alloying
    q_sno2 = 2.45 * 96485.33212 / 150.709 / 3.6
    res = runner.invoke(app, ["list"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    rows = {line.split("│")[1].strip(): line for line in res.stdout.splitlines()
            if line.count("│") >= 3}
    assert f"{q_sno2:.1f} (host capacity, x 0 to 1)" in rows["sno2"]
    assert "300.0 (stated practical capacity)" in rows["hard_carbon"]
    assert "theoretical" not in res.stdout
