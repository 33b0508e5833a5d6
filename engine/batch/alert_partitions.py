"""The alerts pass partitioned by entity: spilled to disk, correlated partition by partition.

A correlation rule's state is per rule and entity (``docs/correlation.md``, "Partitions"), so
the stream can be cut by entity and each piece correlated on its own. Each rule is
partitioned by the first part of its ``group_by`` (its **kind**: consignor, consignee, route
or hs_heading); the rules of one kind share partitions. While the inputs are read once, each
timed manifest is written (its JSON, behind its sort key) to partition
``stable_hash(key) % count`` of every kind in use, for each of its keys of that kind: a
manifest whose items have several HS headings goes to each of their partitions, and each
partition keeps only the alerts whose entity's heading belongs to it, so nothing is raised
twice. A seizure needs nothing of its own: the seized manifest is in the partition of each
of its entities, and counts there when it is pushed.

Each partition is then sorted by ``(filed_at, manifest_id, read order)`` and pushed through
its own evaluator, so memory is one partition's bytes and its live windows, not the input.
Every alert leaves its partition behind the key of its place in a one-process run: the
completing manifest's ``(filed_at, manifest_id, read order)``, the rule's place in the pack,
and the place of its entity among that manifest's joins for the rule (the order the
evaluators raise them in). The partitions' results are merged on that key (``heapq.merge``),
which gives the one-process run's alerts, in its order, byte for byte.

Partitions run here, in ``--workers N`` processes or as tasks on a ``--dask`` cluster (which
are sent the partition's bytes, so the workers need no shared disk).
"""

from __future__ import annotations

import hashlib
import heapq
import math
import multiprocessing
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any

import orjson

from assay.engine.batch.partitions import Partition, read_partition
from assay.engine.batch.records import Record, manifest_or_error
from assay.engine.contracts import Manifest
from assay.engine.correlation.entities import entity_key
from assay.engine.correlation.evaluator import (
    CorrelationEvaluator,
    Correlator,
    member_joins,
    moment,
    order_key,
)
from assay.engine.correlation.language import CorrelationRule, KeyPart
from assay.engine.correlation.rete import ReteCorrelator
from assay.engine.evaluators.base import EngineKind
from assay.engine.evaluators.closures import predicate
from assay.engine.features import Enricher
from assay.engine.ruleset import RuleSet, compile_pack, sources_sha256

# Input bytes per partition: what one partition's sort holds (its manifests' JSON), about.
PARTITION_BYTES = 32 << 20
# Partitions per kind at most: each is an open spill file while the inputs are read.
MAX_PARTITIONS = 256


def stable_hash(text: str) -> int:
    """A hash of ``text`` that every process agrees on (Python's ``hash`` of a str is salted
    per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def partition_count(input_bytes: int, workers: int) -> int:
    """Partitions per kind: at least one per worker, and enough that each holds about
    :data:`PARTITION_BYTES` of the inputs (at most :data:`MAX_PARTITIONS`)."""
    by_size = math.ceil(input_bytes / PARTITION_BYTES)
    return max(1, min(MAX_PARTITIONS, max(workers, by_size)))


@dataclass(frozen=True)
class Kind:
    """The rules partitioned by one entity kind: their places in the pack's correlations."""

    part: KeyPart
    rules: tuple[int, ...]


def kinds_of(ruleset: RuleSet) -> tuple[Kind, ...]:
    """The pack's correlation rules grouped by the first part of their ``group_by``."""
    by_part: dict[KeyPart, list[int]] = {}
    for index, rule in enumerate(ruleset.correlations):
        by_part.setdefault(rule.group_by[0], []).append(index)
    return tuple(Kind(part, tuple(rules)) for part, rules in by_part.items())


def route_keys(part: KeyPart, manifest: Manifest) -> set[str]:
    """The first parts of the entity keys ``manifest`` can have under rules grouping by
    ``part`` first (one per HS heading of its items for ``hs_heading``)."""
    if part == "hs_heading":
        return {entity_key([part], manifest, item.hs_code[:4])[0] for item in manifest.items}
    return {entity_key([part], manifest)[0]}


