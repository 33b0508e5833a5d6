"""Text normalisation and multilingual keyword matching.

All text a rule compares is normalised the same way, on both sides of the comparison:
Unicode NFKC, upper case, runs of whitespace to one space, control characters removed,
``"`` to ``'`` and ``\\`` to ``/``. The last two keep every string byte-identical in the
durable_rules engine, which does not decode JSON escapes (see ``docs/durable_rules.md``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_UNSAFE = re.compile(
    r'[\x00-\x1f\x7f-\x9f"\\\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff\ud800-\udfff]'
)
_REPLACEMENT = {'"': "'", "\\": "/"}


def normalise(text: str) -> str:
    """The canonical form of a text for comparisons (see module docstring)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if _UNSAFE.search(text):
        text = _UNSAFE.sub(lambda m: _REPLACEMENT.get(m.group(), " "), text)
    return " ".join(text.split()).upper()


_TOKEN = re.compile(r"[^\W_]+")
# Scripts written without spaces between words: their phrases match as substrings.
_UNSPACED = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


@dataclass(frozen=True, slots=True)
class _Phrase:
    words: tuple[str, ...]
    wildcard: bool  # the last word is a prefix ("MANNEQUIN*")
    group: str


class TermMatcher:
    """Finds which keyword groups a (normalised) description mentions.

    Groups come from the rule pack's ``terms.yaml``: a group name and its phrases in any
    language. Phrases match whole words (``WATER`` does not match ``WATERPROOF``); a trailing
    ``*`` makes the last word a prefix (``MANNEQUIN*``); phrases in scripts written without
    spaces (Chinese, Japanese, Korean) match anywhere in the text.
    """

    def __init__(self, groups: Mapping[str, Iterable[str]]) -> None:
        self.groups: tuple[str, ...] = tuple(groups)
        self._first: dict[str, list[_Phrase]] = {}
        self._prefix: dict[str, list[_Phrase]] = {}
        self._prefix_lengths: tuple[int, ...] = ()
        self._substrings: list[tuple[str, str]] = []
        lengths: set[int] = set()
        for group, phrases in groups.items():
            for raw in phrases:
                phrase = normalise(raw)
                if _UNSPACED.search(phrase):
                    self._substrings.append((phrase, group))
                    continue
                wildcard = phrase.endswith("*")
                words = tuple(tokens(phrase))
                if not words:
                    continue
                entry = _Phrase(words, wildcard, group)
                if wildcard and len(words) == 1:
                    self._prefix.setdefault(words[0], []).append(entry)
                    lengths.add(len(words[0]))
                else:
                    self._first.setdefault(words[0], []).append(entry)
        self._prefix_lengths = tuple(sorted(lengths))

    def match(self, text: str) -> frozenset[str]:
        """Groups mentioned in ``text``, which must already be :func:`normalise`-d."""
        found: set[str] = set()
        for phrase, group in self._substrings:
            if phrase in text:
                found.add(group)
        words = _TOKEN.findall(text)
        first = self._first
        prefix = self._prefix
        lengths = self._prefix_lengths
        for index, word in enumerate(words):
            entries = first.get(word)
            if entries:
                for entry in entries:
                    if _matches_at(entry, words, index):
                        found.add(entry.group)
            for length in lengths:
                if length > len(word):
                    break
                for entry in prefix.get(word[:length], ()):
                    found.add(entry.group)
        return frozenset(found)


def _matches_at(entry: _Phrase, words: list[str], index: int) -> bool:
    size = len(entry.words)
    if index + size > len(words):
        return False
    for offset in range(1, size):
        expected = entry.words[offset]
        actual = words[index + offset]
        last = offset == size - 1
        if last and entry.wildcard:
            if not actual.startswith(expected):
                return False
        elif actual != expected:
            return False
    if size == 1 and entry.wildcard:
        return words[index].startswith(entry.words[0])
    return True


_NUMBER = r"(\d+(?:[.,]\d+)?)"
_THICKNESS = re.compile(r"(?<![\dX×*.,/])" + _NUMBER + r"\s?(MM|CM)\b(?!\s?[X×*])")
_SIZE3 = re.compile(_NUMBER + r"\s?[X×*]\s?" + _NUMBER + r"\s?[X×*]\s?" + _NUMBER + r"\s?(MM|CM)\b")


def _mm(number: str, unit: str) -> float:
    value = float(number.replace(",", "."))
    return value * 10.0 if unit == "CM" else value


def thickness_mm(text: str) -> float | None:
    """The thickness written in a normalised description, in mm (2 to 60 mm).

    ``PORCELAIN TILES 600X600MM 10MM`` gives 10; a size of three dimensions gives its last
    (``600X600X20MM`` gives 20); two-dimension sizes such as ``60X60CM`` are not thicknesses.
    """
    for number, unit in _THICKNESS.findall(text):
        value = _mm(number, unit)
        if 2.0 <= value <= 60.0:
            return value
    for _width, _length, number, unit in _SIZE3.findall(text):
        value = _mm(number, unit)
        if 2.0 <= value <= 60.0:
            return value
    return None
