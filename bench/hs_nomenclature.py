"""The HS 2022 nomenclature from the shared folder: every six-digit subheading and its text.

The file is ``shared/data/hs2022.csv`` beside the checkout (datasets/harmonized-system,
ODC-PDDL-1.0; columns ``section,hscode,description,parent,level``). Level-6 rows are the
subheadings; the ``TOTAL`` row and the 99/9999/999999 pseudo-codes are not goods.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_PSEUDO_CODES = frozenset({"TOTAL", "99", "9999", "999999"})


def shared_dir() -> Path:
    """The read-only shared folder: $ASSAY_SHARED, else beside the checkout, else /work/shared
    (the same search as the tests' conftest)."""
    candidates = [os.environ.get("ASSAY_SHARED", ""), str(ROOT.parent / "shared"), "/work/shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "data" / "hs2022.csv").is_file():
            return Path(candidate)
    return ROOT.parent / "shared"


HS2022 = shared_dir() / "data" / "hs2022.csv"


@dataclass(frozen=True)
class Subheading:
    """One HS 2022 six-digit subheading."""

    code: str  # six digits, e.g. "690721"
    description: str  # the nomenclature's text, e.g. "Ceramic flags and paving, ..."
    section: str  # Roman numeral, e.g. "XIII"

    @property
    def chapter(self) -> int:
        return int(self.code[:2])

    @property
    def heading(self) -> str:
        return self.code[:4]


def subheadings(path: Path = HS2022) -> list[Subheading]:
    """Every level-6 subheading of the file, in file order, pseudo-codes dropped."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return [
            Subheading(row["hscode"], row["description"].strip(), row["section"])
            for row in csv.DictReader(handle)
            if row["level"] == "6" and row["hscode"] not in _PSEUDO_CODES
        ]
