"""Readers for cycler and potentiostat files into the canonical table (:mod:`nasurf.io.table`).

``read(path)`` detects the format by content and returns an :class:`EchemData`: BDF-style
columns in SI units (``Test Time / s``, ``Voltage / V``, ``Current / A`` with anodic =
desodiation positive; impedance as ``Frequency / Hz``, ``Z Real / Ohm``, ``Z Imag / Ohm``)
plus metadata. See ``docs/io.md`` for the formats, sign conventions and cycle numbering.
"""

from __future__ import annotations

from nasurf._lazy import lazy_attributes

# name -> module that owns it, imported on first access: ``nasurf read --help`` or the
# format list need neither pandas nor any reader
_LAZY: dict[str, str] = {
    **dict.fromkeys(["read", "read_many", "supported_formats"], "nasurf.io.core"),
    "assign_cycles": "nasurf.io.cycles",
    "detect_format": "nasurf.io.detect",
    **dict.fromkeys(["Steps", "find_steps"], "nasurf.io.steps"),
    **dict.fromkeys(
        ["ANODIC_POSITIVE", "ASSIGNED_CYCLE", "CHARGE_CAPACITY", "CURRENT", "CYCLE",
         "DISCHARGE_CAPACITY", "FREQUENCY", "HALF_CYCLE", "IMPEDANCE_REQUIRED",
         "NET_CAPACITY", "STEP_COUNT", "STEP_INDEX", "TECHNIQUE", "TEMPERATURE", "TIME",
         "TIME_SERIES_REQUIRED", "UNIX_TIME", "VOLTAGE", "Z_IMAG", "Z_REAL", "EchemData",
         "Metadata", "validate"],
        "nasurf.io.table"),
}


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())


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
