"""Analyses of measured (or simulated) data: galvanostatic, CV kinetics, GITT, EIS."""

# --- galvanostatic cycling, rate capability, dQ/dV (nasurf.analysis.cycling) ---
from nasurf.analysis.cycling import (
    CyclingFile,
    CyclingResult,
    RateCapability,
    Retention,
    Segmentation,
    analyze_cycling_file,
    capacity_split,
    capacity_table_summary,
    cycling_summary,
    group_rate_steps,
    rate_capability,
    segment_half_cycles,
    summarise_files,
    summarise_folder,
    synthetic_cycling,
    voltage_profiles,
)
from nasurf.analysis.dqdv import DqdvCurve, DqdvResult, dqdv, dqdv_curve

__all__ = [*globals().get("__all__", []),
           "CyclingFile", "CyclingResult", "DqdvCurve", "DqdvResult", "RateCapability",
           "Retention", "Segmentation", "analyze_cycling_file", "capacity_split",
           "capacity_table_summary", "cycling_summary", "dqdv", "dqdv_curve",
           "group_rate_steps", "rate_capability", "segment_half_cycles", "summarise_files",
           "summarise_folder", "synthetic_cycling", "voltage_profiles"]
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
