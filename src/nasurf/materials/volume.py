"""Volume change on full sodiation from crystallographic inputs (methods.md §9).

Owns molar volumes of phases (from a density and the formula, or from lattice
parameters and Z), the ratio V1/V0 of the product volume per formula unit of host to the
host's own volume, and a table of the §9 systems with every input and its source.

Every result carries both ``volume_ratio_V1_V0`` and ``volume_change_dV_V0`` and a label
that names which is which: confusing the two explains several "500 %" literature values.
Na metal is not part of V0 (the electrode's host volume), and product mixtures add their
volumes (no porosity, no amorphisation: a crystallographic estimate).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nasurf.errors import ValidationError
from nasurf.materials.formula import molar_mass, parse_formula
from nasurf.options import choose

AVOGADRO_PER_MOL = 6.02214076e23
"""Exact SI value (2019)."""
_CM3_PER_A3 = 1e-24

_LATTICE_PARAMETERS: dict[str, tuple[str, ...]] = {
    "cubic": ("a",),
    "tetragonal": ("a", "c"),
    "hexagonal": ("a", "c"),
    "trigonal": ("a", "c"),  # hexagonal setting
    "rhombohedral": ("a", "alpha"),
    "orthorhombic": ("a", "b", "c"),
    "monoclinic": ("a", "b", "c", "beta"),
    "triclinic": ("a", "b", "c", "alpha", "beta", "gamma"),
}


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value) or value <= 0:
        raise ValidationError(f"{name} must be a positive number, got {value!r}", field=name)
    return float(value)


@dataclass(frozen=True)
class Lattice:
    """A unit cell: crystal ``system``, lengths in Å, angles in degrees, ``Z`` formula units."""

    system: str
    a: float
    Z: float
    b: float | None = None
    c: float | None = None
    alpha: float | None = None
    beta: float | None = None
    gamma: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "system", choose("crystal system", self.system,
                                                  _LATTICE_PARAMETERS, where="Lattice"))
        _positive(self.Z, "Z")
        for name in _LATTICE_PARAMETERS[self.system]:
            value = getattr(self, name)
            if value is None:
                raise ValidationError(f"a {self.system} cell needs {name}", field=name)
            _positive(value, name)
            if name in ("alpha", "beta", "gamma") and value >= 180:
                raise ValidationError(f"{name} must be an angle below 180°, got {value}",
                                      field=name)

    def cell_volume_A3(self) -> float:
        """Unit-cell volume in Å³."""
        a, b, c = self.a, self.b, self.c
        s = self.system
        if s == "cubic":
            return a**3
        if s == "tetragonal":
            return a * a * c
        if s in ("hexagonal", "trigonal"):
            return math.sqrt(3) / 2 * a * a * c
        if s == "orthorhombic":
            return a * b * c
        if s == "monoclinic":
            return a * b * c * math.sin(math.radians(self.beta))
        if s == "rhombohedral":
            ca = math.cos(math.radians(self.alpha))
            return a**3 * math.sqrt(1 - 3 * ca**2 + 2 * ca**3)
        ca, cb, cg = (math.cos(math.radians(x)) for x in (self.alpha, self.beta, self.gamma))
        root = 1 - ca**2 - cb**2 - cg**2 + 2 * ca * cb * cg
        if root <= 0:
            raise ValidationError("triclinic angles do not form a cell", field="alpha")
        return a * b * c * math.sqrt(root)

    def to_dict(self) -> dict[str, Any]:
        d = {"system": self.system, "Z": self.Z}
        d.update({k: getattr(self, k) for k in _LATTICE_PARAMETERS[self.system]})
        return d


@dataclass(frozen=True)
class Phase:
    """A crystalline phase: its formula and either a density (g/cm³) or a lattice."""

    formula: str
    density_g_cm3: float | None = None
    lattice: Lattice | None = None
    source: str = ""

    def __post_init__(self) -> None:
        parse_formula(self.formula)
        if (self.density_g_cm3 is None) == (self.lattice is None):
            raise ValidationError(
                f"phase {self.formula}: give exactly one of a density (g/cm3) or a lattice",
                field="phase")
        if self.density_g_cm3 is not None:
            _positive(self.density_g_cm3, "density_g_cm3")

    def volume_per_formula_unit_A3(self) -> float:
        """Volume of one formula unit in Å³ (V_cell/Z, or M/(ρ·N_A))."""
        if self.lattice is not None:
            return self.lattice.cell_volume_A3() / self.lattice.Z
        return molar_mass(self.formula) / (self.density_g_cm3 * AVOGADRO_PER_MOL) / _CM3_PER_A3

    def to_dict(self) -> dict[str, Any]:
        return {
            "formula": self.formula,
            "density_g_cm3": self.density_g_cm3,
            "lattice": self.lattice.to_dict() if self.lattice else None,
            "volume_per_formula_unit_A3": self.volume_per_formula_unit_A3(),
            "source": self.source,
        }


@dataclass(frozen=True)
class VolumeChangeResult:
    """V1/V0 and ΔV/V0 = V1/V0 − 1 per formula unit of host, with the inputs used."""

    host: str
    products: str
    volume_ratio_V1_V0: float
    volume_change_dV_V0: float
    host_volume_A3: float
    product_volume_A3: float
    inputs: tuple[Phase, ...]
    name: str | None = None
    literature: str | None = None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def label(self) -> str:
        return (f"V1/V0 = {self.volume_ratio_V1_V0:.2f} "
                f"(ΔV/V0 = {100 * self.volume_change_dV_V0:+.0f} %)")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "host": self.host,
            "products": self.products,
            "volume_ratio_V1_V0": self.volume_ratio_V1_V0,
            "volume_change_dV_V0": self.volume_change_dV_V0,
            "volume_change_percent": 100 * self.volume_change_dV_V0,
            "label": self.label,
            "host_volume_A3": self.host_volume_A3,
            "product_volume_A3": self.product_volume_A3,
            "basis": "per formula unit of host; Na metal not counted in V0",
            "inputs": [p.to_dict() for p in self.inputs],
            "literature": self.literature,
            "notes": list(self.notes),
            "warnings": list(self.warnings),
        }


def volume_change(host: Phase, products: Sequence[tuple[float, Phase]], *,
                  name: str | None = None, literature: str | None = None) -> VolumeChangeResult:
    """Volume change when one formula unit of ``host`` becomes ``products``.

    ``products`` are ``(coefficient, phase)`` per formula unit of host, e.g. for Sn →
    Na15Sn4 ``[(0.25, Na15Sn4)]``. Every element of the host other than Na must be
    conserved in the products (a missing 0.25 is caught here).
    """
    if not products:
        raise ValidationError("give at least one product phase", field="products")
    host_comp = parse_formula(host.formula)
    totals: dict[str, float] = {}
    for coefficient, phase in products:
        _positive(coefficient, "coefficient")
        for element, n in parse_formula(phase.formula).items():
            totals[element] = totals.get(element, 0.0) + coefficient * n
    for element in dict.fromkeys([*host_comp, *totals]):
        if element == "Na":
            continue
        a, b = host_comp.get(element, 0.0), totals.get(element, 0.0)
        if not math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-9):
            raise ValidationError(
                f"{element} is not conserved: {a:g} per {host.formula} in the host but "
                f"{b:g} in the products; give product coefficients per formula unit of host",
                field="products")
    na_gain = totals.get("Na", 0.0) - host_comp.get("Na", 0.0)
    if na_gain <= 0:
        raise ValidationError(
            f"the products contain no more Na than {host.formula}: not a sodiation",
            field="products")
    v0 = host.volume_per_formula_unit_A3()
    v1 = sum(c * p.volume_per_formula_unit_A3() for c, p in products)
    ratio = v1 / v0
    products_text = " + ".join(p.formula if c == 1 else f"{c:g} {p.formula}"
                               for c, p in products)
    return VolumeChangeResult(
        host=host.formula, products=products_text, volume_ratio_V1_V0=ratio,
        volume_change_dV_V0=ratio - 1, host_volume_A3=v0, product_volume_A3=v1,
        inputs=(host, *(p for _, p in products)), name=name, literature=literature,
        notes=(f"{na_gain:g} Na per {host.formula}",),
    )


# ------------------------------------------------------------------ built-in §9 systems
# Each input carries its source. Values methods.md §9 gives are used as printed; the
# others are standard room-temperature crystallographic values. Where a handbook density
# and an X-ray density differ, the one reproducing §9's computed column is used and the
# other is named in the note.

_BETA_SN = Phase("Sn", density_g_cm3=7.287,
                 source="β-Sn, 7.287 g/cm3 (methods.md §9)")
_NA15SN4 = Phase("Na15Sn4", lattice=Lattice("cubic", 13.14, Z=4),
                 source="Na15Sn4, I-43d, a = 13.14 Å (methods.md §9), Z = 4 (Cu15Si4 type: "
                        "16 Sn + 60 Na per cell)")
_SB = Phase("Sb", lattice=Lattice("trigonal", 4.3084, c=11.274, Z=6),
            source="Sb, R-3m (hexagonal setting), a = 4.3084, c = 11.274 Å, Z = 6 "
                   "(room-temperature values; X-ray density 6.69 g/cm3)")
_NA3SB = Phase("Na3Sb", lattice=Lattice("hexagonal", 5.366, c=9.515, Z=2),
               source="Na3Sb, P6_3/mmc, a = 5.366, c = 9.515 Å (methods.md §9), Z = 2 "
                      "(Na3As type)")
_BLACK_P = Phase("P", density_g_cm3=2.69, source="black P, 2.69 g/cm3 (methods.md §9)")
_RED_P = Phase("P", density_g_cm3=2.2, source="red P (amorphous), 2.2 g/cm3 (methods.md §9)")
_NA3P = Phase("Na3P", lattice=Lattice("hexagonal", 4.988, c=8.797, Z=2),
              source="Na3P, P6_3/mmc (Na3As type), a = 4.988, c = 8.797 Å, Z = 2; "
                     "methods.md §9 rounds these to 4.99/8.80, which would give red P "
                     "4.06 instead of the printed 4.05")
_BI = Phase("Bi", density_g_cm3=9.79,
            source="Bi, 9.79 g/cm3 (CRC Handbook of Chemistry and Physics, 20 °C)")
_NA3BI = Phase("Na3Bi", lattice=Lattice("hexagonal", 5.448, c=9.655, Z=2),
               source="Na3Bi, P6_3/mmc (Na3As type), a = 5.448, c = 9.655 Å, Z = 2")
_SNO2 = Phase("SnO2", density_g_cm3=6.95,
              source="SnO2 (cassiterite), 6.95 g/cm3 (handbook/supplier bulk density); the "
                     "X-ray density from rutile a = 4.737, c = 3.186 Å (6.99 g/cm3) would "
                     "give V1/V0 = 6.36")
_NA2O = Phase("Na2O", lattice=Lattice("cubic", 5.55, Z=4),
              source="Na2O, antifluorite Fm-3m, a = 5.55 Å, Z = 4")
_MOS2 = Phase("MoS2", density_g_cm3=5.06,
              source="2H-MoS2, 5.06 g/cm3 (CRC Handbook); the X-ray density from a = 3.160, "
                     "c = 12.294 Å (5.00 g/cm3) would give V1/V0 = 2.92")
_MO = Phase("Mo", lattice=Lattice("cubic", 3.147, Z=2), source="Mo, bcc Im-3m, a = 3.147 Å, Z = 2")
_NA2S = Phase("Na2S", lattice=Lattice("cubic", 6.54, Z=4),
              source="Na2S, antifluorite Fm-3m, a = 6.54 Å, Z = 4")


@dataclass(frozen=True)
class VolumeSystem:
    """A built-in sodiation system: host, products per host formula unit, literature."""

    name: str
    host: Phase
    products: tuple[tuple[float, Phase], ...]
    literature: str

    def compute(self) -> VolumeChangeResult:
        return volume_change(self.host, self.products, name=self.name,
                             literature=self.literature)


SYSTEMS: dict[str, VolumeSystem] = {
    s.name: s for s in (
        VolumeSystem("Sn", _BETA_SN, ((0.25, _NA15SN4),),
                     "~420 %: in situ TEM, J. W. Wang et al. Nano Lett. 2012, 12, 5897; "
                     "Ellis, Hatchard, Obrovac, J. Electrochem. Soc. 2012"),
        VolumeSystem("Sb", _SB, ((1.0, _NA3SB),),
                     "293 %: Darwiche et al. J. Am. Chem. Soc. 2012, 134, 20805"),
        VolumeSystem("P-black", _BLACK_P, ((1.0, _NA3P),),
                     "300-500 % quoted depending on allotrope and convention"),
        VolumeSystem("P-red", _RED_P, ((1.0, _NA3P),),
                     "300-500 % quoted depending on allotrope and convention"),
        VolumeSystem("Bi", _BI, ((1.0, _NA3BI),), "~250 %"),
        VolumeSystem("SnO2", _SNO2, ((0.25, _NA15SN4), (2.0, _NA2O)),
                     "no value verified; compute rather than quote (crystalline products)"),
        VolumeSystem("MoS2", _MOS2, ((1.0, _MO), (2.0, _NA2S)),
                     "conversion; the layered intercalation step is small"),
    )
}

_ALIASES = {"p": None, "phosphorus": None, "black p": "P-black", "red p": "P-red",
            "black-p": "P-black", "red-p": "P-red", "p-black": "P-black", "p-red": "P-red"}


def sodiation_volume_change(system: str) -> VolumeChangeResult:
    """V1/V0 and ΔV/V0 of a built-in §9 system (``"Sn"``, ``"Sb"``, ``"P-black"``,
    ``"P-red"``, ``"Bi"``, ``"SnO2"``, ``"MoS2"``)."""
    key = " ".join(str(system).strip().split())
    for name in SYSTEMS:
        if name.lower() == key.lower():
            return SYSTEMS[name].compute()
    alias = _ALIASES.get(key.lower(), "missing")
    if alias is None:
        raise ValidationError(
            f"'{system}' is ambiguous: phosphorus volume change depends on the allotrope; "
            "choose 'P-black' (2.69 g/cm3) or 'P-red' (2.2 g/cm3)", field="system")
    if alias != "missing":
        return SYSTEMS[alias].compute()
    raise ValidationError(
        f"no built-in volume data for '{system}'; known systems: {', '.join(SYSTEMS)} "
        "(or give the host and product phases explicitly)", field="system")


def parse_phase_spec(spec: str) -> tuple[float, Phase]:
    """Parse a CLI phase spec: ``"[coef] FORMULA:density=7.287"`` or
    ``"[coef] FORMULA:hexagonal,a=5.366,c=9.515,Z=2"``."""
    text = spec.strip()
    head, sep, tail = text.partition(":")
    if not sep or not tail.strip():
        raise ValidationError(
            f"phase '{spec}': expected 'FORMULA:density=RHO' or "
            "'FORMULA:SYSTEM,a=..,c=..,Z=..'", field="phase")
    words = head.split()
    coefficient = 1.0
    if len(words) == 2:
        try:
            coefficient = float(words[0])
        except ValueError:
            raise ValidationError(f"phase '{spec}': bad coefficient '{words[0]}'",
                                  field="phase") from None
        formula = words[1]
    elif len(words) == 1:
        formula = words[0]
    else:
        raise ValidationError(f"phase '{spec}': expected '[coefficient] FORMULA'", field="phase")
    items = [x.strip() for x in tail.split(",") if x.strip()]
    system = None
    values: dict[str, float] = {}
    for item in items:
        if "=" not in item:
            if system is not None:
                raise ValidationError(f"phase '{spec}': two crystal systems given", field="phase")
            system = item.lower()
            continue
        key, _, value = item.partition("=")
        key = key.strip()
        key = "Z" if key.lower() == "z" else key.lower()
        try:
            values[key] = float(value)
        except ValueError:
            raise ValidationError(f"phase '{spec}': '{item}' is not a number",
                                  field="phase") from None
    if system is None:
        if set(values) != {"density"}:
            raise ValidationError(
                f"phase '{spec}': without a crystal system give only density=RHO (g/cm3)",
                field="phase")
        return coefficient, Phase(formula, density_g_cm3=values["density"], source=spec)
    if "Z" not in values:
        raise ValidationError(f"phase '{spec}': a lattice needs Z (formula units per cell)",
                              field="phase")
    allowed = {"a", "b", "c", "alpha", "beta", "gamma", "Z"}
    unknown = set(values) - allowed
    if unknown:
        raise ValidationError(f"phase '{spec}': unknown parameter(s) {sorted(unknown)}",
                              field="phase")
    lattice = Lattice(system, **values)
    return coefficient, Phase(formula, lattice=lattice, source=spec)
