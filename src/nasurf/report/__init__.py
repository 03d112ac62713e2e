"""Reports: the self-contained HTML overview written by ``nasurf demo``.

The report package owns every HTML section of the page: the knowledge base
(:mod:`~nasurf.report.knowledge_section`), the analyses
(:mod:`~nasurf.report.analysis_sections`, :mod:`~nasurf.report.eis_section`) and their
shared building blocks (:mod:`~nasurf.report.html`). Section providers and how other
capabilities add theirs: see :mod:`nasurf.report.demo`.
"""

from nasurf.report.demo import (
    SECTION_MODULES,
    DemoContext,
    DemoResult,
    register_section,
    write_demo,
)
from nasurf.report.html import png_data_uri

__all__ = [
    "SECTION_MODULES",
    "DemoContext",
    "DemoResult",
    "png_data_uri",
    "register_section",
    "write_demo",
]
