"""Galvanostatic cycling of a measurement: half cycles, capacities, ICE and CE, retention,
rate steps, energy and hysteresis, voltage profiles; and the workflows the command line
runs (:func:`analyze_cycling_file`, :func:`summarise_folder`).

Modules, one concern each:

=================  ==================================================================
``summary``        :func:`cycling_summary` (ICE/CE with and without holds, flags)
``halfcycles``     half cycles from the step model, electrode role, median currents
``integration``    ∫|I| dt and ∫V|I| dt per block, the instrument's counters
``cycles``         the per-cycle table: capacities, energy, average voltage, hysteresis
``retention``      retention with an explicit reference convention
``rate``           rate-capability steps (:func:`group_rate_steps`)
``results``        the frozen results (:class:`CyclingResult`, ...)
``capacity_table`` a summary of a per-half-cycle capacity table (Gamry CAPACITYCURVE)
``profiles``       voltage profiles and the slope/plateau capacity split
``synthetic``      :func:`synthetic_cycling`, a generator of test and demo data
``workflows``      one file or a folder, as the command line runs them
=================  ==================================================================
"""

from nasurf.analysis.cycling._shared import (
    CE_FLOOR_AFTER_FORMATION,
    CE_RESOLUTION,
    DESODIATION,
    REFERENCE_CONVENTIONS,
    SODIATION,
    CycleMode,
    ElectrodeRole,
)
from nasurf.analysis.cycling.capacity_table import capacity_table_summary
from nasurf.analysis.cycling.halfcycles import Segmentation, segment_half_cycles
from nasurf.analysis.cycling.profiles import capacity_split, voltage_profiles
from nasurf.analysis.cycling.rate import group_rate_steps, rate_capability
from nasurf.analysis.cycling.results import CyclingResult, RateCapability, Retention
from nasurf.analysis.cycling.retention import parse_reference
from nasurf.analysis.cycling.summary import cycling_summary
from nasurf.analysis.cycling.synthetic import hard_carbon_voltage, synthetic_cycling
from nasurf.analysis.cycling.workflows import (
    SUMMARY_COLUMNS,
    CyclingFile,
    analyze_cycling_file,
    list_files,
    read_for_cycling,
    summarise_file,
    summarise_files,
    summarise_folder,
    write_cycling_outputs,
)

__all__ = [
    "CE_FLOOR_AFTER_FORMATION", "CE_RESOLUTION", "DESODIATION", "REFERENCE_CONVENTIONS",
    "SODIATION", "SUMMARY_COLUMNS", "CycleMode", "CyclingFile", "CyclingResult",
    "ElectrodeRole", "RateCapability", "Retention", "Segmentation", "analyze_cycling_file",
    "capacity_split", "capacity_table_summary", "cycling_summary", "group_rate_steps",
    "hard_carbon_voltage", "list_files", "parse_reference", "rate_capability",
    "read_for_cycling", "segment_half_cycles", "summarise_file", "summarise_files",
    "summarise_folder", "synthetic_cycling", "voltage_profiles", "write_cycling_outputs",
]
