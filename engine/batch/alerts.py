"""``assay screen --alerts FILE``: the pack's correlation rules over a batch's manifests.

The alerts pass runs after the screening: it reads the inputs again, once, and keeps the
valid manifests that have a ``filed_at`` (records that are not valid manifests are already
error lines of the screening output; manifests without ``filed_at`` have no place on the
data's clock and are counted as skipped). It spills them to per-partition files by entity
(:mod:`engine.batch.alert_partitions`), then sorts and correlates each partition on its own,
in ``(filed_at, manifest_id)`` order whatever order the inputs hold them in, with the
reference evaluator (:mod:`engine.correlation.evaluator`) or with ``--engine rete`` the
durable_rules one (:mod:`engine.correlation.rete`: its sequence rules in durable_rules, the
others delegated to the reference and named in the summary). Partitions run in this process,
in ``--workers`` processes or on the ``--dask`` cluster, and their alerts are merged into
the order of a one-process run: the same bytes whatever those options say. Memory is one
partition, not the input. Standard input cannot be read twice, so ``--alerts`` needs input
files.

``--outcomes FILE`` (inspection outcomes, CSV or JSON Lines, as ``assay backtest`` reads
them: :func:`engine.inspections.read_inspections`) gives the seizures that rules reading
``history.seizures`` (the repeat offender) count: each manifest with a ``seizure`` outcome
counts from its own filed_at. Without it such rules see no seizure and raise nothing, and the
run's summary says so.

One JSON object per line per alert, in the order a one-process run raises them; the file is
written whole or not at all (a temporary file renamed into place), and the partitions' files
are removed, whether the pass ends or fails.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from assay.engine.batch.alert_partitions import (
    Helpers,
    PartitionTask,
    Spill,
    kinds_of,
    merged,
    partition_count,
    result_path,
    run_here,
    run_on_dask,
    spill_records,
)
from assay.engine.batch.partitions import plan, splittable
from assay.engine.batch.readers import Format, read_inputs
from assay.engine.correlation.measures import SEIZURES
from assay.engine.correlation.rete import delegation
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
    workers: int = 1,
    dask: str | None = None,
    partitions: int | None = None,
) -> AlertsSummary:
    """Correlate the manifests of ``inputs`` and write the alerts to ``target``, with the
    reference evaluator (``compiled``) or the durable_rules one (``rete``); ``seized``: the
    manifest ids with a confirmed seizure (None: no outcomes were given). The partitions
    (``partitions`` per kind, else chosen from the inputs' size and ``workers``) run here,
    in ``workers`` processes, or on the Dask cluster at ``dask``: the same alerts whatever
    these say."""
    path = Path(target)
    stream = path.exists() and not path.is_file()  # a device such as /dev/null
    size = sum(Path(p).stat().st_size for p in inputs)
    count = partitions or partition_count(size, workers)
    kinds = kinds_of(ruleset)
    seizures = frozenset(seized or ())
    helpers = Helpers(ruleset, seizures, workers) if workers > 1 and dask is None else None
    # Beside the target (the disk the output goes to), unless it is a device.
    try:
        with tempfile.TemporaryDirectory(
            prefix=f".{path.name}.assay-alerts-", dir=None if stream else path.parent
        ) as directory:
            here = Path(directory)
            if helpers is not None and splittable(inputs, input_format):
                parts = plan(inputs, 4 * workers)
                timed, skipped, first = helpers.spill(parts, here, kinds, count)
            else:
                spill = Spill(here, kinds, count)
                try:
                    timed, skipped = spill_records(read_inputs(inputs, input_format), spill)
                finally:
                    spill.close()
                first = spill.first
            tasks = [PartitionTask(kind, p, count, engine) for kind in kinds for p in range(count)]
            # Every partition's record of shipments starts with the whole stream (warm_up).
            if dask is not None:
                run_on_dask(ruleset, tasks, here, seizures, dask, first)
            elif helpers is not None:
                helpers.run(tasks, here, first)
            else:
                run_here(ruleset, tasks, here, seizures, first)
            alerts = _write(merged([result_path(here, task) for task in tasks]), path, stream)
    finally:
        if helpers is not None:
            helpers.close()
    delegated: dict[str, str] = {}
    if engine == "rete":
        for rule in ruleset.correlations:
            if (why := delegation(rule)) is not None:
                delegated[rule.id] = why
    return AlertsSummary(
        alerts,
        timed,
        skipped,
        len(ruleset.correlations),
        delegated,
        tuple(rule.id for rule in ruleset.correlations if SEIZURES in rule.measures),
        None if seized is None else len(seized),
    )


def _write(lines: Iterable[bytes], path: Path, stream: bool) -> int:
    """Write ``lines`` to ``path``, whole or not at all (a temporary file renamed into
    place), or as a stream to a device; how many were written."""
    written = 0
    if stream:
        with path.open("wb") as out:
            for line in lines:
                out.write(line)
                written += 1
        return written
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            for line in lines:
                out.write(line)
                written += 1
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return written
