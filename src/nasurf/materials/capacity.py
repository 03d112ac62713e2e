"""Theoretical specific capacity from a balanced sodiation reaction (methods.md §8).

Owns reaction parsing and balance checking, Q = n·F/(3.6·M) with M the molar mass of
the starting (host) formula unit, the refusal of a "theoretical capacity" for carbons
given without a stoichiometry, and the check of capacities quoted in papers against the
reaction they state (:func:`quoted_capacity_check`).

n is taken from the reaction, never guessed: it is the Na metal consumed per formula
unit of host. For pre-sodiated hosts (Na2Ti3O7) M includes the Na already present, and
the result says so.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from nasurf.constants import FARADAY_C_PER_MOL
from nasurf.errors import ValidationError
from nasurf.materials.formula import format_formula, molar_mass, parse_formula

CAPACITY_CONSTANT_MAH_PER_MOL = FARADAY_C_PER_MOL / 3.6
"""F/3.6 = 26801.48 mAh/mol: charge of one mole of electrons in mAh."""

# Relative tolerance of the element balance: stoichiometries are printed with at most
# ~4 decimals (Na3.75Sn, 1/3 written 0.333), so 1e-3 of the element total is a typo, not
# rounding.
_BALANCE_RTOL = 1e-3

_ARROWS = ("<=>", "<->", "->", "=>", "→", "⟶", "⇌", "⇄", "↔", "=")
_CARBON_NAMES = {
    "hard carbon", "hardcarbon", "hc", "soft carbon", "carbon", "graphite", "c",
    "amorphous carbon", "carbon black", "graphene", "reduced graphene oxide", "rgo",
}
_CARBON_REASON = (
    "carbons (hard carbon, soft carbon, graphite) have no stoichiometric theoretical "
    "capacity: Na storage depends on the microstructure, not on a compound. Give a "
    "stoichiometry instead, e.g. host 'C6' with 1 Na (NaC6: 371.9 mAh/g per g C), 'C8' "
    "with 1 Na (NaC8: 278.9) or 'C64' with 1 Na (NaC64, graphite in carbonates: 34.9), "
    "or the reaction '6 C + Na -> NaC6'"
)


class NoStoichiometryError(ValidationError):
    """A theoretical capacity was asked for a material with no defining stoichiometry."""


@dataclass(frozen=True)
class Species:
    """One term of a reaction: ``coefficient`` formula units of ``formula``."""

    coefficient: float
    formula: str
    composition: dict[str, float] = field(compare=False, hash=False)

    @property
    def is_sodium_metal(self) -> bool:
        return set(self.composition) == {"Na"}

    @property
    def sodium_atoms(self) -> float:
        """Na atoms in this term (coefficient × count)."""
        return self.coefficient * self.composition.get("Na", 0.0)


@dataclass(frozen=True)
class Reaction:
    """A parsed, element-balanced reaction (Na⁺ + e⁻ pairs merged into Na)."""

    text: str
    reactants: tuple[Species, ...]
    products: tuple[Species, ...]

    def element_totals(self, side: str) -> dict[str, float]:
        """Total atoms of each element on ``"reactants"`` or ``"products"``."""
        totals: dict[str, float] = {}
        for sp in getattr(self, side):
            for element, n in sp.composition.items():
                totals[element] = totals.get(element, 0.0) + sp.coefficient * n
        return totals

    def scaled(self, factor: float) -> Reaction:
        """The same reaction with every coefficient multiplied by ``factor``."""
        def scale(side: tuple[Species, ...]) -> tuple[Species, ...]:
            return tuple(Species(s.coefficient * factor, s.formula, s.composition) for s in side)
        return Reaction(self.text, scale(self.reactants), scale(self.products))

    def __str__(self) -> str:
        def side(species: tuple[Species, ...]) -> str:
            return " + ".join(
                s.formula if s.coefficient == 1 else f"{s.coefficient:g} {s.formula}"
                for s in species
            )
        return f"{side(self.reactants)} -> {side(self.products)}"


@dataclass(frozen=True)
class CapacityResult:
    """Theoretical specific capacity of a host, per gram of the starting host material.

    ``electrons`` is n, the Na (= e⁻) taken up per formula unit of ``host``;
    ``molar_mass_g_mol`` is M of that formula unit (including any Na already in it).
    """

    capacity_mAh_g: float
    electrons: float
    molar_mass_g_mol: float
    host: str
    reaction: str | None
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    basis: str = "per gram of the starting host material"
    process: str = "sodiation"
    faraday_C_mol: float = FARADAY_C_PER_MOL

    def to_dict(self) -> dict[str, Any]:
        return {
            "capacity_mAh_g": self.capacity_mAh_g,
            "electrons": self.electrons,
            "molar_mass_g_mol": self.molar_mass_g_mol,
            "host": self.host,
            "reaction": self.reaction,
            "notes": list(self.notes),
            "warnings": list(self.warnings),
            "basis": self.basis,
            "process": self.process,
            "unit": "mAh g-1",
            "faraday_C_mol": self.faraday_C_mol,
        }


def capacity_from_electrons(electrons: float, molar_mass_g_mol: float) -> float:
    """Q = n·F/(3.6·M) in mAh/g."""
    return electrons * CAPACITY_CONSTANT_MAH_PER_MOL / molar_mass_g_mol


def electrons_from_capacity(capacity_mAh_g: float, molar_mass_g_mol: float) -> float:
    """Back-calculate n = Q·3.6·M/F from a capacity in mAh/g."""
    return capacity_mAh_g * molar_mass_g_mol / CAPACITY_CONSTANT_MAH_PER_MOL


# ---------------------------------------------------------------------------- parsing

def _is_carbon_name(text: str) -> bool:
    return " ".join(text.strip().lower().split()) in _CARBON_NAMES


def _split_arrow(text: str) -> tuple[str, str]:
    for arrow in _ARROWS:
        if arrow in text:
            left, _, right = text.partition(arrow)
            if any(a in right for a in _ARROWS):
                raise ValidationError(f"reaction '{text}': more than one arrow",
                                      field="reaction")
            return left, right
    raise ValidationError(
        f"'{text}' is not a reaction (no '->', '→', '=' or '⇌'); for a host formula "
        "give the Na per formula unit, e.g. host_capacity('P', 3) or "
        "`nasurf capacity P --sodium 3`",
        field="reaction",
    )


def _split_terms(side: str) -> list[str]:
    """Split one side at '+' separators, keeping charge signs such as the one in 'Na+ + e-'.

    A '+' directly after a species is a charge when what follows it (after spaces) is
    another sign or the end of the side; otherwise it separates terms.
    """
    terms: list[str] = []
    current = ""
    for i, ch in enumerate(side):
        if ch == "+":
            rest = side[i + 1:].lstrip()
            attached = bool(current) and not current[-1].isspace()
            if attached and (not rest or rest[0] in "+-"):
                current += ch
                continue
            terms.append(current)
            current = ""
        else:
            current += ch
    terms.append(current)
    return [t.strip() for t in terms]


_COEFFICIENT = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(?:\s*/\s*(\d+(?:\.\d*)?))?\s*\*?\s*")
_ELECTRON = re.compile(r"^e\s*(\^?-|⁻)?$")
_SODIUM_ION = re.compile(r"^Na\s*\^?\+$")


def parse_reaction(text: str) -> Reaction:
    """Parse and balance-check ``"SnO2 + 7.75 Na -> 2 Na2O + Na3.75Sn"``.

    Arrows ``->``, ``→``, ``=``, ``⇌`` (and ``<->``, ``=>``) are accepted; coefficients
    may be decimals or fractions (``1/3 Na``); ``x Na+ + x e-`` is read as ``x Na``.
    Raises ValidationError naming the unbalanced element with both totals.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("empty reaction; expected e.g. 'Sn + 3.75 Na -> Na3.75Sn'",
                              field="reaction")
    clean = unicodedata.normalize("NFKC", text).replace("\u2212", "-").strip()
    left, right = _split_arrow(clean)
    reactants = _parse_side(left, clean, "left")
    products = _parse_side(right, clean, "right")
    reaction = Reaction(text.strip(), reactants, products)
    _check_balance(reaction)
    return reaction


