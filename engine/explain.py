"""Hits to flags: the officer's sentence and the machine-readable evidence.

Evaluators only say *which* rule matched *which* item. This module renders each rule's
``explain`` template with the values from the same views the rule read, and collects the
evidence: every field the rule read, and every threshold (``params``/``ref`` value) it cited.
It renders; it never evaluates.
"""

from __future__ import annotations

import math
import string
from collections.abc import Mapping
from typing import Any

from assay.engine.contracts import Flag, trusted
from assay.engine.evaluators.base import Hit
from assay.engine.features import View
from assay.engine.fields import BY_PATH
from assay.engine.limits import MAX_EXPLANATION_CHARS
from assay.engine.reference import RefValue
from assay.engine.ruleset import Rule, RuleSet

_Piece = tuple[str, str | None, str]  # literal text, placeholder name, format spec


def format_value(value: Any, spec: str = "") -> str:
    """How a value reads in a sentence: ``2.3``, ``27,600``, ``CN, TH``, ``unknown``."""
    kind = type(value)
    if kind is float or kind is int:
        if spec:
            return format(value, spec)
        if not math.isfinite(value):
            return str(value)
        if float(value).is_integer() or abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if kind is str:
        return format(value, spec) if spec else str(value)
    if value is None:
        return "unknown"
    if kind is bool:
        return "yes" if value else "no"
    if isinstance(value, frozenset | set | tuple | list):
        return ", ".join(sorted(str(x) for x in value)) or "none"
    return str(value)


# Views hold every number as a float (one type in the hot loop). Evidence gives a whole
# number as an integer, as the manifest or the pack wrote it: `licence_count: 1`, not `1.0`.
# Past 2**53 a float no longer stands for one integer, so it stays a float.
_EXACT_INTEGERS = 2.0**53


def _number(value: float) -> float | int:
    return (
        int(value) if value.is_integer() and -_EXACT_INTEGERS <= value <= _EXACT_INTEGERS else value
    )


def _json_value(value: Any) -> Any:
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    return value


# A template piece: literal text, then what to insert (None: nothing) — ``(True, key)`` an
# item view key, ``(False, key)`` a manifest view key, or ``(None, value)`` a constant — and
# its format spec.
_Slot = tuple[bool | None, Any]


class _Template:
    def __init__(self, rule: Rule, constants: Mapping[str, Any]) -> None:
        self.pieces: list[tuple[str, _Slot | None, str]] = []
        for literal, name, spec, _conv in string.Formatter().parse(rule.explain):
            slot: _Slot | None = None
            if name is not None:
                field = BY_PATH.get(name)
                if field is not None:
                    slot = (field.scope == "item", field.key)
                else:
                    slot = (None, constants.get(name))
            self.pieces.append((literal, slot, spec or ""))

    def render(self, item: View, manifest: View) -> str:
        out: list[str] = []
        for literal, slot, spec in self.pieces:
            out.append(literal)
            if slot is None:
                continue
            where, key = slot
            if where is None:
                out.append(format_value(key, spec))
            else:
                out.append(format_value((item if where else manifest)[key], spec))
        text = "".join(out)
        if len(text) > MAX_EXPLANATION_CHARS:  # long descriptions in many placeholders
            return text[: MAX_EXPLANATION_CHARS - 1] + "…"
        return text


def _constants(rule: Rule, ruleset: RuleSet) -> dict[str, RefValue]:
    """The params/ref values a rule cites, by name."""
    constants: dict[str, RefValue] = dict(rule.thresholds)
    for _literal, name, _spec, _conv in string.Formatter().parse(rule.explain):
        if name is None or name in BY_PATH or name in constants:
            continue
        head, _, rest = name.partition(".")
        found = rule.params.get(rest) if head == "params" else ruleset.reference.lookup(rest)
        if found is not None and not isinstance(found, Mapping):
            constants[name] = found
    return constants


class Explainer:
    """Renders flags for one ruleset."""

    def __init__(self, ruleset: RuleSet) -> None:
        self._rules = ruleset.rules
        self._templates = [_Template(rule, _constants(rule, ruleset)) for rule in ruleset.rules]
        # Evidence: (name, is_item, key, is_set) per field read, and the cited constants.
        self._reads = [
            tuple(
                (path, spec.scope == "item", spec.key, spec.type == "set")
                for path, spec in ((path, BY_PATH[path]) for path in rule.reads)
            )
            for rule in ruleset.rules
        ]
        self._thresholds = [
            {name: _json_value(value) for name, value in rule.thresholds} for rule in ruleset.rules
        ]

    def flags(self, hits: list[Hit], manifest: View, items: list[View]) -> list[Flag]:
        if not hits:
            return []
        by_line = {int(view["line"]): view for view in items} if len(items) > 1 else None
        empty: View = {}
        out: list[Flag] = []
        for rule_index, line in hits:
            rule = self._rules[rule_index]
            if line is None:
                item = empty
            elif by_line is None:
                item = items[0]
            else:
                item = by_line[line]
            evidence: dict[str, Any] = {}
            for path, is_item, key, is_set in self._reads[rule_index]:
                value = (item if is_item else manifest)[key]
                if value.__class__ is float:
                    evidence[path] = _number(value)
                else:
                    evidence[path] = sorted(value) if is_set and value is not None else value
            evidence.update(self._thresholds[rule_index])
            out.append(
                trusted(
                    Flag,
                    {
                        "rule_id": rule.id,
                        "title": rule.title,
                        "pattern": rule.pattern,
                        "severity": rule.severity,
                        "score": rule.score,
                        "role": rule.role,
                        "item_line": line,
                        "explanation": self._templates[rule_index].render(item, manifest),
                        "evidence": evidence,
                    },
                )
            )
        return out
