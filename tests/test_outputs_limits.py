"""Output rules (no overwrite, never over an input, nothing partial, inert CSV cells) and
resource limits (refused in seconds with a clear message), through the real CLI."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nasurf.analysis.eis.circuits import MAX_NESTING, parse_circuit
from nasurf.cli import app
from nasurf.errors import ValidationError
from nasurf.materials.capacity import compute_capacity
from nasurf.materials.formula import parse_formula
from nasurf.outputs import (
    OutputError,
    neutralise_cell,
    neutralise_frame,
    write_file,
    write_set,
)

runner = CliRunner()


def one_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.fixture()
def cell_folder(tmp_path: Path, realdata: Path) -> Path:
    folder = tmp_path / "cells"
    folder.mkdir()
    shutil.copy(realdata / "yadg" / "gcpl.issue_149.mpr", folder / "cell.mpr")
    return folder


# --- existing file / output equals input ---------------------------------------------------


def test_batch_out_over_the_raw_file_is_refused_even_with_force(cell_folder: Path) -> None:
    raw = (cell_folder / "cell.mpr").read_bytes()
    for extra in ([], ["--force"]):
        r = runner.invoke(app, ["analyze", "batch", str(cell_folder), "--out",
                                str(cell_folder / "cell.mpr"), *extra])
        line = one_error_line(r)
        assert "cell.mpr" in line and "input" in line
        assert (cell_folder / "cell.mpr").read_bytes() == raw


def test_existing_file_needs_force(cell_folder: Path, tmp_path: Path) -> None:
    target = tmp_path / "summary.csv"
    target.write_text("mine\n")
    r = runner.invoke(app, ["analyze", "batch", str(cell_folder), "--out", str(target)])
    assert "--force" in one_error_line(r)
    assert target.read_text() == "mine\n"
    r = runner.invoke(app, ["analyze", "batch", str(cell_folder), "--out", str(target),
                            "--force"])
    assert r.exit_code == 0, r.output
    assert target.read_text().startswith("file,")


def test_non_empty_folder_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "sim"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    args = ["simulate", "gitt", "--pulses", "2", "--out", str(out)]
    assert "not empty" in one_error_line(runner.invoke(app, args))
    r = runner.invoke(app, [*args, "--force"])
    assert r.exit_code == 0, r.output
    assert (out / "notes.txt").read_text() == "keep me"   # other files are kept
    assert (out / "summary.json").is_file()


# --- failure mid-write leaves nothing partial ---------------------------------------------


def test_failure_mid_write_removes_what_the_run_wrote(tmp_path: Path) -> None:
    """A real OS failure half-way (summary.json is a folder): the run's files are removed,
    the folder is left as it was, and the error is one line."""
    out = tmp_path / "sim"
    (out / "summary.json").mkdir(parents=True)
    (out / "summary.json" / "keep.txt").write_text("x")
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    r = runner.invoke(app, ["simulate", "gitt", "--pulses", "2", "--out", str(out),
                            "--force"])
    line = one_error_line(r)
    assert str(out) in line
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before


def test_failure_in_a_new_folder_leaves_no_folder(tmp_path: Path) -> None:
    out = tmp_path / "new"

    def writer(d: Path) -> list[Path]:
        (d / "rate.csv").write_text("1,2\n")
        (d / "summary.json").mkdir()
        (d / "summary.json").write_text("{}")   # IsADirectoryError: a real OS failure
        return [d / "rate.csv"]

    with pytest.raises(OutputError, match="nothing was left behind"):
        write_set(out, writer)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_write_set_moves_whole_and_reports_final_paths(tmp_path: Path) -> None:
    out = tmp_path / "res"
    paths = write_set(out, lambda d: [(d / "a.csv"), (d / "b.json")] if (
        (d / "a.csv").write_text("a") and (d / "b.json").write_text("{}")) else [])
    assert paths == [out / "a.csv", out / "b.json"]
    assert sorted(p.name for p in out.iterdir()) == ["a.csv", "b.json"]
    with pytest.raises(OutputError, match="not empty"):
        write_set(out, lambda d: [])


def test_write_file_is_atomic_and_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    p = tmp_path / "t.csv"
    p.write_text("old")

    def bad(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OutputError, match="No space left"):
        write_file(p, bad, force=True)
    assert p.read_text() == "old"
    assert [x.name for x in tmp_path.iterdir()] == ["t.csv"]
    write_file(p, lambda t: t.write_text("new"), force=True)
    assert p.read_text() == "new"


# --- CSV formula cells ------------------------------------------------------------------------


def test_neutralise_cells() -> None:
    assert neutralise_cell("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0"
    assert neutralise_cell("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise_cell("+1+1") == "'+1+1"
    assert neutralise_cell("-1.5") == "-1.5"      # a number stays a number
    assert neutralise_cell(-1.5) == -1.5
    assert neutralise_cell("TiO2") == "TiO2"


def test_kb_export_csv_neutralises_formulas_and_reads_back(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    evil = "=HYPERLINK(\"http://x\",\"y\")"
    r = runner.invoke(app, ["kb", "add", "--material", evil, "--host", "TiO2",
                            "--material-class", "intercalation", "--strategy",
                            "surface_oxygen_vacancies", "--quantity", "rate_capacity",
                            "--value", "250", "--unit", "mA h g-1", "--current", "1 A g-1",
                            "--citation", "@Me et al., 2025", "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "obs.csv"
    r = runner.invoke(app, ["kb", "export", "-o", str(out), "--table", "observations",
                            "--origin", "user", "--db", str(db)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    cells = [v for row in rows for v in row.values() if v]
    assert all(not c.startswith(("=", "+", "@")) for c in cells)
    assert any(c == "'" + evil for c in cells)
    # exporting again over the file needs --force
    r = runner.invoke(app, ["kb", "export", "-o", str(out), "--db", str(db)])
    assert "--force" in one_error_line(r)


def test_neutralise_frame_keeps_numbers() -> None:
    import pandas as pd

    df = neutralise_frame(pd.DataFrame({"a": ["=1+1", "x"], "b": [-1.0, 2.0]}))
    assert df["a"].tolist() == ["'=1+1", "x"] and df["b"].tolist() == [-1.0, 2.0]


# --- resource limits ------------------------------------------------------------------------


@pytest.mark.parametrize("argv, needle", [
    (["simulate", "cycling", "--cycles", "100000000"], "--cycles"),
    (["simulate", "cv", "--cycles", "100000"], "--cycles"),
    (["simulate", "fit", "x.csv", "--material", "hard_carbon", "--params", "shell_D",
      "--starts", "100000"], "--starts"),
    (["simulate", "sweep", "--material", "hard_carbon", "-p",
      "shell_D=1e-15:1e-12:log:10000000", "--no-progress"], "points on one axis"),
    (["simulate", "sweep", "--material", "hard_carbon", "-p",
      "shell_D=1e-15:1e-12:log:1000", "-p", "shell_thickness=1e-9:1e-8:lin:10000",
      "--no-progress"], "parameter sets"),
])
def test_oversized_runs_are_refused_before_starting(tmp_path: Path, argv: list[str],
                                                    needle: str) -> None:
    out = tmp_path / "out"
    opt = [] if "fit" in argv else ["--out", str(out / "x.csv" if "sweep" in argv else out)]
    r = runner.invoke(app, [*argv, *opt])
    line = one_error_line(r)
    assert needle in line and ("limit" in line.lower() or "at most" in line)
    assert not out.exists()


def test_capacity_input_bounds() -> None:
    for n in ("1e20", "1e308"):
        r = runner.invoke(app, ["capacity", "Sn", "--sodium", n, "--json"])
        assert "per host atom" in one_error_line(r)
    r = runner.invoke(app, ["capacity", "Sn", "--sodium", "3.75", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["capacity_mAh_g"] > 0


def test_deep_nesting_is_a_clear_error_not_a_recursion_error() -> None:
    with pytest.raises(ValidationError, match="nested more than"):
        parse_formula("(" * 2000 + "Sn" + ")" * 2000)
    with pytest.raises(ValidationError, match="nested more than"):
        compute_capacity("(" * 2000 + "Sn" + ")" * 2000 + " + 3 Na -> Na3Sn")
    deep = "R0-" + "".join(f"p(R{i + 1}," for i in range(400)) + "C1" + ")" * 400
    with pytest.raises(ValidationError, match="nested more than"):
        parse_circuit(deep)
    ok = "R0-" + "".join(f"p(R{i + 1}," for i in range(MAX_NESTING)) + "C1" + ")" * MAX_NESTING
    assert parse_circuit(ok) is not None
    r = runner.invoke(app, ["capacity", "(" * 2000 + "Sn" + ")" * 2000, "--sodium", "3"])
    assert r.exit_code == 2 and "Traceback" not in r.output
    assert len(r.output) < 2000   # a window around the position, not the whole input
