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
function: ``with paper_style(): ...`` or the ``@styled`` decorator (an rc context; nothing
global is changed), and write files only through :func:`write_figure` / :func:`save`
(inline SVG: :func:`to_svg`).
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")

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


def styled(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: run a figure function inside :func:`paper_style`.

    Matplotlib reads font sizes, line widths and tick settings when an artist is created,
    so the style must be active while the whole figure is drawn, not only when it is saved.
    """

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with paper_style():
            return func(*args, **kwargs)

    return wrapper


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


def write_figure(fig: Any, path: str | os.PathLike[str], *, dpi: int | None = None) -> Path:
    """Write ``fig`` to one file, the format chosen by the suffix (.svg, .pdf, .png).

    The one figure-to-file writer of nasurf: every module saves through it, so every file
    gets the same treatment: written atomically (a temporary name, then renamed, so a
    crash never leaves half a figure), trimmed to its content, PNG at ``dpi`` (default
    600), and SVG/PDF without a creation date or random ids (the same data give the same
    bytes).
    """
    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        from nasurf.errors import ValidationError

        raise ValidationError(f"unsupported figure format '{p.suffix}'; use "
                              f"{', '.join('.' + f for f in FORMATS)}", file=str(p))
    from nasurf.outputs import atomic_path

    # no time stamp, so that the same figure gives the same bytes (SVG names it Date, PDF
    # CreationDate)
    stamp = {"svg": {"Date": None}, "pdf": {"CreationDate": None}}.get(fmt)
    with atomic_path(p) as tmp, paper_style():
        fig.savefig(tmp, format=fmt, dpi=(dpi or PNG_DPI) if fmt == "png" else "figure",
                    metadata=stamp)
    return p


def save(fig: Any, stem: str | os.PathLike[str], *, formats: Sequence[str] = FORMATS,
         dpi: int = PNG_DPI) -> list[Path]:
    """Write ``stem.svg``, ``stem.pdf`` (vector) and ``stem.png`` (``dpi``, default 600)."""
    stem = Path(stem)
    return [write_figure(fig, stem.with_name(f"{stem.name}.{fmt}"), dpi=dpi) for fmt in formats]


def to_svg(fig: Any, *, inline: bool = False) -> str:
    """The figure as an SVG string (for HTML reports and the web workbench).

    ``inline=True`` gives a bare ``<svg>`` element for embedding in a page: no XML
    prologue or DOCTYPE, no RDF metadata block (it only names external vocabularies).
    """
    import io
    import re

    buf = io.StringIO()
    with paper_style():
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    if inline:
        text = text[text.index("<svg"):]
        text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, count=1, flags=re.DOTALL)
    return text


def group_style(i: int) -> dict[str, Any]:
    """Colour, marker and line style of the i-th group (cycled)."""
    return {"color": PALETTE[i % len(PALETTE)], "marker": MARKERS[i % len(MARKERS)],
            "linestyle": LINESTYLES[i % len(LINESTYLES)]}
