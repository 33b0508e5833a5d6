"""Records: one manifest each, and the one outcome each gives — a result or an error line.

A record that is not JSON, or not a valid manifest, gives an error line in its place
(``{"error": {...}}``) naming where it was (position in the run, file, line or row), the
manifest id when it could be read, the field and the problem; the run goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson
from pydantic import ValidationError

from assay.engine.contracts import ErrorLine, Manifest, RecordError, ScreeningResult
from assay.engine.engine import Engine


@dataclass(frozen=True, slots=True)
class Record:
    """One input record.

    ``position`` counts records across the whole run from 1; ``file`` and ``line`` say where
    it came from (a line for JSON Lines and CSV, an element number for a JSON array, a row for
    Parquet). The manifest is ``raw`` JSON text, parsed by whoever screens it, or ``data``
    already parsed; ``decode_error`` when the text was not even JSON.
    """

    position: int
    data: Any = None
    decode_error: str | None = None
    file: str | None = None
    line: int | None = None
    raw: bytes | None = None


def split_records(raw: bytes, *, jsonl: bool | None = None) -> Iterator[Record]:
    """Records in ``raw`` (held in memory): a JSON object, a JSON array, or JSON Lines.

    ``jsonl`` forces JSON Lines (True) or one JSON document (False); None sniffs. Files of
    any size go through :mod:`engine.batch.readers`, which streams.
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
                yield Record(position, item, line=position)
            return
    position = 0
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        position += 1
        yield Record(position, line=number, raw=line)


def _field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(x) for x in loc) or "(record)"


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors as plain JSON: field path, problem, machine type."""
    return [
        {"field": _field(tuple(error["loc"])), "problem": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False)
    ]


def record_error(
    record: Record, reason: str, errors: list[dict[str, Any]] | None = None, data: Any = None
) -> ErrorLine:
    data = record.data if data is None else data
    manifest_id = None
    if isinstance(data, dict):
        candidate = data.get("manifest_id")
        if isinstance(candidate, str) and candidate:
            manifest_id = candidate[:64]
    return ErrorLine(
        error=RecordError(
            position=record.position,
            file=record.file,
            line=record.line,
            manifest_id=manifest_id,
            reason=reason,
            errors=errors or [],
        )
    )


def _invalid(record: Record, exc: ValidationError, data: Any) -> ErrorLine:
    errors = validation_errors(exc)
    first = errors[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return record_error(record, f"{first['field']}: {first['problem']}{more}", errors, data)


def manifest_or_error(record: Record) -> Manifest | ErrorLine:
    """The record as a validated manifest, or the error line that takes its place."""
    if record.decode_error is not None:
        return record_error(record, record.decode_error)
    if record.raw is not None:
        try:
            return Manifest.model_validate_json(record.raw)
        except ValidationError as exc:
            # Parse once more only on this (rare) path, to name the manifest and the kind.
            try:
                data = orjson.loads(record.raw)
            except orjson.JSONDecodeError as decode:
                return record_error(record, f"not valid JSON: {decode}")
            if not isinstance(data, dict):
                return record_error(
                    record, f"a manifest must be a JSON object, not {_json_kind(data)}"
                )
            return _invalid(record, exc, data)
    if not isinstance(record.data, dict):
        return record_error(
            record, f"a manifest must be a JSON object, not {_json_kind(record.data)}"
        )
    try:
        return Manifest.model_validate(record.data)
    except ValidationError as exc:
        return _invalid(record, exc, record.data)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    return "null" if value is None else type(value).__name__


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
    return outcome.__pydantic_serializer__.to_json(outcome) + b"\n"
