"""Files of the service's corpus directory named by glob patterns, within bounds.

A back-test requested through the API names its files as patterns relative to the corpus
directory (``ASSAY_CORPUS_DIR``). :func:`resolve` turns them into the files they match:
corpus-relative POSIX names, each file once, sorted. It walks the directory once, with
``os.scandir``, and matches every path it sees against all the patterns, so the work is
bounded by the limits below whatever the patterns say; ``glob.glob(recursive=True)`` per
pattern would walk the tree once per pattern (and once per way a ``**`` can match).

Patterns: ``*`` and ``?`` match within one name (never ``/``), ``[...]`` a class (``[!...]``
negated), ``**`` as a whole segment zero or more folders (``a/**`` every file under ``a``).
As with the shell and :mod:`glob`, a wildcard does not match a name starting with ``.``
unless the pattern's segment starts with ``.`` itself. A pattern without wildcards names one
file. Symlinked folders are not followed; a symlinked file is taken when it resolves inside
the corpus directory and refused when it leads out. Only regular files are matched.

Every refusal is a :class:`CorpusError` naming the limit and the pattern's position, and
never the corpus directory's absolute path. At the limits, a request costs about a second
of CPU at worst (100,000 entries, every file tried against 20 patterns that never match);
one ``**`` pattern over that many entries, about 0.2 s.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_PATTERNS = 20
MAX_PATTERN_LENGTH = 200
MAX_DEPTH = 8  # folders between the corpus directory and a file
MAX_ENTRIES = 100_000  # directory entries looked at, in all
MAX_FILES = 1_000

_WILDCARDS = frozenset("*?[")


class CorpusError(ValueError):
    """A pattern refused, or matching nothing; ``position`` is its index in the list."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position


def refusal(pattern: str) -> str | None:
    """Why ``pattern`` can never name a file inside the corpus directory, or None: absolute,
    with a '..' segment, a backslash, a NUL or text that is not UTF-8."""
    if "\\" in pattern:
        return f"{pattern!r} has a backslash: separate folders with '/'"
    if "\x00" in pattern:
        return f"{pattern!r} has a NUL character"
    try:
        pattern.encode()
    except UnicodeEncodeError:
        return f"{pattern!r} is not valid UTF-8 text"
    if pattern.startswith("/"):
        return f"{pattern!r} is absolute: name files relative to the corpus directory"
    if ".." in pattern.split("/"):
        return (
            f"{pattern!r} has a '..' segment: name files inside the corpus directory, without '..'"
        )
    return None


def _segment(text: str) -> str:
    """One path segment's pattern as a regular expression matching one name (no ``/``).

    ``*`` runs are one star; ``STAR fixed`` pairs become atomic minimal matches, as in
    :mod:`fnmatch`, so no pattern backtracks more than linearly. Classes follow fnmatch:
    ``[!...]`` negates, a ``]`` right after ``[`` or ``[!`` is a member, ``x-y`` is a range
    (empty when ``x > y``), an unclosed ``[`` is literal.
    """
    pieces: list[str | None] = []  # None: a star
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        i += 1
        if char == "*":
            if not pieces or pieces[-1] is not None:
                pieces.append(None)
        elif char == "?":
            pieces.append("[^/]")
        elif char == "[":
            j = i
            if j < n and text[j] == "!":
                j += 1
            if j < n and text[j] == "]":
                j += 1
            while j < n and text[j] != "]":
                j += 1
            if j >= n:
                pieces.append(re.escape("["))
            else:
                pieces.append(_class(text[i:j]))
                i = j + 1
        else:
            pieces.append(re.escape(char))
    regex = [] if text.startswith(".") else [r"(?!\.)"]  # hidden names need a literal '.'
    k = 0
    while k < len(pieces) and pieces[k] is not None:
        regex.append(str(pieces[k]))
        k += 1
    while k < len(pieces):  # at a star
        k += 1
        fixed: list[str] = []
        while k < len(pieces) and pieces[k] is not None:
            fixed.append(str(pieces[k]))
            k += 1
        if k == len(pieces):  # the last star: greedy, then the fixed end
            regex.append("[^/]*" + "".join(fixed))
        else:
            regex.append(f"(?>[^/]*?{''.join(fixed)})")
    return "".join(regex)


