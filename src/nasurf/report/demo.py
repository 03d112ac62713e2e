"""The self-contained HTML overview written by ``nasurf demo``.

The page is a list of sections, each produced by a *section provider*: a callable taking a
:class:`DemoContext` and returning ``(title, html)`` (or ``None`` to contribute nothing).
The knowledge-base section comes first. Other capabilities add theirs in one of two ways:

1. a module listed in :data:`SECTION_MODULES` exposing ``demo_sections() ->
   list[provider]`` (the analysis sections, the simulation section); a listed module that
   cannot be imported is shown as a failed section, never skipped silently; or
2. call :func:`register_section(provider, order=...)` from code that runs before
   :func:`write_demo` (knowledge base 0-1, ``SECTION_MODULES`` 10-20, citations 1000).

Shared building blocks (numbers, inline figures, warnings, the real-data folder) are in
:mod:`nasurf.report.html`.

Providers must return self-contained HTML: figures inline (``figure_svg`` or a base64
PNG), no external URLs, no scripts. Use :func:`html.escape` on any text from data. A
provider that raises is reported as a failed section, not a failed page.

Database: by default the demo builds a *fresh temporary database* from the packaged
curated data (deleted afterwards), so it never reads or writes the user's database. Pass
``db=PATH`` (``nasurf demo --db PATH``) to show a database including your own records.
"""

from __future__ import annotations

import html
import importlib
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nasurf.knowledge.store import KnowledgeBase
from nasurf.outputs import atomic_write_text
from nasurf.report.html import find_realdata, png_data_uri  # noqa: F401 (re-exported)

SectionProvider = Callable[["DemoContext"], "tuple[str, str] | None"]

SECTION_MODULES: tuple[str, ...] = (
    "nasurf.report.analysis_sections",   # cycling, CV kinetics + GITT, EIS
    "nasurf.report.simulation_section",  # simulated rate capability
)
"""Modules asked for ``demo_sections()`` after the knowledge-base section (in this order)."""


@dataclass
class DemoContext:
    """What a section provider gets: the output folder and an open knowledge base."""

    out_dir: Path
    kb: KnowledgeBase
    realdata: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoResult:
    """Where the page was written and which sections it holds."""

    path: Path
    sections: tuple[str, ...]
    failed_sections: tuple[str, ...] = ()
    db_path: str | None = None


_REGISTERED: list[tuple[float, SectionProvider]] = []


def register_section(provider: SectionProvider, *, order: float = 100.0) -> None:
    """Add a section provider; lower ``order`` comes first (knowledge base is 0)."""
    if all(p is not provider for _, p in _REGISTERED):
        _REGISTERED.append((order, provider))


def _providers() -> list[SectionProvider]:
    from nasurf.report.knowledge_section import citations_section, knowledge_sections

    ordered: list[tuple[float, SectionProvider]] = [
        (0.0 + i / 100, p) for i, p in enumerate(knowledge_sections())]
    ordered.append((1000.0, citations_section))  # the reference list closes the page
    for i, name in enumerate(SECTION_MODULES):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:   # a broken install: shown as a failed section
            ordered.append((10.0 + i, _unavailable(name, exc)))
            continue
        for j, p in enumerate(module.demo_sections()):
            ordered.append((10.0 + i + j / 100, p))
    ordered.extend(_REGISTERED)
    return [p for _, p in sorted(ordered, key=lambda t: t[0])]


def _unavailable(name: str, exc: ImportError) -> SectionProvider:
    def provider(ctx: DemoContext) -> None:
        raise ImportError(f"section module {name} cannot be imported: {exc}")

    provider.__qualname__ = name
    return provider


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1b1b1b;
background:#fafafa;line-height:1.45}
header{background:#0b3954;color:#fff;padding:1.2rem 2rem}
header h1{margin:0;font-size:1.5rem} header p{margin:.3rem 0 0;opacity:.85}
main{max-width:1100px;margin:0 auto;padding:1rem 2rem 3rem}
nav ol{columns:2;font-size:.92rem}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:1rem 1.4rem;
margin:1.2rem 0}
h2{font-size:1.2rem;border-bottom:2px solid #0b3954;padding-bottom:.2rem}
table{border-collapse:collapse;font-size:.86rem;width:100%}
th,td{border-bottom:1px solid #e6e6e6;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f0f4f7} td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:.8rem 0} figure svg{max-width:100%;height:auto}
figcaption{font-size:.85rem;color:#555}
.warning{border-left:4px solid #e69f00;background:#fff8e6;padding:.4rem .7rem;margin:.5rem 0}
.info{border-left:4px solid #56b4e9;background:#eef7fc;padding:.4rem .7rem;margin:.5rem 0}
.reading{font-size:.84rem;color:#444;margin-top:.2rem}
.failed{border-left:4px solid #d55e00;background:#fdeee6;padding:.5rem}
small,.muted{color:#666} details summary{cursor:pointer}
"""


def write_demo(out_dir: str | Path = "nasurf-demo", *, db: str | Path | None = None,
               title: str = "nasurf overview") -> DemoResult:
    """Write ``<out_dir>/index.html`` and return where it is.

    With ``db=None`` a fresh temporary database is built from the packaged curated data.
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        from nasurf.errors import ValidationError

        raise ValidationError("exists and is not a folder", file=str(out))
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nasurf-demo-") as tmp:
        db_path = Path(db) if db is not None else Path(tmp) / "kb.sqlite"
        with KnowledgeBase.open(db_path) as kb:
            ctx = DemoContext(out_dir=out, kb=kb, realdata=find_realdata())
            sections: list[tuple[str, str]] = []
            failed: list[str] = []
            for provider in _providers():
                name = getattr(provider, "__qualname__", repr(provider))
                try:
                    produced = provider(ctx)
                except Exception as exc:  # one broken section must not sink the page
                    failed.append(name)
                    detail = html.escape("".join(traceback.format_exception_only(exc)).strip())
                    sections.append((f"Section failed: {html.escape(name)}",
                                     f'<div class="failed">{detail}</div>'))
                    continue
                if produced is not None:
                    sections.append(produced)
            counts = kb.counts()
    page = _page(title, sections, counts, None if db is None else str(db))
    path = out / "index.html"
    atomic_write_text(path, page)
    return DemoResult(path.resolve(), tuple(t for t, _ in sections), tuple(failed),
                      None if db is None else str(db))


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _page(title: str, sections: list[tuple[str, str]], counts: dict[str, int],
          db: str | None) -> str:
    from nasurf import __version__

    toc = "".join(f'<li><a href="#{_slug(t)}">{html.escape(t)}</a></li>' for t, _ in sections)
    body = "".join(f'<section id="{_slug(t)}"><h2>{html.escape(t)}</h2>{h}</section>'
                   for t, h in sections)
    source = ("a fresh temporary database built from the packaged curated data"
              if db is None else f"the database {html.escape(db)}")
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{html.escape(title)}</h1><p>Surface-engineered sodium-ion battery "
        f"anodes &middot; nasurf {__version__} &middot; {stamp}</p></header><main>"
        f"<p class=\"muted\">Knowledge base: {counts.get('curated', 0)} curated and "
        f"{counts.get('user', 0)} user records, from {source}. Capacities in mA h g<sup>-1"
        "</sup>, currents in mA g<sup>-1</sup>; anodic (desodiation) current positive.</p>"
        f"<nav><ol>{toc}</ol></nav>{body}</main></body></html>\n"
    )
