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

from engine.contracts import Flag
from engine.evaluators.base import Hit
from engine.features import View
from engine.fields import BY_PATH
from engine.reference import RefValue
from engine.ruleset import Rule, RuleSet

_Piece = tuple[str, str | None, str]  # literal text, placeholder name, format spec


def format_value(value: Any, spec: str = "") -> str:
    """How a value reads in a sentence: ``2.3``, ``27,600``, ``CN, TH``, ``unknown``."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | int):
        if spec:
            return format(value, spec)
        if not math.isfinite(value):
            return str(value)
        if float(value).is_integer():
            return f"{value:,.0f}"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, frozenset | set | tuple | list):
        return ", ".join(sorted(str(x) for x in value)) or "none"
    return format(str(value), spec) if spec else str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple):
        return list(value)
    return value


class _Template:
    def __init__(self, rule: Rule) -> None:
        self.pieces: list[_Piece] = [
            (literal, name, spec or "")
            for literal, name, spec, _conv in string.Formatter().parse(rule.explain)
        ]

    def render(self, item: View, manifest: View, constants: Mapping[str, Any]) -> str:
        out: list[str] = []
        for literal, name, spec in self.pieces:
            out.append(literal)
            if name is None:
                continue
            spec_path = BY_PATH.get(name)
            if spec_path is not None:
                view = item if spec_path.scope == "item" else manifest
                out.append(format_value(view.get(spec_path.key), spec))
            else:
                out.append(format_value(constants.get(name), spec))
        return "".join(out)


class Explainer:
    """Renders flags for one ruleset."""

    def __init__(self, ruleset: RuleSet) -> None:
        self._rules = ruleset.rules
        self._templates = [_Template(rule) for rule in ruleset.rules]
        self._constants: list[dict[str, RefValue]] = []
        for rule in ruleset.rules:
            constants: dict[str, RefValue] = dict(rule.thresholds)
            for _lit, name, _spec in _Template(rule).pieces:
                if name is None or name in BY_PATH or name in constants:
                    continue
                head, _, rest = name.partition(".")
                found = (
                    rule.params.get(rest) if head == "params" else ruleset.reference.lookup(rest)
                )
                if found is not None and not isinstance(found, Mapping):
                    constants[name] = found
            self._constants.append(constants)
        self._reads = [
            tuple((path, BY_PATH[path].scope == "item", BY_PATH[path].key) for path in rule.reads)
            for rule in ruleset.rules
        ]

    def flags(self, hits: list[Hit], manifest: View, items: list[View]) -> list[Flag]:
        if not hits:
            return []
        by_line = {int(view["line"]): view for view in items}
        empty: View = {}
        out: list[Flag] = []
        for hit in hits:
            rule = self._rules[hit.rule]
            item = by_line[hit.line] if hit.line is not None else empty
            evidence: dict[str, Any] = {}
            for path, is_item, key in self._reads[hit.rule]:
                evidence[path] = _json_value((item if is_item else manifest).get(key))
            constants = self._constants[hit.rule]
            for name, value in rule.thresholds:
                evidence[name] = _json_value(value)
            out.append(
                Flag.model_construct(
                    rule_id=rule.id,
                    title=rule.title,
                    pattern=rule.pattern,
                    severity=rule.severity,
                    score=rule.score,
                    item_line=hit.line,
                    explanation=self._templates[hit.rule].render(item, manifest, constants),
                    evidence=evidence,
                )
            )
        return out
