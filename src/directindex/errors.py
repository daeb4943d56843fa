"""Bad user input as records that name the file, line and field.

Shells turn an ``InputError`` into a message and a non-zero exit; the core never prints.
Exceptions other than ``InputError`` are bugs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class InputIssue:
    """One problem with user input: where it is and what is wrong."""

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f", line {self.line}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class InputError(Exception):
    """Raised by loaders and the facade when user input is invalid; carries every issue found."""

    def __init__(self, issues: Iterable[InputIssue]):
        self.issues: tuple[InputIssue, ...] = tuple(issues)
        super().__init__("\n".join(str(i) for i in self.issues))

    @classmethod
    def single(cls, file: str, line: int | None, field: str | None, message: str) -> InputError:
        return cls([InputIssue(file, line, field, message)])