def _parse_side(side: str, reaction: str, name: str) -> tuple[Species, ...]:
    terms = _split_terms(side)
    if any(not t for t in terms):
        raise ValidationError(
            f"reaction '{reaction}': empty term on the {name}-hand side (stray '+'?)",
            field="reaction",
        )
    species: dict[str, Species] = {}
    ions = electrons = 0.0
    for term in terms:
        coefficient = 1.0
        m = _COEFFICIENT.match(term)
        if m:
            num = float(m.group(1))
            den = float(m.group(2)) if m.group(2) else 1.0
            if den == 0:
                raise ValidationError(f"reaction '{reaction}': zero denominator in '{term}'",
                                      field="reaction")
            coefficient = num / den
            formula = term[m.end():].strip()
        else:
            formula = term
        if not formula:
            raise ValidationError(f"reaction '{reaction}': coefficient '{term}' has no species",
                                  field="reaction")
        if coefficient <= 0:
            raise ValidationError(
                f"reaction '{reaction}': coefficient of '{formula}' must be positive",
                field="reaction")
        if _ELECTRON.match(formula):
            electrons += coefficient
            continue
        if _SODIUM_ION.match(formula):
            ions += coefficient
            continue
        if _is_carbon_name(formula) and formula != "C":
            raise NoStoichiometryError(f"reaction '{reaction}': '{formula}': {_CARBON_REASON}",
                                       field="reaction")
        try:
            composition = parse_formula(formula)
        except ValidationError as exc:
            raise ValidationError(f"reaction '{reaction}': {exc.reason}",
                                  field="reaction") from None
        key = format_formula(composition)
        if key in species:
            old = species[key]
            species[key] = Species(old.coefficient + coefficient, old.formula, composition)
        else:
            species[key] = Species(coefficient, formula, composition)
    if not math.isclose(ions, electrons, rel_tol=_BALANCE_RTOL, abs_tol=1e-9):
        raise ValidationError(
            f"reaction '{reaction}': charge is not balanced on the {name}-hand side: "
            f"{ions:g} Na+ but {electrons:g} e-; write 'x Na+ + x e-' or simply 'x Na'",
            field="reaction",
        )
    if ions:
        na = parse_formula("Na")
        if "Na" in species:
            old = species["Na"]
            species["Na"] = Species(old.coefficient + ions, old.formula, na)
        else:
            species["Na"] = Species(ions, "Na", na)
    if not species:
        raise ValidationError(f"reaction '{reaction}': the {name}-hand side has no species",
                              field="reaction")
    return tuple(species.values())


