"""Back-testing a candidate ruleset on past manifests, against a baseline and what inspection found.

Every manifest of the corpus is screened with the candidate (and the baseline, when there is
one). The report gives, per rule and per pattern, hits, the share of manifests flagged and —
with inspection outcomes — precision, recall of known seizures, yield and the no-find alarm
(:mod:`engine.performance`); the channel mix each ruleset would cause (its inspection
rate); and, against the baseline, the manifests newly flagged and no longer flagged, with
the explanations that make the difference.

With correlation rules in either ruleset, the report gains a ``correlation`` section: their
alerts over the corpus in filed_at order, the manifests involved and the precision against
the outcomes, and against the baseline the alerts newly raised and no longer raised
(:mod:`engine.correlation.backtest`). The lists of changes are in ``manifest_id`` order, so
the same corpus in another file order gives the same report.

Manifests are counted by ``manifest_id`` (outcomes are recorded by it): a manifest that
appears twice in the corpus is counted once, its last screening standing. Invalid records
are counted and listed with their error, never silently dropped.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from assay.engine.batch.records import Record, manifest_or_error
from assay.engine.contracts import ErrorLine, Manifest, ScreeningResult
from assay.engine.correlation.backtest import CorrelationStream
from assay.engine.engine import Engine
from assay.engine.inspections import Inspection
from assay.engine.performance import DEFAULT_ALARM_AT, figures, ratio, seizures_of
from assay.engine.ruleset import RuleSet

CHANNELS = ("green", "yellow", "red")
_ERRORS_LISTED = 100


@dataclass(frozen=True, slots=True)
class _Screened:
    channel: str
    rules: tuple[str, ...]


def _screened(result: ScreeningResult) -> _Screened:
    return _Screened(result.channel, tuple(sorted({flag.rule_id for flag in result.flags})))


def _explained(result: ScreeningResult) -> list[str]:
    return [flag.explanation for flag in result.flags]


@dataclass
class _Side:
    ruleset: RuleSet
    results: dict[str, _Screened] = field(default_factory=dict)

    def hits(self) -> dict[str, set[str]]:
        by_rule: dict[str, set[str]] = defaultdict(set)
        for manifest_id, screened in self.results.items():
            for rule_id in screened.rules:
                by_rule[rule_id].add(manifest_id)
        return by_rule

    def channels(self) -> dict[str, Any]:
        counts = Counter(screened.channel for screened in self.results.values())
        total = len(self.results)
        return {
            **{channel: counts[channel] for channel in CHANNELS},
            "inspection_rate": ratio(counts["red"], total),
            "check_rate": ratio(counts["yellow"], total),
        }


def describe(ruleset: RuleSet) -> dict[str, str]:
    return {"name": ruleset.name, "version": ruleset.version, "sha256": ruleset.sha256}


class Backtest:
    """Feed it manifests (:meth:`add`, :meth:`add_record`), then read :meth:`report`."""

    def __init__(
        self,
        candidate: Engine,
        baseline: Engine | None = None,
        outcomes: Mapping[str, Inspection] | None = None,
        *,
        alarm_at: int = DEFAULT_ALARM_AT,
        listed: int = 1000,
    ) -> None:
        self._engines = (candidate, baseline)
        self._candidate = _Side(candidate.ruleset)
        self._baseline = _Side(baseline.ruleset) if baseline is not None else None
        self._outcomes = dict(outcomes or {})
        self._alarm_at = alarm_at
        self._listed = listed
        self.records = 0
        self.invalid = 0
        self._errors: list[str] = []
        # Manifests whose flags differ between baseline and candidate, with the explanations
        # that differ: kept as they are screened, since explanations are not kept otherwise.
        self._changed: dict[str, dict[str, Any]] = {}
        correlates = bool(candidate.ruleset.correlations) or (
            baseline is not None and bool(baseline.ruleset.correlations)
        )
        self._stream = CorrelationStream() if correlates else None

    def add(self, manifest: Manifest, today: date | None = None) -> None:
        self.records += 1
        candidate, baseline = self._engines
        manifest_id = manifest.manifest_id
        after = candidate.screen(manifest, today=today)
        self._candidate.results[manifest_id] = now = _screened(after)
        if self._stream is not None:
            self._stream.add(manifest)
        if baseline is None or self._baseline is None:
            return
        before = baseline.screen(manifest, today=today)
        self._baseline.results[manifest_id] = then = _screened(before)
        self._changed.pop(manifest_id, None)
        if then.rules != now.rules:
            self._changed[manifest_id] = {
                "manifest_id": manifest_id,
                "before_channel": then.channel,
                "after_channel": now.channel,
                "before_rules": list(then.rules),
                "after_rules": list(now.rules),
                # What the officer would now read, or what the baseline said and no longer does.
                "explanations": _explained(after) if now.rules else _explained(before),
            }

    def add_record(self, record: Record, today: date | None = None) -> None:
        manifest = manifest_or_error(record)
        if isinstance(manifest, ErrorLine):
            self.records += 1
            self.invalid += 1
            if len(self._errors) < _ERRORS_LISTED:
                error = manifest.error
                where = error.file or f"record {error.position}"
                if error.file and error.line is not None:
                    where = f"{error.file}:{error.line}"
                self._errors.append(f"{where}: {error.reason}")
            return
        self.add(manifest, today)

    def run(
        self,
        records: Iterable[Record],
        progress: Callable[[int], None] | None = None,
        every: int = 1000,
    ) -> None:
        for record in records:
            self.add_record(record)
            if progress is not None and self.records % every == 0:
                progress(self.records)
        if progress is not None:
            progress(self.records)

    # ---------------------------------------------------------------------------- report

    def report(self) -> dict[str, Any]:
        screened = self._candidate.results
        manifests = len(screened)
        outcomes = {k: v for k, v in self._outcomes.items() if k in screened}
        seizures = seizures_of(outcomes, screened)
        hits = self._candidate.hits()
        baseline_hits = self._baseline.hits() if self._baseline is not None else None

        def scored(ids: set[str], pattern: str | None = None) -> dict[str, Any]:
            row = figures(ids, manifests, outcomes, seizures, self._alarm_at).to_json()
            if pattern is not None:
                own = seizures_of(outcomes, screened, pattern)
                row["pattern_recall"] = ratio(sum(1 for m in own if m in ids), len(own))
            return row

        rules = []
        by_pattern: dict[str, set[str]] = defaultdict(set)
        for rule in self._candidate.ruleset.rules:
            ids = hits.get(rule.id, set())
            by_pattern[rule.pattern] |= ids
            row: dict[str, Any] = {
                "rule_id": rule.id,
                "pattern": rule.pattern,
                "severity": rule.severity,
            }
            row.update(scored(ids, rule.pattern))
            if baseline_hits is not None:
                row["baseline_hits"] = len(baseline_hits.get(rule.id, ()))
            rules.append(row)
        flagged = {m for m, s in screened.items() if s.rules}
        red = {m for m, s in screened.items() if s.channel == "red"}
        report: dict[str, Any] = {
            "candidate": describe(self._candidate.ruleset),
            "baseline": describe(self._baseline.ruleset) if self._baseline else None,
            "corpus": {
                "records": self.records,
                "manifests": manifests,
                "invalid": self.invalid,
                "errors": self._errors,
            },
            "outcomes": {
                "given": len(self._outcomes),
                "matched": len(outcomes),
                "seizures": len(seizures),
                "irregularities": sum(1 for o in outcomes.values() if o.result == "irregularity"),
                "no_finds": sum(1 for o in outcomes.values() if o.result == "no_find"),
            },
            "alarm_at": self._alarm_at,
            "channels": {"candidate": self._candidate.channels()},
            "overall": {"flagged": scored(flagged), "red": scored(red)},
            "rules": rules,
            "patterns": [
                {"pattern": pattern, **scored(ids, pattern)}
                for pattern, ids in sorted(by_pattern.items())
            ],
        }
        if self._baseline is not None:
            report["channels"]["baseline"] = self._baseline.channels()
            report["changes"] = self._changes()
        if self._stream is not None:
            report["correlation"] = self._stream.report(
                self._candidate.ruleset,
                self._baseline.ruleset if self._baseline is not None else None,
                outcomes,
                self._listed,
            )
        return report

    def _changes(self) -> dict[str, Any]:
        assert self._baseline is not None
        before_all, after_all = self._baseline.results, self._candidate.results
        moves: Counter[str] = Counter(
            f"{before_all[m].channel}->{after.channel}"
            for m, after in after_all.items()
            if before_all[m].channel != after.channel
        )
        changed = [self._changed[m] for m in sorted(self._changed)]  # not the files' order
        newly = [c for c in changed if not c["before_rules"]]
        no_longer = [c for c in changed if not c["after_rules"]]
        return {
            "newly_flagged": len(newly),
            "no_longer_flagged": len(no_longer),
            "flags_changed": len(changed) - len(newly) - len(no_longer),
            "channel_moves": dict(sorted(moves.items())),
            "listed": {
                "newly_flagged": newly[: self._listed],
                "no_longer_flagged": no_longer[: self._listed],
            },
        }
