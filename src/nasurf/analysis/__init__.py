"""Analyses of measured (or simulated) data: galvanostatic, CV kinetics, GITT, EIS.

Every name is imported on first use from the module that owns it, so importing one
analysis (or running ``nasurf analyze cycling``) does not load the others nor their
scipy modules.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> module that owns it (imported on first access)
_LAZY: dict[str, str] = {
    # galvanostatic cycling, rate capability, dQ/dV
    **dict.fromkeys(["DqdvCurve", "DqdvResult", "dqdv", "dqdv_curve"],
                    "nasurf.analysis.dqdv"),
    **dict.fromkeys(
        ["CyclingResult", "RateCapability", "Retention", "Segmentation", "capacity_split",
         "cycling_summary", "rate_capability", "segment_half_cycles", "synthetic_cycling",
         "voltage_profiles"],
        "nasurf.analysis.galvanostatic"),
    # EIS: circuit fitting, lin-KK, Warburg σ and D
    **dict.fromkeys(
        ["Circuit", "EISAnalysis", "EISFit", "EISSeriesAnalysis", "LinKKResult",
         "WarburgAnalysis", "analyze_eis", "fit_circuit", "fit_series", "linkk",
         "warburg_analysis"],
        "nasurf.analysis.eis"),
    # CV kinetics (b-value, Dunn, Trasatti, Randles–Sevcik) and GITT
    **dict.fromkeys(
        ["CV", "BValueMap", "CVSet", "DunnResult", "PeakKinetics", "PreparedBranches",
         "RandlesSevcikResult", "TrasattiResult", "b_value_map", "b_value_peaks",
         "dunn_analysis", "prepare_branches", "randles_sevcik_constant", "randles_sevcik_D",
         "randles_sevcik_from_peaks", "randles_sevcik_peak_current", "split_sweeps",
         "trasatti", "trasatti_from_cvs", "voltammetric_charge"],
        "nasurf.analysis.cv"),
    **dict.fromkeys(["GittResult", "diffusion_length", "gitt_analysis", "segment_pulses"],
                    "nasurf.analysis.gitt"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value   # later look-ups skip this function
        return value
    if name.startswith("__"):   # probes such as __wrapped__ are not submodules
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:   # a submodule not imported yet (``nasurf.analysis.dqdv`` after ``import nasurf``)
        return importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
