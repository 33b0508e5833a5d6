"""Rule files to syntax: YAML with positions, and the condition grammar to a condition tree.

Every node keeps the file, line and column it came from, so that any later stage can say
exactly where a problem is. Names are left unresolved (:class:`~engine.conditions.Name`);
:mod:`engine.check` resolves and types them.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from assay.engine import conditions as c
from assay.engine import limits
from assay.engine.errors import AssayError, Location, Problem

# ------------------------------------------------------------------------- YAML + marks

Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class SourceSpan:
    """Where a YAML scalar's text sits in its file, to map offsets in the text back."""

    file: str
    line: int  # 1-based line of the text's first character
    column: int  # 1-based column of the text's first character
    block_lines: tuple[tuple[int, int, int], ...] = ()  # (offset, line, column) per line

    def locate(self, line: int, column: int, text: str) -> Location:
        """File location of 1-based ``line``/``column`` inside the scalar ``text``."""
        if self.block_lines:
            offset = _offset(text, line, column)
            chosen = self.block_lines[0]
            for entry in self.block_lines:
                if entry[0] <= offset:
                    chosen = entry
            start, file_line, file_col = chosen
            return Location(self.file, file_line, file_col + offset - start)
        if line == 1:
            return Location(self.file, self.line, self.column + column - 1)
        return Location(self.file, self.line + line - 1, column)


def _offset(text: str, line: int, column: int) -> int:
    lines = text.split("\n")
    return sum(len(part) + 1 for part in lines[: line - 1]) + column - 1


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """A parsed YAML file: the data, and the span of every scalar and mapping by path."""

    file: str
    text: str
    data: Any
    spans: dict[Path, SourceSpan]

    def span(self, path: Path) -> SourceSpan:
        """The span at ``path``, or the nearest enclosing one."""
        while path not in self.spans and path:
            path = path[:-1]
        return self.spans.get(path, SourceSpan(self.file, 1, 1))

    def location(self, path: Path) -> Location:
        span = self.span(path)
        return Location(span.file, span.line, span.column)

    def source_line(self, line: int) -> str | None:
        lines = self.text.splitlines()
        return lines[line - 1] if 0 < line <= len(lines) else None

    def problem(self, code: Any, message: str, path: Path, hint: str | None = None) -> Problem:
        location = self.location(path)
        return Problem(code, message, location, hint, self.source_line(location.line))


# libyaml's loader when PyYAML has it (its wheels do): the same nodes and marks, a tenth of
# the time, which is most of compiling a pack (service start, hot reload, back-test jobs).
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _RuleLoader(_Loader):  # type: ignore[valid-type,misc]  # a class chosen at import
    """The safe loader, whose values that cannot be read (an integer of 5,000 digits, a
    13th month) are YAML errors at their place, not a ValueError from inside PyYAML."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except yaml.MarkedYAMLError:
            raise
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"this value cannot be read: {exc}", node.start_mark
            ) from None


def load_yaml(file: str, text: str) -> YamlDocument:
    """Parse YAML text, keeping where each value came from. Raises ``yaml_syntax``, and
    ``limit_exceeded`` for a file past the bounds of :mod:`engine.limits`; an alias (``*a``)
    is refused before any value is built, so a few hundred bytes cannot expand to gigabytes."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limits.MAX_FILE_BYTES:
        raise AssayError(
            Problem(
                "limit_exceeded",
                f"the file is {size:,} bytes; a pack file holds at most "
                f"{limits.MAX_FILE_BYTES:,} (MAX_FILE_BYTES)",
                Location(file, 1, 1),
                "split it into several files",
            )
        )
    lines = text.splitlines()
    loader = _RuleLoader(text)
    try:
        node = loader.get_single_node()
        spans: dict[Path, SourceSpan] = {}
        if node is not None:
            problems = _record(node, file, text, lines, spans)
            if problems:
                raise AssayError(problems)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise AssayError(
            Problem(
                "yaml_syntax",
                f"{exc.problem or 'invalid YAML'}" + (f" ({exc.context})" if exc.context else ""),
                Location(file, line, column),
                "check indentation and quoting; conditions with ':' or '#' need quotes or a "
                "'|' block",
                lines[line - 1] if 0 < line <= len(lines) else None,
            )
        ) from None
    except yaml.YAMLError as exc:  # a reader error (a control character) has no problem_mark
        raise AssayError(
            Problem("yaml_syntax", str(exc).splitlines()[0], Location(file, 1, 1))
        ) from None
    finally:
        loader.dispose()
    return YamlDocument(file, text, data, spans)


