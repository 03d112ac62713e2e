"""The canonical in-memory table every reader returns and every analysis consumes.

Column names follow the Battery Data Format (BDF) "Name / unit" style. Readers map
instrument columns onto these names, convert to SI, and keep unknown columns under their
original names (with a warning). The simulator writes the same structure, so analyses
cannot tell simulated from measured data.

Sign convention (methods.md §0): anodic current (desodiation of the anode) is positive,
cathodic current (sodiation) negative. ``Metadata.current_sign`` records it; a reader whose
instrument uses another convention flips the sign and says so in ``Metadata.notes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

TIME = "Test Time / s"
VOLTAGE = "Voltage / V"
CURRENT = "Current / A"
CYCLE = "Cycle Count / 1"          # the instrument's own cycle counter, if any
STEP_INDEX = "Step Index / 1"      # the protocol step number
STEP_COUNT = "Step Count / 1"      # running count of executed steps
HALF_CYCLE = "Half Cycle / 1"      # running half-cycle counter, if the file has one
NET_CAPACITY = "Net Capacity / Ah"
CHARGE_CAPACITY = "Charging Capacity / Ah"
DISCHARGE_CAPACITY = "Discharging Capacity / Ah"
UNIX_TIME = "Unix Time / s"
TEMPERATURE = "Ambient Temperature / degC"
TECHNIQUE = "Technique"
# Impedance
FREQUENCY = "Frequency / Hz"
Z_REAL = "Z Real / Ohm"
Z_IMAG = "Z Imag / Ohm"            # Z = Z' + j Z''; capacitive arcs have Z'' < 0

TIME_SERIES_REQUIRED = (TIME, VOLTAGE, CURRENT)
IMPEDANCE_REQUIRED = (FREQUENCY, Z_REAL, Z_IMAG)

ANODIC_POSITIVE = "anodic_positive"


@dataclass(frozen=True)
class Metadata:
    """What is known about a measurement besides its rows."""

    source: str | None = None               # file path, or "simulation"
    instrument: str | None = None           # e.g. "BioLogic EC-Lab", "Neware BTS"
    file_format: str | None = None          # e.g. "mpr", "mpt", "ndax", "landt-csv"
    technique: str | None = None            # e.g. "GCPL", "CV", "PEIS", "mixed"
    active_mass_g: float | None = None
    electrode_area_cm2: float | None = None
    scan_rate_V_s: float | None = None      # for CV files, when the settings hold it
    current_sign: str = ANODIC_POSITIVE
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    header: dict[str, Any] = field(default_factory=dict)  # raw header / settings as read

    def with_warning(self, message: str) -> Metadata:
        return replace(self, warnings=(*self.warnings, message))


@dataclass(frozen=True)
class EchemData:
    """A measurement: canonical ``data`` table plus its ``metadata``."""

    data: pd.DataFrame
    metadata: Metadata

    @property
    def is_impedance(self) -> bool:
        return all(c in self.data.columns for c in IMPEDANCE_REQUIRED)

    @property
    def is_time_series(self) -> bool:
        return all(c in self.data.columns for c in TIME_SERIES_REQUIRED)
