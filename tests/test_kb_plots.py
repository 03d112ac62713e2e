"""Figures: formats, what is drawn, highlighting."""

from __future__ import annotations

import pytest
from matplotlib.collections import PathCollection

from nasurf.errors import ValidationError
from nasurf.knowledge import (
    Highlight,
    KnowledgeBase,
    cycling_map,
    distinct_measurements,
    figure_svg,
    query,
    rate_map,
    save_figure,
    strategy_comparison,
)


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    with KnowledgeBase.open(tmp_path_factory.mktemp("p") / "kb.sqlite") as kb:
        yield kb


def _points(fig) -> int:
    ax = fig.axes[0]
    return sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))


def test_rate_map_draws_each_measurement_once(kb):
    expected = distinct_measurements(query(kb, quantity="rate_capacity", sample_role="treated"))
    expected = expected[expected["current_mA_g"].notna()]
    fig = rate_map(kb)
    assert _points(fig) == len(expected)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = {t.get_text() for leg in fig.legends for t in leg.get_texts()}
    assert {"Surface oxygen vacancies", "Interfacial chemical bonds", "intercalation"} <= labels


def test_highlight_adds_one_prominent_point(kb):
    plain = _points(rate_map(kb))
    fig = rate_map(kb, highlight=Highlight(250, 1000, label="my TiO2"))
    assert _points(fig) == plain + 1
    assert any(t.get_text() == "my TiO2" for t in fig.axes[0].texts)


def test_cycling_map_capacity_and_retention(kb):
    cap = cycling_map(kb, y="capacity")
    ret = cycling_map(kb, y="retention", highlight=Highlight(None, 1000, 2000, 95.0))
    n_ret = len(distinct_measurements(query(kb, quantity="capacity_retention",
                                            sample_role="treated")).dropna(subset=["cycles"]))
    assert _points(ret) == n_ret + 1
    assert "retention" in ret.axes[0].get_ylabel().lower()
    assert "capacity" in cap.axes[0].get_ylabel().lower()
    with pytest.raises(ValidationError):
        cycling_map(kb, y="energy")


def test_strategy_comparison_has_six_boxes(kb):
    fig = strategy_comparison(kb, min_current_mA_g=1000)
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert len(ticks) == 6 and ticks[0].startswith("Surface")


@pytest.mark.parametrize(("suffix", "magic"), [(".png", b"\x89PNG"), (".pdf", b"%PDF"),
                                               (".svg", b"<?xml")])
def test_save_formats(kb, tmp_path, suffix, magic):
    path = save_figure(rate_map(kb), tmp_path / f"fig{suffix}", dpi=80)
    assert path.read_bytes()[:len(magic)] == magic


def test_svg_output_is_deterministic_and_inline_ready(kb, tmp_path):
    a = save_figure(rate_map(kb), tmp_path / "a.svg").read_bytes()
    b = save_figure(rate_map(kb), tmp_path / "b.svg").read_bytes()
    assert a == b
    inline = figure_svg(rate_map(kb))
    assert inline.startswith("<svg") and "<metadata>" not in inline


def test_bad_suffix(kb, tmp_path):
    with pytest.raises(ValidationError, match="unsupported figure format"):
        save_figure(rate_map(kb), tmp_path / "fig.bmp")