def _alias_at(text: str, anchored: yaml.Node, after: int) -> tuple[int, int] | None:
    """Line and column (0-based) of the first alias of ``anchored`` after offset ``after``."""
    found = re.match(r"&([^\s,\[\]{}]+)", text[anchored.start_mark.index :])
    if found is None:
        return None
    at = text.find("*" + found.group(1), after)
    if at < 0:
        return None
    line = text.count("\n", 0, at)
    return line, at - (text.rfind("\n", 0, at) + 1)


def _record(
    root: yaml.Node, file: str, text: str, lines: list[str], spans: dict[Path, SourceSpan]
) -> list[Problem]:
    """Walk the composed nodes once, in document order: record every value's span, and check
    the file's shape: no node reached twice (an alias), mapping keys that are plain texts and
    unique, and the depth, node, text and list bounds. Iterative: a deep file is a problem,
    not a RecursionError."""

    def problem(code: Any, message: str, mark: Any, hint: str | None = None) -> Problem:
        line, column = mark.line + 1, mark.column + 1
        source = lines[line - 1] if 0 < line <= len(lines) else None
        return Problem(code, message, Location(file, line, column), hint, source)

    seen: set[int] = set()  # ids of the nodes met (the tree holds them all meanwhile)
    # (node, path, depth, the mark of the key or list that holds it)
    stack: list[tuple[yaml.Node, Path, int, Any]] = [(root, (), 1, root.start_mark)]
    count = 0
    while stack:
        node, path, depth, holder = stack.pop()
        if id(node) in seen:
            at = node.start_mark
            alias = _alias_at(text, node, holder.index)
            where = yaml.Mark(file, 0, *alias, None, None) if alias else holder  # type: ignore[arg-type]
            return [
                problem(
                    "yaml_syntax",
                    f"an alias (*name) of the value at line {at.line + 1}, column "
                    f"{at.column + 1}; rule files may not use anchors and aliases",
                    where,
                    "write the value out where it is needed",
                )
            ]
        seen.add(id(node))
        count += 1
        if count > limits.MAX_YAML_NODES:
            return [
                problem(
                    "limit_exceeded",
                    f"the file holds more than {limits.MAX_YAML_NODES:,} values (MAX_YAML_NODES)",
                    node.start_mark,
                    "split it into several files",
                )
            ]
        if depth > limits.MAX_YAML_DEPTH:
            return [
                problem(
                    "limit_exceeded",
                    f"values are nested more than {limits.MAX_YAML_DEPTH} deep (MAX_YAML_DEPTH)",
                    node.start_mark,
                )
            ]
        mark = node.start_mark
        if isinstance(node, yaml.ScalarNode):
            spans[path] = _scalar_span(node, file, lines)
            if len(node.value) > limits.MAX_YAML_TEXT_CHARS:
                return [
                    problem(
                        "limit_exceeded",
                        f"this text is {len(node.value):,} characters; a value holds at most "
                        f"{limits.MAX_YAML_TEXT_CHARS:,} (MAX_YAML_TEXT_CHARS)",
                        mark,
                    )
                ]
            continue
        spans[path] = SourceSpan(file, mark.line + 1, mark.column + 1)
        children: list[tuple[yaml.Node, Path, int, Any]] = []
        if isinstance(node, yaml.MappingNode):
            keys: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    return [
                        problem(
                            "yaml_syntax",
                            "a key must be a plain text, not a list or mapping",
                            key_node.start_mark,
                        )
                    ]
                key = key_node.value
                if key in keys:
                    other = keys[key]
                    return [
                        problem(
                            "yaml_syntax",
                            f"the key '{key[:64]}' is given twice (also at line {other.line + 1})"
                            "; only one of them would count",
                            key_node.start_mark,
                            "keep one",
                        )
                    ]
                keys[key] = key_node.start_mark
                spans[(*path, key, "__key__")] = SourceSpan(
                    file, key_node.start_mark.line + 1, key_node.start_mark.column + 1
                )
                children.append((value_node, (*path, key), depth + 1, key_node.start_mark))
        elif isinstance(node, yaml.SequenceNode):
            if len(node.value) > limits.MAX_YAML_LIST_ITEMS:
                return [
                    problem(
                        "limit_exceeded",
                        f"this list has {len(node.value):,} items; a list holds at most "
                        f"{limits.MAX_YAML_LIST_ITEMS:,} (MAX_YAML_LIST_ITEMS)",
                        mark,
                    )
                ]
            children = [
                (item, (*path, index), depth + 1, node.value[index - 1].end_mark if index else mark)
                for index, item in enumerate(node.value)
            ]
        stack.extend(reversed(children))
    return []


