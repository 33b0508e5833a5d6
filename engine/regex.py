"""Assay's safe regular-expression subset for ``matches``, and its two translations.

Rule authors get a small, predictable dialect that both evaluators run identically:

* literal characters; ``.`` (any character); classes such as ``[A-Z0-9]``;
  ``\\d`` (0-9), ``\\w`` (A-Z, 0-9), ``\\s`` (space); ``\\`` before a special character;
* quantifiers ``*``, ``+``, ``?``, ``{m}``, ``{m,n}`` (n at most 100), groups ``( )``;
* ``^`` at the start and ``$`` at the end anchor the match; otherwise it may match anywhere.

Not allowed, with a reason: alternation ``|`` and negated classes ``[^...]``
(durable_rules' automaton gets both wrong; use ``or``, ``contains any of``, or list the
characters), a quantifier on a group that already holds one (nested repeats multiply the
states of durable_rules' automaton), back-references and look-arounds.
Matching ignores case, like every text test: letters are upper-cased as the text is.

The compiled evaluator runs patterns with RE2 (google-re2), whose matching time is linear in
the text whatever the pattern: a rule author's ``A.*A.*A.*A.*A.*B`` takes microseconds on a
long description, where Python's backtracking ``re`` ran for minutes holding the GIL.
durable_rules compiles its own dialect to a deterministic automaton, linear as well.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

# The RE2 binding's own class: its public wrapper (re2.compile(...).search) builds a match
# object and a character-offset table on every call, twice the time of re's search; Match on
# UTF-8 bytes with captures off is as fast as re and linear.
from re2 import Options as _RE2Options
from re2 import _Anchor, _re2

_SPECIAL = set(".|?*+()[]{}^$\\")
_DURABLE_SPECIAL = set(".|?*+()[]{}%")
MAX_REPEAT = 100
MAX_LENGTH = 200


class RegexError(ValueError):
    """The pattern is outside the safe subset; ``position`` is 0-based in the pattern."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True, slots=True)
class _Char:
    char: str


@dataclass(frozen=True, slots=True)
class _Any:
    pass


@dataclass(frozen=True, slots=True)
class _Class:
    negated: bool
    items: tuple[tuple[str, str], ...]  # inclusive ranges, single chars as (c, c)


@dataclass(frozen=True, slots=True)
class _Group:
    body: tuple[_Node, ...]


@dataclass(frozen=True, slots=True)
class _Repeat:
    node: _Atom
    low: int
    high: int | None  # None: unbounded


_Atom = _Char | _Any | _Class | _Group
_Node = _Atom | _Repeat

_SHORTHANDS: dict[str, tuple[tuple[str, str], ...]] = {
    "d": (("0", "9"),),
    "w": (("A", "Z"), ("0", "9")),
    "s": ((" ", " "),),
}


_UNANCHORED = _Anchor.UNANCHORED
_NO_MATCH = (-1, -1)


def _re2_options() -> _RE2Options:
    options = _RE2Options()
    options.dot_nl = True  # '.' is any character, newlines included (as durable_rules')
    options.never_capture = True  # groups only group: no submatch bookkeeping
    return options


@dataclass(frozen=True, slots=True)
class SafeRegex:
    """A checked pattern: the normalised source and both translations."""

    source: str
    re2: str  # RE2 syntax, for the compiled evaluator
    durable: str  # durable_rules' dialect
    # [..], \\d, \\w or \\s: durable_rules' automaton joins these with '.' wrongly
    has_class: bool
    # A wildcard '.' in the body: durable_rules' automaton loses its path when the character
    # it takes also continues a literal ('.*AB..*' misses "ABA").
    has_any: bool = False

    @property
    def automaton_safe(self) -> bool:
        """Whether durable_rules' automaton decides this pattern rightly: no class, no '.'
        (the rete evaluator decides the others in Python, docs/durable_rules.md)."""
        return not (self.has_class or self.has_any)

    def compile(self) -> Callable[[str], bool]:
        """A test of whether the pattern matches somewhere in a text, in linear time."""
        program = _re2.RE2(self.re2.encode(), _re2_options())
        if not program.ok():  # pragma: no cover - the translation only writes RE2 syntax
            raise RegexError(f"RE2 refused the translation {self.re2!r}", 0)
        match = program.Match
        anchor = _UNANCHORED
        no_match = _NO_MATCH

        def search(text: str) -> bool:
            data = text.encode()
            found: tuple[int, int] = match(anchor, data, 0, len(data))[0]
            return found != no_match

        return search


