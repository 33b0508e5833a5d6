"""The intermediate form every rule condition parses into: a small typed tree.

Both evaluators read this tree and nothing else. Nodes are frozen dataclasses; each keeps
the place in the rule file it came from (``loc``), which takes no part in equality.

Semantics, shared by both evaluators:

* A value is a number (float), text (str, normalised upper case), a boolean, a set of
  texts, or null (missing, or a computation that has no answer such as a division by zero).
* Every comparison, membership and text test is **false** when a value it reads is null.
* ``and``/``or``/``not`` are ordinary two-valued logic over those results, so
  ``not (x > 5)`` is true when ``x`` is null.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from assay.engine.errors import Location

CompareOp = Literal["==", "!=", "<", "<=", ">", ">="]
ArithOp = Literal["+", "-", "*", "/"]
TextOp = Literal["contains", "starts_with", "ends_with"]
ValueType = Literal["number", "text", "bool", "set"]
Scalar = float | str | bool

NEGATED_COMPARE: dict[CompareOp, CompareOp] = {
    "==": "!=",
    "!=": "==",
    "<": ">=",
    "<=": ">",
    ">": "<=",
    ">=": "<",
}
MIRRORED_COMPARE: dict[CompareOp, CompareOp] = {
    "==": "==",
    "!=": "!=",
    "<": ">",
    "<=": ">=",
    ">": "<",
    ">=": "<=",
}

_NOWHERE = Location("<generated>", 1, 1)


# ------------------------------------------------------------------------------ values


@dataclass(frozen=True, slots=True)
class Field:
    """A manifest field, goods-item field or derived feature, e.g. ``item.kg_per_litre``."""

    path: str
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Name:
    """An unresolved name before checking: a field, ``params.x`` or ``ref.file.key``."""

    path: str
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Const:
    """A literal or a resolved parameter / reference value."""

    value: Scalar | tuple[str, ...] | tuple[float, ...]
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)
    origin: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Arith:
    """Arithmetic on numbers; null if an operand is null or the result is not finite."""

    op: ArithOp
    left: Value
    right: Value
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Value
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ListLit:
    """A literal list before checking; checking turns it into a :class:`Const` tuple."""

    items: tuple[Value, ...]
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


Value = Field | Name | Const | Arith | Neg | ListLit

# -------------------------------------------------------------------------- predicates


@dataclass(frozen=True, slots=True)
class Compare:
    op: CompareOp
    left: Value
    right: Value
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class In:
    """``needle in haystack``: a value in a constant list, or a constant in a set field.

    ``negated`` is ``needle not in haystack``: a test of its own, not ``not (needle in
    haystack)``. Like every comparison it is false when the needle is missing, as ``!=`` is;
    ``not (x in [...])`` stays plain negation (true when ``x`` is missing)."""

    needle: Value
    haystack: Value
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Text:
    """``subject contains / starts with / ends with`` one of ``needles`` (already normalised)."""

    op: TextOp
    subject: Value
    needles: Value
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Matches:
    """``subject matches "pattern"``, in Assay's safe regular-expression subset."""

    subject: Value
    pattern: str
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Present:
    """``x is present`` (``negated``: ``x is missing``)."""

    operand: Value
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Truth:
    """A bare boolean value used as a condition, e.g. ``item.has_licence``."""

    operand: Value
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Known:
    """A condition whose truth is known when the rule is compiled."""

    value: bool
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    items: tuple[Condition, ...]
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Or:
    items: tuple[Condition, ...]
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    item: Condition
    loc: Location = field(default=_NOWHERE, compare=False, repr=False)


Leaf = Compare | In | Text | Matches | Present | Truth | Known
Condition = Leaf | And | Or | Not


def walk_values(value: Value) -> list[Value]:
    """Every value node under ``value``, itself included, depth first."""
    out: list[Value] = [value]
    if isinstance(value, Arith):
        out += walk_values(value.left) + walk_values(value.right)
    elif isinstance(value, Neg):
        out += walk_values(value.operand)
    elif isinstance(value, ListLit):
        for item in value.items:
            out += walk_values(item)
    return out


def leaf_values(leaf: Leaf) -> tuple[Value, ...]:
    """The value operands a leaf reads."""
    if isinstance(leaf, Compare):
        return (leaf.left, leaf.right)
    if isinstance(leaf, In):
        return (leaf.needle, leaf.haystack)
    if isinstance(leaf, Text):
        return (leaf.subject, leaf.needles)
    if isinstance(leaf, Matches | Present | Truth):
        return (leaf.subject,) if isinstance(leaf, Matches) else (leaf.operand,)
    return ()


def walk(condition: Condition) -> list[Condition]:
    """Every condition node under ``condition``, itself included, depth first."""
    out: list[Condition] = [condition]
    if isinstance(condition, And | Or):
        for item in condition.items:
            out += walk(condition=item)
    elif isinstance(condition, Not):
        out += walk(condition.item)
    return out


def fields_read(condition: Condition) -> list[str]:
    """Field paths the condition reads, in first-seen order, without repeats."""
    seen: dict[str, None] = {}
    for node in walk(condition):
        if isinstance(node, And | Or | Not):
            continue
        for operand in leaf_values(node):
            for value in walk_values(operand):
                if isinstance(value, Field):
                    seen.setdefault(value.path, None)
    return list(seen)