def _scalar_span(node: yaml.ScalarNode, file: str, lines: list[str]) -> SourceSpan:
    mark = node.start_mark
    if node.style in ("|", ">"):
        # Block scalar: its text starts on the next line, indented. Map each text line to
        # its file line (folding turns newlines into spaces of the same length).
        end = node.end_mark.line + (1 if node.end_mark.column > 0 else 0)
        body = lines[mark.line + 1 : end]
        indents = [len(x) - len(x.lstrip(" ")) for x in body if x.strip()]
        indent = min(indents) if indents else 0
        entries: list[tuple[int, int, int]] = []
        offset = 0
        for number, raw in enumerate(body, start=mark.line + 2):
            if not raw.strip():
                continue
            entries.append((offset, number, indent + 1))
            offset += len(raw) - indent + 1
        first = entries[0] if entries else (0, mark.line + 2, indent + 1)
        return SourceSpan(file, first[1], first[2], tuple(entries))
    quote = 1 if node.style in ("'", '"') else 0
    return SourceSpan(file, mark.line + 1, mark.column + 1 + quote)


# --------------------------------------------------------------------- condition grammar


@cache
def _parser() -> Lark:
    grammar = resources.files("assay.engine").joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


_EXPECTED_WORDS = {
    "COMPARE_OP": "a comparison such as '>' or '=='",
    "NUMBER": "a number",
    "STRING": 'a quoted text such as "WATER"',
    "NAME": "a field name such as item.kg_per_litre",
    "_AND": "'and'",
    "_OR": "'or'",
    "_NOT": "'not'",
    "_IN": "'in'",
    "_CONTAINS": "'contains'",
    "RPAR": "')'",
    "LPAR": "'('",
    "RSQB": "']'",
    "LSQB": "'['",
    "COMMA": "','",
    "ADD_OP": "'+' or '-'",
    "MUL_OP": "'*' or '/'",
    "MINUS": "'-'",
    "_MATCHES": "'matches'",
    "_IS": "'is'",
    "_STARTS": "'starts with'",
    "_ENDS": "'ends with'",
    "_WITH": "'with'",
    "_ANY_OF": "'any of'",
    "_MISSING": "'missing'",
    "_PRESENT": "'present'",
    "_TRUE": "'true'",
    "_FALSE": "'false'",
    "$END": "the end of the condition",
}


def _describe_expected(expected: set[str]) -> str:
    words = sorted({_EXPECTED_WORDS.get(name, repr(name)) for name in expected})
    if len(words) > 6:
        preferred = [w for w in words if w.startswith(("a ", "'(", "'and'", "'or'"))]
        words = preferred or words[:6]
    return ", ".join(words[:-1]) + (" or " if len(words) > 1 else "") + words[-1]


