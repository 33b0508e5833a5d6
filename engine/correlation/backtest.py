"""Correlation rules in a back-test: the candidate's and the baseline's correlation rules over
the corpus in time order, scored against inspection outcomes.

The back-test (:mod:`engine.backtest`) screens each manifest as it comes; the correlation
pass runs once, at the report, over the corpus's valid manifests that have a ``filed_at`` (a
manifest met twice counts once, its last reading standing, as in the screening figures),
sorted by ``(filed_at, manifest_id)`` by :func:`~engine.correlation.evaluator.correlate`: the
same corpus in any file order gives the same alerts. The seizures on record (outcome
``seizure`` of a manifest in the corpus) are the seizure stream of the repeat-offender rules,
each at its manifest's filed_at; a seizure of a manifest outside the corpus has no place on
the clock and is not counted. The timed manifests are held until the report, as compact JSON
(about 1.9 kB each against 8.4 kB as objects: 2 GB for a million), parsed again in order for
each pass.

Per rule, for each side: ``alerts``, ``manifests`` (distinct manifests named by its alerts),
``entities`` (distinct entity keys), and the precision against outcomes:

* an alert is **inspected** when at least one of its ``manifest_ids`` has an outcome;
* it is **confirmed** when at least one of them has a find (``seizure`` or
  ``irregularity``), whichever member it is;
* ``precision`` = confirmed / inspected (``None`` when no alert was inspected), as a
  manifest rule's precision counts only the flags that were checked.

A repeat-offender alert names the new filing (never the seized manifest, whose seizure
would confirm it trivially), so it is confirmed only when the new filing's inspection found
something. Against a baseline, alerts are matched by ``alert_id`` (rule, entity, completing
manifest): ``newly_raised`` are the candidate's alerts the baseline does not raise,
``no_longer_raised`` the baseline's the candidate does not.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from assay.engine.contracts import Manifest
from assay.engine.correlation.alerts import Alert
from assay.engine.correlation.evaluator import Correlator, micros
from assay.engine.correlation.language import CorrelationRule
from assay.engine.inspections import Inspection
from assay.engine.performance import ratio
from assay.engine.ruleset import RuleSet


class CorrelationStream:
    """The corpus's manifests on the data's clock, collected as the back-test reads them."""

    def __init__(self) -> None:
        self._timed: dict[str, tuple[int, bytes]] = {}  # id -> (filed_at µs, JSON)
        self._untimed: set[str] = set()

    def add(self, manifest: Manifest) -> None:
        """Keep ``manifest`` (replacing an earlier reading of the same id)."""
        if manifest.filed_at is None:
            self._timed.pop(manifest.manifest_id, None)
            self._untimed.add(manifest.manifest_id)
        else:
            self._untimed.discard(manifest.manifest_id)
            self._timed[manifest.manifest_id] = (
                micros(manifest.filed_at),
                manifest.__pydantic_serializer__.to_json(manifest),
            )

    def _ordered(self) -> Iterator[Manifest]:
        """The manifests in ``(filed_at, manifest_id)`` order, parsed one at a time."""
        for _key, data in sorted(((t, m), data) for m, (t, data) in self._timed.items()):
            yield Manifest.model_validate_json(data)

    def _correlate(self, ruleset: RuleSet, seized: set[str]) -> list[Alert]:
        correlator = Correlator(ruleset, seized=seized)
        return [alert for manifest in self._ordered() for alert in correlator.push(manifest)]

    def report(
        self,
        candidate: RuleSet,
        baseline: RuleSet | None,
        outcomes: Mapping[str, Inspection],
        listed: int,
    ) -> dict[str, Any]:
        """The report's ``correlation`` section (see the module's docstring)."""
        seized = {m for m, o in outcomes.items() if o.result == "seizure" and m in self._timed}
        after = self._correlate(candidate, seized)
        before: list[Alert] | None = None
        if baseline is not None:
            same = _correlation_inputs(baseline) == _correlation_inputs(candidate)
            before = after if same else self._correlate(baseline, seized)
        section: dict[str, Any] = {
            "stream": {
                "manifests": len(self._timed),
                "without_filed_at": len(self._untimed),
                "seizures": len(seized),
            },
            "confirmed_when": "any manifest of the alert has a seizure or irregularity outcome",
            "rules": _rows(candidate, baseline, after, before, outcomes),
        }
        if before is not None:
            known = {a.alert_id for a in before}
            now = {a.alert_id for a in after}
            newly = [a for a in after if a.alert_id not in known]
            gone = [a for a in before if a.alert_id not in now]
            section["changes"] = {
                "newly_raised": len(newly),
                "no_longer_raised": len(gone),
                "listed": {
                    "newly_raised": [a.to_json() for a in newly[:listed]],
                    "no_longer_raised": [a.to_json() for a in gone[:listed]],
                },
            }
        return section


def _correlation_inputs(ruleset: RuleSet) -> dict[str, str]:
    """What a ruleset's correlation alerts depend on: every source but its manifest rules'
    files (the correlation rules, the reference lists their conditions read, pack.yaml).
    Two rulesets equal in these raise the same alerts, so a back-test of a change to manifest
    rules alone correlates once."""
    manifest_rules = {rule.file for rule in ruleset.rules}
    return {path: text for path, text in ruleset.sources.items() if path not in manifest_rules}


def _figures(alerts: Sequence[Alert], outcomes: Mapping[str, Inspection]) -> dict[str, Any]:
    inspected = confirmed = 0
    for alert in alerts:
        found = [outcomes[m] for m in alert.manifest_ids if m in outcomes]
        inspected += bool(found)
        confirmed += any(o.found for o in found)
    return {
        "alerts": len(alerts),
        "manifests": len({m for a in alerts for m in a.manifest_ids}),
        "entities": len({a.entity_key for a in alerts}),
        "inspected": inspected,
        "confirmed": confirmed,
        "precision": ratio(confirmed, inspected),
    }


def _by_rule(alerts: Iterable[Alert]) -> dict[str, list[Alert]]:
    grouped: dict[str, list[Alert]] = {}
    for alert in alerts:
        grouped.setdefault(alert.rule_id, []).append(alert)
    return grouped


def _rows(
    candidate: RuleSet,
    baseline: RuleSet | None,
    after: list[Alert],
    before: list[Alert] | None,
    outcomes: Mapping[str, Inspection],
) -> list[dict[str, Any]]:
    """One row per correlation rule of the candidate, then per rule only the baseline has."""
    rules: dict[str, CorrelationRule] = {r.id: r for r in candidate.correlations}
    ours = set(rules)
    theirs = {r.id for r in baseline.correlations} if baseline is not None else set()
    for rule in baseline.correlations if baseline is not None else ():
        rules.setdefault(rule.id, rule)
    now, then = _by_rule(after), _by_rule(before or [])
    rows = []
    for rule_id, rule in rules.items():
        row: dict[str, Any] = {
            "rule_id": rule_id,
            "pattern": rule.pattern,
            "severity": rule.severity,
            "group_by": list(rule.group_by),
            "in_candidate": rule_id in ours,
            **_figures(now.get(rule_id, []), outcomes),
        }
        if before is not None:
            was = then.get(rule_id, [])
            was_ids = {a.alert_id for a in was}
            is_ids = {a.alert_id for a in now.get(rule_id, [])}
            base = _figures(was, outcomes)
            row.update(
                {
                    "in_baseline": rule_id in theirs,
                    "baseline_alerts": base["alerts"],
                    "baseline_manifests": base["manifests"],
                    "baseline_precision": base["precision"],
                    "newly_raised": len(is_ids - was_ids),
                    "no_longer_raised": len(was_ids - is_ids),
                }
            )
        rows.append(row)
    return rows
