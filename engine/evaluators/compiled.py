"""The compiled evaluator: each rule's condition as a Python closure, items routed by index.

This is the default and the hot path of the API and batch screening. It keeps no state
between calls except a bounded cache of "which rules can match an item with this HS code
and these keyword groups", which is a pure function of the ruleset.
"""

from __future__ import annotations

from dataclasses import dataclass

from assay.engine.evaluators.base import EngineKind, Hit, canonical
from assay.engine.evaluators.closures import Predicate, predicate
from assay.engine.features import View
from assay.engine.fields import BY_PATH
from assay.engine.index import GuardKey, guard, item_keys
from assay.engine.ruleset import RuleSet

_CACHE_LIMIT = 65_536
_NO_TERMS: frozenset[str] = frozenset()

Candidates = tuple[tuple[int, Predicate], ...]


@dataclass(frozen=True, slots=True)
class _Routing:
    always: Candidates  # rules without a guard, tried on every item
    by_key: dict[GuardKey, Candidates]  # HS-prefix and keyword-group guards
    by_value: tuple[tuple[str, dict[str, Candidates]], ...]  # (view key, value -> rules)


class CompiledEvaluator:
    kind: EngineKind = "compiled"

    def __init__(self, ruleset: RuleSet, use_index: bool = True) -> None:
        self.ruleset = ruleset
        self._manifest_rules: Candidates = tuple(
            (n, predicate(rule.when))
            for n, rule in enumerate(ruleset.rules)
            if rule.scope == "manifest"
        )
        by_key: dict[GuardKey, list[tuple[int, Predicate]]] = {}
        by_value: dict[str, dict[str, list[tuple[int, Predicate]]]] = {}
        always: list[tuple[int, Predicate]] = []
        for n, rule in enumerate(ruleset.rules):
            if rule.scope != "item":
                continue
            pred = predicate(rule.when)
            keys = guard(rule.when) if use_index else None
            if keys is None:
                always.append((n, pred))
                continue
            for kind, value in keys:
                if kind in ("hs", "term"):
                    by_key.setdefault((kind, value), []).append((n, pred))
                else:
                    field = BY_PATH[kind].key
                    by_value.setdefault(field, {}).setdefault(value, []).append((n, pred))
        self._routing = _Routing(
            tuple(always),
            {k: tuple(v) for k, v in by_key.items()},
            tuple(
                (field, {value: tuple(rules) for value, rules in values.items()})
                for field, values in by_value.items()
            ),
        )
        self._uses_terms = "terms" in ruleset.groups
        self._cache: dict[tuple[str, frozenset[str]], Candidates] = {}

    def _candidates(self, hs_code: str, terms: frozenset[str]) -> Candidates:
        cache_key = (hs_code, terms)
        found = self._cache.get(cache_key)
        if found is not None:
            return found
        chosen: dict[int, Predicate] = dict(self._routing.always)
        by_key = self._routing.by_key
        for key in item_keys(hs_code, terms):
            for n, pred in by_key.get(key, ()):
                chosen[n] = pred
        result = tuple(sorted(chosen.items()))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        self._cache[cache_key] = result
        return result

    def evaluate(self, manifest: View, items: list[View]) -> list[Hit]:
        hits: list[Hit] = []
        empty: View = {}
        for n, pred in self._manifest_rules:
            if pred(empty, manifest):
                hits.append(Hit(n, None))
        uses_terms = self._uses_terms
        cache = self._cache
        by_value = self._routing.by_value
        previous = 0
        in_order = True
        for item in items:
            line: int = item["line"]
            if line < previous:
                in_order = False
            previous = line
            key = (item["hs_code"], item["terms"] if uses_terms else _NO_TERMS)
            chosen = cache.get(key)
            if chosen is None:
                chosen = self._candidates(*key)
            for field, rules_by_value in by_value:
                extra = rules_by_value.get(item[field])
                if extra:
                    chosen = tuple(sorted(dict([*chosen, *extra]).items()))
            for n, pred in chosen:
                if pred(item, manifest):
                    hits.append(Hit(n, line))
        # Hits are in canonical order unless the manifest lists its lines out of order.
        return hits if in_order else canonical(hits)

    def close(self) -> None:
        self._cache.clear()
