"""C-rate ↔ specific current (mA g⁻¹), only ever with an explicit capacity basis.

Owns methods.md §7's C-rate rule: xC means I = x·Q_ref per gram, with Q_ref a stated
capacity (``theoretical`` or ``practical``) in mAh/g. The specific current in mA/g is the
primary quantity; a C-rate is derived from it only when the basis is given, because
"1C" for hard carbon is 300 mA/g with a practical basis and undefined without one.
Signs pass through unchanged (the library's sign convention is in the current, not in
the rate), so conversions are linear.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal

from nasurf.errors import UnitError, ValidationError
from nasurf.options import choose

BasisKind = Literal["theoretical", "practical", "unspecified"]
_KINDS = ("theoretical", "practical", "unspecified")


@dataclass(frozen=True)
class CapacityBasis:
    """The capacity that defines 1C: ``value_mAh_g`` of kind ``theoretical``/``practical``.

    ``kind`` is ``"unspecified"`` when only a number was given (a bare float basis).
    """

    value_mAh_g: float
    kind: BasisKind = "unspecified"
    source: str | None = None

    def __post_init__(self) -> None:
        # frozen dataclass: normalise an int basis to float once, here
        object.__setattr__(self, "value_mAh_g", _check_basis_value(self.value_mAh_g))
        object.__setattr__(self, "kind", choose("basis_kind", self.kind, _KINDS,
                                                where="capacity basis"))

    def to_dict(self) -> dict[str, Any]:
        return {"value_mAh_g": self.value_mAh_g, "kind": self.kind, "source": self.source,
                "unit": "mAh g-1"}


@dataclass(frozen=True)
class Rate:
    """A rate as parsed: the specific current and, when a basis is known, the C-rate."""

    current_mA_g: float
    c_rate: float | None
    basis: CapacityBasis | None
    text: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "current_mA_g": self.current_mA_g,
            "c_rate": self.c_rate,
            "basis": self.basis.to_dict() if self.basis else None,
            "text": self.text,
            "current_unit": "mA g-1",
            "definition": "xC = x * basis (mAh/g) per hour, in mA/g",
        }


_NO_BASIS = (
    "a C-rate needs an explicit capacity basis (the mAh/g that defines 1C, theoretical or "
    "practical), e.g. basis=847 for Sn (theoretical) or 300 for a hard carbon (practical)"
)


def _check_basis_value(value: Any) -> float:
    if value is None:
        raise ValidationError(_NO_BASIS, field="basis")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value) or value <= 0:
        raise ValidationError(f"capacity basis must be a positive number of mAh/g, got {value!r}",
                              field="basis")
    return float(value)


def _basis_value(basis: float | CapacityBasis | None) -> float:
    if isinstance(basis, CapacityBasis):
        return basis.value_mAh_g
    return _check_basis_value(basis)


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{name} must be a finite number, got {value!r}", field=name)
    return float(value)


def c_rate_to_current(c_rate: float, basis_mAh_g: float | CapacityBasis | None) -> float:
    """Specific current in mA/g of ``c_rate`` C on ``basis_mAh_g`` (I = x·Q_ref).

    >>> c_rate_to_current(20, 335.6)
    6712.0
    """
    return _finite(c_rate, "c_rate") * _basis_value(basis_mAh_g)


def current_to_c_rate(current_mA_g: float, basis_mAh_g: float | CapacityBasis | None) -> float:
    """C-rate of a specific current ``current_mA_g`` (mA/g) on ``basis_mAh_g``.

    >>> current_to_c_rate(847, 847)
    1.0
    """
    return _finite(current_mA_g, "current_mA_g") / _basis_value(basis_mAh_g)


# "2C", "0.1 C", "C/10", "C / 2.5", "1/10 C", "C"
_C_RATE_FORMS = (
    re.compile(r"^(?P<x>\d+(?:\.\d*)?|\.\d+)?\s*C$"),
    re.compile(r"^C\s*/\s*(?P<d>\d+(?:\.\d*)?|\.\d+)$"),
    re.compile(r"^(?P<n>\d+(?:\.\d*)?)\s*/\s*(?P<d>\d+(?:\.\d*)?)\s*C$"),
)


def _parse_c_rate(text: str) -> float | None:
    for pattern in _C_RATE_FORMS:
        m = pattern.match(text)
        if not m:
            continue
        groups = m.groupdict()
        numerator = float(groups.get("n") or groups.get("x") or 1.0)
        denominator = float(groups.get("d") or 1.0)
        if denominator == 0:
            raise ValidationError(f"C-rate '{text}' divides by zero", field="rate")
        return numerator / denominator
    return None


def parse_rate(text: str, basis: float | CapacityBasis | None = None) -> Rate:
    """Parse ``"2C"``, ``"C/10"``, ``"0.1C"`` (need ``basis``) or ``"100 mA g-1"``.

    A specific current is accepted in any unit of current per mass (``"0.1 A g-1"``,
    ``"100 mA/g"``); the C-rate is filled in when ``basis`` is given. An areal current
    (mA cm⁻²) or a bare number is refused: it cannot become mA/g without a mass.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValidationError("empty rate; expected e.g. '2C', 'C/10' or '100 mA g-1'",
                              field="rate")
    clean = unicodedata.normalize("NFKC", text).replace("\u2212", "-").strip()
    basis_obj = basis if isinstance(basis, CapacityBasis) else (
        CapacityBasis(_check_basis_value(basis)) if basis is not None else None)
    x = _parse_c_rate(clean)
    if x is not None:
        if basis_obj is None:
            raise ValidationError(f"rate '{text}': {_NO_BASIS}", field="basis")
        return Rate(c_rate_to_current(x, basis_obj), x, basis_obj, text)
    # pint costs ~0.2 s to import; only specific-current strings need it.
    from nasurf.units import parse_quantity

    try:
        quantity = parse_quantity(clean, "specific_current", where=f"rate '{text}'")
    except UnitError as exc:
        raise UnitError(
            f"{exc.reason}; a rate is a C-rate ('2C', 'C/10') or a specific current "
            "('100 mA g-1')", field="rate"
        ) from None
    current = float(quantity.to("mA / g").magnitude)
    c = current / basis_obj.value_mAh_g if basis_obj else None
    return Rate(current, c, basis_obj, text)
