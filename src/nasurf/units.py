"""Unit parsing at the edges: user strings to SI quantities via pint.

Why a wrapper: pint silently misreads battery-paper spellings. ``mA h g−1`` with a
Unicode minus parses as ``g·h·mA`` and ``2C`` parses as two coulombs. We normalise the
text first (Unicode minus and superscripts, ``g-1`` exponents, ``mAh``) and always check
dimensionality against what the caller expects. A C-rate is never parsed here: use
:mod:`nasurf.materials.rates` with an explicit capacity basis.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import pint

from nasurf.errors import UnitError

_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_MINUS_SIGNS = dict.fromkeys(map(ord, "\u2212\u2012\u2013\u2014\u2010\u2011\ufe63\uff0d"), "-")
_MIDDLE_DOTS = dict.fromkeys(map(ord, "\u00b7\u22c5\u2219\u2022"), " ")

# Dimensionalities callers may ask for, by name.
DIMENSIONS: dict[str, str] = {
    "specific_capacity": "[current] * [time] / [mass]",
    "areal_capacity": "[current] * [time] / [length] ** 2",
    "specific_current": "[current] / [mass]",
    "areal_current": "[current] / [length] ** 2",
    "current": "[current]",
    "potential": "[electric_potential]",
    "conductivity": "[conductivity]",
    "energy_per_particle": "[energy]",
    "length": "[length]",
    "time": "[time]",
    "mass": "[mass]",
    "areal_mass": "[mass] / [length] ** 2",
    "diffusivity": "[length] ** 2 / [time]",
    "scan_rate": "[electric_potential] / [time]",
    "temperature": "[temperature]",
    "dimensionless": "",
}


def normalise_unit_text(text: str) -> str:
    """Rewrite a unit string as printed in papers into pint-safe syntax.

    >>> normalise_unit_text("mA h g−1")
    'mA h g^-1'
    """
    # Superscripts first: NFKC would turn a superscript minus into U+2212.
    s = unicodedata.normalize("NFKC", text.translate(_SUPERSCRIPTS))
    s = s.translate(_MINUS_SIGNS).translate(_MIDDLE_DOTS).strip()
    symbols = (("Ω", "ohm"), ("\u03a9", "ohm"), ("µ", "u"), ("μ", "u"), ("Å", "angstrom"))
    for symbol, name in symbols:
        s = s.replace(symbol, name)
    s = re.sub(r"\bmAh\b", "mA h", s)
    s = re.sub(r"\bAh\b", "A h", s)
    s = re.sub(r"\bWh\b", "W h", s)
    s = re.sub(r"\bmWh\b", "mW h", s)
    s = re.sub(r"\s*(\^|\*\*)\s*", "^", s)
    # "g-1", "cm-2", "s -1": an exponent printed without a caret
    s = re.sub(r"(?<=[A-Za-z])\s*-\s*(\d+)", r"^-\1", s)
    # "cm2": a bare trailing exponent
    s = re.sub(r"(?<=[A-Za-z])(\d+)\b", r"^\1", s)
    return re.sub(r"\s+", " ", s)


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The shared unit registry (created once)."""
    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    ureg.formatter.default_format = "~P"
    return ureg


_C_RATE = re.compile(r"^\s*[0-9.]*\s*C\s*$")


def parse_unit(text: str, expect: str | None = None, *, where: str | None = None) -> pint.Unit:
    """Parse a unit string, refusing C-rates and checking its dimensionality.

    ``expect`` is a key of :data:`DIMENSIONS` or a pint dimensionality string.
    ``where`` is prepended to error messages (e.g. ``"records.csv, line 4, field 'unit'"``).
    """
    # Units are immutable and a few spellings recur (every protocol step, every record):
    # parse each (text, expect) once. Failures are not cached, so their messages keep
    # the caller's ``where``.
    if isinstance(text, str):
        key = (text, expect)
        unit = _PARSED.get(key)
        if unit is None:
            unit = _parse_unit_uncached(text, expect, where)
            if len(_PARSED) < _PARSED_MAX:
                _PARSED[key] = unit
        return unit
    return _parse_unit_uncached(text, expect, where)


_PARSED: dict[tuple[str, str | None], pint.Unit] = {}
_PARSED_MAX = 4096


def _parse_unit_uncached(text: str, expect: str | None, where: str | None) -> pint.Unit:
    prefix = f"{where}: " if where else ""
    if not isinstance(text, str) or not text.strip():
        raise UnitError(f"{prefix}empty unit; expected a unit such as 'mA h g-1'")
    if _C_RATE.match(text):
        raise UnitError(
            f"{prefix}'{text}' is a C-rate, not a unit; give a current density (mA g-1) "
            "or a C-rate together with its capacity basis"
        )
    ureg = registry()
    norm = normalise_unit_text(text)
    try:
        unit = ureg.parse_units(norm)
    except Exception as exc:  # pint raises several unrelated exception types
        raise UnitError(f"{prefix}unknown unit '{text}' ({exc.__class__.__name__})") from None
    if expect is not None:
        dim = DIMENSIONS.get(expect, expect)
        want = ureg.get_dimensionality(dim) if dim else ureg.dimensionless.dimensionality
        if unit.dimensionality != want:
            raise UnitError(
                f"{prefix}unit '{text}' has dimension {unit.dimensionality}, "
                f"expected {expect} ({dim or 'dimensionless'})"
            )
    return unit


def convert(value: float, from_unit: str, to_unit: str, *, expect: str | None = None,
            where: str | None = None) -> float:
    """Convert a number between unit strings (both parsed with :func:`parse_unit`)."""
    src = parse_unit(from_unit, expect, where=where)
    dst = parse_unit(to_unit, expect, where=where)
    if src.dimensionality != dst.dimensionality:
        prefix = f"{where}: " if where else ""
        raise UnitError(f"{prefix}cannot convert '{from_unit}' to '{to_unit}': "
                        f"{src.dimensionality} is not {dst.dimensionality}")
    return float((value * src).to(dst).magnitude)


def parse_quantity(
    text: str, expect: str | None = None, *, where: str | None = None
) -> pint.Quantity:
    """Parse ``"100 mA g−1"`` into a pint quantity with checked dimensionality."""
    prefix = f"{where}: " if where else ""
    m = re.match(r"^\s*([-+\u2212]?[0-9]*\.?[0-9]+(?:[eE][-+\u2212]?[0-9]+)?)\s*(.*)$", text or "")
    if not m:
        raise UnitError(f"{prefix}'{text}' is not a number followed by a unit")
    number = float(m.group(1).replace("\u2212", "-"))
    unit_text = m.group(2).strip()
    if not unit_text:
        if expect in (None, "dimensionless"):
            return number * registry().dimensionless
        raise UnitError(f"{prefix}'{text}' has no unit; expected {expect}")
    return number * parse_unit(unit_text, expect, where=where)