@dataclass(frozen=True)
class PartitionTask:
    """One partition of one kind, and the evaluator to run it with."""

    kind: Kind
    index: int
    count: int
    engine: EngineKind

    @property
    def name(self) -> str:
        return f"{self.kind.part}-{self.index:04d}"


class Spill:
    """The per-partition files the timed manifests are written to as the inputs are read:
    one JSON line each, behind its sort key ``[filed_at µs, manifest_id, run position]`` and
    a tab (the first on the line: orjson writes none)."""

    def __init__(self, directory: Path, kinds: Sequence[Kind], count: int, reader: int = 0) -> None:
        self.kinds = kinds
        self.count = count
        self.first: int | None = None  # the earliest filed_at spilled (µs): the record's start
        self._files: list[list[IO[bytes]]] = []
        try:
            for kind in kinds:
                names = [f"{kind.part}-{p:04d}.{reader:04d}.spill" for p in range(count)]
                self._files.append([(directory / n).open("wb", buffering=1 << 16) for n in names])
        except BaseException:
            self.close()
            raise

    def add(self, manifest: Manifest, order: int, text: bytes) -> None:
        """Write ``manifest`` (``text``: its JSON on one line) to its partitions."""
        t, manifest_id = order_key(manifest)
        if self.first is None or t < self.first:
            self.first = t
        line = orjson.dumps([t, manifest_id, order]) + b"\t" + text + b"\n"
        for kind, files in zip(self.kinds, self._files, strict=True):
            for index in {stable_hash(k) % self.count for k in route_keys(kind.part, manifest)}:
                files[index].write(line)

    def close(self) -> None:
        for files in self._files:
            for handle in files:
                handle.close()


def spilled(directory: Path, task: PartitionTask) -> list[Path]:
    """The files holding ``task``'s manifests: one per process that read inputs."""
    return sorted(directory.glob(f"{task.name}.*.spill"))


def spilled_bytes(directory: Path, task: PartitionTask) -> bytes:
    return b"".join(path.read_bytes() for path in spilled(directory, task))


def result_path(directory: Path, task: PartitionTask) -> Path:
    return directory / f"{task.name}.alerts"


def one_line(record: Record, manifest: Manifest) -> bytes:
    """The manifest's JSON on one line: the record's own text (a newline in it can only be
    whitespace between tokens, as JSON strings hold none), else the validated manifest's."""
    if record.raw is not None:
        return record.raw.replace(b"\n", b" ")
    return manifest.model_dump_json().encode()


def spill_records(records: Iterable[Record], spill: Spill) -> tuple[int, int]:
    """Spill the timed valid manifests of ``records``, in the order of their run position;
    how many were spilled, and how many valid manifests had no filed_at."""
    timed = skipped = 0
    for record in records:
        manifest = manifest_or_error(record)
        if not isinstance(manifest, Manifest):
            continue  # an error line of the screening output
        if manifest.filed_at is None:
            skipped += 1
            continue
        timed += 1
        spill.add(manifest, record.position, one_line(record, manifest))
    return timed, skipped


class _JoinOrder:
    """Where an entity stands among a manifest's joins of a rule: the order in which the
    evaluators raise one manifest's alerts of one rule (:func:`member_joins`)."""

    def __init__(self, ruleset: RuleSet, rules: Sequence[CorrelationRule]) -> None:
        self._enricher = Enricher(ruleset, {path for rule in rules for path in rule.reads})
        self._each = {rule.id: predicate(rule.each) for rule in rules}
        self._rules = {rule.id: rule for rule in rules}

    def keys(self, rule_id: str, manifest: Manifest) -> list[str]:
        rule = self._rules[rule_id]
        manifest_view, item_views = self._enricher.enrich(manifest, date(1970, 1, 1))
        joins = member_joins(rule, self._each[rule_id], manifest, manifest_view, item_views)
        return [key for key, _name in joins]


