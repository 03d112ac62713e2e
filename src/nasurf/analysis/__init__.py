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
