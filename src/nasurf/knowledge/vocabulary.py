"""The knowledge base's controlled vocabulary: strategies, material classes, quantities.

Each quantity knows the dimensionality its unit must have, the canonical unit values are
stored in, and the range a value must fall in. The curated CSV and user records are both
validated against this table; the curator documents the same vocabulary in
``data/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

STRATEGIES: tuple[str, ...] = (
    "surface_oxygen_vacancies",
    "heterointerfaces",
    "2d_superlattices",
    "surface_structural_disorder",
    "surface_functionalisation",
    "interfacial_chemical_bonds",
)
"""The six surface-engineering strategies of the review (Sections 2-7), in its order."""

STRATEGY_LABELS: dict[str, str] = {
    "surface_oxygen_vacancies": "Surface oxygen vacancies",
    "heterointerfaces": "Heterointerfaces",
    "2d_superlattices": "2D superlattices",
    "surface_structural_disorder": "Surface-structural disorder",
    "surface_functionalisation": "Surface functionalisation",
    "interfacial_chemical_bonds": "Interfacial chemical bonds",
    "none": "No surface engineering",
}

ALL_STRATEGIES: tuple[str, ...] = (*STRATEGIES, "none")

MATERIAL_CLASSES: tuple[str, ...] = (
    "intercalation",
    "conversion",
    "alloying",
    "conversion_alloying",
    "adsorption_insertion",
)

SAMPLE_ROLES: tuple[str, ...] = ("treated", "control", "reference")


@dataclass(frozen=True)
class QuantitySpec:
    """How one quantity is validated and stored."""

    dimension: str
    """Key of :data:`nasurf.units.DIMENSIONS` or a pint dimensionality string."""
    canonical_unit: str
    """Unit the stored value is expressed in (pint syntax)."""
    minimum: float | None = None
    maximum: float | None = None
    minimum_inclusive: bool = False

    def range_text(self) -> str:
        lo = "-inf" if self.minimum is None else f"{self.minimum:g}"
        hi = "inf" if self.maximum is None else f"{self.maximum:g}"
        left = "[" if self.minimum_inclusive else "("
        return f"{left}{lo}, {hi}] {self.canonical_unit}"

    def in_range(self, value: float) -> bool:
        if self.minimum is not None:
            if self.minimum_inclusive and value < self.minimum:
                return False
            if not self.minimum_inclusive and value <= self.minimum:
                return False
        return self.maximum is None or value <= self.maximum


CAPACITY_UNIT = "mA h g^-1"
CURRENT_UNIT = "mA g^-1"

# 5000 mA h g^-1 is well above any sodium host (P -> Na3P is 2596) yet catches a value typed
# in the wrong unit (A h kg^-1 and mA h g^-1 are equal; mA h kg^-1 is not).
_CAPACITY = QuantitySpec("specific_capacity", CAPACITY_UNIT, 0.0, 5000.0)
_PERCENT_RETENTION = QuantitySpec("dimensionless", "%", 0.0, 200.0)

QUANTITIES: dict[str, QuantitySpec] = {
    "first_discharge_capacity": _CAPACITY,
    "first_charge_capacity": _CAPACITY,
    "cycling_capacity": _CAPACITY,
    "rate_capacity": _CAPACITY,
    "reversible_capacity": _CAPACITY,
    "theoretical_capacity": _CAPACITY,
    "capacity_retention": _PERCENT_RETENTION,
    "initial_coulombic_efficiency": QuantitySpec("dimensionless", "%", 0.0, 100.0),
    "coulombic_efficiency": QuantitySpec("dimensionless", "%", 0.0, 100.0),
    "electronic_conductivity": QuantitySpec("conductivity", "S cm^-1", 0.0, None),
    "ionic_conductivity": QuantitySpec("conductivity", "S cm^-1", 0.0, None),
    "na_migration_barrier": QuantitySpec("energy_per_particle", "eV", 0.0, 20.0, True),
    "na_insertion_barrier": QuantitySpec("energy_per_particle", "eV", 0.0, 20.0, True),
    "diffusion_barrier": QuantitySpec("energy_per_particle", "eV", 0.0, 20.0, True),
    "na_adsorption_energy": QuantitySpec("energy_per_particle", "eV", -20.0, 20.0, True),
    "band_gap": QuantitySpec("energy_per_particle", "eV", 0.0, 20.0, True),
    "interlayer_spacing": QuantitySpec("length", "nm", 0.0, 100.0),
    "layer_thickness": QuantitySpec("length", "nm", 0.0, 1e4),
    "shell_thickness": QuantitySpec("length", "nm", 0.0, 1e4),
    "volume_expansion": QuantitySpec("dimensionless", "%", 0.0, 2000.0, True),
    "diffusion_coefficient": QuantitySpec("diffusivity", "cm^2 s^-1", 0.0, None),
    "charge_transfer_resistance": QuantitySpec("[resistance]", "ohm", 0.0, None),
    "specific_surface_area": QuantitySpec("[length] ** 2 / [mass]", "m^2 g^-1", 0.0, 1e4),
    "average_voltage": QuantitySpec("potential", "V", -5.0, 5.0, True),
    "carrier_density_ratio": QuantitySpec("dimensionless", "dimensionless", 0.0, None),
    "sodiation_plateau_potential": QuantitySpec("potential", "V", -5.0, 5.0, True),
    "average_sodiation_potential": QuantitySpec("potential", "V", -5.0, 5.0, True),
    "surface_layer_thickness": QuantitySpec("length", "nm", 0.0, 1e4),
    "nanosheet_thickness": QuantitySpec("length", "nm", 0.0, 1e4),
    # cycles survived, printed as "over 10 000 cycles" (conditions in current/c_rate)
    "cycle_life": QuantitySpec("dimensionless", "dimensionless", 1.0, 1e6, True),
    # the highest C-rate a paper reports (the value is the C-rate itself)
    "max_c_rate": QuantitySpec("dimensionless", "dimensionless", 0.0, 1e4),
    "lithium_rate_capacity": _CAPACITY,
    "treatment_temperature": QuantitySpec("temperature", "degC", -273.15, 3000.0, True),
    "treatment_duration": QuantitySpec("time", "h", 0.0, 1e4),
    "reagent_mass_ratio": QuantitySpec("dimensionless", "dimensionless", 0.0, None),
    "reagent_fraction": QuantitySpec("dimensionless", "%", 0.0, 100.0, True),
}
"""Known quantities. User records must use one of these; curated rows with a quantity the
table does not know are stored with their unit as given (and listed by ``nasurf kb info``)."""

CAPACITY_QUANTITIES: frozenset[str] = frozenset(
    q for q, s in QUANTITIES.items()
    if s is _CAPACITY and q not in ("theoretical_capacity", "lithium_rate_capacity")
)
"""Measured Na-storage capacities (mA h g^-1; not theoretical, not lithium storage)."""

REVERSIBLE_CAPACITY_QUANTITIES: frozenset[str] = frozenset(
    {"first_charge_capacity", "cycling_capacity", "rate_capacity", "reversible_capacity"}
)
"""Capacities that exclude the first sodiation (which includes SEI formation)."""

RECORD_COLUMNS: tuple[str, ...] = (
    "id", "material", "material_key", "host", "material_class", "strategy", "sample_role",
    "quantity", "value", "unit", "raw_text", "approximate", "current_mA_g", "c_rate",
    "c_rate_basis_mAh_g", "cycles", "temperature_C", "ref", "location", "note",
)
"""Columns of the curated ``observations.csv``, in order."""

USER_COLUMNS: tuple[str, ...] = ("citation", "doi")
"""Extra columns a user record carries (its own citation)."""
