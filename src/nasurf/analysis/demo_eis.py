"""Moved: the EIS section of ``nasurf demo`` lives in :mod:`nasurf.report.eis_section` (the
report package owns every HTML section). These names stay importable from here."""

from nasurf.report.eis_section import (
    REAL_CIRCUIT,
    REAL_EIS_FILE,
    SYNTHETIC_AREA_CM2,
    SYNTHETIC_CIRCUIT,
    SYNTHETIC_CONCENTRATION_MOL_CM3,
    SYNTHETIC_D_CM2_S,
    SYNTHETIC_NOISE,
    SYNTHETIC_SEED,
    DemoSpectrum,
    demo_eis_analyses,
    demo_eis_section,
    synthetic_randles_spectrum,
)

__all__ = ["REAL_CIRCUIT", "REAL_EIS_FILE", "SYNTHETIC_AREA_CM2", "SYNTHETIC_CIRCUIT",
           "SYNTHETIC_CONCENTRATION_MOL_CM3", "SYNTHETIC_D_CM2_S", "SYNTHETIC_NOISE",
           "SYNTHETIC_SEED", "DemoSpectrum", "demo_eis_analyses", "demo_eis_section",
           "synthetic_randles_spectrum"]