def correlate_partition(
    ruleset: RuleSet,
    task: PartitionTask,
    seized: Collection[str],
    spilled: bytes,
    record_since: int | None = None,
) -> bytes:
    """The alerts of one partition's manifests (``spilled``, as :class:`Spill` wrote them),
    each line ``[filed_at µs, manifest_id, read order, rule, rank]``, a tab, the alert's JSON:
    in that key's order, which is the one-process run's order. ``record_since``: the whole
    stream's earliest filed_at (µs), where a rule's ``warm_up`` counts from, as for one
    evaluator over the whole stream (a partition's own first manifest would come later)."""
    since = None if record_since is None else moment(record_since)
    rows: list[tuple[tuple[int, str, int], bytes]] = []
    for line in spilled.split(b"\n"):
        if line:
            head, _, body = line.partition(b"\t")
            t, manifest_id, order = orjson.loads(head)
            rows.append(((t, manifest_id, order), body))
    rows.sort(key=lambda row: row[0])
    rules = [ruleset.correlations[i] for i in task.kind.rules]
    place = {ruleset.correlations[i].id: i for i in task.kind.rules}
    several = task.kind.part == "hs_heading"  # a manifest may have several keys of this kind
    join_order = _JoinOrder(ruleset, rules) if several else None
    correlator: CorrelationEvaluator
    if task.engine == "rete":
        # Each partition builds its own evaluator; none names the rules it delegates: the
        # pass's summary names each once (engine.correlation.rete.delegation).
        correlator = rete = ReteCorrelator(
            ruleset, rules, seized=seized, record_since=since, announce=False
        )
    else:
        correlator = Correlator(ruleset, rules, seized, since)
    out: list[bytes] = []
    try:
        for (t, manifest_id, order), body in rows:
            manifest = Manifest.model_validate_json(body)
            alerts = correlator.push(manifest)
            ranks: dict[str, list[str]] = {}
            for raised, alert in enumerate(alerts):
                rank = raised  # one key per manifest and rule, or all in this partition
                if join_order is not None:
                    first = alert.entity_key.split(";", 1)[0]
                    if stable_hash(first) % task.count != task.index:
                        continue  # another partition's entity: raised there
                    if alert.rule_id not in ranks:
                        ranks[alert.rule_id] = join_order.keys(alert.rule_id, manifest)
                    rank = ranks[alert.rule_id].index(alert.entity_key)
                key = orjson.dumps([t, manifest_id, order, place[alert.rule_id], rank])
                out.append(key + b"\t" + orjson.dumps(alert.to_json()) + b"\n")
    finally:
        if task.engine == "rete":
            rete.close()
    return b"".join(out)


def merged(results: Sequence[Path]) -> Iterator[bytes]:
    """The alert lines of every partition's result, in the one-process run's order."""
    handles = [path.open("rb") for path in results]
    try:

        def position(line: bytes) -> Any:
            return orjson.loads(line[: line.index(b"\t")])

        for line in heapq.merge(*handles, key=position):
            yield line[line.index(b"\t") + 1 :]
    finally:
        for handle in handles:
            handle.close()


# ------------------------------------------------------------------------- where they run


def run_here(
    ruleset: RuleSet,
    tasks: Sequence[PartitionTask],
    directory: Path,
    seized: Collection[str],
    record_since: int | None = None,
) -> None:
    for task in tasks:
        spilled_now = spilled_bytes(directory, task)
        alerts = correlate_partition(ruleset, task, seized, spilled_now, record_since)
        result_path(directory, task).write_bytes(alerts)


# Inside a helper process, the pack and the seizures it correlates with (set by _start).
_helper_pack: tuple[RuleSet, frozenset[str]] | None = None


def _start(sources: Mapping[str, str], seized: frozenset[str]) -> None:
    global _helper_pack  # noqa: PLW0603 - one per helper process
    _helper_pack = (compile_pack(sources), seized)


def _run_in_helper(task: PartitionTask, directory: str, record_since: int | None) -> None:
    assert _helper_pack is not None
    ruleset, seized = _helper_pack
    spilled_now = spilled_bytes(Path(directory), task)
    alerts = correlate_partition(ruleset, task, seized, spilled_now, record_since)
    result_path(Path(directory), task).write_bytes(alerts)


