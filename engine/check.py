"""Checking a parsed condition: named passes from syntax to a typed, resolved tree.

``resolve``  names to catalogue fields, rule ``params`` and pack ``ref`` values;
``types``    every operator gets operands it can compare; text constants are normalised;
             ``matches`` patterns are checked against the safe subset;
``fold``     comparisons between constants are decided now.

Each pass returns a new tree and the problems it found; :func:`check_condition` runs them
in order and stops after the first pass that found a problem (later passes assume earlier
ones succeeded). Every problem carries the file, line and column of the node.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from assay.engine import conditions as c
from assay.engine import limits
from assay.engine.errors import Location, Problem
from assay.engine.fields import BY_PATH, CATALOGUE, Scope
from assay.engine.parse import SourceSpan
from assay.engine.reference import Reference, RefValue
from assay.engine.regex import RegexError, parse_regex
from assay.engine.text import normalise

VType = Literal["number", "text", "bool", "set", "list_text", "list_number"]

_TYPE_WORDS: dict[str, str] = {
    "number": "a number",
    "text": "a text",
    "bool": "true/false",
    "set": "a set of texts",
    "list_text": "a list of texts",
    "list_number": "a list of numbers",
}


@dataclass(frozen=True)
class Context:
    """What names mean for one rule."""

    scope: Scope
    params: Mapping[str, RefValue]
    reference: Reference
    source_line: Callable[[int], str | None]


def _problem(
    ctx: Context, code: Any, message: str, loc: Location | None, hint: str | None = None
) -> Problem:
    line = ctx.source_line(loc.line) if loc else None
    return Problem(code, message, loc, hint, line)


# ------------------------------------------------------------------------- pass: resolve


def _known_names(ctx: Context) -> list[str]:
    names = [s.path for s in CATALOGUE if ctx.scope == "item" or s.scope == "manifest"]
    names += [f"params.{k}" for k in ctx.params]
    names += [f"ref.{ns}" for ns in ctx.reference.namespaces]
    return names


def _resolve_value(value: c.Value, ctx: Context, problems: list[Problem]) -> c.Value:
    if isinstance(value, c.Name):
        return _resolve_name(value, ctx, problems)
    if isinstance(value, c.Arith):
        return replace(
            value,
            left=_resolve_value(value.left, ctx, problems),
            right=_resolve_value(value.right, ctx, problems),
        )
    if isinstance(value, c.Neg):
        return replace(value, operand=_resolve_value(value.operand, ctx, problems))
    if isinstance(value, c.ListLit):
        items = tuple(_resolve_value(i, ctx, problems) for i in value.items)
        if all(isinstance(i, c.Const) for i in items):
            consts = [i.value for i in items if isinstance(i, c.Const)]
            if all(isinstance(x, str) for x in consts):
                return c.Const(tuple(str(x) for x in consts), value.loc)
            if all(isinstance(x, float) for x in consts):
                return c.Const(tuple(float(x) for x in consts if isinstance(x, float)), value.loc)
        problems.append(
            _problem(
                ctx,
                "type_mismatch",
                "a list must hold only texts or only numbers, written as constants",
                value.loc,
                'e.g. ["TH", "MX"] or [2805, 2846]',
            )
        )
        return value
    return value


def _resolve_name(name: c.Name, ctx: Context, problems: list[Problem]) -> c.Value:
    path = name.path
    spec = BY_PATH.get(path)
    if spec is not None:
        if spec.scope == "item" and ctx.scope == "manifest":
            problems.append(
                _problem(
                    ctx,
                    "unknown_name",
                    f"'{path}' is a goods-item field, but this rule has scope: manifest",
                    name.loc,
                    "use 'scope: item' to test each goods item",
                )
            )
        return c.Field(path, name.loc)
    head, _, rest = path.partition(".")
    if head == "params" and rest in ctx.params:
        return c.Const(ctx.params[rest], name.loc, origin=path)
    if head == "ref" and rest:
        found = ctx.reference.lookup(rest)
        if found is not None and not isinstance(found, Mapping):
            return c.Const(found, name.loc, origin=path)
        if isinstance(found, Mapping):
            keys = ctx.reference.keys_at(rest)
            problems.append(
                _problem(
                    ctx,
                    "unknown_name",
                    f"'{path}' is a group of reference values, not one value or list",
                    name.loc,
                    f"pick one of: {', '.join(f'{path}.{k}' for k in keys[:8])}",
                )
            )
            return name
        parent = rest.rsplit(".", 1)[0] if "." in rest else ""
        candidates = [
            f"ref.{parent}.{k}" if parent else f"ref.{k}"
            for k in (ctx.reference.keys_at(parent) if parent else list(ctx.reference.namespaces))
        ]
        problems.append(_unknown(ctx, name, candidates))
        return name
    problems.append(_unknown(ctx, name, _known_names(ctx)))
    return name


def _unknown(ctx: Context, name: c.Name, candidates: list[str]) -> Problem:
    close = difflib.get_close_matches(name.path, candidates, n=3, cutoff=0.6)
    hint = (
        f"did you mean {' or '.join(repr(x) for x in close)}?"
        if close
        else ("names start with item., manifest., params. or ref.; 'assay rules fields' lists them")
    )
    return _problem(ctx, "unknown_name", f"unknown name '{name.path}'", name.loc, hint)


def resolve(cond: c.Condition, ctx: Context) -> tuple[c.Condition, list[Problem]]:
    problems: list[Problem] = []

    def visit(node: c.Condition) -> c.Condition:
        if isinstance(node, c.And | c.Or):
            return replace(node, items=tuple(visit(i) for i in node.items))
        if isinstance(node, c.Not):
            return replace(node, item=visit(node.item))
        if isinstance(node, c.Compare):
            return replace(
                node,
                left=_resolve_value(node.left, ctx, problems),
                right=_resolve_value(node.right, ctx, problems),
            )
        if isinstance(node, c.In):
            return replace(
                node,
                needle=_resolve_value(node.needle, ctx, problems),
                haystack=_resolve_value(node.haystack, ctx, problems),
            )
        if isinstance(node, c.Text):
            return replace(
                node,
                subject=_resolve_value(node.subject, ctx, problems),
                needles=_resolve_value(node.needles, ctx, problems),
            )
        if isinstance(node, c.Matches):
            return replace(node, subject=_resolve_value(node.subject, ctx, problems))
        if isinstance(node, c.Present | c.Truth):
            return replace(node, operand=_resolve_value(node.operand, ctx, problems))
        return node

    return visit(cond), problems


# --------------------------------------------------------------------------- pass: types


def type_of(value: c.Value) -> VType | None:
    """The type of a resolved value; None if it cannot be typed (already reported)."""
    if isinstance(value, c.Field):
        return BY_PATH[value.path].type
    if isinstance(value, c.Const):
        v = value.value
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, float):
            return "number"
        if isinstance(v, str):
            return "text"
        if all(isinstance(x, str) for x in v):
            return "list_text"
        return "list_number"
    if isinstance(value, c.Arith | c.Neg):
        return "number"
    return None


def _describe(value: c.Value) -> str:
    if isinstance(value, c.Field):
        return value.path
    if isinstance(value, c.Const):
        if value.origin:
            return value.origin
        return repr(value.value) if not isinstance(value.value, float) else f"{value.value:g}"
    return "the expression"


def _norm_const(value: c.Value) -> c.Value:
    """Text constants take the same normal form as the text they are compared with."""
    if isinstance(value, c.Const):
        if isinstance(value.value, str):
            return replace(value, value=normalise(value.value))
        if isinstance(value.value, tuple) and value.value and isinstance(value.value[0], str):
            return replace(value, value=tuple(normalise(str(x)) for x in value.value))
    return value


_COLLECTIONS = ("set", "list_text", "list_number")


class _Types:
    """The type pass, one method per node kind."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.problems: list[Problem] = []

    def report(self, message: str, loc: Location, hint: str | None = None) -> None:
        self.problems.append(_problem(self.ctx, "type_mismatch", message, loc, hint))

    def need(self, value: c.Value, wanted: tuple[VType, ...], loc: Location, what: str) -> bool:
        got = type_of(value)
        if got is None:
            return False
        if got in wanted:
            return True
        words = " or ".join(_TYPE_WORDS[w] for w in wanted)
        hint = None
        if "number" in wanted and got == "text" and isinstance(value, c.Const):
            hint = "write numbers without quotes"
        elif "text" in wanted and got == "number" and isinstance(value, c.Const):
            hint = 'put codes and words in quotes, e.g. "850511"'
        self.report(
            f"{what} needs {words}, but {_describe(value)} is {_TYPE_WORDS[got]}", loc, hint
        )
        return False

    def value(self, value: c.Value) -> None:
        if isinstance(value, c.Arith):
            for side in (value.left, value.right):
                self.value(side)
                self.need(side, ("number",), value.loc, f"arithmetic '{value.op}'")
        elif isinstance(value, c.Neg):
            self.value(value.operand)
            self.need(value.operand, ("number",), value.loc, "'-'")

    def visit(self, node: c.Condition) -> c.Condition:
        if isinstance(node, c.And | c.Or):
            return replace(node, items=tuple(self.visit(i) for i in node.items))
        if isinstance(node, c.Not):
            return replace(node, item=self.visit(node.item))
        if isinstance(node, c.Compare):
            return self.compare(node)
        if isinstance(node, c.In):
            return self.membership(node)
        if isinstance(node, c.Text):
            return self.text(node)
        if isinstance(node, c.Matches):
            return self.matches(node)
        if isinstance(node, c.Present):
            self.value(node.operand)
            if isinstance(node.operand, c.Const):
                self.report("'is present' / 'is missing' tests a field, not a constant", node.loc)
            return node
        if isinstance(node, c.Truth):
            self.value(node.operand)
            kind = type_of(node.operand)
            if kind is not None and kind != "bool":
                self.report(
                    f"{_describe(node.operand)} is {_TYPE_WORDS[kind]}, not a condition; "
                    "compare it with something",
                    node.loc,
                    "e.g. item.kg_per_litre > 1.2",
                )
            return node
        return node

    def compare(self, node: c.Compare) -> c.Condition:
        self.value(node.left)
        self.value(node.right)
        lt, rt = type_of(node.left), type_of(node.right)
        if lt is None or rt is None:
            return node
        if lt in _COLLECTIONS or rt in _COLLECTIONS:
            self.report(
                f"'{node.op}' compares single values; use 'in' for lists and sets",
                node.loc,
                'e.g. "CN" in manifest.countries_of_routing',
            )
        elif lt != rt:
            mixed = "text" in (lt, rt) and "number" in (lt, rt)
            self.report(
                f"cannot compare {_describe(node.left)} ({_TYPE_WORDS[lt]}) with "
                f"{_describe(node.right)} ({_TYPE_WORDS[rt]})",
                node.loc,
                'put codes in quotes ("850511") and numbers without them (1.15)' if mixed else None,
            )
        elif lt != "number" and node.op not in ("==", "!="):
            self.report(
                f"'{node.op}' orders numbers; {_TYPE_WORDS[lt]} values can only be compared "
                "with == or !=",
                node.loc,
                "for text, use 'starts with' or 'in [...]'",
            )
        else:
            return replace(node, left=_norm_const(node.left), right=_norm_const(node.right))
        return node

    def membership(self, node: c.In) -> c.Condition:
        self.value(node.needle)
        nt, ht = type_of(node.needle), type_of(node.haystack)
        if nt is None or ht is None:
            return node
        if ht == "set":
            if not isinstance(node.needle, c.Const) or nt != "text":
                self.report(
                    f"membership in the set {_describe(node.haystack)} needs a quoted text on "
                    "the left",
                    node.loc,
                    'e.g. "GLASS" in item.terms; to relate two fields use a derived feature '
                    "such as item.origin_in_routing",
                )
                return node
        elif ht in ("list_text", "list_number"):
            element = "text" if ht == "list_text" else "number"
            if nt != element:
                self.report(
                    f"{_describe(node.needle)} is {_TYPE_WORDS[nt]}, but "
                    f"{_describe(node.haystack)} is {_TYPE_WORDS[ht]}",
                    node.loc,
                )
                return node
        else:
            self.report(
                f"'in' needs a list or a set on the right, but {_describe(node.haystack)} is "
                f"{_TYPE_WORDS[ht]}",
                node.loc,
                'e.g. item.origin_country in ["TH", "MX"]',
            )
            return node
        return replace(node, needle=_norm_const(node.needle), haystack=_norm_const(node.haystack))

    def text(self, node: c.Text) -> c.Condition:
        word = node.op.replace("_", " ")
        ok = self.need(node.subject, ("text",), node.loc, f"'{word}'")
        ok = self.need(node.needles, ("text", "list_text"), node.loc, f"'{word}'") and ok
        if not ok:
            return node
        if not isinstance(node.needles, c.Const):
            self.report(f"'{word}' needs quoted text or a reference list on the right", node.loc)
            return node
        needles = _norm_const(node.needles)
        assert isinstance(needles, c.Const)
        values = needles.value if isinstance(needles.value, tuple) else (needles.value,)
        if not values or any(v == "" for v in values):
            self.report(
                f"'{word}' with an empty text is always true",
                node.loc,
                "give at least one non-empty text",
            )
            return node
        return replace(node, needles=needles)

    def matches(self, node: c.Matches) -> c.Condition:
        self.need(node.subject, ("text",), node.loc, "'matches'")
        try:
            parse_regex(node.pattern)
        except RegexError as exc:
            loc = Location(node.loc.file, node.loc.line, node.loc.column + 1 + exc.position)
            self.problems.append(_problem(self.ctx, "unsafe_regex", str(exc), loc))
        return node


