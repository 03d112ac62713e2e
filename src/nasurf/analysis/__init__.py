"""Analyses of measured (or simulated) data: galvanostatic, CV kinetics, GITT, EIS."""

# --- galvanostatic cycling, rate capability, dQ/dV (owner: galvanostatic engineer) ---
from nasurf.analysis.dqdv import DqdvCurve, DqdvResult, dqdv, dqdv_curve
from nasurf.analysis.galvanostatic import (
    CyclingResult,
    RateCapability,
    Retention,
    Segmentation,
    capacity_split,
    cycling_summary,
    rate_capability,
    segment_half_cycles,
    synthetic_cycling,
    voltage_profiles,
)

__all__ = [*globals().get("__all__", []),
           "CyclingResult", "DqdvCurve", "DqdvResult", "RateCapability", "Retention",
           "Segmentation", "capacity_split", "cycling_summary", "dqdv", "dqdv_curve",
           "rate_capability", "segment_half_cycles", "synthetic_cycling", "voltage_profiles"]
# --- end galvanostatic block ---

# --- EIS: circuit fitting, lin-KK, Warburg σ and D (owner: EIS engineer) ---
from nasurf.analysis.eis import (
    Circuit,
    EISAnalysis,
    EISFit,
    EISSeriesAnalysis,
    LinKKResult,
    WarburgAnalysis,
    analyze_eis,
    fit_circuit,
    fit_series,
    linkk,
    warburg_analysis,
)

__all__ = [*globals().get("__all__", []),
           "Circuit", "EISAnalysis", "EISFit", "EISSeriesAnalysis", "LinKKResult",
           "WarburgAnalysis", "analyze_eis", "fit_circuit", "fit_series", "linkk",
           "warburg_analysis"]
# --- end EIS block ---

# --- CV kinetics (b-value, Dunn, Trasatti, Randles–Sevcik) and GITT (owner: CV/GITT engineer) ---
from nasurf.analysis.cv import (
    CV,
    BValueMap,
    CVSet,
    DunnResult,
    PeakKinetics,
    PreparedBranches,
    RandlesSevcikResult,
    TrasattiResult,
    b_value_map,
    b_value_peaks,
    dunn_analysis,
    prepare_branches,
    randles_sevcik_constant,
    randles_sevcik_D,
    randles_sevcik_from_peaks,
    randles_sevcik_peak_current,
    split_sweeps,
    trasatti,
    trasatti_from_cvs,
    voltammetric_charge,
)
from nasurf.analysis.gitt import GittResult, diffusion_length, gitt_analysis, segment_pulses

__all__ = [*globals().get("__all__", []),
           "CV", "BValueMap", "CVSet", "DunnResult", "GittResult", "PeakKinetics",
           "PreparedBranches", "RandlesSevcikResult", "TrasattiResult", "b_value_map",
           "b_value_peaks", "diffusion_length", "dunn_analysis", "gitt_analysis",
           "prepare_branches", "randles_sevcik_D", "randles_sevcik_constant",
           "randles_sevcik_from_peaks", "randles_sevcik_peak_current", "segment_pulses",
           "split_sweeps", "trasatti", "trasatti_from_cvs", "voltammetric_charge"]
# --- end CV kinetics / GITT block ---
