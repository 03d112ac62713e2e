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
