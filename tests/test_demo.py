"""``nasurf demo``: a self-contained HTML overview, without touching the user's database."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from nasurf.cli import app
from nasurf.report import demo as demo_module
from nasurf.report import register_section, write_demo

runner = CliRunner()


def test_demo_writes_self_contained_html(tmp_path, monkeypatch):
    user_db = tmp_path / "user" / "kb.sqlite"
    monkeypatch.setenv("NASURF_DB", str(user_db))
    out = tmp_path / "site"
    result = runner.invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    index = out / "index.html"
    assert result.stdout.strip() == str(index.resolve())
    html = index.read_text(encoding="utf-8")
    for title in ("Strategy summary", "Rate map", "Cycling map", "Strategy comparison",
                  "Consistency findings", "Citations"):
        assert f"<h2>{title}</h2>" in html
    # self-contained: no external resources
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html and "<link" not in html
    assert html.count("<svg") >= 4
    # the findings the review's numbers give are in the page
    assert "1489" in html and "1398" in html
    assert not user_db.exists(), "the demo must not create or touch the user's database"


def test_registered_sections_are_added_and_failures_contained(tmp_path, monkeypatch):
    from nasurf.report import knowledge_section

    monkeypatch.setattr(demo_module, "_REGISTERED", [])
    # only the mechanism is under test here: keep the page small
    monkeypatch.setattr(demo_module, "SECTION_MODULES", ())
    monkeypatch.setattr(knowledge_section, "knowledge_sections",
                        lambda: [knowledge_section.summary_section])

    def extra(ctx):
        return "Extra analysis", "<p>extra content</p>"

    def broken(ctx):
        raise RuntimeError("boom")

    register_section(extra, order=50)
    register_section(broken, order=60)
    result = write_demo(tmp_path / "o")
    html = result.path.read_text(encoding="utf-8")
    assert result.sections[0] == "Strategy summary"
    assert "Extra analysis" in result.sections
    assert "<p>extra content</p>" in html
    assert result.failed_sections and "boom" in html
    assert result.sections[-1] == "Citations"  # the reference list closes the page


def test_a_listed_section_module_that_cannot_be_imported_is_a_failed_section(tmp_path,
                                                                              monkeypatch):
    from nasurf.report import knowledge_section

    monkeypatch.setattr(demo_module, "_REGISTERED", [])
    monkeypatch.setattr(demo_module, "SECTION_MODULES", ("nasurf.report.no_such_section",))
    monkeypatch.setattr(knowledge_section, "knowledge_sections", lambda: [])
    result = write_demo(tmp_path / "o")
    assert result.failed_sections == ("nasurf.report.no_such_section",)
    assert "no_such_section" in result.path.read_text(encoding="utf-8")


def test_every_listed_section_module_exists():
    import importlib

    for name in demo_module.SECTION_MODULES:
        assert callable(importlib.import_module(name).demo_sections), name
