"""Readers for cycler and potentiostat files into the canonical table (:mod:`nasurf.io.table`).

``read(path)`` detects the format by content and returns an :class:`EchemData`: BDF-style
columns in SI units (``Test Time / s``, ``Voltage / V``, ``Current / A`` with anodic =
desodiation positive; impedance as ``Frequency / Hz``, ``Z Real / Ohm``, ``Z Imag / Ohm``)
plus metadata. See ``docs/io.md`` for the formats, sign conventions and cycle numbering.
"""

from nasurf.io.core import read, read_many, supported_formats
from nasurf.io.cycles import assign_cycles
from nasurf.io.detect import detect_format
from nasurf.io.steps import Steps, find_steps
from nasurf.io.table import (
    ANODIC_POSITIVE,
    ASSIGNED_CYCLE,
    CHARGE_CAPACITY,
    CURRENT,
    CYCLE,
    DISCHARGE_CAPACITY,
    FREQUENCY,
    HALF_CYCLE,
    IMPEDANCE_REQUIRED,
    NET_CAPACITY,
    STEP_COUNT,
    STEP_INDEX,
    TECHNIQUE,
    TEMPERATURE,
    TIME,
    TIME_SERIES_REQUIRED,
    UNIX_TIME,
    VOLTAGE,
    Z_IMAG,
    Z_REAL,
    EchemData,
    Metadata,
    validate,
)

__all__ = [
    "ANODIC_POSITIVE",
    "ASSIGNED_CYCLE",
    "CHARGE_CAPACITY",
    "CURRENT",
    "CYCLE",
    "DISCHARGE_CAPACITY",
    "FREQUENCY",
    "HALF_CYCLE",
    "IMPEDANCE_REQUIRED",
    "NET_CAPACITY",
    "STEP_COUNT",
    "STEP_INDEX",
    "TECHNIQUE",
    "TEMPERATURE",
    "TIME",
    "TIME_SERIES_REQUIRED",
    "UNIX_TIME",
    "VOLTAGE",
    "Z_IMAG",
    "Z_REAL",
    "EchemData",
    "Metadata",
    "Steps",
    "assign_cycles",
    "detect_format",
    "find_steps",
    "read",
    "read_many",
    "supported_formats",
    "validate",
]
