"""How well a rule (or a pattern, or a lane) performs against inspection outcomes.

For a set of flagged manifests ("hits") out of the manifests screened:

* **share**: hits / manifests — how much traffic it flags;
* **precision** (hit rate): finds / inspected hits, where a find is a seizure or an
  irregularity and an inspected hit is a hit with a recorded outcome — of the flags that were
  checked, how many found something;
* **recall**: known seizures flagged / known seizures — of the seizures we know of, how many
  it would have caught (``pattern_recall``: the same over the seizures recorded under the
  rule's own pattern);
* **yield**: seizures / hits — seizures per flag raised, counting flags nobody inspected;
* the **no-find alarm** (ASYCUDA's "maximum hits with no selection"): the rule has been
  inspected ``alarm_at`` times or more and never found anything — review or retire it.

A ratio whose denominator is zero is ``None`` (unknown), never 0 or 1.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from assay.engine.inspections import Inspection

DEFAULT_ALARM_AT = 20


@dataclass(frozen=True, slots=True)
class Figures:
    hits: int
    share: float | None
    inspected: int
    seizures: int
    irregularities: int
    no_finds: int
    precision: float | None
    recall: float | None
    seizure_yield: float | None
    alarm: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "hits": self.hits,
            "share": self.share,
            "inspected": self.inspected,
            "seizures": self.seizures,
            "irregularities": self.irregularities,
            "no_finds": self.no_finds,
            "precision": self.precision,
            "recall": self.recall,
            "yield": self.seizure_yield,
            "alarm": self.alarm,
        }


def ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 6) if whole else None


def figures(
    hits: Collection[str],
    manifests: int,
    outcomes: Mapping[str, Inspection],
    known_seizures: Collection[str],
    alarm_at: int = DEFAULT_ALARM_AT,
) -> Figures:
    """The figures of one rule, pattern or lane whose flagged manifest ids are ``hits``."""
    seizures = irregularities = no_finds = 0
    for manifest_id in hits:
        outcome = outcomes.get(manifest_id)
        if outcome is None:
            continue
        if outcome.result == "seizure":
            seizures += 1
        elif outcome.result == "irregularity":
            irregularities += 1
        else:
            no_finds += 1
    inspected = seizures + irregularities + no_finds
    caught = sum(1 for manifest_id in known_seizures if manifest_id in hits)
    alarm = None
    if inspected >= alarm_at and seizures + irregularities == 0:
        alarm = (
            f"flagged {inspected} inspected manifests and none had a find:"
            " review the rule or retire it"
        )
    return Figures(
        hits=len(hits),
        share=ratio(len(hits), manifests),
        inspected=inspected,
        seizures=seizures,
        irregularities=irregularities,
        no_finds=no_finds,
        precision=ratio(seizures + irregularities, inspected),
        recall=ratio(caught, len(known_seizures)),
        seizure_yield=ratio(seizures, len(hits)),
        alarm=alarm,
    )


def seizures_of(
    outcomes: Mapping[str, Inspection], screened: Collection[str], pattern: str | None = None
) -> set[str]:
    """The known seizures among ``screened`` manifests (of ``pattern``, when given)."""
    return {
        manifest_id
        for manifest_id, outcome in outcomes.items()
        if outcome.result == "seizure"
        and manifest_id in screened
        and (pattern is None or outcome.pattern == pattern)
    }