def _check_balance(reaction: Reaction) -> None:
    left = reaction.element_totals("reactants")
    right = reaction.element_totals("products")
    problems = []
    for element in dict.fromkeys([*left, *right]):
        a, b = left.get(element, 0.0), right.get(element, 0.0)
        if not math.isclose(a, b, rel_tol=_BALANCE_RTOL, abs_tol=1e-9):
            problems.append(f"{element}: {a:g} on the left, {b:g} on the right")
    if problems:
        raise ValidationError(
            f"reaction '{reaction.text}' is not balanced: " + "; ".join(problems),
            field="reaction",
        )


# ---------------------------------------------------------------------------- capacity

def _refuse_carbon(text: str) -> None:
    if _is_carbon_name(text):
        raise NoStoichiometryError(f"'{text.strip()}': {_CARBON_REASON}", field="host")


def _host_notes(composition: dict[str, float], host: str, electrons: float
                ) -> tuple[list[str], list[str]]:
    notes: list[str] = []
    warnings: list[str] = []
    if "Na" in composition:
        notes.append(
            f"pre-sodiated host: M includes the {composition['Na']:g} Na already in {host}; "
            f"capacity is per gram of {host}"
        )
    if set(composition) == {"C"}:
        per_c = electrons / composition["C"]
        notes.append(
            f"per gram of carbon; stoichiometry NaC{1 / per_c:.4g} supplied by the user "
            "(carbons have no intrinsic stoichiometric capacity)"
        )
        if per_c > 1 / 6 * (1 + 1e-9):
            warnings.append(
                f"{per_c:.4g} Na per C exceeds NaC6 (1/6), the richest binary Na-C "
                "stoichiometry ever proposed"
            )
    return notes, warnings


