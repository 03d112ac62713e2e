"""The ``capacity``, ``volume``, ``crate`` and ``molar-mass`` commands, through typer.

Numbers are checked against methods.md §7-§9 (same truths as test_materials.py); these
tests check the CLI contract: one JSON document on stdout with ``--json``, exit status 2
and a message on stderr for bad input, human tables otherwise.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from nasurf.cli import app

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, list(args))


def run_json(*args: str):
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output + result.stderr
    return json.loads(result.stdout)


def test_capacity_reaction_json():
    doc = run_json("capacity", "SnO2 + 7.75 Na -> 2 Na2O + Na3.75Sn")
    assert {"capacity_mAh_g", "electrons", "molar_mass_g_mol", "host", "reaction",
            "notes"} <= set(doc)
    assert doc["capacity_mAh_g"] == pytest.approx(1378, abs=0.5)  # §8, printed integer
    assert doc["electrons"] == 7.75
    assert doc["molar_mass_g_mol"] == pytest.approx(150.708, abs=5e-4)
    assert doc["host"] == "SnO2"
    assert doc["reaction"] == "SnO2 + 7.75 Na -> 2 Na2O + Na3.75Sn"


def test_capacity_formula_with_sodium_json():
    doc = run_json("capacity", "P", "--sodium", "3")
    assert doc["capacity_mAh_g"] == pytest.approx(2596, abs=0.5)
    assert doc["reaction"] is None
    doc = run_json("capacity", "Na2Ti3O7", "-n", "2")
    assert doc["capacity_mAh_g"] == pytest.approx(177.7, abs=0.05)
    assert any("pre-sodiated" in n for n in doc["notes"])


def test_capacity_quoted_check_json():
    doc = run_json("capacity", "SnO2 + 7.75 Na -> 2 Na2O + Na3.75Sn", "--quoted", "1398")
    assert doc["quoted_check"]["verdict"] == "inconsistent"
    assert doc["quoted_check"]["back_calculated_electrons"] == pytest.approx(7.86, abs=0.005)
    doc = run_json("capacity", "Na2Ti3O7", "-n", "2", "--quoted", "310")
    assert doc["quoted_check"]["verdict"] == "exceeds_redox_limit"


def test_capacity_human_output():
    result = run("capacity", "Sb + 3 Na -> Na3Sb")
    assert result.exit_code == 0
    assert "660.4" in result.stdout and "Sb" in result.stdout


@pytest.mark.parametrize(("args", "fragment"), [
    (("capacity", "hard carbon"), "no stoichiometric theoretical capacity"),
    (("capacity", "C"), "no stoichiometric theoretical capacity"),
    (("capacity", "SnO2 + 7 Na -> 2 Na2O + Na3.75Sn"), "Na: 7 on the left, 7.75 on the right"),
    (("capacity", "P"), "--sodium"),
    (("capacity", "Xq", "--sodium", "1"), "unknown element"),
    (("volume", "P"), "ambiguous"),
    (("volume", "--host", "Sn:density=7.287"), "at least one"),
    (("crate", "--c-rate", "2"), "--basis is required"),
    (("crate", "--c-rate", "2", "--current", "3", "--basis", "300"), "exactly one"),
    (("crate", "--current", "5 mA cm-2", "--basis", "300"), "expected specific_current"),
    (("molar-mass", "Na+"), "charges are not supported"),
])
def test_bad_input_exits_2_with_message_and_no_stdout(args, fragment):
    for extra in ((), ("--json",)):
        result = run(*args, *extra)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert fragment in " ".join(result.stderr.split())


def test_volume_system_json():
    doc = run_json("volume", "Sn")
    assert doc["volume_ratio_V1_V0"] == pytest.approx(5.24, abs=0.005)  # §9
    assert doc["volume_change_dV_V0"] == pytest.approx(4.24, abs=0.005)
    assert "V1/V0" in doc["label"] and "ΔV/V0" in doc["label"]
    assert all(p["source"] for p in doc["inputs"])


def test_volume_all_systems_json():
    doc = run_json("volume")
    ratios = {d["name"]: d["volume_ratio_V1_V0"] for d in doc}
    assert ratios["SnO2"] == pytest.approx(6.31, abs=0.005)
    assert ratios["MoS2"] == pytest.approx(2.96, abs=0.005)
    assert len(doc) == 7


def test_volume_custom_phases_json():
    doc = run_json("volume", "--host", "Sb:trigonal,a=4.3084,c=11.274,Z=6",
                   "--product", "Na3Sb:hexagonal,a=5.366,c=9.515,Z=2")
    assert doc["volume_ratio_V1_V0"] == pytest.approx(3.93, abs=0.005)  # §9 Sb
    doc = run_json("volume", "--host", "MoS2:density=5.06",
                   "--product", "Mo:cubic,a=3.147,Z=2", "--product", "2 Na2S:cubic,a=6.54,Z=4")
    assert doc["volume_ratio_V1_V0"] == pytest.approx(2.96, abs=0.005)  # §9 MoS2


def test_volume_human_output_lists_inputs():
    result = run("volume", "Bi")
    assert result.exit_code == 0
    assert "3.50" in result.stdout and "+250 %" in result.stdout
    assert "9.79" in result.stderr


@pytest.mark.parametrize(("args", "current", "c_rate"), [
    (("--c-rate", "20", "--basis", "335.6"), 6712.0, 20.0),
    (("--c-rate", "C/10", "--basis", "847"), 84.7, 0.1),
    (("--c-rate", "2C", "--basis", "335.6 mAh g-1"), 671.2, 2.0),
    (("--current", "847", "--basis", "847"), 847.0, 1.0),
    (("--current", "0.3 A g-1", "--basis", "300", "--basis-kind", "practical"), 300.0, 1.0),
])
def test_crate_json(args, current, c_rate):
    doc = run_json("crate", *args)
    assert doc["current_mA_g"] == pytest.approx(current)
    assert doc["c_rate"] == pytest.approx(c_rate)
    assert doc["basis"]["value_mAh_g"] > 0


def test_crate_basis_kind_recorded():
    doc = run_json("crate", "--c-rate", "1", "--basis", "300", "--basis-kind", "practical",
                   "--basis-source", "measured, cycle 2")
    assert doc["basis"] == {"value_mAh_g": 300.0, "kind": "practical",
                            "source": "measured, cycle 2", "unit": "mAh g-1"}


def test_molar_mass_json_and_human():
    doc = run_json("molar-mass", "Na2Ti3O7")
    assert doc["molar_mass_g_mol"] == pytest.approx(301.574, abs=5e-4)  # §8
    assert doc["composition"] == {"Na": 2.0, "Ti": 3.0, "O": 7.0}
    result = run("molar-mass", "Sn4P3")
    assert result.exit_code == 0 and "567.76" in result.stdout


@pytest.mark.parametrize("command", ["capacity", "volume", "crate", "molar-mass"])
def test_help_texts(command):
    result = run(command, "--help")
    assert result.exit_code == 0
    assert "--json" in result.stdout
