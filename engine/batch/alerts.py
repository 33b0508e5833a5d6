"""``assay screen --alerts FILE``: the pack's correlation rules over a batch's manifests.

The alerts pass runs once, in the invoking process, after the screening: it reads the inputs
again, keeps the valid manifests that have a ``filed_at`` (records that are not valid
manifests are already error lines of the screening output; manifests without ``filed_at`` have
no place on the data's clock and are counted as skipped), sorts them by ``(filed_at,
manifest_id)`` whatever order the inputs hold them in, and runs the reference correlation
evaluator (:mod:`engine.correlation.evaluator`), or with ``--engine rete`` the durable_rules
one (:mod:`engine.correlation.rete`: its sequence rules in durable_rules, the others delegated
to the reference and named in the summary; the alerts are the same bytes). ``--workers`` and
``--dask`` parallelise the per-manifest screening only, so the alerts are the same whatever
they are set to. Sorting holds the timed manifests in memory; standard input cannot be read
twice, so ``--alerts`` needs input files.

``--outcomes FILE`` (inspection outcomes, CSV or JSON Lines, as ``assay backtest`` reads
them: :func:`engine.inspections.read_inspections`) gives the seizures that rules reading
``history.seizures`` (the repeat offender) count: each manifest with a ``seizure`` outcome
counts from its own filed_at. Without it such rules see no seizure and raise nothing, and the
run's summary says so.

One JSON object per line per alert, in the order the alerts were raised; the file is written
whole or not at all (a temporary file renamed into place).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from assay.engine.batch.readers import Format, read_inputs
from assay.engine.batch.records import manifest_or_error
from assay.engine.contracts import Manifest
from assay.engine.correlation.evaluator import CorrelationEvaluator, Correlator, order_key
from assay.engine.correlation.measures import SEIZURES
from assay.engine.correlation.rete import ReteCorrelator
from assay.engine.evaluators.base import EngineKind
from assay.engine.inspections import Inspection
from assay.engine.ruleset import RuleSet


@dataclass(frozen=True)
class AlertsSummary:
    alerts: int
    manifests: int  # valid manifests with filed_at, in the pass
    skipped: int  # valid manifests without filed_at
    rules: int
    # rule id -> why it ran in the reference evaluator although --engine rete was asked
    delegated: dict[str, str] = field(default_factory=dict)
    seizure_rules: tuple[str, ...] = ()  # rules reading history.seizures
    seizures: int | None = None  # seizures given (None: no outcomes were given)

    def outcomes_note(self) -> str:
        """What the summary says of the outcomes: how many seizures fed which rules, or
        that the rules reading seizures had none."""
        if not self.seizure_rules:
            return ""
        names = ", ".join(self.seizure_rules)
        if self.seizures is None:
            return f"; {names} had no outcomes (give --outcomes FILE): no seizure counted"
        return f"; {self.seizures:,} seizure(s) from --outcomes fed {names}"


def seizures_in(outcomes: Mapping[str, Inspection]) -> frozenset[str]:
    """The manifest ids whose outcome is a confirmed seizure (irregularities and no-finds
    count for precision, not as seizures)."""
    return frozenset(m for m, outcome in outcomes.items() if outcome.result == "seizure")


def alerts_problem(inputs: Sequence[str], ruleset: RuleSet) -> str | None:
    """Why ``--alerts`` cannot run with these inputs and this pack, or None."""
    if "-" in inputs:
        return "--alerts needs input files: standard input cannot be read a second time"
    if not ruleset.correlations:
        return f"--alerts: the pack {ruleset.label} has no correlation rules"
    return None


def write_alerts(
    inputs: Sequence[str],
    input_format: Format | None,
    ruleset: RuleSet,
    target: str,
    engine: EngineKind = "compiled",
    seized: Collection[str] | None = None,
) -> AlertsSummary:
    """Correlate the manifests of ``inputs`` and write the alerts to ``target``, with the
    reference evaluator (``compiled``) or the durable_rules one (``rete``); ``seized``: the
    manifest ids with a confirmed seizure (None: no outcomes were given)."""
    timed: list[Manifest] = []
    skipped = 0
    for record in read_inputs(inputs, input_format):
        manifest = manifest_or_error(record)
        if not isinstance(manifest, Manifest):
            continue
        if manifest.filed_at is None:
            skipped += 1
            continue
        timed.append(manifest)
    timed.sort(key=order_key)
    delegated: dict[str, str] = {}
    correlator: CorrelationEvaluator
    if engine == "rete":
        correlator = rete = ReteCorrelator(ruleset, seized=seized or ())
        delegated = dict(rete.delegated)
    else:
        correlator = Correlator(ruleset, seized=seized or ())
    try:
        lines = [
            orjson.dumps(alert.to_json()) + b"\n"
            for manifest in timed
            for alert in correlator.push(manifest)
        ]
    finally:
        if engine == "rete":
            rete.close()
    path = Path(target)
    if path.exists() and not path.is_file():  # a device such as /dev/null: written as a stream
        with path.open("wb") as out:
            out.writelines(lines)
    else:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                out.writelines(lines)
            Path(temporary).replace(path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return AlertsSummary(
        len(lines),
        len(timed),
        skipped,
        len(ruleset.correlations),
        delegated,
        tuple(rule.id for rule in ruleset.correlations if SEIZURES in rule.measures),
        None if seized is None else len(seized),
    )