def types(cond: c.Condition, ctx: Context) -> tuple[c.Condition, list[Problem]]:
    checker = _Types(ctx)
    return checker.visit(cond), checker.problems


# ---------------------------------------------------------------------------- pass: fold


def _const_compare(op: c.CompareOp, left: Any, right: Any) -> bool:
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def fold(cond: c.Condition, ctx: Context) -> tuple[c.Condition, list[Problem]]:
    def visit(node: c.Condition) -> c.Condition:
        if isinstance(node, c.Compare):
            if isinstance(node.left, c.Const) and isinstance(node.right, c.Const):
                return c.Known(_const_compare(node.op, node.left.value, node.right.value), node.loc)
            return node
        if isinstance(node, c.In):
            if isinstance(node.needle, c.Const) and isinstance(node.haystack, c.Const):
                hay = node.haystack.value
                found = isinstance(hay, tuple) and node.needle.value in hay
                return c.Known(found != node.negated, node.loc)
            empty = isinstance(node.haystack, c.Const) and node.haystack.value == ()
            if empty and not node.negated:
                return c.Known(False, node.loc)  # nothing is in an empty list
            return node
        if isinstance(node, c.Truth) and isinstance(node.operand, c.Const):
            return c.Known(bool(node.operand.value), node.loc)
        if isinstance(node, c.Not):
            inner = visit(node.item)
            if isinstance(inner, c.Known):
                return c.Known(not inner.value, node.loc)
            return replace(node, item=inner)
        if isinstance(node, c.And | c.Or):
            absorbing = isinstance(node, c.Or)  # Or: a true item decides; And: a false one
            kept: list[c.Condition] = []
            for item in (visit(i) for i in node.items):
                if isinstance(item, c.Known):
                    if item.value == absorbing:
                        return c.Known(absorbing, node.loc)
                    continue
                kept.append(item)
            if not kept:
                return c.Known(not absorbing, node.loc)
            return kept[0] if len(kept) == 1 else replace(node, items=tuple(kept))
        return node

    return visit(cond), []


