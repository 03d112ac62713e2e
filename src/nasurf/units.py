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
from fractions import Fraction
from functools import lru_cache
from typing import TYPE_CHECKING

from nasurf.errors import UnitError

if TYPE_CHECKING:
    import pint

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
    """The shared unit registry (created once).

    pint is imported here, not at module level: importing it and building its registry
    costs about half a second, which ``nasurf read`` of a small file does not need (the
    units of instrument columns take :func:`linear_conversion`'s exact fast path).
    """
    import pint

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
    fast = _fast_pair(from_unit, to_unit, expect)
    if fast is not None:
        return float(value * fast)
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


# --- exact fast path for the simple units of instrument files ------------------------
# A unit made of SI symbols with decimal prefixes and integer exponents ("mA h", "mV/s",
# "g^-1", "kohm") converts by a ratio of exact decimal factors: no pint needed. Anything
# else (offsets, "%", names, odd syntax) goes to pint as before. tests/test_units.py checks
# the fast path against pint for every symbol and prefix.

# dimension vector over (current, time, mass, length, temperature)
_BASE_DIMS: dict[str, tuple[int, ...]] = {
    "[current]": (1, 0, 0, 0, 0), "[time]": (0, 1, 0, 0, 0), "[mass]": (0, 0, 1, 0, 0),
    "[length]": (0, 0, 0, 1, 0), "[temperature]": (0, 0, 0, 0, 1),
    "[electric_potential]": (-1, -3, 1, 2, 0), "[energy]": (0, -2, 1, 2, 0),
    "[conductivity]": (2, 3, -1, -3, 0),
}
# symbol -> (SI factor, dimension vector); SI factors of mass in kg, as pint's base units
_SYMBOLS: dict[str, tuple[Fraction, tuple[int, ...]]] = {
    "s": (Fraction(1), (0, 1, 0, 0, 0)), "min": (Fraction(60), (0, 1, 0, 0, 0)),
    "h": (Fraction(3600), (0, 1, 0, 0, 0)), "A": (Fraction(1), (1, 0, 0, 0, 0)),
    "C": (Fraction(1), (1, 1, 0, 0, 0)), "coulomb": (Fraction(1), (1, 1, 0, 0, 0)),
    "V": (Fraction(1), (-1, -3, 1, 2, 0)), "W": (Fraction(1), (0, -3, 1, 2, 0)),
    "J": (Fraction(1), (0, -2, 1, 2, 0)), "ohm": (Fraction(1), (-2, -3, 1, 2, 0)),
    "S": (Fraction(1), (2, 3, -1, -2, 0)), "Hz": (Fraction(1), (0, -1, 0, 0, 0)),
    "g": (Fraction(1, 1000), (0, 0, 1, 0, 0)), "m": (Fraction(1), (0, 0, 0, 1, 0)),
}
_PREFIXES: dict[str, Fraction] = {
    "n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000),
    "c": Fraction(1, 100), "k": Fraction(1000), "M": Fraction(10**6),
    "nano": Fraction(1, 10**9), "micro": Fraction(1, 10**6), "milli": Fraction(1, 1000),
    "centi": Fraction(1, 100), "kilo": Fraction(1000), "mega": Fraction(10**6),
}
_TOKEN = re.compile(r"^([A-Za-z]+)(?:\^(-?\d+))?$")


def _symbol(name: str) -> tuple[Fraction, tuple[int, ...]] | None:
    if name in _SYMBOLS:
        return _SYMBOLS[name]
    for prefix in sorted(_PREFIXES, key=len, reverse=True):
        rest = name[len(prefix):]
        if name.startswith(prefix) and rest in _SYMBOLS and rest not in ("min", "h"):
            factor, dims = _SYMBOLS[rest]
            return _PREFIXES[prefix] * factor, dims
    return None


