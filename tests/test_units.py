"""Unit parsing traps from battery papers (research/knowledge-base.md §3)."""

from __future__ import annotations

import pytest

from nasurf.errors import UnitError
from nasurf.units import convert, parse_quantity, parse_unit

SPECIFIC_CAPACITY_SPELLINGS = [
    "mA h g⁻¹",   # superscript minus and one (as typeset)
    "mA h g−1",   # U+2212 minus: plain pint silently reads g·h·mA
    "mA h g–1",   # en dash, common in PDF text exports
    "mAh/g",
    "mA h g-1",
    "mA h g^-1",
    "mA·h·g⁻¹",
    "A h kg^-1",  # same magnitude: 1 A h kg^-1 = 1 mA h g^-1
]


@pytest.mark.parametrize("text", SPECIFIC_CAPACITY_SPELLINGS)
def test_specific_capacity_spellings_are_equal(text: str) -> None:
    # exact: these are the same unit, any factor other than 1 is a parsing error
    assert convert(372.0, text, "mA h g^-1", expect="specific_capacity") == pytest.approx(372.0)


@pytest.mark.parametrize("text", ["2C", "1C", "0.5C", "C", " 10 C "])
def test_c_rate_is_never_a_unit(text: str) -> None:
    with pytest.raises(UnitError, match="C-rate"):
        parse_unit(text)


def test_wrong_dimensionality_is_refused_with_context() -> None:
    with pytest.raises(UnitError, match=r"rows.csv, line 3.*expected specific_current"):
        parse_unit("mA h g-1", "specific_current", where="rows.csv, line 3")


def test_current_density_conversion() -> None:
    assert convert(2.0, "A g⁻¹", "mA g^-1", expect="specific_current") == pytest.approx(2000.0)


def test_conductivity_and_diffusivity() -> None:
    assert convert(1.2e-4, "S cm−1", "S m^-1") == pytest.approx(1.2e-2)
    assert convert(1e-12, "cm2 s-1", "m^2 s^-1") == pytest.approx(1e-16)


def test_quantity_with_unicode_minus_exponent() -> None:
    q = parse_quantity("100 mA g−1", "specific_current")
    assert q.to("A/g").magnitude == pytest.approx(0.1)


def test_unknown_unit_names_the_text() -> None:
    with pytest.raises(UnitError, match="bananas"):
        parse_unit("bananas g-1")


def test_empty_unit() -> None:
    with pytest.raises(UnitError, match="empty unit"):
        parse_unit("  ")


def test_repeated_parses_keep_each_callers_error_context() -> None:
    # successful parses are cached; failures must still name the place that asked
    assert parse_unit("mA g-1", "specific_current") is parse_unit("mA g-1", "specific_current")
    for where in ("a.csv, line 2", "b.yaml, field 'unit'"):
        with pytest.raises(UnitError, match=rf"^{where}: .*expected specific_capacity"):
            parse_unit("mA g-1", "specific_capacity", where=where)
