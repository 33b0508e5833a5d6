"""Screening a stream of records: every input record gives exactly one output line.

A record is one manifest as JSON. A record that is not JSON, or not a valid manifest, gives
an error line in its place (``{"error": {...}}``) naming its position, the field and the
problem, and the manifest id when it could be read; the run goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from pydantic import ValidationError

from engine.contracts import ErrorLine, Manifest, RecordError, ScreeningResult
from engine.engine import Engine


@dataclass(frozen=True, slots=True)
class Record:
    """One input record: its 1-based position and its JSON value (or the undecodable text)."""

    position: int
    data: Any
    decode_error: str | None = None


def split_records(raw: bytes, *, jsonl: bool | None = None) -> Iterator[Record]:
    """Records in ``raw``: a JSON object, a JSON array of objects, or JSON Lines.

    ``jsonl`` forces JSON Lines (True) or one JSON document (False); None sniffs: a document
    that parses whole is one document, otherwise it is read line by line.
    """
    if jsonl is not True:
        try:
            whole = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            if jsonl is False:
                yield Record(1, None, f"not valid JSON: {exc}")
                return
        else:
            items = whole if isinstance(whole, list) else [whole]
            for position, item in enumerate(items, start=1):
                yield Record(position, item)
            return
    position = 0
    for line in raw.splitlines():
        if not line.strip():
            continue
        position += 1
        try:
            yield Record(position, orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            yield Record(position, None, f"line is not valid JSON: {exc}")


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(x) for x in loc) or "(record)"


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as plain JSON: field path, problem, machine type."""
    out: list[dict[str, Any]] = []
    for error in exc.errors(include_url=False):
        entry: dict[str, Any] = {
            "field": _field(tuple(error["loc"])),
            "problem": error["msg"],
            "type": error["type"],
        }
        out.append(entry)
    return out


def record_error(
    record: Record, reason: str, errors: list[dict[str, Any]] | None = None
) -> ErrorLine:
    manifest_id = None
    if isinstance(record.data, dict):
        candidate = record.data.get("manifest_id")
        if isinstance(candidate, str) and candidate:
            manifest_id = candidate[:64]
    return ErrorLine(
        error=RecordError(
            position=record.position, manifest_id=manifest_id, reason=reason, errors=errors or []
        )
    )


def manifest_or_error(record: Record) -> Manifest | ErrorLine:
    """The record as a validated manifest, or the error line that takes its place."""
    if record.decode_error is not None:
        return record_error(record, record.decode_error)
    if not isinstance(record.data, dict):
        kind = type(record.data).__name__
        return record_error(record, f"a manifest must be a JSON object, not {kind}")
    try:
        return Manifest.model_validate(record.data)
    except ValidationError as exc:
        errors = validation_errors(exc)
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return record_error(record, f"{first['field']}: {first['problem']}{more}", errors)


def screen_record(
    engine: Engine, record: Record, today: date | None = None
) -> ScreeningResult | ErrorLine:
    """The result for one record, or its error line."""
    manifest = manifest_or_error(record)
    if isinstance(manifest, ErrorLine):
        return manifest
    return engine.screen(manifest, today=today)


def screen_records(
    engine: Engine, records: Iterable[Record], today: date | None = None
) -> Iterator[ScreeningResult | ErrorLine]:
    for record in records:
        yield screen_record(engine, record, today)


def to_json_line(outcome: ScreeningResult | ErrorLine) -> bytes:
    return outcome.model_dump_json().encode() + b"\n"
