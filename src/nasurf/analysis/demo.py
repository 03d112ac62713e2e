"""Moved: the analysis sections of ``nasurf demo`` live in :mod:`nasurf.report.analysis_sections`
(the report package owns every HTML section). These names stay importable from here."""

from nasurf.report.analysis_sections import (
    PROVIDERS,
    REAL_ANODE_FILES,
    REAL_FILE_REFERENCES,
    demo_section,
    demo_sections,
)

__all__ = ["PROVIDERS", "REAL_ANODE_FILES", "REAL_FILE_REFERENCES", "demo_section",
           "demo_sections"]
