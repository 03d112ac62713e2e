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


# --- the exact fast path (no pint) against pint itself ---------------------------------

_SIMPLE = ["s", "ms", "min", "h", "V", "mV", "uV", "A", "mA", "uA", "nA", "mA h", "A h",
           "uA h", "A s", "mA s", "coulomb", "millicoulomb", "W h", "mW h", "mW s", "J",
           "ohm", "mohm", "kohm", "megaohm", "Hz", "kHz", "mHz", "g", "mg", "kg", "cm^2",
           "mm^2", "m^2", "mV/s", "V/s", "mA g^-1", "mA h g^-1", "mA cm^-2", "S cm^-1",
           "nm", "um", "cm", "Mohm", "MHz", "uS"]
_TARGETS = {"[time]": "s", "[current]": "A", "[current] * [time]": "A h",
            "[electric_potential]": "V", "[energy]": "J", "[resistance]": "ohm",
            "[frequency]": "Hz", "[mass]": "g", "[length] ** 2": "cm^2"}


@pytest.mark.parametrize("unit", _SIMPLE)
def test_fast_path_equals_pint(unit):
    from nasurf.units import _simple_unit, linear_conversion, registry, to_si

    assert _simple_unit(unit) is not None, unit   # the fast path takes it
    ureg = registry()
    src = ureg.parse_units(unit)
    # to SI base units, as pint's to_base_units (kg for mass)
    want = (1.0 * src).to_base_units().magnitude
    assert to_si(f"1 {unit}") == pytest.approx(want, rel=1e-15, abs=0)
    assert to_si(f"2.5 {unit}") == pytest.approx(2.5 * want, rel=1e-15, abs=0)
    for target in {"s", "A", "A h", "V", "ohm", "Hz", "g", "cm^2", "V/s", "mA h g^-1"}:
        dst = ureg.parse_units(target)
        if dst.dimensionality == src.dimensionality:
            scale, offset = linear_conversion(unit, target)
            assert offset == 0.0
            assert scale == pytest.approx((1.0 * src).to(dst).magnitude, rel=1e-15, abs=0)
            assert convert(3.0, unit, target) == pytest.approx(
                (3.0 * src).to(dst).magnitude, rel=1e-15, abs=0)


@pytest.mark.parametrize("expect", sorted(__import__("nasurf.units").units.DIMENSIONS))
def test_expected_dimensions_equal_pints(expect):
    from nasurf.units import _BASE_DIMS, DIMENSIONS, _expected_dims, registry

    ureg = registry()
    dims = _expected_dims(expect)
    assert dims is not None
    # rebuild pint's dimensionality from the vector and compare
    names = {"[current]": 0, "[time]": 1, "[mass]": 2, "[length]": 3, "[temperature]": 4}
    assert set(names) <= set(_BASE_DIMS)
    want = ureg.get_dimensionality(DIMENSIONS[expect]) if DIMENSIONS[expect] else {}
    got = {k: dims[i] for k, i in names.items() if dims[i]}
    assert dict(want) == got


def test_fast_path_leaves_the_rest_to_pint():
    from nasurf.units import _simple_unit, linear_conversion, to_si

    for unit in ("degC", "%", "mA h/g h", "furlong", "2C", "C", ""):
        assert _simple_unit(unit) is None, unit
    with pytest.raises(UnitError, match="C-rate"):
        to_si("1 C")
    scale, offset = linear_conversion("degC", "K")
    assert (scale, offset) == (pytest.approx(1.0), pytest.approx(273.15))
    with pytest.raises(UnitError, match="not a unit of V"):
        linear_conversion("mA", "V", where="header")
    # a wrong dimension for the expected kind is still refused, by pint's rule
    with pytest.raises(UnitError):
        convert(1.0, "mA", "mA", expect="potential")


def test_reading_a_small_file_needs_no_pint(realdata):
    import subprocess
    import sys

    mpt = realdata / "yadg" / "cv.mpt"
    code = (f"import sys; from nasurf.io import read; read({str(mpt)!r}); "
            "print('pint' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"
