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


@dataclass(frozen=True)
class Exclusions:
    """Where a description names a thing to say the goods are not it (``terms.yaml``
    ``exclusions:``). A group phrase found wholly inside such a place does not count:

    * ``before``: words that open an exclusion running to the end of the clause (the next
      ``; : , ( ) [ ] .``): the nomenclature's "ores and concentrates; other than antimony",
      "compounds (excluding cerium) of rare-earth metals";
    * ``after``: words that exclude the word before them: "antimony-free", "Dy free";
    * ``products``: names of other products that contain a material's name: "tungsten
      halogen" lamps. A phrase that runs past one ("tungsten carbide powder" past "tungsten
      carbide") still counts.

    A phrase that takes in the excluding word itself ("Dy free", "without dysprosium") is a
    statement about the exclusion, and counts (the pack's ``HRE_FREE`` group).
    """

    before: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    products: tuple[str, ...] = ()


# Clause boundaries for ``Exclusions.before``, and the words between them.
_PIECE = re.compile(r"[^\W_]+|[;:,()\[\].]")
_BOUNDARY = frozenset(";:,()[].")


class TermMatcher:
    """Finds which keyword groups a (normalised) description mentions.

    Groups come from the rule pack's ``terms.yaml``: a group name and its phrases in any
    language. Phrases match whole words (``WATER`` does not match ``WATERPROOF``); a trailing
    ``*`` makes the last word a prefix (``MANNEQUIN*``); phrases in scripts written without
    spaces (Chinese, Japanese, Korean) match anywhere in the text, unless an unspaced
    ``before`` word stands right before them ("不含镝"). See :class:`Exclusions` for what
    does not count.
    """

    def __init__(
        self, groups: Mapping[str, Iterable[str]], exclusions: Exclusions | None = None
    ) -> None:
        rules = exclusions or Exclusions()
        before = [normalise(x) for x in rules.before]
        self._before = _spaced(before)
        self._unspaced_before = tuple(x for x in before if _UNSPACED.search(x))
        self._after = frozenset(w for x in rules.after for w in tokens(normalise(x)))
        self._products = _spaced(normalise(x) for x in rules.products)
        # Any of these words in a description means exclusions must be looked for.
        self._markers = frozenset(
            [p.words[0] for p in (*self._before, *self._products)] + list(self._after)
        )
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
            if phrase in text and (not self._unspaced_before or self._stated(text, phrase)):
                found.add(group)
        words = _TOKEN.findall(text)
        excluded = self._excluded(text) if not self._markers.isdisjoint(words) else None
        first = self._first
        prefix = self._prefix
        lengths = self._prefix_lengths
        for index, word in enumerate(words):
            entries = first.get(word)
            if entries:
                for entry in entries:
                    if _matches_at(entry, words, index) and (
                        excluded is None or not _inside(excluded, index, len(entry.words))
                    ):
                        found.add(entry.group)
            for length in lengths:
                if length > len(word):
                    break
                for entry in prefix.get(word[:length], ()):
                    if excluded is None or not _inside(excluded, index, 1):
                        found.add(entry.group)
        return frozenset(found)

    def _stated(self, text: str, phrase: str) -> bool:
        """Whether an unspaced phrase occurs once without an excluding word right before it."""
        start = text.find(phrase)
        while start != -1:
            if not text[:start].rstrip().endswith(self._unspaced_before):
                return True
            start = text.find(phrase, start + 1)
        return False

    def _excluded(self, text: str) -> list[bool]:
        """For each word of ``text`` (as :func:`tokens` splits it), whether it stands inside
        an exclusion. The excluding words themselves do not."""
        pieces = _PIECE.findall(text)
        words = [p for p in pieces if p not in _BOUNDARY]
        excluded = [False] * len(words)
        index = 0  # the word index of the current piece
        opener_ends = 0  # the words of an opener being read run to here
        opened = False  # inside an exclusion that runs to the end of the clause
        previous = ""
        for piece in pieces:
            if piece in _BOUNDARY:
                opened = False
                previous = piece
                continue
            if index >= opener_ends:
                if opened:
                    excluded[index] = True
                else:
                    for opener in self._before:
                        if opener.words[0] == piece and _matches_at(opener, words, index):
                            opened, opener_ends = True, index + len(opener.words)
                            break
            if piece in self._after and index > 0 and previous not in _BOUNDARY:
                excluded[index - 1] = True
            for product in self._products:
                if product.words[0] == piece and _matches_at(product, words, index):
                    for offset in range(len(product.words)):
                        excluded[index + offset] = True
            previous = piece
            index += 1
        return excluded


