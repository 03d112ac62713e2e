"""Checks of theoretical capacities quoted in papers against the chemistry they state.

Owns :func:`quoted_capacity_check`, used by the knowledge base's consistency checks
(methods.md §8 "Flags"): it back-calculates the electrons a quoted value needs, compares
it with the stated reaction, applies the insertion redox limit of Ti/Nb hosts, and looks
for the nearest plausible alternative the authors may have computed instead (a rounder
electron count, the protonated or lithiated analogue of a pre-sodiated host, or a NaCx
stoichiometry for carbons).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from nasurf.errors import ValidationError
from nasurf.materials.capacity import (
    _ARROWS,
    _is_carbon_name,
    capacity_from_electrons,
    electrons_from_capacity,
    parse_reaction,
    theoretical_capacity,
)
from nasurf.materials.formula import format_formula, molar_mass, parse_formula

# Insertion couples whose lower oxidation state bounds an intercalation capacity:
# element -> (highest state, lowest state reached by insertion, label).
_INSERTION_COUPLES: dict[str, tuple[int, int, str]] = {
    "Ti": (4, 3, "Ti⁴⁺/Ti³⁺"),
    "Nb": (5, 4, "Nb⁵⁺/Nb⁴⁺"),
}
# Fixed oxidation states used to solve for the one redox-active element.
_FIXED_OXIDATION: dict[str, int] = {
    "Na": 1, "Li": 1, "K": 1, "H": 1, "O": -2, "S": -2, "Se": -2, "F": -1, "Cl": -1,
}
_CARBON_STOICHIOMETRIES = (6, 8, 64)

VERDICTS = ("consistent", "inconsistent", "exceeds_redox_limit", "no_stoichiometric_capacity",
            "unchecked")


@dataclass(frozen=True)
class QuotedCapacityFinding:
    """What a quoted theoretical capacity implies, and whether it fits the stated chemistry.

    ``verdict`` is one of :data:`VERDICTS`; ``consistent`` is ``None`` when there is no
    stated reaction or stoichiometry to compare with. Electrons are per formula unit of
    ``host`` (per C atom for carbons).
    """

    quoted_mAh_g: float
    host: str
    molar_mass_g_mol: float
    verdict: str
    consistent: bool | None
    back_calculated_electrons: float
    message: str
    reaction: str | None = None
    stated_electrons: float | None = None
    expected_mAh_g: float | None = None
    relative_difference: float | None = None
    redox_couple: str | None = None
    redox_limit_electrons: float | None = None
    redox_limit_mAh_g: float | None = None
    nearest_alternative: str | None = None
    alternative_mAh_g: float | None = None
    alternative_electrons: float | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["warnings"] = list(self.warnings)
        d["unit"] = "mAh g-1"
        return d


def insertion_redox_limit(formula: str | dict[str, float]) -> tuple[float, str] | None:
    """Most Na per formula unit an insertion host can take by its Ti/Nb couple.

    Returns ``(electrons, couple)`` (e.g. ``(3.0, "Ti⁴⁺/Ti³⁺")`` for Na2Ti3O7), or
    ``None`` when the host has no single Ti/Nb redox centre in a state this can solve for.
    """
    composition = parse_formula(formula) if isinstance(formula, str) else formula
    variable = [e for e in composition if e not in _FIXED_OXIDATION]
    if len(variable) != 1 or variable[0] not in _INSERTION_COUPLES:
        return None
    element = variable[0]
    fixed_charge = sum(_FIXED_OXIDATION[e] * n for e, n in composition.items() if e != element)
    state = -fixed_charge / composition[element]
    highest, lowest, label = _INSERTION_COUPLES[element]
    if state > highest + 1e-6 or state <= lowest + 1e-6:
        return None
    return composition[element] * (state - lowest), label


def _rounded_counts(electrons: float, step: float = 0.25) -> list[float]:
    lo = math.floor(electrons / step) * step
    return [c for c in {lo, lo + step} if c > 0]


def _analogues(host: dict[str, float]) -> list[tuple[str, dict[str, float]]]:
    """Protonated and lithiated analogues of a pre-sodiated host (Na2Ti3O7 -> H2Ti3O7)."""
    if "Na" not in host:
        return []
    out = []
    for element in ("H", "Li"):
        comp = {(element if e == "Na" else e): n for e, n in host.items()}
        out.append((format_formula(comp), comp))
    return out


def quoted_capacity_check(
    value_mAh_g: float,
    reaction_or_host: str,
    *,
    sodium: float | None = None,
    rtol: float = 0.005,
    alternative_rtol: float = 0.01,
) -> QuotedCapacityFinding:
    """Check a quoted theoretical capacity against a reaction or a host formula.

    Parameters
    ----------
    value_mAh_g
        The capacity as quoted (mAh/g).
    reaction_or_host
        A balanced reaction (``"SnO2 + 7.75 Na -> 2 Na2O + Na3.75Sn"``), a host formula
        (``"Na2Ti3O7"``, optionally with ``sodium``), or a carbon name (``"hard carbon"``).
    sodium
        Stated Na per formula unit when ``reaction_or_host`` is a formula.
    rtol
        Relative difference still counted as consistent. 0.5 %: quoted values carry at
        least three significant figures, so rounding alone moves them by at most 0.5 %.
    alternative_rtol
        Match tolerance for alternatives. 1 %: an alternative is a hypothesis about what
        the authors computed, often quoted with two significant figures ("310").

    Examples: SnO2 "1398" → 7.86 e⁻ vs the stated 7.75 (1378), inconsistent; Na2Ti3O7
    "310" → 3.49 Na, above the Ti⁴⁺/Ti³⁺ limit (266.6), matches 3 e⁻ per H2Ti3O7 (312.1);
    hard carbon "279" → NaC8 (278.9), not NaC6 (371.9).
    """
    if isinstance(value_mAh_g, bool) or not isinstance(value_mAh_g, int | float) or not (
            math.isfinite(value_mAh_g) and value_mAh_g > 0):
        raise ValidationError(f"quoted capacity must be a positive number in mAh/g, got "
                              f"{value_mAh_g!r}", field="value_mAh_g")
    quoted = float(value_mAh_g)
    if not isinstance(reaction_or_host, str) or not reaction_or_host.strip():
        raise ValidationError("give a reaction or a host formula", field="reaction_or_host")
    text = reaction_or_host.strip()

    if _is_carbon_name(text) and sodium is None:
        return _carbon_finding(quoted, text, stated_carbons=None, reaction=None)

    reaction: str | None = None
    stated: float | None = None
    if any(a in text for a in _ARROWS):
        result = theoretical_capacity(text)
        reaction, host, stated = text, result.host, result.electrons
        composition = parse_formula(host)
        parsed = parse_reaction(text)
        products = [s.composition for s in parsed.products]
    else:
        host, composition, products = text, parse_formula(text), []
        if sodium is not None:
            if not (isinstance(sodium, int | float) and math.isfinite(sodium) and sodium > 0):
                raise ValidationError(f"sodium must be a positive number, got {sodium!r}",
                                      field="sodium")
            stated = float(sodium)

    if set(composition) == {"C"}:
        return _carbon_finding(quoted, host, stated_carbons=(
            composition["C"] / stated if stated else None), reaction=reaction)

    mass = molar_mass(composition)
    needed = electrons_from_capacity(quoted, mass)
    expected = capacity_from_electrons(stated, mass) if stated is not None else None
    rel = (quoted - expected) / expected if expected is not None else None
    consistent = None if rel is None else abs(rel) <= rtol

    limit = None
    variable = [e for e in composition if e not in _FIXED_OXIDATION]
    converts_to_metal = any(set(p) == set(variable) for p in products) if variable else False
    if not converts_to_metal:
        limit = insertion_redox_limit(composition)
    limit_e, couple = limit if limit else (None, None)
    limit_q = capacity_from_electrons(limit_e, mass) if limit_e is not None else None
    exceeds = limit_e is not None and needed > limit_e * (1 + rtol)

    # Candidate alternatives: (description, capacity, electrons)
    candidates: list[tuple[str, float, float]] = []
    for n in _rounded_counts(needed):
        if stated is not None and math.isclose(n, stated, rel_tol=1e-9):
            continue
        if limit_e is not None and n > limit_e * (1 + 1e-9):
            continue
        candidates.append((f"{n:g} Na per {host}", capacity_from_electrons(n, mass), n))
    for name, comp in _analogues(composition):
        m = molar_mass(comp)
        analogue_limit = insertion_redox_limit(comp)
        for n in _rounded_counts(electrons_from_capacity(quoted, m), step=1.0):
            if analogue_limit and n > analogue_limit[0] * (1 + 1e-9):
                continue
            candidates.append((f"{n:g} e⁻ per {name}", capacity_from_electrons(n, m), n))
    matching = [c for c in candidates if abs(c[1] - quoted) <= alternative_rtol * quoted]
    best = min(matching, key=lambda c: abs(c[1] - quoted)) if matching else None

    parts = [f"{quoted:g} mAh/g needs {needed:.3g} Na per {host} (M = {mass:.3f} g/mol)"]
    if exceeds:
        verdict = "exceeds_redox_limit"
        parts.append(
            f"more than the {limit_e:g}-electron {couple} insertion limit "
            f"({limit_q:.1f} mAh/g), so it is not an allowed insertion capacity"
        )
    elif consistent is None:
        verdict = "unchecked"
    else:
        verdict = "consistent" if consistent else "inconsistent"
    if expected is not None:
        parts.append(
            f"the stated {stated:g} Na gives {expected:.1f} mAh/g"
            + (" (consistent)" if consistent else f" ({100 * rel:+.1f} %)")
        )
    if best and not consistent:
        parts.append(f"it matches {best[0]} ({best[1]:.1f} mAh/g)")
    warnings = ()
    if limit_e is not None and not converts_to_metal and not reaction:
        warnings = (f"assumed an insertion host ({couple}); a conversion reaction to the "
                    "metal is not bounded by this limit",)
    return QuotedCapacityFinding(
        quoted_mAh_g=quoted, host=host, molar_mass_g_mol=mass, verdict=verdict,
        consistent=consistent, back_calculated_electrons=needed,
        message="; ".join(parts) + ".", reaction=reaction, stated_electrons=stated,
        expected_mAh_g=expected, relative_difference=rel, redox_couple=couple,
        redox_limit_electrons=limit_e, redox_limit_mAh_g=limit_q,
        nearest_alternative=best[0] if best and not consistent else None,
        alternative_mAh_g=best[1] if best and not consistent else None,
        alternative_electrons=best[2] if best and not consistent else None,
        warnings=warnings,
    )


def _carbon_finding(quoted: float, host: str, *, stated_carbons: float | None,
                    reaction: str | None) -> QuotedCapacityFinding:
    """Carbons: compare with NaCx, per gram of carbon."""
    mass_c = molar_mass("C")
    needed_per_c = electrons_from_capacity(quoted, mass_c)
    carbons = 1 / needed_per_c
    options = [(f"NaC{x}", capacity_from_electrons(1.0, x * mass_c), 1.0 / x)
               for x in _CARBON_STOICHIOMETRIES]
    best = min(options, key=lambda o: abs(o[1] - quoted))
    close = abs(best[1] - quoted) <= 0.01 * quoted
    listing = ", ".join(f"{name} {q:.1f}" for name, q, _ in options)
    if stated_carbons is None:
        verdict, consistent, expected, rel, stated = (
            "no_stoichiometric_capacity", None, None, None, None)
        parts = [f"{quoted:g} mAh/g per g C corresponds to NaC{carbons:.3g}",
                 f"carbons have no stoichiometric theoretical capacity ({listing} mAh/g)"]
    else:
        stated = 1 / stated_carbons
        expected = capacity_from_electrons(1.0, stated_carbons * mass_c)
        rel = (quoted - expected) / expected
        consistent = abs(rel) <= 0.005
        verdict = "consistent" if consistent else "inconsistent"
        parts = [f"{quoted:g} mAh/g per g C corresponds to NaC{carbons:.3g}",
                 f"the stated NaC{stated_carbons:g} gives {expected:.1f} mAh/g"]
    show_best = close and not consistent
    if show_best:
        sentence = f"it equals {best[0]} ({best[1]:.1f} mAh/g)"
        if best[0] != "NaC6":
            sentence += f", not NaC6 ({options[0][1]:.1f})"
        parts.append(sentence)
    return QuotedCapacityFinding(
        quoted_mAh_g=quoted, host=host, molar_mass_g_mol=mass_c, verdict=verdict,
        consistent=consistent, back_calculated_electrons=needed_per_c,
        message="; ".join(parts) + ".", reaction=reaction, stated_electrons=stated,
        expected_mAh_g=expected, relative_difference=rel,
        nearest_alternative=best[0] if show_best else None,
        alternative_mAh_g=best[1] if show_best else None,
        alternative_electrons=best[2] if show_best else None,
    )
