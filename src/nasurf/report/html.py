"""Building blocks of the report's HTML sections: numbers, figures, warnings, data folder.

One owner of how a section prints a missing number, embeds a figure and lists warnings,
so every section of ``nasurf demo`` reads the same. Everything returned is
self-contained HTML: figures are inline SVG, nothing is fetched, text from data is
escaped.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

MISSING = "–"
"""What a section prints for a missing or non-finite number."""


def escape(x: Any) -> str:
    """``str(x)`` made safe for HTML text and attribute values."""
    return html.escape(str(x))


def number(x: Any, pattern: str = "{:.4g}", scale: float = 1.0) -> str:
    """``pattern.format(x * scale)``, or :data:`MISSING` for None, NaN or a non-number."""
    try:
        if x is None or x != x:
            return MISSING
        return pattern.format(float(x) * scale)
    except (TypeError, ValueError):
        return MISSING


def svg(fig: Any, *, drop_namespaces: bool = False) -> str:
    """The figure as an inline ``<svg>`` element (:func:`nasurf.figures.style.to_svg`).

    ``drop_namespaces`` removes the ``xmlns`` declarations (inline SVG in HTML needs
    none), so a page can be checked to hold no ``http://`` string at all.
    """
    from nasurf.figures.style import to_svg

    text = to_svg(fig, inline=True)
    if drop_namespaces:
        text = re.sub(r'\s+xmlns(:xlink)?="http://www\.w3\.org/[^"]*"', "", text)
    return text


def figure(fig_or_svg: Any, caption: str, *, caption_is_html: bool = False,
           style: str | None = None) -> str:
    """``<figure>`` with the inline SVG of a figure (or SVG text) and its caption.

    The caption is escaped unless ``caption_is_html`` (for captions with markup such as
    ``<sup>``).
    """
    body = fig_or_svg if isinstance(fig_or_svg, str) else svg(fig_or_svg)
    cap = caption if caption_is_html else html.escape(caption)
    attr = f" style='{style}'" if style else ""
    return f"<figure{attr}>{body}<figcaption>{cap}</figcaption></figure>"


def warnings_html(warnings: Iterable[str]) -> str:
    """One highlighted block per warning (escaped)."""
    return "".join(f"<div class=warning>{html.escape(w)}</div>" for w in warnings)


def png_data_uri(png_bytes: bytes) -> str:
    """``data:`` URI of a PNG for an ``<img src=...>`` inside the page."""
    return "data:image/png;base64," + base64.b64encode(png_bytes).decode("ascii")


def find_realdata() -> Path | None:
    """The shared real-data folder beside a source checkout (``../shared/realdata``), if any.

    Sections that show a real file use it when present and say so when absent; an
    installed package has no such folder.
    """
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent.parent / "shared" / "realdata"
        if (parent / "pyproject.toml").is_file() and candidate.is_dir():
            return candidate
    return None
