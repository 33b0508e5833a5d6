"""Sending each goods item only to the rules that can match it.

From each item rule's condition we derive a *guard*: a set of keys, at least one of which
every matching item must have. Keys are HS prefixes (``("hs", "2805")``), keyword groups
(``("term", "WATER")``) and exact values of other item text fields
(``("item.description", "SAMPLES")``). A rule with no derivable guard is tried on every
item. The guard is a necessary condition, never a sufficient one: the rule's own condition
still decides.
"""

from __future__ import annotations

from collections.abc import Iterable

from assay.engine import conditions as c
from assay.engine.fields import BY_PATH

GuardKey = tuple[str, str]

_HS_FIELDS = {"item.hs_code", "item.hs2", "item.hs4", "item.hs6"}


def guard(node: c.Condition) -> frozenset[GuardKey] | None:
    """Keys one of which an item must carry for ``node`` to be true; None if unknown."""
    if isinstance(node, c.And):
        options = [g for g in (guard(x) for x in node.items) if g is not None]
        return min(options, key=len) if options else None
    if isinstance(node, c.Or):
        union: set[GuardKey] = set()
        for item in node.items:
            sub = guard(item)
            if sub is None:
                return None
            union |= sub
        return frozenset(union)
    if isinstance(node, c.Known):
        return frozenset() if node.value is False else None
    if isinstance(node, c.In) and not node.negated:
        if _is_hs(node.needle) and isinstance(node.haystack, c.Const):
            return frozenset(("hs", str(v)) for v in _tuple(node.haystack.value))
        if _is_item_text(node.needle) and isinstance(node.haystack, c.Const):
            assert isinstance(node.needle, c.Field)
            return frozenset((node.needle.path, str(v)) for v in _tuple(node.haystack.value))
        if (
            isinstance(node.haystack, c.Field)
            and node.haystack.path == "item.terms"
            and isinstance(node.needle, c.Const)
        ):
            return frozenset({("term", str(node.needle.value))})
        return None
    if isinstance(node, c.Compare) and node.op == "==":
        for a, b in ((node.left, node.right), (node.right, node.left)):
            if _is_hs(a) and isinstance(b, c.Const) and isinstance(b.value, str):
                return frozenset({("hs", b.value)})
            if _is_item_text(a) and isinstance(b, c.Const) and isinstance(b.value, str):
                assert isinstance(a, c.Field)
                return frozenset({(a.path, b.value)})
        return None
    if isinstance(node, c.Text) and node.op == "starts_with" and _is_hs(node.subject):
        assert isinstance(node.needles, c.Const)
        return frozenset(("hs", str(v)) for v in _tuple(node.needles.value))
    return None


def _is_hs(node: c.Value) -> bool:
    return isinstance(node, c.Field) and node.path in _HS_FIELDS


def _is_item_text(node: c.Value) -> bool:
    return (
        isinstance(node, c.Field)
        and node.path.startswith("item.")
        and node.path not in _HS_FIELDS
        and BY_PATH[node.path].type == "text"
    )


def _tuple(value: object) -> tuple[object, ...]:
    return value if isinstance(value, tuple) else (value,)


def item_keys(hs_code: str, terms: Iterable[str]) -> list[GuardKey]:
    """The HS and keyword keys an item carries: every prefix of its HS code, and its keyword
    groups. (Value keys, ``(field, value)``, are looked up by the evaluator directly.)"""
    keys: list[GuardKey] = [("hs", hs_code[:n]) for n in range(1, len(hs_code) + 1)]
    keys += [("term", t) for t in terms]
    return keys
