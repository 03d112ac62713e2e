"""Chemical formulas: parsing into element counts, and molar masses.

Owns the periodic table of standard atomic weights used everywhere in nasurf and the
formula grammar battery papers use: element symbols, decimal stoichiometries
(``Na3.75Sn``, ``Ti0.87O2``), nested groups (``Ca(OH)2``, ``[Fe(CN)6]``), hydrates joined
by ``·``/``*`` (``CuSO4·5H2O``) and Unicode subscripts (``SnO₂``). Ionic charges are
refused: a formula unit is neutral, and a ``+`` in a formula is almost always a typo for
a reaction.

Atomic weights: IUPAC/CIAAW standard atomic weights 2021 (Prohaska et al., *Pure Appl.
Chem.* 2022, 94, 573), using the IUPAC *conventional* single value for the elements whose
standard weight is an interval (H, Li, B, C, N, O, Mg, Si, S, Cl, Ar, Br, Tl, Pb). For
Na, P and Bi the values are rounded as in methods.md §8 (22.98977, 30.97376, 208.980) so
that the §8 capacity table reproduces exactly; the rounding changes no molar mass by more
than 1e-5 g/mol. Elements without a stable isotope carry the mass number of their
longest-lived isotope (IUPAC periodic table, 2022), marked in :data:`RADIOACTIVE_ONLY`.
"""

from __future__ import annotations

import math
import re
import unicodedata

from nasurf.errors import ValidationError

ATOMIC_WEIGHTS: dict[str, float] = {
    "H": 1.008, "He": 4.002602, "Li": 6.94, "Be": 9.0121831, "B": 10.81, "C": 12.011,
    "N": 14.007, "O": 15.999, "F": 18.998403162, "Ne": 20.1797, "Na": 22.98977,
    "Mg": 24.305, "Al": 26.9815384, "Si": 28.085, "P": 30.97376, "S": 32.06, "Cl": 35.45,
    "Ar": 39.95, "K": 39.0983, "Ca": 40.078, "Sc": 44.955907, "Ti": 47.867, "V": 50.9415,
    "Cr": 51.9961, "Mn": 54.938043, "Fe": 55.845, "Co": 58.933194, "Ni": 58.6934,
    "Cu": 63.546, "Zn": 65.38, "Ga": 69.723, "Ge": 72.630, "As": 74.921595, "Se": 78.971,
    "Br": 79.904, "Kr": 83.798, "Rb": 85.4678, "Sr": 87.62, "Y": 88.905838, "Zr": 91.222,
    "Nb": 92.90637, "Mo": 95.95, "Tc": 97.0, "Ru": 101.07, "Rh": 102.90549, "Pd": 106.42,
    "Ag": 107.8682, "Cd": 112.414, "In": 114.818, "Sn": 118.710, "Sb": 121.760,
    "Te": 127.60, "I": 126.90447, "Xe": 131.293, "Cs": 132.90545196, "Ba": 137.327,
    "La": 138.90547, "Ce": 140.116, "Pr": 140.90766, "Nd": 144.242, "Pm": 145.0,
    "Sm": 150.36, "Eu": 151.964, "Gd": 157.249, "Tb": 158.925354, "Dy": 162.500,
    "Ho": 164.930329, "Er": 167.259, "Tm": 168.934219, "Yb": 173.045, "Lu": 174.9668,
    "Hf": 178.486, "Ta": 180.94788, "W": 183.84, "Re": 186.207, "Os": 190.23,
    "Ir": 192.217, "Pt": 195.084, "Au": 196.966570, "Hg": 200.592, "Tl": 204.38,
    "Pb": 207.2, "Bi": 208.980, "Po": 209.0, "At": 210.0, "Rn": 222.0, "Fr": 223.0,
    "Ra": 226.0, "Ac": 227.0, "Th": 232.0377, "Pa": 231.03588, "U": 238.02891,
    "Np": 237.0, "Pu": 244.0, "Am": 243.0, "Cm": 247.0, "Bk": 247.0, "Cf": 251.0,
    "Es": 252.0, "Fm": 257.0, "Md": 258.0, "No": 259.0, "Lr": 266.0, "Rf": 267.0,
    "Db": 268.0, "Sg": 269.0, "Bh": 270.0, "Hs": 269.0, "Mt": 278.0, "Ds": 281.0,
    "Rg": 282.0, "Cn": 285.0, "Nh": 286.0, "Fl": 289.0, "Mc": 290.0, "Lv": 293.0,
    "Ts": 294.0, "Og": 294.0,
}  # fmt: skip