def _spaced(phrases: Iterable[str]) -> list[_Phrase]:
    """The (normalised) phrases written with spaces between words, as matchable phrases."""
    return [
        _Phrase(tuple(tokens(p)), p.endswith("*"), "")
        for p in phrases
        if tokens(p) and not _UNSPACED.search(p)
    ]


def _inside(excluded: list[bool], index: int, size: int) -> bool:
    """Whether words ``index`` to ``index + size`` all stand inside an exclusion."""
    end = index + size
    return end <= len(excluded) and all(excluded[index:end])


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


# Bottles: "24X500ML" (a pack of 24), "500ML", "1.5L", "75CL"; pieces: "52 PCS", "1PC/CTN".
_VOLUME_UNIT = r"(ML|CL|L|LT|LTR|LITRE|LITRES|LITER|LITERS)\b"
_PACK_OF = re.compile(r"(?<![\d.,])(\d{1,3})\s?[X×*]\s?" + _NUMBER + r"\s?" + _VOLUME_UNIT)
_BOTTLE = re.compile(r"(?<![\dX×*.,])" + _NUMBER + r"\s?" + _VOLUME_UNIT)
_LITRES = {"ML": 0.001, "CL": 0.01}
_PER_PACKAGE = re.compile(
    r"(?<![\d.,])(\d{1,4})\s?(?:PC|PCS|PIECE|PIECES|UNIT|UNITS|SET|SETS)\s?(?:/|PER )\s?"
    r"(?:CTN|CARTON|CT|BOX|BX|CASE|CS|PKG|PACKAGE)\b"
)
_PIECES = re.compile(
    r"(?<![\d.,/])(\d{1,3}(?:,\d{3})+|\d{1,7})\s?(?:PCS|PIECES|UNITS)\b(?!\s?/|\s?PER )"
)


def bottle_litres(text: str) -> tuple[float | None, int | None]:
    """``(litres per bottle, bottles per pack)`` written in a normalised description:
    ``24X500ML`` gives (0.5, 24), ``1.5L`` (1.5, None), ``75CL`` (0.75, None); bottles of
    0.05 to 25 litres only."""
    packed = _PACK_OF.search(text)
    if packed is not None:
        count, number, unit = packed.groups()
        size = float(number.replace(",", ".")) * _LITRES.get(unit, 1.0)
        return (size, int(count)) if 0.05 <= size <= 25.0 and int(count) > 0 else (None, None)
    for number, unit in _BOTTLE.findall(text):
        size = float(number.replace(",", ".")) * _LITRES.get(unit, 1.0)
        if 0.05 <= size <= 25.0:
            return size, None
    return None, None


def pieces_written(text: str) -> tuple[int | None, int | None]:
    """``(pieces in all, pieces per package)`` written in a normalised description:
    ``481 PCS`` gives (481, None), ``2PC/CTN`` (None, 2)."""
    per = _PER_PACKAGE.search(text)
    if per is not None and int(per.group(1)) > 0:
        return None, int(per.group(1))
    total = _PIECES.search(text)
    if total is not None and int(total.group(1).replace(",", "")) > 0:
        return int(total.group(1).replace(",", "")), None
    return None, None


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
