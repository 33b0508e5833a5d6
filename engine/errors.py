"""Errors are data: a stable code, where it happened, what is wrong and how to fix it.

Every problem a rule author or an operator can cause is an :class:`AssayError` carrying one
of the codes in :data:`ERROR_CODES`. ``docs/errors.md`` has one section per code; a test
keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

ErrorCode = Literal[
    "yaml_syntax",
    "rule_schema",
    "pack_schema",
    "rule_syntax",
    "unknown_name",
    "type_mismatch",
    "unsafe_regex",
    "bad_template",
    "duplicate_rule",
    "limit_exceeded",
    "example_failed",
    "reference_data",
    "rete_limit",
    "rete_failure",
]

ERROR_CODES: tuple[ErrorCode, ...] = get_args(ErrorCode)


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a rule-pack file; ``line`` and ``column`` count from 1."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One diagnosed problem. Rendered like a compiler message, with the source and a caret."""

    code: ErrorCode
    message: str
    location: Location | None = None
    hint: str | None = None
    source_line: str | None = None

    def render(self) -> str:
        where = f"{self.location}: " if self.location else ""
        lines = [f"{where}{self.code}: {self.message}"]
        if self.source_line is not None and self.location is not None:
            lines.append(f"    {self.source_line.rstrip()}")
            lines.append("    " + " " * max(self.location.column - 1, 0) + "^")
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class AssayError(Exception):
    """Raised with one or more problems; ``str()`` renders all of them."""

    def __init__(self, problems: list[Problem] | Problem) -> None:
        self.problems: tuple[Problem, ...] = (
            (problems,) if isinstance(problems, Problem) else tuple(problems)
        )
        super().__init__("\n".join(p.render() for p in self.problems))

    @property
    def code(self) -> ErrorCode:
        return self.problems[0].code