def parse_regex(pattern: str) -> SafeRegex:
    """Check ``pattern`` against the safe subset and translate it. Raises :class:`RegexError`."""
    if not pattern:
        raise RegexError("the pattern is empty", 0)
    if len(pattern) > MAX_LENGTH:
        raise RegexError(f"the pattern is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    start_anchor = pattern.startswith("^")
    end_anchor = pattern.endswith("$") and not pattern.endswith("\\$")
    body_start = 1 if start_anchor else 0
    body_end = len(pattern) - 1 if end_anchor else len(pattern)
    parser = _Parser(pattern, body_start, body_end)
    nodes = parser.sequence(top=True)
    if not nodes:
        raise RegexError("the pattern matches only the empty text", 0)
    linear = "".join(_re2_syntax(n) for n in nodes)
    # durable_rules' automaton mishandles a repeat next to the '.*' that makes a search of an
    # unanchored pattern ('.*A*%...*' misses "A(.)."); at an unanchored end a repeat cannot
    # change whether the text matches anywhere, so it is cut to its minimum there.
    edges = nodes if start_anchor else _trimmed(nodes)
    edges = edges if end_anchor else _trimmed(edges, from_end=True)
    durable = "".join(_dr(n) for n in edges)
    linear = ("^" if start_anchor else "") + linear + ("\\z" if end_anchor else "")
    durable = ("" if start_anchor else ".*") + durable + ("" if end_anchor else ".*")
    return SafeRegex(pattern, linear, durable, _has_class(nodes), _has_any(nodes))


class _Parser:
    def __init__(self, text: str, start: int, end: int) -> None:
        self.text = text
        self.pos = start
        self.end = end

    def _peek(self) -> str | None:
        return self.text[self.pos] if self.pos < self.end else None

    def sequence(self, top: bool = False) -> tuple[_Node, ...]:
        nodes: list[_Node] = []
        while (char := self._peek()) is not None:
            if char == ")":
                if top:
                    raise RegexError("')' without a matching '('", self.pos)
                break
            if char == "|":
                raise RegexError(
                    "alternation '|' is not supported (durable_rules matches it wrongly); "
                    "write two conditions joined by 'or', or use 'contains any of [...]'",
                    self.pos,
                )
            if char in "^$":
                raise RegexError(
                    f"'{char}' is only allowed at the very start ('^') or end ('$')", self.pos
                )
            atom = self._atom()
            nodes.append(self._quantified(atom))
        return tuple(nodes)

    def _atom(self) -> _Atom:
        char = self.text[self.pos]
        at = self.pos
        self.pos += 1
        if char == ".":
            return _Any()
        if char == "(":
            if self._peek() == "?":
                raise RegexError("look-arounds and special groups '(?...)' are not supported", at)
            body = self.sequence()
            if self._peek() != ")":
                raise RegexError("'(' is never closed", at)
            self.pos += 1
            if not body:
                raise RegexError("an empty group '()' matches nothing useful", at)
            return _Group(body)
        if char == "[":
            return self._class(at)
        if char == "\\":
            return self._escape(at)
        if char in "*+?{":
            raise RegexError(f"'{char}' has nothing before it to repeat", at)
        if char in "]}":
            raise RegexError(f"'{char}' must be escaped as '\\{char}'", at)
        return _letters(char, at)

    def _escape(self, at: int) -> _Atom:
        if self.pos >= self.end:
            raise RegexError("the pattern ends with a lone '\\'", at)
        char = self.text[self.pos]
        self.pos += 1
        if char.lower() in _SHORTHANDS and char.islower():
            return _Class(False, _SHORTHANDS[char])
        if char in _SPECIAL or char in "%-/'\"":
            return _Char(char)
        raise RegexError(
            f"'\\{char}' is not supported; use \\d, \\w, \\s or escape a special character",
            at,
        )

    def _class(self, at: int) -> _Class:
        negated = self._peek() == "^"
        if negated:
            raise RegexError(
                "negated classes [^...] are not supported (durable_rules' automaton matches "
                "them wrongly); list the characters you want, e.g. [A-Z] or \\d",
                at,
            )
        items: list[tuple[str, str]] = []
        while True:
            char = self._peek()
            if char is None:
                raise RegexError("'[' is never closed", at)
            if char == "]" and items:
                self.pos += 1
                break
            start_pos = self.pos
            self.pos += 1
            if char == "\\":
                escaped = self._escape(start_pos)
                if isinstance(escaped, _Class):
                    items.extend(escaped.items)
                    continue
                char = escaped.char  # type: ignore[union-attr]
            if self._peek() == "-" and self.pos + 1 < self.end and self.text[self.pos + 1] != "]":
                self.pos += 1
                high = self.text[self.pos]
                self.pos += 1
                items.append(_range(char, high, start_pos))
            else:
                upper = char.upper()
                if len(upper) != 1:
                    raise RegexError(f"'{char}' cannot be used inside [...]", start_pos)
                items.append((upper, upper))
        return _Class(negated, tuple(items))

    def _quantified(self, atom: _Atom) -> _Node:
        char = self._peek()
        at = self.pos
        if char is None or char not in "*+?{":
            return atom
        self.pos += 1
        if char == "*":
            low, high = 0, None
        elif char == "+":
            low, high = 1, None
        elif char == "?":
            low, high = 0, 1
        else:
            close = self.text.find("}", self.pos, self.end)
            if close < 0:
                raise RegexError("'{' is never closed; write {m} or {m,n}", at)
            spec = self.text[self.pos : close]
            self.pos = close + 1
            match = re.fullmatch(r"(\d{1,3})(?:,(\d{1,3}))?", spec)
            if not match:
                raise RegexError("a repeat is written {m} or {m,n} with numbers", at)
            low = int(match.group(1))
            high = int(match.group(2)) if match.group(2) is not None else low
            if high < low or high > MAX_REPEAT or high == 0:
                raise RegexError(f"a repeat {{m,n}} needs 0 <= m <= n <= {MAX_REPEAT}, n > 0", at)
        following = self._peek()
        if following is not None and following in "*+?{":
            raise RegexError("two quantifiers in a row; put the first in a group", self.pos)
        if isinstance(atom, _Group) and _has_repeat(atom.body):
            raise RegexError(
                "a repeated group may not contain another repeat, e.g. (A+)+: write the "
                "repeat once, e.g. A+",
                at,
            )
        return _Repeat(atom, low, high)


def _has_class(nodes: tuple[_Node, ...]) -> bool:
    for node in nodes:
        inner = node.node if isinstance(node, _Repeat) else node
        if isinstance(inner, _Class):
            return True
        if isinstance(inner, _Group) and _has_class(inner.body):
            return True
    return False


def _has_any(nodes: tuple[_Node, ...]) -> bool:
    for node in nodes:
        inner = node.node if isinstance(node, _Repeat) else node
        if isinstance(inner, _Any):
            return True
        if isinstance(inner, _Group) and _has_any(inner.body):
            return True
    return False


def _has_repeat(nodes: tuple[_Node, ...]) -> bool:
    for node in nodes:
        if isinstance(node, _Repeat):
            return True
        if isinstance(node, _Group) and _has_repeat(node.body):
            return True
    return False


def _letters(char: str, at: int) -> _Atom:
    upper = unicodedata.normalize("NFKC", char).upper()
    if len(upper) == 1:
        return _Char(upper)
    return _Group(tuple(_Char(c) for c in upper))


def _range(low: str, high: str, at: int) -> tuple[str, str]:
    for lo_set, hi_set in (("0", "9"), ("A", "Z"), ("a", "z")):
        if lo_set <= low <= hi_set and lo_set <= high <= hi_set:
            if low > high:
                raise RegexError(f"the range {low}-{high} is backwards", at)
            return (low.upper(), high.upper())
    raise RegexError(
        f"the range {low}-{high} must stay within digits or letters, e.g. 0-9 or A-Z", at
    )


def _re2_char(char: str) -> str:
    return "\\" + char if char in _SPECIAL else char


def _re2_syntax(node: _Node) -> str:
    if isinstance(node, _Char):
        return _re2_char(node.char)
    if isinstance(node, _Any):
        return "."
    if isinstance(node, _Class):
        inner = "".join(
            _re2_class_char(lo) if lo == hi else f"{_re2_class_char(lo)}-{_re2_class_char(hi)}"
            for lo, hi in node.items
        )
        return f"[{'^' if node.negated else ''}{inner}]"
    if isinstance(node, _Group):
        return "(?:" + "".join(_re2_syntax(n) for n in node.body) + ")"
    return _re2_syntax(node.node) + _quantifier(node)


def _re2_class_char(char: str) -> str:
    return "\\" + char if char in "]\\^-[" else char


def _quantifier(node: _Repeat) -> str:
    if (node.low, node.high) == (0, None):
        return "*"
    if (node.low, node.high) == (1, None):
        return "+"
    if (node.low, node.high) == (0, 1):
        return "?"
    return f"{{{node.low}}}" if node.low == node.high else f"{{{node.low},{node.high}}}"


def _dr_char(char: str) -> str:
    return "%" + char if char in _DURABLE_SPECIAL else char


def _trimmed(nodes: tuple[_Node, ...], from_end: bool = False) -> tuple[_Node, ...]:
    """``nodes`` with the repeats at their start (``from_end``: their end) cut to their
    minimum, into a group there too: ``A*B`` -> ``B``, ``A{2,5}B`` -> ``AAB``. A search, free
    to start and stop anywhere, finds the text just the same."""
    if not nodes:
        return nodes
    edge, rest = (nodes[-1], nodes[:-1]) if from_end else (nodes[0], nodes[1:])
    kept: tuple[_Node, ...]
    if isinstance(edge, _Repeat):
        if edge.low == 0:
            return _trimmed(rest, from_end)
        kept = (edge.node,) * edge.low
    elif isinstance(edge, _Group):
        body = _trimmed(edge.body, from_end)
        if not body:
            return _trimmed(rest, from_end)
        kept = (_Group(body),)
    else:
        return nodes
    return (*rest, *kept) if from_end else (*kept, *rest)


def _dr(node: _Node) -> str:
    if isinstance(node, _Char):
        return _dr_char(node.char)
    if isinstance(node, _Any):
        return "."
    if isinstance(node, _Class):
        inner = "".join(
            _dr_char(lo) if lo == hi else f"{_dr_char(lo)}-{_dr_char(hi)}" for lo, hi in node.items
        )
        return f"[{'^' if node.negated else ''}{inner}]"
    if isinstance(node, _Group):
        return "(" + "".join(_dr(n) for n in node.body) + ")"
    return _dr(node.node) + _quantifier(node)
