"""Materials arithmetic: theoretical capacity, volume change on sodiation, C-rate conversion.

- :mod:`~nasurf.materials.formula`: formula parsing and molar masses (IUPAC weights).
- :mod:`~nasurf.materials.capacity`: Q = n·F/(3.6·M) from a balanced reaction (§8).
- :mod:`~nasurf.materials.quoted`: checks of quoted capacities against stated reactions.
- :mod:`~nasurf.materials.volume`: V1/V0 and ΔV/V0 on full sodiation (§9).
- :mod:`~nasurf.materials.rates`: C-rate ↔ mA g⁻¹ with an explicit capacity basis (§7).
"""

from nasurf.materials.capacity import (
    CAPACITY_CONSTANT_MAH_PER_MOL,
    FARADAY_C_PER_MOL,
    CapacityResult,
    NoStoichiometryError,
    Reaction,
    Species,
    capacity_from_electrons,
    compute_capacity,
    electrons_from_capacity,
    host_capacity,
    parse_reaction,
    theoretical_capacity,
)
from nasurf.materials.formula import ATOMIC_WEIGHTS, format_formula, molar_mass, parse_formula
from nasurf.materials.quoted import (
    QuotedCapacityFinding,
    insertion_redox_limit,
    quoted_capacity_check,
)
from nasurf.materials.rates import (
    CapacityBasis,
    Rate,
    c_rate_to_current,
    current_to_c_rate,
    parse_rate,
)
from nasurf.materials.volume import (
    SYSTEMS,
    Lattice,
    Phase,
    VolumeChangeResult,
    VolumeSystem,
    sodiation_volume_change,
    volume_change,
)

__all__ = [
    "ATOMIC_WEIGHTS",
    "CAPACITY_CONSTANT_MAH_PER_MOL",
    "FARADAY_C_PER_MOL",
    "SYSTEMS",
    "CapacityBasis",
    "CapacityResult",
    "Lattice",
    "NoStoichiometryError",
    "Phase",
    "QuotedCapacityFinding",
    "Rate",
    "Reaction",
    "Species",
    "VolumeChangeResult",
    "VolumeSystem",
    "c_rate_to_current",
    "capacity_from_electrons",
    "compute_capacity",
    "current_to_c_rate",
    "electrons_from_capacity",
    "format_formula",
    "host_capacity",
    "insertion_redox_limit",
    "molar_mass",
    "parse_formula",
    "parse_rate",
    "parse_reaction",
    "quoted_capacity_check",
    "sodiation_volume_change",
    "theoretical_capacity",
    "volume_change",
]
