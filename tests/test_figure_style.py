"""Every figure nasurf draws (knowledge maps, CV kinetics, GITT, EIS, simulation) is in the
one paper style of nasurf.figures.style, and every figure file goes through its one writer.

The truths are the style's own numbers (journal widths 85/120/175 mm; text 6-9 pt at print
size; Okabe-Ito colours) and properties of the files (SVG without raster images, PDF
magic, PNG at 600 dpi). The figures come from tests/figure_cases.py (known-answer inputs).
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_hex, to_rgba
from matplotlib.text import Text

from figure_cases import cases
from nasurf.figures.style import PALETTE, PNG_DPI, WIDTHS_MM, to_svg, write_figure
from nasurf.knowledge.plots import STRATEGY_COLOURS

SRC = Path(__file__).resolve().parents[1] / "src" / "nasurf"
# being rewritten by another change; it still has its own writer and a backend switch
EXEMPT: set[Path] = set()   # every figure module now draws through figures/style.py
CASES = cases()
# quantities without a unit, named as such
DIMENSIONLESS = {"Cycle number", "Spectrum number", "b (i = a·v$^b$)"}
UNIT = re.compile(r" / \S|\(\S[^)]*\)")
ALLOWED = {c.lower() for c in (*PALETTE, *STRATEGY_COLOURS.values())}


@pytest.fixture(scope="module", params=sorted(CASES))
def figure(request):
    return request.param, CASES[request.param]()


def test_journal_width(figure):
    name, fig = figure
    w_mm = fig.get_size_inches()[0] * 25.4
    assert any(abs(w_mm - w) < 0.5 for w in WIDTHS_MM.values()), (name, w_mm)
    assert fig.get_size_inches()[1] * 25.4 <= 240, name      # fits a page


def test_text_is_readable_at_print_size(figure):
    name, fig = figure
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    assert texts, name
    for t in texts:
        assert 6.0 <= t.get_fontsize() <= 9.0, (name, t.get_text(), t.get_fontsize())


def test_axes_are_labelled_with_units(figure):
    name, fig = figure
    for ax in fig.axes:
        x, y = ax.get_xlabel(), ax.get_ylabel()
        # a shared x axis is labelled once, on the bottom panel
        shared = len(ax.get_shared_x_axes().get_siblings(ax)) > 1
        # categories (strategies, ...) are named by their tick labels
        categorical = any(re.search("[A-Za-z]{3}", t.get_text()) for t in ax.get_xticklabels())
        if x or not (shared or categorical):
            assert x in DIMENSIONLESS or UNIT.search(x), (name, x)
        assert y in DIMENSIONLESS or UNIT.search(y.replace("\n", " ")), (name, y)


def _colours(fig) -> set[str]:
    out = set()
    for ax in fig.axes:
        for ln in ax.lines:
            out |= {ln.get_color(), ln.get_markerfacecolor(), ln.get_markeredgecolor()}
        for c in ax.collections:
            out |= {to_hex(v) for v in np.atleast_2d(c.get_facecolor()) if len(v)}
        for p in ax.patches:
            out.add(to_hex(p.get_facecolor()))
    keep = set()
    for c in out:
        if c is None or (isinstance(c, str) and c == "none"):
            continue
        r, g, b, a = to_rgba(c)
        if a == 0 or max(r, g, b) - min(r, g, b) < 0.02:     # greys, black, white
            continue
        keep.add(to_hex((r, g, b)).lower())
    return keep


def test_colours_come_from_the_colour_blind_safe_palette(figure):
    name, fig = figure
    assert _colours(fig) <= ALLOWED, (name, _colours(fig) - ALLOWED)


def test_vector_output(figure, tmp_path):
    name, fig = figure
    root = ET.fromstring(to_svg(fig))
    tags = {el.tag.rsplit("}", 1)[-1] for el in root.iter()}
    assert "image" not in tags and "path" in tags, name       # vector, nothing rasterised
    assert "<svg" in to_svg(fig, inline=True)[:5]
    assert write_figure(fig, tmp_path / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"


def test_png_is_600_dpi_at_its_printed_width(tmp_path):
    from PIL import Image

    # one figure: every module writes through write_figure, whose default this checks
    fig = CASES["eis_nyquist"]()
    im = Image.open(write_figure(fig, tmp_path / "n.png"))
    assert round(im.info["dpi"][0]) == PNG_DPI
    # "tight" trimming only removes white margin: the image is at most the figure width
    assert im.size[0] <= round(WIDTHS_MM["single"] / 25.4 * PNG_DPI) + 2


def _sources() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if p not in EXEMPT]


def test_one_figure_writer_and_no_backend_switch():
    writer = SRC / "figures" / "style.py"
    for p in _sources():
        text = p.read_text(encoding="utf-8")
        assert "matplotlib.use(" not in text, p
        assert not re.search(r"import matplotlib\.pyplot|from matplotlib import pyplot", text), p
        if p != writer:
            assert ".savefig(" not in text, f"{p}: write figures with figures.style.write_figure"


def test_drawing_every_figure_does_not_import_pyplot():
    # kb_strategy_comparison is left out: Axes.boxplot itself iterates over every rcParam,
    # which makes matplotlib resolve its default backend (importing pyplot); that is
    # matplotlib's own choice of backend, not one nasurf forces
    code = ("import sys\n"
            f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
            "from figure_cases import cases\n"
            "for name, make in cases().items():\n"
            "    if name != 'kb_strategy_comparison':\n"
            "        make()\n"
            "print('matplotlib.pyplot' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split()[-1] == "False"


def test_pdf_and_svg_carry_no_time_stamp(tmp_path):
    """The same figure written a second apart gives the same bytes (no creation date)."""
    import time

    from nasurf.figures.style import new_figure, write_figure

    for fmt in ("pdf", "svg"):
        digests = []
        for i in range(2):
            fig, ax = new_figure()
            ax.plot([0, 1], [0, 1])
            ax.set_xlabel("E / V")
            ax.set_ylabel("I / mA")
            path = write_figure(fig, tmp_path / f"f{i}.{fmt}")
            digests.append(path.read_bytes())
            time.sleep(1.05)
        assert digests[0] == digests[1], fmt
