"""Condition tree to Python closures over ``(item_view, manifest_view)``.

Null semantics (see :mod:`engine.conditions`): any leaf that reads a null value is false;
arithmetic with a null operand, a zero divisor or a non-finite result is null.
The rete evaluator reuses :func:`value` for the arithmetic it lifts into facts.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from assay.engine import conditions as c
from assay.engine.features import View
from assay.engine.fields import BY_PATH
from assay.engine.regex import parse_regex

Getter = Callable[[View, View], Any]
Predicate = Callable[[View, View], bool]

_COMPARE: dict[c.CompareOp, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _arith(op: c.ArithOp, a: float, b: float) -> float | None:
    if op == "+":
        result = a + b
    elif op == "-":
        result = a - b
    elif op == "*":
        result = a * b
    else:
        if b == 0:
            return None
        result = a / b
    return result if math.isfinite(result) else None


def value(node: c.Value) -> Getter:
    """A getter for a resolved value node."""
    if isinstance(node, c.Field):
        key = BY_PATH[node.path].key
        if node.path.startswith("item."):
            return lambda i, m: i[key]
        return lambda i, m: m[key]
    if isinstance(node, c.Const):
        constant = node.value
        return lambda i, m: constant
    if isinstance(node, c.Neg):
        inner = value(node.operand)

        def neg(i: View, m: View) -> float | None:
            v = inner(i, m)
            return None if v is None else -v

        return neg
    if isinstance(node, c.Arith):
        left, right, op = value(node.left), value(node.right), node.op

        def arith(i: View, m: View) -> float | None:
            a = left(i, m)
            if a is None:
                return None
            b = right(i, m)
            if b is None:
                return None
            return _arith(op, a, b)

        return arith
    raise TypeError(f"unresolved value {node!r}")  # the checker never lets one through


def _field_key(node: c.Value) -> tuple[str, str] | None:
    """``("item"|"manifest", key)`` when ``node`` is a plain field."""
    if isinstance(node, c.Field):
        spec = BY_PATH[node.path]
        return spec.scope, spec.key
    return None


def predicate(node: c.Condition) -> Predicate:
    """A closure deciding ``node`` for one item (or the manifest, with an empty item view)."""
    if isinstance(node, c.Known):
        result = node.value
        return lambda i, m: result
    if isinstance(node, c.And):
        parts = tuple(predicate(x) for x in node.items)
        if len(parts) == 2:
            p, q = parts
            return lambda i, m: p(i, m) and q(i, m)

        def conjunction(i: View, m: View) -> bool:
            for part in parts:
                if not part(i, m):
                    return False
            return True

        return conjunction
    if isinstance(node, c.Or):
        parts = tuple(predicate(x) for x in node.items)
        if len(parts) == 2:
            p, q = parts
            return lambda i, m: p(i, m) or q(i, m)

        def disjunction(i: View, m: View) -> bool:
            for part in parts:
                if part(i, m):
                    return True
            return False

        return disjunction
    if isinstance(node, c.Not):
        inner = predicate(node.item)
        return lambda i, m: not inner(i, m)
    if isinstance(node, c.Compare):
        return _compare(node)
    if isinstance(node, c.In):
        return _membership(node)
    if isinstance(node, c.Text):
        return _text(node)
    if isinstance(node, c.Matches):
        get = value(node.subject)
        search = parse_regex(node.pattern).compile()

        def matches(i: View, m: View) -> bool:
            v = get(i, m)
            return v is not None and search(v)

        return matches
    if isinstance(node, c.Present):
        get = value(node.operand)
        return lambda i, m: get(i, m) is not None
    if isinstance(node, c.Truth):
        get = value(node.operand)
        return lambda i, m: get(i, m) is True
    raise TypeError(f"unknown condition node {node!r}")


def _compare(node: c.Compare) -> Predicate:
    op = _COMPARE[node.op]
    field = _field_key(node.left)
    if field is not None and isinstance(node.right, c.Const):
        scope, key = field
        constant = node.right.value
        if scope == "item":

            def item_vs_const(i: View, m: View) -> bool:
                v = i[key]
                return v is not None and op(v, constant)

            return item_vs_const

        def manifest_vs_const(i: View, m: View) -> bool:
            v = m[key]
            return v is not None and op(v, constant)

        return manifest_vs_const
    left, right = value(node.left), value(node.right)

    def compare(i: View, m: View) -> bool:
        a = left(i, m)
        if a is None:
            return False
        b = right(i, m)
        return b is not None and op(a, b)

    return compare


def _membership(node: c.In) -> Predicate:
    hay = node.haystack
    if node.negated:
        return _non_membership(node)
    if isinstance(hay, c.Const):
        options = frozenset(hay.value) if isinstance(hay.value, tuple) else frozenset()
        field = _field_key(node.needle)
        if field is not None:
            scope, key = field
            if scope == "item":
                return lambda i, m: i[key] in options  # None is never an option
            return lambda i, m: m[key] in options
        get = value(node.needle)

        def in_list(i: View, m: View) -> bool:
            v = get(i, m)
            return v is not None and v in options

        return in_list
    needle = node.needle.value if isinstance(node.needle, c.Const) else None
    get_set = value(hay)

    def in_set(i: View, m: View) -> bool:
        s = get_set(i, m)
        return s is not None and needle in s

    return in_set


def _non_membership(node: c.In) -> Predicate:
    """``x not in [...]``: false when ``x`` is missing, like every comparison."""
    hay = node.haystack
    if isinstance(hay, c.Const):
        options = frozenset(hay.value) if isinstance(hay.value, tuple) else frozenset()
        get = value(node.needle)

        def not_in_list(i: View, m: View) -> bool:
            v = get(i, m)
            return v is not None and v not in options

        return not_in_list
    needle = node.needle.value if isinstance(node.needle, c.Const) else None
    get_set = value(hay)

    def not_in_set(i: View, m: View) -> bool:
        s = get_set(i, m)
        return s is not None and needle not in s

    return not_in_set


def _text(node: c.Text) -> Predicate:
    get = value(node.subject)
    assert isinstance(node.needles, c.Const)
    raw = node.needles.value
    needles: tuple[str, ...] = tuple(str(x) for x in raw) if isinstance(raw, tuple) else (str(raw),)
    if node.op == "starts_with":
        return lambda i, m: (v := get(i, m)) is not None and v.startswith(needles)
    if node.op == "ends_with":
        return lambda i, m: (v := get(i, m)) is not None and v.endswith(needles)
    if len(needles) == 1:
        needle = needles[0]
        return lambda i, m: (v := get(i, m)) is not None and needle in v

    def contains_any(i: View, m: View) -> bool:
        v = get(i, m)
        if v is None:
            return False
        for needle in needles:
            if needle in v:
                return True
        return False

    return contains_any