def parse_condition(text: str, span: SourceSpan, source: YamlDocument | None = None) -> c.Condition:
    """Parse one ``when:`` condition. Raises :class:`AssayError` with code ``rule_syntax``,
    or ``limit_exceeded`` past the bounds of :mod:`engine.limits` (length, nesting, list
    and text sizes), checked before any recursive pass sees the tree."""

    def limit(message: str, line: int, column: int, hint: str | None = None) -> AssayError:
        location = span.locate(line, column, text)
        source_line = source.source_line(location.line) if source else None
        return AssayError(Problem("limit_exceeded", message, location, hint, source_line))

    if len(text) > limits.MAX_CONDITION_CHARS:
        raise limit(
            f"the condition is {len(text):,} characters; a condition holds at most "
            f"{limits.MAX_CONDITION_CHARS:,} (MAX_CONDITION_CHARS)",
            1,
            1,
            "split it into several rules, or put long lists in a reference file",
        )
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        raise AssayError(_syntax_problem(exc, text, span, source)) from None
    deepest = _too_deep(tree)
    if deepest is not None:
        raise limit(
            f"the condition nests more than {limits.MAX_CONDITION_DEPTH} levels deep "
            "(MAX_CONDITION_DEPTH)",
            *deepest,
            "flatten it: 'a and b and c' needs no parentheses",
        )
    for token in tree.scan_values(lambda v: isinstance(v, Token) and v.type == "STRING"):
        if len(token.value) - 2 > limits.MAX_TEXT_LITERAL_CHARS:
            raise limit(
                f"this text is {len(token.value) - 2:,} characters; a text in a condition "
                f"holds at most {limits.MAX_TEXT_LITERAL_CHARS} (MAX_TEXT_LITERAL_CHARS)",
                token.line or 1,
                token.column or 1,
            )
    for node in tree.iter_subtrees():
        if node.data == "list_" and len(node.children) > limits.MAX_LIST_LITERAL_ITEMS:
            raise limit(
                f"this list has {len(node.children):,} items; a list in a condition holds at "
                f"most {limits.MAX_LIST_LITERAL_ITEMS} (MAX_LIST_LITERAL_ITEMS)",
                node.meta.line,
                node.meta.column,
                "put long lists in a reference file and test 'in ref.<file>.<list>'",
            )
    try:
        return _cond(_Build(text, span).transform(tree))
    except VisitError as exc:
        if isinstance(exc.orig_exc, AssayError):
            raise exc.orig_exc from None
        raise


def _too_deep(tree: Tree[Token]) -> tuple[int, int] | None:
    """Where the tree first nests past the limit (line, column), or None. Iterative."""
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.MAX_CONDITION_DEPTH:
            meta = node.meta
            return (meta.line, meta.column) if not getattr(meta, "empty", True) else (1, 1)
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return None


def _syntax_problem(
    exc: UnexpectedInput, text: str, span: SourceSpan, source: YamlDocument | None
) -> Problem:
    line, column = max(exc.line, 1), max(exc.column, 1)
    hint = 'e.g. item.kg_per_litre > 1.3 and "WATER" in item.terms'
    if isinstance(exc, UnexpectedEOF):
        message = f"the condition ends too early; expected {_describe_expected(set(exc.expected))}"
        lines = text.rstrip().split("\n")
        line, column = len(lines), len(lines[-1]) + 1
    elif isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.type == "$END":
            message = (
                f"the condition ends too early; expected {_describe_expected(set(exc.expected))}"
            )
            lines = text.rstrip().split("\n")
            line, column = len(lines), len(lines[-1]) + 1
        else:
            message = (
                f"unexpected {token.value!r}; expected {_describe_expected(set(exc.expected))}"
            )
            if token.type == "COMPARE_OP" and "COMPARE_OP" not in exc.expected:
                hint = "a comparison needs a value on each side, e.g. item.gross_mass_kg > 1000"
    elif isinstance(exc, UnexpectedCharacters):
        position = exc.pos_in_stream or 0
        char = text[position] if position < len(text) else ""
        message = f"unexpected character {char!r}"
        if char in "&|!":
            hint = "write 'and', 'or', 'not' in words"
    else:  # pragma: no cover - lark raises only the three kinds above
        message = str(exc)
    location = span.locate(line, column, text)
    source_line = source.source_line(location.line) if source else None
    return Problem("rule_syntax", message, location, hint, source_line)


