"""What physical inspection found: the outcomes that back-tests and rule statistics score.

An outcome names a manifest and what its inspection found: ``seizure`` (controlled goods
found), ``irregularity`` (something else wrong: misdeclared value, quantity, origin...) or
``no_find``; optionally the concealment pattern and the officer's notes. Outcomes arrive as a
file (CSV with the header ``manifest_id,result,pattern,notes``, or JSON Lines with those
keys) or through ``POST /v1/outcomes``.

A *find* is a seizure or an irregularity: both justify the inspection that made them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

Result = Literal["seizure", "irregularity", "no_find"]
FINDS: frozenset[str] = frozenset({"seizure", "irregularity"})
COLUMNS = ("manifest_id", "result", "pattern", "notes")


class Inspection(BaseModel):
    """One inspection outcome."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    manifest_id: Annotated[str, Field(min_length=1, max_length=64)]
    result: Result
    pattern: Annotated[
        str | None,
        Field(
            default=None,
            max_length=64,
            pattern=r"^[a-z][a-z0-9_]*$",
            description="The concealment pattern found, as rules name it (e.g. tile_blending).",
        ),
    ] = None
    notes: Annotated[str | None, Field(default=None, max_length=2000)] = None

    @property
    def found(self) -> bool:
        return self.result in FINDS


@dataclass
class InspectionFile:
    """An outcomes file as read: the outcome per manifest (the last line for a manifest wins)
    and one error per line that could not be read, naming the file, line, field and problem."""

    outcomes: dict[str, Inspection] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    lines: int = 0


def _problem(where: str, exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"]) or "record"
        parts.append(f"{name}: {error['msg']}")
    return f"{where}: {'; '.join(parts)}"


def _rows(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, record) pairs; a record that is not even an object is given as a str."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        header = [name.strip() for name in reader.fieldnames or []]
        unknown = sorted(set(header) - set(COLUMNS))
        missing = [name for name in ("manifest_id", "result") if name not in header]
        if unknown or missing:
            yield (
                1,
                f"the header must be {','.join(COLUMNS)}; "
                + "; ".join(
                    [f"unknown column {name!r}" for name in unknown]
                    + [f"missing column {name!r}" for name in missing]
                ),
            )
            return
        for row in reader:
            cleaned = {k.strip(): (v or None) for k, v in row.items() if k is not None}
            if None in row:
                yield reader.line_num, f"{len(row[None])} more values than columns"
                continue
            yield reader.line_num, {k: v for k, v in cleaned.items() if v is not None}
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            yield number, f"not valid JSON: {exc}"


def read_inspections(path: str | Path) -> InspectionFile:
    """Read an outcomes file (``.csv``, or JSON Lines for any other name)."""
    source = Path(path)
    read = InspectionFile()
    for number, row in _rows(source):
        read.lines += 1
        where = f"{source}:{number}"
        if isinstance(row, str):
            read.errors.append(f"{where}: {row}")
            continue
        if not isinstance(row, dict):
            read.errors.append(f"{where}: a record must be an object with {', '.join(COLUMNS)}")
            continue
        try:
            outcome = Inspection.model_validate(row)
        except ValidationError as exc:
            read.errors.append(_problem(where, exc))
            continue
        read.outcomes[outcome.manifest_id] = outcome
    return read
