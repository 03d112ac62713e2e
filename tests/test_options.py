"""The one option validator: exact names pass, others are refused naming every allowed value."""

import pytest

from nasurf.errors import ValidationError
from nasurf.options import choose


def test_choose_returns_the_allowed_spelling():
    assert choose("engine", "EXACT", ["auto", "exact", "march"]) == "exact"


def test_choose_refuses_naming_allowed_and_closest():
    with pytest.raises(ValidationError) as info:
        choose("engine", "exakt", ["auto", "exact", "march"], where="simulate")
    message = str(info.value)
    assert "'exakt'" in message and "'march'" in message and "did you mean 'exact'" in message
    assert message.startswith("field 'engine': simulate:")


def test_choose_refuses_non_strings():
    with pytest.raises(ValidationError):
        choose("kind", None, ["a"])


def test_choose_exact_and_folded_names_give_the_same_spelling():
    allowed = ("sodiation_desodiation", "instrument")
    for typed in ("instrument", " Instrument ", "INSTRUMENT"):
        assert choose("cycle_mode", typed, allowed) == "instrument"
    with pytest.raises(ValidationError):
        choose("kind", ["a"], ["a"])  # a list equal to nothing allowed, not a crash


def test_cycling_summary_refuses_unknown_options_by_name():
    from nasurf.analysis import cycling_summary, synthetic_cycling

    data = synthetic_cycling([1.0, 0.9], [0.8, 0.85])
    for option, allowed in (("cycle_mode", "'instrument'"), ("capacity_source", "'current'")):
        with pytest.raises(ValidationError) as info:
            cycling_summary(data, **{option: "bogus"})
        assert f"unknown {option} 'bogus'" in str(info.value) and allowed in str(info.value)