@lru_cache(maxsize=512)
def _simple_unit(text: str) -> tuple[Fraction, tuple[int, ...]] | None:
    """(exact SI factor, dimension vector) of a simple unit; None: leave it to pint."""
    if _C_RATE.match(text):
        return None   # parse_unit refuses it, with the message why
    norm = normalise_unit_text(text)
    parts = norm.split("/")
    if not norm or len(parts) > 2 or (len(parts) == 2 and len(parts[1].split()) != 1):
        return None
    factor, dims = Fraction(1), [0, 0, 0, 0, 0]
    for sign, part in zip((1, -1), parts, strict=False):
        tokens = part.split()
        if not tokens:
            return None
        for token in tokens:
            m = _TOKEN.match(token)
            found = _symbol(m.group(1)) if m else None
            if found is None:
                return None
            exp = sign * int(m.group(2) or 1)
            factor *= found[0] ** exp
            dims = [d + exp * e for d, e in zip(dims, found[1], strict=True)]
    return factor, tuple(dims)


@lru_cache(maxsize=64)
def _expected_dims(expect: str) -> tuple[int, ...] | None:
    text = DIMENSIONS.get(expect, expect)
    if not text:
        return (0, 0, 0, 0, 0)
    dims = [0, 0, 0, 0, 0]
    sign = 1
    for m in re.finditer(r"(\*\*\s*(-?\d+))|(\[[a-z_]+\])|([*/])|(\S)", text):
        power, base, op, other = m.group(2), m.group(3), m.group(4), m.group(5)
        if other:
            return None
        if op:
            sign = -1 if op == "/" else 1
        elif base:
            if base not in _BASE_DIMS:
                return None
            last = (sign, _BASE_DIMS[base])
            dims = [d + sign * e for d, e in zip(dims, last[1], strict=True)]
        elif power:
            # "[length] ** 2": the base just added counts power times in all
            dims = [d + last[0] * (int(power) - 1) * e
                    for d, e in zip(dims, last[1], strict=True)]
    return tuple(dims)


def _fast_pair(from_unit: str, to_unit: str, expect: str | None) -> float | None:
    """Exact factor from ``from_unit`` to ``to_unit`` when both are simple and of the same
    (and the expected) dimension; None otherwise (pint decides, and words any error)."""
    if not isinstance(from_unit, str) or not isinstance(to_unit, str) or \
            _C_RATE.match(from_unit):
        return None
    src, dst = _simple_unit(from_unit), _simple_unit(to_unit)
    if src is None or dst is None or src[1] != dst[1]:
        return None
    if expect is not None and _expected_dims(expect) != src[1]:
        return None
    return float(src[0] / dst[0])


def linear_conversion(from_unit: str, to_unit: str, *, where: str | None = None,
                      label: str | None = None) -> tuple[float, float]:
    """``(scale, offset)`` such that a value in ``to_unit`` = value · scale + offset.

    Raises :class:`UnitError` naming ``where`` when the unit is unknown or of another
    dimension than ``to_unit`` (the unit called ``label`` in that message, if given).
    """
    if normalise_unit_text(from_unit) == normalise_unit_text(to_unit):
        return 1.0, 0.0
    fast = _fast_pair(from_unit, to_unit, None)
    if fast is not None:
        return fast, 0.0
    src = parse_unit(from_unit, where=where)
    dst = parse_unit(to_unit)
    if src.dimensionality != dst.dimensionality:
        prefix = f"{where}: " if where else ""
        raise UnitError(f"{prefix}unit '{label or from_unit}' is not a unit of {to_unit}")
    q = registry().Quantity
    zero = q(0.0, src).to(dst).magnitude
    one = q(1.0, src).to(dst).magnitude
    return float(one - zero), float(zero)


def to_si(text: str, expect: str | None = None, *, where: str | None = None) -> float:
    """The SI value (pint's base units: kg for mass) of ``"100 mA g−1"``-like text."""
    m = re.match(r"^\s*([-+\u2212]?[0-9]*\.?[0-9]+(?:[eE][-+\u2212]?[0-9]+)?)\s*(\S.*)$",
                 text or "")
    if m:
        simple = _simple_unit(m.group(2).strip())
        if simple is not None and (expect is None or _expected_dims(expect) == simple[1]):
            return float(float(m.group(1).replace("\u2212", "-")) * simple[0])
    return float(parse_quantity(text, expect, where=where).to_base_units().magnitude)