def theoretical_capacity(reaction: str, *, host: str | None = None) -> CapacityResult:
    """Theoretical capacity of the host of a balanced sodiation reaction.

    >>> r = theoretical_capacity("SnO2 + 7.75 Na -> 2 Na2O + Na3.75Sn")
    >>> round(r.capacity_mAh_g, 1), r.electrons, r.host
    (1378.2, 7.75, 'SnO2')

    The host is the first reactant that is not Na metal (or ``host``); n is the Na metal
    consumed per formula unit of host (``Sn4P3 + 24 Na -> ...`` gives n = 24 per Sn4P3,
    ``6 C + Na -> NaC6`` gives n = 1/6 per C, i.e. per gram of carbon).
    """
    if isinstance(reaction, str) and _is_carbon_name(reaction):
        _refuse_carbon(reaction)
    parsed = parse_reaction(reaction)
    hosts = [s for s in parsed.reactants if not s.is_sodium_metal]
    if not hosts:
        raise ValidationError(f"reaction '{reaction}': no host reactant besides Na",
                              field="reaction")
    if host is None:
        chosen = hosts[0]
    else:
        wanted = format_formula(parse_formula(host))
        matches = [s for s in hosts if format_formula(s.composition) == wanted]
        if not matches:
            raise ValidationError(
                f"host '{host}' is not a reactant of '{reaction}' "
                f"(reactants: {', '.join(s.formula for s in hosts)})",
                field="host",
            )
        chosen = matches[0]
    na_in = sum(s.sodium_atoms for s in parsed.reactants if s.is_sodium_metal)
    na_out = sum(s.sodium_atoms for s in parsed.products if s.is_sodium_metal)
    consumed = na_in - na_out
    if consumed <= 0:
        raise ValidationError(
            f"reaction '{reaction}' consumes no Na metal; write it in the sodiation "
            "direction with Na (or Na+ + e-) on the left, e.g. 'Sb + 3 Na -> Na3Sb'",
            field="reaction",
        )
    electrons = consumed / chosen.coefficient
    mass = molar_mass(chosen.composition)
    notes, warnings = _host_notes(chosen.composition, chosen.formula, electrons)
    others = [s.formula for s in hosts if s is not chosen]
    if others:
        warnings.append(
            f"capacity is per gram of {chosen.formula} only; the mass of the other "
            f"reactants ({', '.join(others)}) is not included"
        )
    if chosen.coefficient != 1:
        notes.append(
            f"n = {consumed:g} Na / {chosen.coefficient:g} {chosen.formula} = "
            f"{electrons:.6g} per formula unit of {chosen.formula}"
        )
    return CapacityResult(
        capacity_mAh_g=capacity_from_electrons(electrons, mass),
        electrons=electrons,
        molar_mass_g_mol=mass,
        host=chosen.formula,
        reaction=parsed.text,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


#: Na taken up per atom of the host, at most (the richest sodium alloys hold 3 to 3.75)
MAX_NA_PER_ATOM = 10.0


def host_capacity(formula: str, sodium: float) -> CapacityResult:
    """Theoretical capacity of ``formula`` taking up ``sodium`` Na per formula unit.

    >>> round(host_capacity("P", 3).capacity_mAh_g, 1)
    2595.9
    """
    if isinstance(formula, str) and formula.strip() != "C":
        # The formula "C" with an explicit Na per C is a stoichiometry; names are not.
        _refuse_carbon(formula)
    if isinstance(sodium, bool) or not isinstance(sodium, int | float) or not math.isfinite(
            sodium) or sodium <= 0:
        raise ValidationError(
            f"sodium per formula unit of '{formula}' must be a positive number, got {sodium!r}",
            field="sodium",
        )
    composition = parse_formula(formula)
    atoms = sum(composition.values())
    if sodium > MAX_NA_PER_ATOM * atoms:
        raise ValidationError(
            f"{sodium:g} Na per formula unit of '{formula}' ({atoms:g} atoms) is beyond any "
            f"host: the limit is {MAX_NA_PER_ATOM:g} Na per host atom (Na3P and Na15Sn4, the "
            "richest known phases, hold 3 and 3.75)", field="sodium")
    mass = molar_mass(composition)
    notes, warnings = _host_notes(composition, formula.strip(), float(sodium))
    return CapacityResult(
        capacity_mAh_g=capacity_from_electrons(float(sodium), mass),
        electrons=float(sodium),
        molar_mass_g_mol=mass,
        host=formula.strip(),
        reaction=None,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def compute_capacity(reaction_or_host: str, sodium: float | None = None) -> CapacityResult:
    """A reaction, or a host formula with ``sodium`` per formula unit (the CLI's entry)."""
    if sodium is not None:
        return host_capacity(reaction_or_host, sodium)
    _refuse_carbon(reaction_or_host)
    if not any(a in reaction_or_host for a in _ARROWS):
        # Parse first so that a typo in the formula is reported as such.
        parse_formula(reaction_or_host)
        raise ValidationError(
            f"'{reaction_or_host}' is a formula, not a reaction: give the Na taken up per "
            f"formula unit (--sodium N / host_capacity('{reaction_or_host}', N)) or a "
            "balanced reaction such as 'Sb + 3 Na -> Na3Sb'",
            field="sodium",
        )
    return theoretical_capacity(reaction_or_host)