def _spill_in_helper(
    part: Partition, directory: str, kinds: Sequence[Kind], count: int
) -> tuple[int, int, int | None]:
    spill = Spill(Path(directory), kinds, count, reader=part.index + 1)
    try:
        timed, skipped = spill_records(read_partition(part), spill)
        return timed, skipped, spill.first
    finally:
        spill.close()


def _ready() -> bool:
    return _helper_pack is not None


class Helpers:
    """``--workers N``: N spawned processes that take the partitions, reading and writing
    them on this machine's disk. Started before the inputs are read, so that their start
    (Python, imports, the pack) overlaps the reading."""

    def __init__(self, ruleset: RuleSet, seized: frozenset[str], workers: int) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(dict(ruleset.sources), seized),
        )
        for _ in range(workers):  # a pool starts a process per task submitted, up to N
            self._pool.submit(_ready)

    def spill(
        self, parts: Sequence[Partition], directory: Path, kinds: Sequence[Kind], count: int
    ) -> tuple[int, int, int | None]:
        """Read and spill JSON Lines inputs cut into ``parts`` (byte ranges), each in a helper
        into files of its own; the manifests spilled, those without filed_at, and the
        earliest filed_at spilled (µs)."""
        futures = [
            self._pool.submit(_spill_in_helper, part, str(directory), kinds, count)
            for part in parts
        ]
        counts = [future.result() for future in futures]
        firsts = [c[2] for c in counts if c[2] is not None]
        return sum(c[0] for c in counts), sum(c[1] for c in counts), min(firsts, default=None)

    def run(
        self, tasks: Sequence[PartitionTask], directory: Path, record_since: int | None = None
    ) -> None:
        """Every partition, the largest first, so that none is left to run alone at the end;
        a partition's failure fails the pass."""

        def size(task: PartitionTask) -> int:
            return sum(path.stat().st_size for path in spilled(directory, task))

        futures = [
            self._pool.submit(_run_in_helper, task, str(directory), record_since)
            for task in sorted(tasks, key=size, reverse=True)
        ]
        for future in futures:
            future.result()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def _dask_partition(
    task: PartitionTask,
    spilled: bytes,
    sources: Mapping[str, str],
    seized: frozenset[str],
    sha: str,
    record_since: int | None = None,
) -> bytes:
    """Runs on a Dask worker: the pack is compiled once per worker and kept on it."""
    from distributed import get_worker  # noqa: PLC0415 - only Dask workers import distributed

    worker = get_worker()
    packs: dict[str, RuleSet] = worker.__dict__.setdefault("assay_alert_packs", {})
    ruleset = packs.get(sha)
    if ruleset is None:
        ruleset = packs[sha] = compile_pack(sources)
    return correlate_partition(ruleset, task, seized, spilled, record_since)


def run_on_dask(
    ruleset: RuleSet,
    tasks: Sequence[PartitionTask],
    directory: Path,
    seized: frozenset[str],
    address: str,
    record_since: int | None = None,
) -> None:
    """``--dask ADDRESS``: each partition is a task, sent its bytes and sending its alerts
    back (no shared disk needed); a few per worker in flight, so this process holds a few
    partitions at most."""
    from distributed import Client, as_completed  # noqa: PLC0415 - only Dask runs import it

    with Client(address) as client:
        sources = client.scatter(dict(ruleset.sources), broadcast=True)
        [seizures] = client.scatter([seized], broadcast=True)  # one object, not its items
        sha = sources_sha256(ruleset.sources)
        window = 2 * max(1, len(client.scheduler_info().get("workers", {})))
        todo = list(tasks)
        running: dict[Any, PartitionTask] = {}

        def submit() -> None:
            task = todo.pop()
            future = client.submit(
                _dask_partition,
                task,
                spilled_bytes(directory, task),
                sources,
                seizures,
                sha,
                record_since,
                pure=False,
            )
            running[future] = task
            flow.add(future)

        flow = as_completed()
        while todo and len(running) < window:
            submit()
        for future in flow:
            result_path(directory, running.pop(future)).write_bytes(future.result())
            if todo:
                submit()
