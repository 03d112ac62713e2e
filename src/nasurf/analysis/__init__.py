"""Analyses of measured (or simulated) data: galvanostatic cycling, CV kinetics, GITT, EIS.

The public API of :mod:`nasurf.analysis`; each name below lives in one package or module:

* galvanostatic cycling, rate capability, dQ/dV and their file workflows:
  :mod:`nasurf.analysis.cycling`,
  :mod:`nasurf.analysis.differential_capacity`;
* CV kinetics over scan rates (b-values, Dunn k1/k2, Trasatti, Randles–Sevcik) and the CV-set
  workflow: :mod:`nasurf.analysis.kinetics`;
* GITT: :mod:`nasurf.analysis.gitt`;
* impedance (circuit fits, lin-KK, Warburg σ and D) and the EIS workflow:
  :mod:`nasurf.analysis.eis`.

Every name is imported on first use from the module that owns it, so importing one analysis
(or running ``nasurf analyze cycling``) does not load the others nor their scipy modules.
"""

from __future__ import annotations

from nasurf._lazy import lazy_attributes

# name -> module that owns it (imported on first access)
_LAZY: dict[str, str] = {
    **dict.fromkeys(["DqdvCurve", "DqdvResult", "dqdv", "dqdv_curve"],
                    "nasurf.analysis.differential_capacity"),
    **dict.fromkeys(
        ["CyclingFile", "CyclingResult", "RateCapability", "Retention", "Segmentation",
         "analyze_cycling_file", "capacity_split", "capacity_table_summary", "cycling_summary",
         "group_rate_steps", "rate_capability", "segment_half_cycles", "summarise_files",
         "summarise_folder", "synthetic_cycling", "voltage_profiles"],
        "nasurf.analysis.cycling"),
    **dict.fromkeys(
        ["CV", "BValueMap", "CVSet", "CVSetResult", "DunnResult", "PeakKinetics",
         "PreparedBranches", "RandlesSevcikResult", "TrasattiResult", "analyze_cv_files",
         "b_value_map", "b_value_peaks", "dunn_analysis", "prepare_branches",
         "randles_sevcik_D", "randles_sevcik_constant", "randles_sevcik_from_peaks",
         "randles_sevcik_peak_current", "split_sweeps", "trasatti", "trasatti_from_cvs",
         "voltammetric_charge"],
        "nasurf.analysis.kinetics"),
    **dict.fromkeys(
        ["GittResult", "diffusion_length", "gitt_analysis", "segment_pulses"],
        "nasurf.analysis.gitt"),
    **dict.fromkeys(
        ["Circuit", "EISAnalysis", "EISFit", "EISSeriesAnalysis", "LinKKResult",
         "WarburgAnalysis", "analyze_eis", "analyze_eis_file", "fit_circuit", "fit_series",
         "linkk", "warburg_analysis"],
        "nasurf.analysis.eis"),
}

__all__ = [
    "CV",
    "BValueMap",
    "CVSet",
    "CVSetResult",
    "Circuit",
    "CyclingFile",
    "CyclingResult",
    "DqdvCurve",
    "DqdvResult",
    "DunnResult",
    "EISAnalysis",
    "EISFit",
    "EISSeriesAnalysis",
    "GittResult",
    "LinKKResult",
    "PeakKinetics",
    "PreparedBranches",
    "RandlesSevcikResult",
    "RateCapability",
    "Retention",
    "Segmentation",
    "TrasattiResult",
    "WarburgAnalysis",
    "analyze_cv_files",
    "analyze_cycling_file",
    "analyze_eis",
    "analyze_eis_file",
    "b_value_map",
    "b_value_peaks",
    "capacity_split",
    "capacity_table_summary",
    "cycling_summary",
    "diffusion_length",
    "dqdv",
    "dqdv_curve",
    "dunn_analysis",
    "fit_circuit",
    "fit_series",
    "gitt_analysis",
    "group_rate_steps",
    "linkk",
    "prepare_branches",
    "randles_sevcik_D",
    "randles_sevcik_constant",
    "randles_sevcik_from_peaks",
    "randles_sevcik_peak_current",
    "rate_capability",
    "segment_half_cycles",
    "segment_pulses",
    "split_sweeps",
    "summarise_files",
    "summarise_folder",
    "synthetic_cycling",
    "trasatti",
    "trasatti_from_cvs",
    "voltage_profiles",
    "voltammetric_charge",
    "warburg_analysis",
]


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
