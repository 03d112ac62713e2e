"""The exception hierarchy users see.

Every error raised on bad input is a :class:`NasurfError` whose message names the
file, the row or field, and what was expected; front ends print the message and
exit with status 2 instead of showing a traceback.
"""

from __future__ import annotations


class NasurfError(Exception):
    """Base class for errors caused by input the user can fix."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.field = field
        self.reason = message
        super().__init__(self._compose(message))

    def _compose(self, message: str) -> str:
        where = []
        if self.file is not None:
            where.append(str(self.file))
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {message}" if where else message


class ValidationError(NasurfError):
    """A value or record failed validation (unit, range, missing citation ...)."""


class UnitError(ValidationError):
    """A unit string could not be parsed or has the wrong dimensionality."""


class DuplicateRecordError(ValidationError):
    """A record with the same identity already exists and replacing was not requested."""


class FileFormatError(NasurfError):
    """A file could not be read: unknown, unsupported, corrupted or empty."""
