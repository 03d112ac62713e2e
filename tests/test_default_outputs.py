"""No command writes into the current directory unasked: without ``--out`` the results go
to a named folder in the user data directory ($NASURF_DATA_DIR here), and the command says
where."""

from __future__ import annotations

import json

import platformdirs
from typer.testing import CliRunner

from nasurf.cli import build_app
from nasurf.outputs import default_output_dir, user_data_dir

runner = CliRunner()


def test_default_output_dir_is_under_the_user_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("NASURF_DATA_DIR", raising=False)
    assert user_data_dir() == __import__("pathlib").Path(
        platformdirs.user_data_dir("nasurf", appauthor=False))
    assert default_output_dir("demo") == user_data_dir() / "demo"
    monkeypatch.setenv("NASURF_DATA_DIR", str(tmp_path / "d"))
    assert default_output_dir("sim") == tmp_path / "d" / "sim"


def _in_empty_cwd(tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    data = tmp_path / "data"
    monkeypatch.setenv("NASURF_DATA_DIR", str(data))
    monkeypatch.setenv("NASURF_DB", str(tmp_path / "kb.sqlite"))
    return cwd, data


def test_demo_without_out_leaves_the_cwd_empty(tmp_path, monkeypatch):
    cwd, data = _in_empty_cwd(tmp_path, monkeypatch)
    res = runner.invoke(build_app("demo"), ["demo"])
    assert res.exit_code == 0, res.output
    assert list(cwd.iterdir()) == []
    index = data / "demo" / "index.html"
    assert index.is_file()
    assert res.stdout.strip() == str(index.resolve())
    assert str(data / "demo") in res.stderr


def test_simulate_without_out_leaves_the_cwd_empty(tmp_path, monkeypatch):
    cwd, data = _in_empty_cwd(tmp_path, monkeypatch)
    res = runner.invoke(build_app("simulate", "rate"),
                        ["simulate", "rate", "--material", "na2ti3o7", "--rates", "355",
                         "--json"])
    assert res.exit_code == 0, res.output
    assert list(cwd.iterdir()) == []
    doc = json.loads(res.stdout)            # stdout stays one JSON document
    out = data / "sim"
    assert (out / "summary.json").is_file() and (out / "rate.csv").is_file()
    assert all(f.startswith(str(out)) for f in doc["files"])
    assert str(out) in res.stderr
