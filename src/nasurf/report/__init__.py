"""Reports: the self-contained HTML overview written by ``nasurf demo``.

Section providers and how other capabilities add theirs: see :mod:`nasurf.report.demo`.
"""

from nasurf.report.demo import (
    SECTION_MODULES,
    DemoContext,
    DemoResult,
    png_data_uri,
    register_section,
    write_demo,
)

__all__ = [
    "SECTION_MODULES",
    "DemoContext",
    "DemoResult",
    "png_data_uri",
    "register_section",
    "write_demo",
]