RADIOACTIVE_ONLY: frozenset[str] = frozenset({
    "Tc", "Pm", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es",
    "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl",
    "Mc", "Lv", "Ts", "Og",
})

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_HYDRATE_SEPARATORS = "·•⋅∙*"
_NUMBER = re.compile(r"\d+(?:\.\d*)?|\.\d+")


def _normalise(text: str) -> str:
    # NFKC turns subscript/superscript digits (SnO₂) into ASCII digits, position for position.
    return unicodedata.normalize("NFKC", text).replace("\u2212", "-")


def _error(formula: str, position: int, message: str) -> ValidationError:
    shown, at = formula, position
    if len(formula) > 80:   # a window around the position, not a screenful of input
        lo = max(0, position - 30)
        shown = ("…" if lo else "") + formula[lo:position + 30] + (
            "…" if position + 30 < len(formula) else "")
        at = position - lo + (1 if lo else 0)
    pointer = f"{shown}\n{' ' * at}^"
    return ValidationError(
        f"formula '{shown}', position {position + 1}: {message}\n{pointer}", field="formula"
    )


def parse_formula(text: str) -> dict[str, float]:
    """Parse a chemical formula into ``{element: count}`` per formula unit.

    Counts may be decimals; repeated elements are summed; order is first appearance.

    >>> parse_formula("Na3.75Sn")
    {'Na': 3.75, 'Sn': 1.0}
    >>> parse_formula("CuSO4·5H2O")
    {'Cu': 1.0, 'S': 1.0, 'O': 9.0, 'H': 10.0}

    Raises :class:`~nasurf.errors.ValidationError` naming the formula and the 1-based
    position for an unknown element, bad syntax, a zero count or a charge.
    """
    if not isinstance(text, str):
        raise ValidationError(f"formula must be a string, got {type(text).__name__}",
                              field="formula")
    formula = _normalise(text).strip()
    if not formula:
        raise ValidationError("empty formula; expected e.g. 'SnO2' or 'Na3.75Sn'",
                              field="formula")
    total: dict[str, float] = {}
    parts = _split_hydrate(formula)
    for index, (start, part) in enumerate(parts):
        multiplier = 1.0
        pos = start
        m = _NUMBER.match(formula, pos)
        if m and index > 0:
            multiplier = float(m.group())
            if multiplier <= 0:
                raise _error(formula, pos, "hydrate multiplier must be positive")
            pos = m.end()
        elif m:
            raise _error(
                formula, pos,
                "a formula cannot start with a number (a reaction coefficient belongs in a "
                "reaction such as '2 Na2O', not in a formula)",
            )
        end = start + len(part)
        counts, pos = _parse_group(formula, pos, end, closing=None)
        if not counts:
            raise _error(formula, start, "no element symbol in this part of the formula")
        for element, n in counts.items():
            total[element] = total.get(element, 0.0) + multiplier * n
    return total


def _split_hydrate(formula: str) -> list[tuple[int, str]]:
    """Split at hydrate separators, keeping each part's start offset."""
    parts: list[tuple[int, str]] = []
    start = 0
    for i, ch in enumerate(formula):
        if ch in _HYDRATE_SEPARATORS:
            parts.append((start, formula[start:i]))
            start = i + 1
    parts.append((start, formula[start:]))
    for offset, part in parts:
        if not part.strip():
            raise _error(formula, offset, "empty part next to a hydrate separator")
    return parts


