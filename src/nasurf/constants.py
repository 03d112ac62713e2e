"""Physical constants used across nasurf, in SI units (CODATA 2018 exact or recommended values).

One owner: every module that needs the Faraday constant, R or a temperature default imports
it from here (docs/methods.md §0), so no two places can disagree on a digit.
"""

from __future__ import annotations

FARADAY_C_PER_MOL = 96485.33212  # C/mol, exact (NA·e)
GAS_CONSTANT_J_PER_MOL_K = 8.314462618  # J/(mol·K), exact (NA·kB)
ROOM_TEMPERATURE_K = 298.15  # K, the reference temperature of the reported values
SECONDS_PER_HOUR = 3600.0