@v_args(meta=True)
class _Build(Transformer[Token, c.Condition]):
    """Lark tree -> condition tree, with file locations."""

    def __init__(self, text: str, span: SourceSpan) -> None:
        super().__init__()
        self._text = text
        self._span = span

    def _loc(self, meta: Any) -> Location:
        if getattr(meta, "empty", True):
            return self._span.locate(1, 1, self._text)
        return self._span.locate(meta.line, meta.column, self._text)

    def _tok_loc(self, token: Token) -> Location:
        return self._span.locate(token.line or 1, token.column or 1, self._text)

    # -- logic
    def or_(self, meta: Any, items: list[c.Condition]) -> c.Condition:
        return c.Or(tuple(_cond(i) for i in items), self._loc(meta))

    def and_(self, meta: Any, items: list[c.Condition]) -> c.Condition:
        return c.And(tuple(_cond(i) for i in items), self._loc(meta))

    def not_(self, meta: Any, items: list[c.Condition]) -> c.Condition:
        return c.Not(_cond(items[0]), self._loc(meta))

    # -- predicates
    def compare(self, meta: Any, items: list[Any]) -> c.Condition:
        left, op, right = items
        op_text: c.CompareOp = "==" if op.value == "=" else op.value
        return c.Compare(op_text, _val(left), _val(right), self._tok_loc(op))

    def in_(self, meta: Any, items: list[Any]) -> c.Condition:
        return c.In(_val(items[0]), _val(items[1]), self._loc(meta))

    def not_in(self, meta: Any, items: list[Any]) -> c.Condition:
        return c.In(_val(items[0]), _val(items[1]), self._loc(meta), negated=True)

    def contains(self, meta: Any, items: list[Any]) -> c.Condition:
        return c.Text("contains", _val(items[0]), _val(items[1]), self._loc(meta))

    def starts_with(self, meta: Any, items: list[Any]) -> c.Condition:
        return c.Text("starts_with", _val(items[0]), _val(items[1]), self._loc(meta))

    def ends_with(self, meta: Any, items: list[Any]) -> c.Condition:
        return c.Text("ends_with", _val(items[0]), _val(items[1]), self._loc(meta))

    def matches(self, meta: Any, items: list[Any]) -> c.Condition:
        token: Token = items[1]
        return c.Matches(_val(items[0]), _unquote(token.value), self._tok_loc(token))

    def missing(self, meta: Any, items: list[Any]) -> c.Condition:
        loc = self._loc(meta)
        return c.Not(c.Present(_val(items[0]), loc), loc)

    def present(self, meta: Any, items: list[Any]) -> c.Condition:
        return c.Present(_val(items[0]), self._loc(meta))

    def truth(self, meta: Any, items: list[Any]) -> Any:
        if _is_value(items[0]) or isinstance(items[0], _Truthy):
            return _Truthy(_val(items[0]), self._loc(meta))
        return items[0]  # a parenthesised condition

    # -- values
    def arith(self, meta: Any, items: list[Any]) -> c.Value:
        left, op, right = items
        return c.Arith(op.value, _val(left), _val(right), self._tok_loc(op))

    def neg(self, meta: Any, items: list[Any]) -> c.Value:
        return c.Neg(_val(items[0]), self._loc(meta))

    def number(self, meta: Any, items: list[Token]) -> c.Value:
        return c.Const(float(items[0].value), self._tok_loc(items[0]))

    def string(self, meta: Any, items: list[Token]) -> c.Value:
        return c.Const(_unquote(items[0].value), self._tok_loc(items[0]))

    def true(self, meta: Any, items: list[Any]) -> c.Value:
        return c.Const(True, self._loc(meta))

    def false(self, meta: Any, items: list[Any]) -> c.Value:
        return c.Const(False, self._loc(meta))

    def name(self, meta: Any, items: list[Token]) -> c.Value:
        return c.Name(".".join(t.value for t in items), self._tok_loc(items[0]))

    def list_(self, meta: Any, items: list[Any]) -> c.Value:
        return c.ListLit(tuple(_val(i) for i in items if i is not None), self._loc(meta))


@dataclass(frozen=True, slots=True)
class _Truthy:
    """A bare value in condition position; a value again when it is used as an operand."""

    value: c.Value
    loc: Location


def _is_value(node: Any) -> bool:
    return isinstance(node, c.Field | c.Name | c.Const | c.Arith | c.Neg | c.ListLit)


def _val(node: Any) -> c.Value:
    if isinstance(node, _Truthy):
        return node.value
    if _is_value(node):
        return node  # type: ignore[no-any-return]
    # A parenthesised condition used as a value, e.g. "(a > b) + 1": keep the shape so the
    # checker can report it with its location.
    return _ConditionAsValue(node)


def _cond(node: Any) -> c.Condition:
    if isinstance(node, _Truthy):
        return c.Truth(node.value, node.loc)
    if _is_value(node):
        return c.Truth(node, node.loc)
    return node  # type: ignore[no-any-return]


def _ConditionAsValue(node: c.Condition) -> c.Value:  # noqa: N802 - behaves as a constructor
    raise AssayError(
        Problem(
            "type_mismatch",
            "a condition (true/false) cannot be used as a value here",
            getattr(node, "loc", None),
            "compare values first and combine the results with and / or",
        )
    )


def _unquote(raw: str) -> str:
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw[1:-1]
    return value if isinstance(value, str) else raw[1:-1]