def _class(body: str) -> str:
    negated = body.startswith("!")
    members = body[1:] if negated else body
    parts: list[str] = []
    i = 0
    while i < len(members):
        if i + 2 < len(members) and members[i + 1] == "-":
            low, high = members[i], members[i + 2]
            if low <= high:
                parts.append(f"{re.escape(low)}-{re.escape(high)}")
            i += 3
        else:
            parts.append(re.escape(members[i]))
            i += 1
    if not parts:
        return "[^/]" if negated else "(?!)"
    return f"[{'^/' if negated else ''}{''.join(parts)}]"


def _compiled(source: str) -> re.Pattern[str]:
    return re.compile(source, re.DOTALL)


def _each(segments: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    return tuple(_compiled(_segment(segment)) for segment in segments)


def _all_match(regexes: Sequence[re.Pattern[str]], names: Sequence[str]) -> bool:
    return all(regex.fullmatch(name) for regex, name in zip(regexes, names, strict=True))


@dataclass(frozen=True)
class Pattern:
    """One checked pattern: ``head`` segments, then (when ``recursive``) any number of
    folders that are not hidden, then ``tail`` segments; without ``**`` it is all head.

    A file matches when its folders fit (:meth:`holds`) and its own name matches ``name``,
    the last segment's expression: the walk asks the first once per folder, the second once
    per file.
    """

    position: int
    text: str
    parts: tuple[str, ...]
    head: tuple[re.Pattern[str], ...]
    recursive: bool
    tail: tuple[re.Pattern[str], ...]

    @property
    def literal(self) -> bool:
        return not any(char in _WILDCARDS for char in self.text)

    @property
    def name(self) -> re.Pattern[str]:
        return self.tail[-1] if self.recursive else self.head[-1]

    def matches(self, path: str) -> bool:
        """Whether the file ``path`` (corpus-relative, POSIX) matches."""
        *folder, name = path.split("/")
        return self.holds(folder) and self.name.fullmatch(name) is not None

    def holds(self, folder: Sequence[str]) -> bool:
        """Whether a file directly in ``folder`` (its segments) matches, name aside."""
        head = self.head
        if not self.recursive:
            return len(folder) == len(head) - 1 and _all_match(head[:-1], folder)
        folders = self.tail[:-1]
        end = len(folder) - len(folders)
        return (
            end >= len(head)
            and _all_match(head, folder[: len(head)])
            and _all_match(folders, folder[end:])
            and not any(name.startswith(".") for name in folder[len(head) : end])
        )

    def may_hold(self, folder: Sequence[str]) -> bool:
        """Whether a file somewhere under ``folder`` could match, so the walk goes in: its
        names match the head's segments, and past the head each is either not hidden (a
        folder '**' spans) or matches a folder segment of the tail."""
        head = self.head
        if not self.recursive:
            return len(folder) < len(head) and _all_match(head[: len(folder)], folder)
        if not _all_match(head[: len(folder)], folder[: len(head)]):
            return False
        folders = self.tail[:-1]
        return all(
            not name.startswith(".") or any(regex.fullmatch(name) for regex in folders)
            for name in folder[len(head) :]
        )


def compile_pattern(position: int, text: str) -> Pattern:
    """``text`` checked against the limits and compiled; :class:`CorpusError` if refused."""
    if len(text) > MAX_PATTERN_LENGTH:
        raise CorpusError(
            position,
            f"a pattern is at most {MAX_PATTERN_LENGTH} characters; this one is {len(text)}",
        )
    reason = refusal(text)
    if reason is not None:
        raise CorpusError(position, reason)
    if text.count("**") > 1:
        raise CorpusError(
            position, f"{text!r} has more than one '**': at most one '**' per pattern"
        )
    parts = tuple(part for part in text.split("/") if part not in ("", "."))
    if not parts:
        raise CorpusError(position, f"{text!r} names no file")
    if len(parts) - 1 > MAX_DEPTH:
        raise CorpusError(
            position,
            f"{text!r} goes {len(parts) - 1} folders deep: at most {MAX_DEPTH} directory levels",
        )
    if "**" not in parts:
        return Pattern(position, text, parts, _each(parts), False, ())
    split = parts.index("**")
    tail = parts[split + 1 :] or ("*",)  # 'a/**': every file under a
    return Pattern(position, text, parts, _each(parts[:split]), True, _each(tail))


def _within(base: str, real: str) -> bool:
    return os.path.commonpath([base, real]) == base


class _Found:
    """Matched files by real path, so a file reached by two names (through a link) is one
    file; it keeps its own name over a link's, else the first name in order."""

    def __init__(self, base: str) -> None:
        self._base = base
        self._names: dict[str, tuple[bool, str]] = {}

    def add(self, real: str, name: str, position: int) -> None:
        known = self._names.get(real)
        if known is None and len(self._names) == MAX_FILES:
            raise CorpusError(
                position,
                f"more than {MAX_FILES:,} files match the patterns (at most {MAX_FILES:,}"
                " files a back-test); this pattern goes past the limit",
            )
        ranked = (real != str(Path(self._base, name)), name)  # its own name first
        if known is None or ranked < known:
            self._names[real] = ranked

    def names(self) -> list[str]:
        return sorted(name for _, name in self._names.values())


def _named_file(base: str, parts: tuple[str, ...], position: int) -> str:
    """The real path of the one file a name (a pattern without wildcards) gives."""
    name = "/".join(parts)
    real = os.path.realpath(Path(base, *parts))
    if not _within(base, real):
        raise CorpusError(position, f"{name!r} leads out of the corpus directory")
    try:
        mode = Path(real).stat().st_mode
    except OSError:
        raise CorpusError(position, f"no file {name!r} in the corpus directory") from None
    if stat.S_ISDIR(mode):
        raise CorpusError(position, f"{name!r} is a folder in the corpus directory, not a file")
    if not stat.S_ISREG(mode):
        raise CorpusError(position, f"{name!r} is not a regular file")
    return real


def _regular(base: str, entry: os.DirEntry[str], name: str, position: int) -> str | None:
    """The real path of a matched entry when it is a regular file; None for anything else
    (a folder, a symlinked folder, a dangling link, a pipe). A link leading out is refused."""
    if not entry.is_symlink():
        return entry.path if entry.is_file(follow_symlinks=False) else None
    real = os.path.realpath(entry.path)
    try:
        mode = Path(real).stat().st_mode
    except OSError:
        return None
    if not stat.S_ISREG(mode):
        return None
    if not _within(base, real):
        raise CorpusError(position, f"{name!r} is a link to a file outside the corpus directory")
    return real


def _entries(
    base: str, folder: tuple[str, ...], seen: int, pattern: Pattern
) -> list[os.DirEntry[str]]:
    """A folder's entries, sorted by name, counting them against :data:`MAX_ENTRIES`."""
    listed: list[os.DirEntry[str]] = []
    try:
        with os.scandir(Path(base, *folder)) as scan:
            for entry in scan:
                if seen + len(listed) >= MAX_ENTRIES:
                    raise CorpusError(
                        pattern.position,
                        f"{pattern.text!r} makes the search look at more than"
                        f" {MAX_ENTRIES:,} entries of the corpus directory (at most"
                        f" {MAX_ENTRIES:,}): name fewer folders",
                    )
                listed.append(entry)
    except (FileNotFoundError, NotADirectoryError):
        return []  # no corpus directory yet, or a folder removed while walking
    except OSError:
        shown = "/".join(folder) or "."
        raise CorpusError(
            pattern.position, f"the folder {shown!r} in the corpus directory cannot be read"
        ) from None
    listed.sort(key=lambda entry: entry.name)
    return listed


def _walk(base: str, patterns: list[Pattern], found: _Found, hit: set[int]) -> None:
    """One walk of the tree, going only into folders some pattern may hold files in. Which
    patterns a folder's files can match is worked out once per folder; each file's own name
    is then matched against those patterns' last segments."""
    # A name no pattern's last segment matches is passed over in one call.
    names = _compiled("|".join(dict.fromkeys(f"(?:{p.name.pattern})" for p in patterns)))
    seen = 0
    stack: list[tuple[tuple[str, ...], list[Pattern]]] = [((), patterns)]
    while stack:
        folder, live = stack.pop()
        entries = _entries(base, folder, seen, live[0])
        seen += len(entries)
        prefix = "".join(f"{name}/" for name in folder)
        ready = _by_name(pattern for pattern in live if pattern.holds(folder))
        below: list[tuple[tuple[str, ...], list[Pattern]]] = []
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                parts = (*folder, entry.name)
                inside = [pattern for pattern in live if pattern.may_hold(parts)]
                if inside and len(parts) > MAX_DEPTH:
                    raise CorpusError(
                        inside[0].position,
                        f"{inside[0].text!r} reaches folders more than {MAX_DEPTH} directory"
                        f" levels deep in the corpus directory (at most {MAX_DEPTH})",
                    )
                if inside:
                    below.append((parts, inside))
            elif ready and names.fullmatch(entry.name):
                matched = _matched(ready, entry.name, hit)
                if matched:
                    _take(base, entry, prefix + entry.name, matched, found, hit)
        stack.extend(reversed(below))


def _by_name(patterns: Iterable[Pattern]) -> list[tuple[re.Pattern[str], frozenset[int]]]:
    """Patterns grouped by their last segment's expression (tried once per file for them
    all), in the order of their first position."""
    groups: dict[str, tuple[re.Pattern[str], set[int]]] = {}
    for pattern in patterns:
        groups.setdefault(pattern.name.pattern, (pattern.name, set()))[1].add(pattern.position)
    return [(regex, frozenset(positions)) for regex, positions in groups.values()]


def _matched(
    ready: list[tuple[re.Pattern[str], frozenset[int]]], name: str, hit: set[int]
) -> set[int]:
    """The patterns to credit with a file: those of the first group its name matches, and
    of any later group it matches that has a pattern with no match yet (a pattern matching
    nothing is an error, so it must learn of a match even where another came first)."""
    matched: set[int] = set()
    for regex, positions in ready:
        if (not matched or not hit.issuperset(positions)) and regex.fullmatch(name):
            matched |= positions
    return matched


def _take(
    base: str, entry: os.DirEntry[str], name: str, matched: set[int], found: _Found, hit: set[int]
) -> None:
    """Take a matched file when it is a regular file; errors name its first pattern."""
    first = min(matched)
    real = _regular(base, entry, name, first)
    if real is None:
        return
    _named(name, first)
    found.add(real, name, first)
    hit |= matched


def _named(name: str, position: int) -> None:
    try:
        name.encode()
    except UnicodeEncodeError:
        raise CorpusError(
            position, f"{name!r} in the corpus directory has a name that is not UTF-8"
        ) from None


def resolve(root: Path, patterns: Sequence[str]) -> list[str]:
    """The files of ``root`` the patterns match: corpus-relative POSIX names, each file once,
    sorted. :class:`CorpusError` when a pattern is refused, goes past a limit, or matches
    nothing (so a typo does not silently screen nothing)."""
    if len(patterns) > MAX_PATTERNS:
        raise CorpusError(
            MAX_PATTERNS, f"at most {MAX_PATTERNS} patterns; this is pattern {MAX_PATTERNS + 1}"
        )
    compiled = [compile_pattern(position, text) for position, text in enumerate(patterns)]
    base = os.path.realpath(root)
    found = _Found(base)
    hit: set[int] = set()
    for pattern in compiled:
        if pattern.literal:
            found.add(
                _named_file(base, pattern.parts, pattern.position),
                "/".join(pattern.parts),
                pattern.position,
            )
            hit.add(pattern.position)
    wild = [pattern for pattern in compiled if not pattern.literal]
    if wild:
        _walk(base, wild, found, hit)
    for pattern in wild:
        if pattern.position not in hit:
            raise CorpusError(
                pattern.position, f"no file in the corpus directory matches {pattern.text!r}"
            )
    return found.names()


def locate(root: Path, name: str) -> str:
    """The real path to read for ``name``, a corpus-relative name :func:`resolve` gave,
    checked again when the file is read: the directory may have changed since (a file
    replaced by a link leading out, or removed)."""
    reason = refusal(name)
    parts = tuple(part for part in name.split("/") if part not in ("", "."))
    if reason is not None or not parts:
        raise CorpusError(0, reason or f"{name!r} names no file")
    return _named_file(os.path.realpath(root), parts, 0)
