"""`nasurf read` / `nasurf formats` through typer's CliRunner (registered on a local app,
since the lead wires nasurf.io.cli into nasurf.cli)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from nasurf.io.cli import register

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"

app = typer.Typer()
register(app)
runner = CliRunner()


def test_read_json_summary():
    path = REALDATA / "battery-data-format/SINTEF__LiGrR2032__2024-04-30__25degC__Landt.csv"
    res = runner.invoke(app, ["read", str(path), "--json", "--cycles", "sodiation_desodiation"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["rows"] == 25162 and doc["file_format"] == "landt-csv"
    assert doc["ranges"]["Voltage / V"][0] < 0.02      # 0.01 V cut-off of the graphite cell
    assert doc["cycles"]["count"] >= 2


def test_read_human_output_and_formats(tmp_path: Path):
    res = runner.invoke(app, ["read", str(REALDATA / "yadg/peis.mpt")])
    assert res.exit_code == 0 and "biologic-mpt" in res.stdout
    res = runner.invoke(app, ["formats", "--json"])
    assert res.exit_code == 0 and "biologic-mpr" in json.loads(res.stdout)


def test_read_error_is_clean(tmp_path: Path):
    bad = tmp_path / "empty.csv"
    bad.write_bytes(b"")
    res = runner.invoke(app, ["read", str(bad), "--json"])
    assert res.exit_code == 2
    assert res.stdout == ""
    assert "empty file" in " ".join(res.stderr.split())   # rich wraps long lines
