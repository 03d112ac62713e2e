"""One figure style for everything nasurf draws: journal widths, print-size fonts, a
colour-blind-safe palette, vector output.

Sizes follow the common journal grid (Elsevier, ACS, RSC, Wiley): a single column is
about 85-90 mm wide, a double column about 170-180 mm; text at print size must be 6-9 pt,
so figures are *made* at their printed width with 7-8 pt text rather than made large and
shrunk. Colours are the Okabe–Ito palette (distinguishable with the common colour-vision
deficiencies and in greyscale by lightness order), always paired with distinct markers so
that a group never depends on colour alone.

Nothing here imports pyplot or changes the matplotlib backend: figures are
``matplotlib.figure.Figure`` objects (object-oriented API), which any backend can save.

Use::

    from nasurf.figures.style import new_figure, save
    fig, ax = new_figure("single")
    ...
    save(fig, out_dir / "capacity")        # capacity.svg, capacity.pdf, capacity.png (600 dpi)

Other plotting modules apply the same look with one call at the start of a plotting
function: ``with paper_style(): ...`` (an rc context; nothing global is changed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

MM_PER_INCH = 25.4
WIDTHS_MM = {"single": 85.0, "onehalf": 120.0, "double": 175.0}
Width = Literal["single", "onehalf", "double"] | float

# Okabe & Ito (2008) "Color Universal Design"; yellow last: too light for thin lines on white
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<")
LINESTYLES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), "-", "--")
FLAG_MARKER = "x"          # a flagged value (incomplete cycle, failed fit) is drawn, marked
PNG_DPI = 600
FORMATS = ("svg", "pdf", "png")

RC: dict[str, Any] = {
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 7.5,
    "axes.labelsize": 8,
    "axes.titlesize": 8,
    "legend.fontsize": 6.5,
    "legend.title_fontsize": 7,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.0,
    "lines.markersize": 3.5,
    "patch.linewidth": 0.5,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "xtick.minor.width": 0.4,
    "ytick.minor.width": 0.4,
    "xtick.major.size": 3.0,
    "ytick.major.size": 3.0,
    "xtick.minor.size": 1.8,
    "ytick.minor.size": 1.8,
    "xtick.direction": "in",
    "ytick.direction": "in",
    "xtick.top": True,
    "ytick.right": True,
    "legend.frameon": False,
    "legend.handlelength": 1.6,
    "axes.prop_cycle": None,            # filled in below (cycler import is lazy)
    "savefig.dpi": PNG_DPI,
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
    "svg.fonttype": "none",              # text stays text in SVG (editable, searchable)
    "svg.hashsalt": "nasurf",            # deterministic SVG ids: same data, same file
    "pdf.fonttype": 42,                  # TrueType in PDF: editable in Illustrator/Inkscape
    "ps.fonttype": 42,
    "figure.dpi": 150,
    "mathtext.default": "regular",
}


def width_in(width: Width) -> float:
    """Figure width in inches for "single", "onehalf", "double" or a width in mm."""
    mm = WIDTHS_MM[width] if isinstance(width, str) else float(width)
    return mm / MM_PER_INCH


def rc() -> dict[str, Any]:
    from cycler import cycler

    out = dict(RC)
    out["axes.prop_cycle"] = cycler(color=list(PALETTE))
    return out


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    """The nasurf rc settings for the duration of a ``with`` block (nothing global)."""
    import matplotlib

    with matplotlib.rc_context(rc()):
        yield


def new_figure(width: Width = "single", *, aspect: float = 0.75, nrows: int = 1,
               ncols: int = 1, sharex: bool = False, height_ratios: Sequence[float] | None = None
               ) -> tuple[Any, Any]:
    """A constrained-layout Figure at its printed width, and its axes (array if several).

    The style is applied while the figure and axes are created (tick settings are fixed
    then); text added later takes the font sizes from the figure's own artists, so call
    drawing code inside ``with paper_style():`` for labels too (the study figures do).
    """
    from matplotlib.figure import Figure

    w = width_in(width)
    with paper_style():
        fig = Figure(figsize=(w, w * aspect), layout="constrained")
        axes = fig.subplots(nrows, ncols, sharex=sharex, squeeze=True,
                            gridspec_kw={"height_ratios": height_ratios} if height_ratios
                            else None)
    return fig, axes


def save(fig: Any, stem: str | os.PathLike[str], *, formats: Sequence[str] = FORMATS,
         dpi: int = PNG_DPI) -> list[Path]:
    """Write ``stem.svg``, ``stem.pdf`` (vector) and ``stem.png`` (``dpi``, default 600)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    with paper_style():
        for fmt in formats:
            p = stem.with_name(f"{stem.name}.{fmt}")
            tmp = p.with_name(f".{p.name}.tmp")
            fig.savefig(tmp, format=fmt, dpi=dpi if fmt == "png" else "figure",
                        metadata={"Date": None} if fmt in ("svg", "pdf") else None)
            os.replace(tmp, p)
            out.append(p)
    return out


def group_style(i: int) -> dict[str, Any]:
    """Colour, marker and line style of the i-th group (cycled)."""
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)]}
