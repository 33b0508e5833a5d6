"""What screening one record gives back to the run: its output bytes and a few facts.

Workers (processes, Dask) return :class:`Outcome` objects: the JSON of the result or error
record, and what the run's summary and report need, so the parent never re-parses results.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import orjson

from assay.engine.batch.records import Record, manifest_or_error
from assay.engine.contracts import ErrorLine
from assay.engine.engine import Engine


@dataclass(frozen=True, slots=True)
class Outcome:
    position: int
    file: str | None
    line: int | None
    json: bytes
    error: bool
    items: int = 0
    channel: str | None = None
    risk_score: int = 0
    flags: tuple[tuple[str, str], ...] = ()  # (rule_id, pattern) per flag
    input: bytes | None = None  # the record's JSON, when the run logs decisions


def screen_chunk(
    engine: Engine, records: Sequence[Record], today: date, keep_inputs: bool = False
) -> list[Outcome]:
    """Screen ``records`` in order; every record gives exactly one outcome."""
    out: list[Outcome] = []
    for record in records:
        manifest = manifest_or_error(record)
        if isinstance(manifest, ErrorLine):
            out.append(
                Outcome(
                    record.position,
                    record.file,
                    record.line,
                    manifest.__pydantic_serializer__.to_json(manifest),
                    True,
                )
            )
            continue
        result = engine.screen(manifest, today=today)
        out.append(
            Outcome(
                record.position,
                record.file,
                record.line,
                result.__pydantic_serializer__.to_json(result),
                False,
                len(manifest.items),
                result.channel,
                result.risk_score,
                tuple((flag.rule_id, flag.pattern) for flag in result.flags),
                (record.raw if record.raw is not None else orjson.dumps(record.data))
                if keep_inputs
                else None,
            )
        )
    return out


TOP = 50


@dataclass
class Summary:
    """Counts for the end of a run, and the riskiest manifests for the report."""

    records: int = 0
    results: int = 0
    errors: int = 0
    items: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    patterns: Counter[str] = field(default_factory=Counter)
    scores: Counter[int] = field(default_factory=Counter)  # risk score -> manifests
    top: list[tuple[int, int, str]] = field(default_factory=list)  # (score, -position, json)
    seconds: float = 0.0

    def add(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            self.records += 1
            if outcome.error:
                self.errors += 1
                continue
            self.results += 1
            self.items += outcome.items
            self.channels[outcome.channel or "?"] += 1
            self.scores[outcome.risk_score] += 1
            for rule_id, pattern in outcome.flags:
                self.rules[rule_id] += 1
                self.patterns[pattern] += 1
            if outcome.flags:
                entry = (outcome.risk_score, -outcome.position, outcome.json.decode())
                if len(self.top) < TOP:
                    heapq.heappush(self.top, entry)
                elif entry > self.top[0]:
                    heapq.heapreplace(self.top, entry)

    def merge(self, other: Summary) -> None:
        """Add ``other``'s counts (another part of the same run; order does not matter:
        the riskiest are ranked by score, then position)."""
        self.records += other.records
        self.results += other.results
        self.errors += other.errors
        self.items += other.items
        self.channels.update(other.channels)
        self.rules.update(other.rules)
        self.patterns.update(other.patterns)
        self.scores.update(other.scores)
        self.top = heapq.nlargest(TOP, [*self.top, *other.top])
        heapq.heapify(self.top)

    def riskiest(self) -> list[dict[str, Any]]:
        return [orjson.loads(doc) for _, _, doc in sorted(self.top, reverse=True)]

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "results": self.results,
            "errors": self.errors,
            "items": self.items,
            "channels": dict(self.channels),
            "rules": dict(self.rules),
            "patterns": dict(self.patterns),
            "scores": {str(k): v for k, v in self.scores.items()},
            "top": self.top,
            "seconds": self.seconds,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Summary:
        return cls(
            records=data["records"],
            results=data["results"],
            errors=data["errors"],
            items=data["items"],
            channels=Counter(data["channels"]),
            rules=Counter(data["rules"]),
            patterns=Counter(data["patterns"]),
            scores=Counter({int(k): v for k, v in data["scores"].items()}),
            top=[(int(s), int(p), str(j)) for s, p, j in data["top"]],
            seconds=data["seconds"],
        )
