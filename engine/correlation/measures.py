"""The names a correlation rule's group condition and explanation can read.

A group is the members (manifests that met the rule's ``each`` condition) of one entity
inside the window ``[t - window, t]`` at the time ``t`` of the member that just arrived. The
baseline is the same entity's members in the ``baseline`` window just before it,
``[t - window - baseline, t - window)``. ``history.seizures`` counts the entity's confirmed
seizures (inspection outcomes ``result: seizure``, given to the evaluator with the stream) at
manifests filed within ``history`` before the member: the repeat offender. One table drives
the checker, the evaluator and the documentation (``docs/correlation.md`` lists it; a test
keeps the two in step).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Measure:
    name: str  # as written in a condition, e.g. "group.count"
    doc: str
    needs: str | None = None  # the correlation setting it requires ("baseline", "history")


MEASURES: tuple[Measure, ...] = (
    Measure("group.count", "Members (manifests that met `each`) in the window, this one included"),
    Measure(
        "group.mass_kg",
        "Sum of the members' gross mass (kg): the matching items' mass for `scope: item`, the "
        "manifest's total for `scope: manifest`",
    ),
    Measure("group.max_mass_kg", "The largest member's mass (kg), as in group.mass_kg"),
    Measure("group.first_mass_kg", "The first (earliest filed) member's mass (kg)"),
    Measure("group.last_mass_kg", "The last member's mass (kg): the one that just arrived"),
    Measure("group.span_hours", "Hours between the first and the last member's filed_at"),
    Measure("group.distinct_consignors", "Distinct consignors among the members"),
    Measure("group.distinct_consignees", "Distinct consignees among the members"),
    Measure(
        "group.new_consignees",
        "Distinct consignees among the members that the entity had not shipped to (in any "
        "manifest, member or not) within `history` before that member; missing while the last "
        "member was filed less than `warm_up` after the record of shipments started",
        "history",
    ),
    Measure(
        "history.seizures",
        "Confirmed seizures (inspection outcome `seizure`) of the entity's manifests (member or "
        "not) filed within `history` before this member, at its seized manifest's filed_at",
        "history",
    ),
    Measure("baseline.count", "Members in the baseline window", "baseline"),
    Measure("baseline.mass_kg", "Sum of the members' mass in the baseline window (kg)", "baseline"),
)

# The measure that reads inspection outcomes: a rule naming it needs the seizure stream.
SEIZURES = "history.seizures"

BY_NAME: dict[str, Measure] = {m.name: m for m in MEASURES}

# Texts an explanation can name besides the measures and params.
EXPLANATION_TEXTS: dict[str, str] = {
    "entity": "Who: the party's name (or the route, or the heading) the group is keyed by",
    "entity_key": "The entity key, e.g. consignor=CN/91310000MA1K4XYZ1Q",
    "window": "The window in words, e.g. 48 hours",
    "baseline_window": "The baseline window in words, e.g. 90 days",
    "first_filed_at": "The first member's filed_at (UTC)",
    "last_filed_at": "The last member's filed_at (UTC)",
}
# The measure that reads an entity's record of consignees: a rule naming it keeps that record.
NEW_CONSIGNEES = "group.new_consignees"
