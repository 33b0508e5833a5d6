"""People behind keys and governance acts: one spelling for every way of writing a name.

Four-eyes review means two *people*, so names are compared after normalisation, not as
typed: ``Author1``, ``"author1 "`` and ``author1`` followed by a zero-width space are one
person. The same normalised name is what the audit trail records.
"""

from __future__ import annotations

import unicodedata

MAX_NAME_CHARS = 64
_MARKUP = set('<>&"`')


def person_of(name: str) -> str:
    """The person a holder name stands for: one spelling for every way of writing it.
    Compatibility forms folded (NFKC: full-width letters, ligatures), control and format
    characters dropped (zero-width spaces and joiners, direction marks), runs of spaces made
    one, trimmed, case-folded (through upper case, so that a dotless i, U+0131, and its
    capital I are one letter, as they look)."""
    text = unicodedata.normalize("NFKC", name)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in ("Cc", "Cf"))
    return unicodedata.normalize("NFKC", " ".join(text.split()).upper().casefold())


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot hold a key, or None. Refused: empty names, names of more than
    64 characters, control characters (a newline forges lines in logs), markup characters
    (``<>&"` `` could inject into a page that lists keys), and names that are nothing once
    normalised."""
    if len(name) > MAX_NAME_CHARS:
        return f"a holder name has at most {MAX_NAME_CHARS} characters"
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        return "a holder name cannot hold control characters such as a newline or a tab"
    if any(ch in _MARKUP for ch in name):
        return 'a holder name cannot hold markup characters (< > & " `)'
    if not any(ch.isalnum() for ch in person_of(name)):
        return "a holder name needs letters or digits"
    return None
