"""Validation of string options at the public entry points of the library.

One owner for the rule "an option names one of a fixed set of values": every public
function that takes a mode, engine, kind or convention by name calls :func:`choose`, so an
unknown or misspelt value is refused with one line that names the option and the allowed
values (and the closest match), never run silently with a default or turned into NaN.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TypeVar

from nasurf.errors import ValidationError

__all__ = ["choose"]

#: the allowed names' type: ``str``, or a ``Literal`` when ``allowed`` is typed as one, so
#: the checked value can be passed on where that ``Literal`` is expected
Name = TypeVar("Name", bound=str)


def choose(option: str, value: object, allowed: Iterable[Name], *, where: str | None = None,
           case_sensitive: bool = False) -> Name:
    """Return ``value`` as one of ``allowed`` (their spelling), or raise naming them all.

    ``option`` is the name the user typed (``engine``, ``--baseline`` ...); ``where`` names the
    function or file the option belongs to, for the message.
    """
    names = list(allowed)
    if isinstance(value, str) and value in names:
        # the common case first, without case folding: hot paths check options every call
        return names[names.index(value)]
    if isinstance(value, str):
        key = value if case_sensitive else value.strip().lower()
        for name in names:
            if key == (name if case_sensitive else name.lower()):
                return name
    shown = ", ".join(repr(n) for n in names)
    close = difflib.get_close_matches(str(value), names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    prefix = f"{where}: " if where else ""
    raise ValidationError(f"{prefix}unknown {option} {value!r}{hint}; expected one of {shown}",
                          field=option)
