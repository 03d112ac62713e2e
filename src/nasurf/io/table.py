"""The canonical in-memory table every reader returns and every analysis consumes.

Column names follow the Battery Data Format (BDF) "Name / unit" style. Readers map
instrument columns onto these names, convert to SI, and keep unknown columns under their
original names (with a warning). The simulator writes the same structure, so analyses
cannot tell simulated from measured data.

Sign convention (methods.md §0): anodic current (desodiation of the anode) is positive,
cathodic current (sodiation) negative. ``Metadata.current_sign`` records it; a reader whose
instrument uses another convention flips the sign and says so in ``Metadata.notes``.

This module also owns :func:`validate`, the check every reader's output passes before it
is handed to the caller (required columns present, finite, float64, time non-decreasing).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from nasurf.errors import FileFormatError

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
# Written by nasurf.io.cycles.assign_cycles (not by readers)
ASSIGNED_CYCLE = "Cycle / 1"

TIME_SERIES_REQUIRED = (TIME, VOLTAGE, CURRENT)
IMPEDANCE_REQUIRED = (FREQUENCY, Z_REAL, Z_IMAG)

#: canonical float columns and their SI unit (as a pint-parsable string)
FLOAT_COLUMNS: dict[str, str] = {
    TIME: "s",
    VOLTAGE: "V",
    CURRENT: "A",
    NET_CAPACITY: "A h",
    CHARGE_CAPACITY: "A h",
    DISCHARGE_CAPACITY: "A h",
    UNIX_TIME: "s",
    TEMPERATURE: "degC",
    FREQUENCY: "Hz",
    Z_REAL: "ohm",
    Z_IMAG: "ohm",
}
#: canonical integer counters
COUNTER_COLUMNS = (CYCLE, STEP_INDEX, STEP_COUNT, HALF_CYCLE)
CANONICAL_COLUMNS = (*FLOAT_COLUMNS, *COUNTER_COLUMNS, TECHNIQUE)

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
    # every scan rate the file holds, in the order run (a multi-rate CV file); the first
    # equals scan_rate_V_s
    scan_rates_V_s: tuple[float, ...] | None = None
    # what the potential is measured against ("Li+/Li" for a Li half cell ...); None: the
    # Na+/Na half-cell convention (plots label it so). Files rarely say it: set it yourself.
    electrode_reference: str | None = None
    current_sign: str = ANODIC_POSITIVE
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    header: dict[str, Any] = field(default_factory=dict)  # raw header / settings as read

    def with_warning(self, message: str) -> Metadata:
        return replace(self, warnings=(*self.warnings, message))

    def with_note(self, message: str) -> Metadata:
        return replace(self, notes=(*self.notes, message))


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

    def __len__(self) -> int:
        return len(self.data)

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly overview: rows, columns, kind, metadata without the raw header."""
        md = self.metadata
        return {
            "source": md.source,
            "instrument": md.instrument,
            "file_format": md.file_format,
            "technique": md.technique,
            "rows": len(self.data),
            "columns": [str(c) for c in self.data.columns],
            "is_time_series": self.is_time_series,
            "is_impedance": self.is_impedance,
            "active_mass_g": md.active_mass_g,
            "electrode_area_cm2": md.electrode_area_cm2,
            "scan_rate_V_s": md.scan_rate_V_s,
            "scan_rates_V_s": list(md.scan_rates_V_s) if md.scan_rates_V_s else None,
            "electrode_reference": md.electrode_reference,
            "current_sign": md.current_sign,
            "warnings": list(md.warnings),
            "notes": list(md.notes),
        }


def validate(echem: EchemData) -> EchemData:
    """Check that a table meets the canonical contract; raise :class:`FileFormatError` if not.

    The contract: a time series (``Test Time / s``, ``Voltage / V``, ``Current / A``) or an
    impedance spectrum (``Frequency / Hz``, ``Z Real / Ohm``, ``Z Imag / Ohm``) or both;
    canonical float columns are float64, counters are integers; required columns are
    finite; time never decreases. An empty table is valid only if it carries a warning
    saying so.
    """
    df = echem.data
    src = echem.metadata.source
    if not (echem.is_time_series or echem.is_impedance):
        raise FileFormatError(
            "table has neither the time-series columns "
            f"{list(TIME_SERIES_REQUIRED)} nor the impedance columns {list(IMPEDANCE_REQUIRED)}",
            file=src,
        )
    for col in FLOAT_COLUMNS:
        if col in df.columns and df[col].dtype != np.float64:
            raise FileFormatError(f"column '{col}' has dtype {df[col].dtype}, expected float64",
                                  file=src, field=col)
    for col in COUNTER_COLUMNS:
        if col in df.columns and not pd.api.types.is_integer_dtype(df[col].dtype):
            raise FileFormatError(f"column '{col}' has dtype {df[col].dtype}, expected integer",
                                  file=src, field=col)
    required: tuple[str, ...] = ()
    if echem.is_time_series:
        required += TIME_SERIES_REQUIRED
    if echem.is_impedance and not echem.is_time_series:
        required += IMPEDANCE_REQUIRED
    for col in required:
        values = df[col].to_numpy()
        bad = ~np.isfinite(values)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise FileFormatError(f"non-finite value in required column at data row {row}",
                                  file=src, field=col)
    if echem.is_time_series and len(df) > 1:
        t = df[TIME].to_numpy()
        back = np.flatnonzero(np.diff(t) < 0)
        if back.size:
            raise FileFormatError(
                f"time decreases at data row {int(back[0]) + 1} "
                f"({t[back[0]]!r} s -> {t[back[0] + 1]!r} s)", file=src, field=TIME)
    if len(df) == 0 and not any("no data rows" in w for w in echem.metadata.warnings):
        raise FileFormatError("table has no data rows", file=src)
    return echem