#: brackets nest a few levels in real formulas ([Co(NH3)6]Cl3: 2); deeper input is not a
#: formula, and refusing it keeps the recursive parser far from Python's recursion limit
MAX_NESTING = 20


def _parse_group(formula: str, pos: int, end: int, closing: str | None, depth: int = 0
                 ) -> tuple[dict[str, float], int]:
    if depth > MAX_NESTING:
        raise _error(formula, pos - 1, f"brackets nested more than {MAX_NESTING} deep")
    counts: dict[str, float] = {}
    while pos < end:
        ch = formula[pos]
        if ch.isspace():
            pos += 1
            continue
        if ch in _OPEN:
            inner, pos = _parse_group(formula, pos + 1, end, closing=_OPEN[ch],
                                      depth=depth + 1)
            if not inner:
                raise _error(formula, pos - 1, "empty brackets")
            n, pos = _read_count(formula, pos, end)
            for element, k in inner.items():
                counts[element] = counts.get(element, 0.0) + k * n
            continue
        if ch in _CLOSE:
            if closing != ch:
                raise _error(formula, pos, f"unmatched '{ch}'")
            return counts, pos + 1
        if ch in "+-^":
            raise _error(
                formula, pos,
                "charges are not supported; give a neutral formula unit (for a reaction "
                "with Na+ and e-, use nasurf.materials.theoretical_capacity)",
            )
        if ch.isupper():
            symbol = ch
            if pos + 1 < end and formula[pos + 1].islower():
                symbol += formula[pos + 1]
            if symbol not in ATOMIC_WEIGHTS:
                hint = ""
                if symbol.upper() in ATOMIC_WEIGHTS or symbol.capitalize() != symbol:
                    hint = " (element symbols are case-sensitive: 'Co' is cobalt, 'CO' is C + O)"
                raise _error(formula, pos, f"unknown element '{symbol}'{hint}")
            pos += len(symbol)
            n, pos = _read_count(formula, pos, end)
            counts[symbol] = counts.get(symbol, 0.0) + n
            continue
        if ch.islower():
            raise _error(formula, pos,
                         f"unexpected lower-case '{ch}'; element symbols start with a capital")
        raise _error(formula, pos, f"unexpected character '{ch}'")
    if closing is not None:
        raise _error(formula, end - 1 if end else 0, f"missing '{closing}'")
    return counts, pos


def _read_count(formula: str, pos: int, end: int) -> tuple[float, int]:
    m = _NUMBER.match(formula, pos, end)
    if not m:
        return 1.0, pos
    value = float(m.group())
    if value == 0:
        raise _error(formula, pos, "zero count; leave the element out instead")
    return value, m.end()


def molar_mass(formula: str | dict[str, float]) -> float:
    """Molar mass in g/mol of one formula unit (a formula string or a parsed composition).

    >>> round(molar_mass("SnO2"), 3)
    150.708
    """
    composition = parse_formula(formula) if isinstance(formula, str) else formula
    total = 0.0
    for element, n in composition.items():
        if element not in ATOMIC_WEIGHTS:
            raise ValidationError(f"unknown element '{element}'", field="formula")
        if not (isinstance(n, int | float) and math.isfinite(n) and n > 0):
            raise ValidationError(f"count of {element} must be a positive number, got {n!r}",
                                  field="formula")
        total += ATOMIC_WEIGHTS[element] * n
    return total


def format_formula(composition: dict[str, float]) -> str:
    """Write a composition back as a compact formula (``{'Na': 3.75, 'Sn': 1}`` → ``Na3.75Sn``)."""
    out = []
    for element, n in composition.items():
        if abs(n - 1.0) < 1e-12:
            out.append(element)
        else:
            out.append(f"{element}{n:.6g}")
    return "".join(out)
