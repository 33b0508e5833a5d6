"""Alerts: what a correlation rule reports, and the sentence an officer reads aloud.

An alert is data (ids, times, measures); the explanation is rendered last, from the rule's
template, with numbers written bare when whole and to one decimal otherwise.
"""

from __future__ import annotations

import hashlib
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from assay.engine import limits


@dataclass(frozen=True)
class Alert:
    alert_id: str
    rule_id: str
    pattern: str
    severity: str
    group_by: tuple[str, ...]
    entity_key: str
    entity: str  # the entity's name, for people
    trigger_manifest_id: str  # the member whose arrival completed the pattern
    manifest_ids: tuple[str, ...]  # every member of the group, in filed_at order
    first_filed_at: datetime
    last_filed_at: datetime
    measures: Mapping[str, float | None]
    explanation: str

    def to_json(self) -> dict[str, Any]:
        """The alert as one JSON object (one line of ``assay screen --alerts``)."""
        return {
            "alert_id": self.alert_id,
            "rule_id": self.rule_id,
            "pattern": self.pattern,
            "severity": self.severity,
            "group_by": list(self.group_by),
            "entity_key": self.entity_key,
            "entity": self.entity,
            "trigger_manifest_id": self.trigger_manifest_id,
            "manifest_ids": list(self.manifest_ids),
            "first_filed_at": timestamp(self.first_filed_at),
            "last_filed_at": timestamp(self.last_filed_at),
            "measures": dict(self.measures),
            "explanation": self.explanation,
        }


def alert_id(rule_id: str, entity_key: str, trigger_manifest_id: str) -> str:
    """Deterministic: the same rule, entity and completing manifest give the same id in every
    run, so a re-run or a retry cannot duplicate an alert."""
    digest = hashlib.sha256(f"{rule_id}\0{entity_key}\0{trigger_manifest_id}".encode())
    return digest.hexdigest()[:32]


def utc(moment: datetime) -> datetime:
    """The moment in UTC; a naive time is taken as UTC, as on the data's clock everywhere."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC, e.g. ``2026-10-01T08:00:00Z``."""
    return utc(moment).isoformat().replace("+00:00", "Z")


def spoken_number(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.1f}"


def spoken_duration(text: str | None) -> str | None:
    """``48h`` -> ``48 hours``, ``1d`` -> ``1 day``."""
    if text is None:
        return None
    count = int(text[:-1])
    unit = "hour" if text.endswith("h") else "day"
    return f"{count} {unit}" + ("" if count == 1 else "s")


def spoken_time(moment: datetime) -> str:
    return utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def render(template: str, values: Mapping[str, object]) -> str:
    """The explanation: each placeholder replaced by its value (checked names only)."""
    parts: list[str] = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        parts.append(literal)
        if name is None:
            continue
        value = values.get(name)
        if isinstance(value, datetime):
            parts.append(spoken_time(value))
        elif isinstance(value, float | int) and not isinstance(value, bool):
            parts.append(spoken_number(float(value)))
        elif value is None:
            parts.append("unknown")
        else:
            parts.append(str(value))
    text = "".join(parts)
    if len(text) > limits.MAX_EXPLANATION_CHARS:
        text = text[: limits.MAX_EXPLANATION_CHARS - 1] + "…"
    return text