Pass = Callable[[c.Condition, Context], tuple[c.Condition, list[Problem]]]
PASSES: tuple[tuple[str, Pass], ...] = (("resolve", resolve), ("types", types), ("fold", fold))


def check_condition(cond: c.Condition, ctx: Context) -> tuple[c.Condition, list[Problem]]:
    """Run the passes in order; stop after the first one that reports problems."""
    for _name, step in PASSES:
        cond, problems = step(cond, ctx)
        if problems:
            return cond, problems
    return cond, []


# ------------------------------------------------------------------------------ templates


def template_names(template: str) -> list[tuple[str, str]]:
    """The ``(name, format_spec)`` placeholders of an explanation template."""
    out: list[tuple[str, str]] = []
    for _literal, name, spec, _conv in string.Formatter().parse(template):
        if name is not None:
            out.append((name, spec or ""))
    return out


_SAMPLES: dict[str, Any] = {
    "number": 1.5,
    "text": "TEXT",
    "bool": True,
    "set": "A, B",
    "list_text": "A, B",
    "list_number": "1, 2",
}


# A format spec: [[fill]align][sign][z][#][0][width][grouping][.precision][type]
_FORMAT_SPEC = re.compile(
    r"(?:.?[<>=^])?[+\- ]?z?#?0?(?P<width>\d+)?[_,]?(?:\.(?P<precision>\d+))?[bcdeEfFgGnosxX%]?",
    re.DOTALL,
)


def _placeholder_at(template: str, name: str, spec: str, span: SourceSpan) -> Location:
    """Where the placeholder ``{name:spec}`` sits in the rule file."""
    offset = max(template.find("{" + name + (":" + spec if spec else "")), 0)
    line = template.count("\n", 0, offset) + 1
    column = offset - (template.rfind("\n", 0, offset) + 1) + 1
    return span.locate(line, column, template)


def _format_too_wide(spec: str) -> bool:
    found = _FORMAT_SPEC.fullmatch(spec)
    if found is None:
        return False  # not a format spec at all: format() refuses it below
    width, precision = found.group("width"), found.group("precision")
    return any(
        number is not None and (len(number) > 3 or int(number) > limits.MAX_FORMAT_WIDTH)
        for number in (width, precision)
    )


def check_template(template: str, ctx: Context, span: SourceSpan) -> list[Problem]:
    """Placeholders must name known fields, params or refs, with a format that fits and a
    width and precision of at most :data:`engine.limits.MAX_FORMAT_WIDTH` (checked before
    anything is formatted: ``{item.line:50000000}`` would make a 50 MB text)."""
    loc = span.locate(1, 1, template)
    problems: list[Problem] = []
    try:
        names = template_names(template)
    except ValueError as exc:
        return [
            _problem(
                ctx,
                "bad_template",
                f"the explanation template is malformed: {exc}",
                loc,
                "placeholders look like {item.kg_per_litre:.2f}; write {{ and }} for braces",
            )
        ]
    for name, spec in names:
        if not name:
            problems.append(
                _problem(ctx, "bad_template", "an empty placeholder {} names nothing", loc)
            )
            continue
        if _format_too_wide(spec):
            problems.append(
                _problem(
                    ctx,
                    "limit_exceeded",
                    f"the format '{spec[:40]}' of {name[:64]} is wider or more precise than "
                    f"{limits.MAX_FORMAT_WIDTH} characters (MAX_FORMAT_WIDTH)",
                    _placeholder_at(template, name, spec, span),
                    "e.g. {item.kg_per_litre:.2f}",
                )
            )
            continue
        resolved = _resolve_name(c.Name(name, loc), ctx, problems)
        kind = type_of(resolved) if not isinstance(resolved, c.Name) else None
        if kind is None or not spec:
            continue
        sample = _SAMPLES[kind]
        try:
            format(sample, spec)
        except (ValueError, TypeError):
            problems.append(
                _problem(
                    ctx,
                    "bad_template",
                    f"the format '{spec}' does not fit {name} ({_TYPE_WORDS[kind]})",
                    _placeholder_at(template, name, spec, span),
                    "numbers take formats like .2f or ,.0f; texts take none",
                )
            )
    return [replace(p, code="bad_template") if p.code == "unknown_name" else p for p in problems]
