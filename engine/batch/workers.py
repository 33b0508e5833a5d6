"""Where chunks of records are screened: here, in worker processes, or on a Dask cluster.

Every backend runs :func:`engine.batch.outcomes.screen_chunk` with an engine built from the
rule pack's sources, once per worker, and hands results back in input order with a bounded
number of chunks in flight, so memory does not grow with the input.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date
from typing import Any, Protocol

from assay.engine.batch.outcomes import Outcome, screen_chunk
from assay.engine.batch.records import Record
from assay.engine.engine import Engine
from assay.engine.evaluators.base import EngineKind
from assay.engine.ruleset import RuleSet, compile_pack

Chunk = list[Record]


class Backend(Protocol):
    def run(self, chunks: Iterable[Chunk]) -> Iterator[list[Outcome]]: ...

    def close(self) -> None: ...


def ordered(submit: Callable[[Chunk], Any], chunks: Iterable[Chunk], window: int) -> Iterator[Any]:
    """Results of ``submit(chunk)`` futures, in submission order, at most ``window`` pending."""
    pending: deque[Any] = deque()
    for chunk in chunks:
        pending.append(submit(chunk))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


class InProcess:
    """One process: the simplest backend, and the reference the others must equal."""

    def __init__(
        self,
        sources: Mapping[str, str],
        kind: EngineKind,
        today: date,
        keep: bool = False,
        ruleset: RuleSet | None = None,
    ) -> None:
        compiled = ruleset if ruleset is not None else compile_pack(sources)
        self._engine = Engine(compiled, kind=kind)
        self._today = today
        self._keep = keep

    def run(self, chunks: Iterable[Chunk]) -> Iterator[list[Outcome]]:
        for chunk in chunks:
            yield self.screen(chunk)

    def screen(self, chunk: Chunk) -> list[Outcome]:
        return screen_chunk(self._engine, chunk, self._today, self._keep)

    def close(self) -> None:
        self._engine.close()


# Chunks queued per helper process before the main process screens one itself.
_QUEUED = 4

# Inside a worker process, the one engine it screens with (set by _start_worker).
_worker_engine: Engine | None = None
_worker_today: date | None = None
_worker_keep = False


def _start_worker(sources: Mapping[str, str], kind: EngineKind, today: date, keep: bool) -> None:
    global _worker_engine, _worker_today, _worker_keep  # noqa: PLW0603 - one per process
    _worker_engine = Engine(compile_pack(sources), kind=kind)
    _worker_today = today
    _worker_keep = keep


# Across a process boundary records and outcomes travel as plain tuples: pickle handles
# tuples of str/bytes/int in C, while a slotted dataclass costs a Python-level reduce per
# object — measured at ~20 µs per record for both directions, more than a tenth of the
# screening itself, and paid in the parent too.
PackedRecord = tuple[int, Any, str | None, str | None, int | None, bytes | None]
PackedOutcome = tuple[Any, ...]


def pack_records(chunk: Chunk) -> list[PackedRecord]:
    return [(r.position, r.data, r.decode_error, r.file, r.line, r.raw) for r in chunk]


def unpack_records(packed: list[PackedRecord]) -> Chunk:
    return [Record(*fields) for fields in packed]


def pack_outcomes(outcomes: list[Outcome]) -> list[PackedOutcome]:
    return [
        (
            o.position,
            o.file,
            o.line,
            o.json,
            o.error,
            o.items,
            o.channel,
            o.risk_score,
            o.flags,
            o.input,
        )
        for o in outcomes
    ]


def unpack_outcomes(packed: list[PackedOutcome]) -> list[Outcome]:
    return [Outcome(*fields) for fields in packed]


def _ready() -> bool:
    return _worker_engine is not None


def _work(packed: list[PackedRecord]) -> list[PackedOutcome]:
    assert _worker_engine is not None and _worker_today is not None
    chunk = unpack_records(packed)
    return pack_outcomes(screen_chunk(_worker_engine, chunk, _worker_today, _worker_keep))


class Processes:
    """``--workers N``: N processes screen — this one and N-1 helpers (spawned, so nothing
    leaks in from the parent).

    The main process reads, writes and keeps the summary, which costs a fraction of what
    screening does; with N helpers on N cores it would compete with them for a core. So it
    screens too: each chunk goes to a helper while the helpers have work queued for at most
    :data:`_QUEUED` chunks each, and is screened here otherwise. The helpers stay busy, and
    the main process screens in the time its own work leaves free.
    """

    def __init__(
        self,
        workers: int,
        sources: Mapping[str, str],
        kind: EngineKind,
        today: date,
        keep: bool = False,
        ruleset: RuleSet | None = None,
    ) -> None:
        self._helpers = max(1, workers - 1)
        self._local = InProcess(sources, kind, today, keep, ruleset)
        self._pool = ProcessPoolExecutor(
            max_workers=self._helpers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(dict(sources), kind, today, keep),
        )
        # Start the helpers now; until one is ready (a second or so: Python, imports, the
        # pack), the main process screens alone rather than queueing chunks behind them.
        self._ready = [self._pool.submit(_ready) for _ in range(self._helpers)]
        self.screened_here = 0  # chunks, for the record of who did what
        self.screened_by_helpers = 0

    def wait_ready(self) -> None:
        """Block until every helper has started (tests; runs never need to)."""
        for ready in self._ready:
            ready.result()

    def run(self, chunks: Iterable[Chunk]) -> Iterator[list[Outcome]]:
        queued = _QUEUED * self._helpers
        window = 4 * queued  # chunks held at most: memory stays bounded
        # In input order: a helper's future, or a chunk screened here (its outcomes).
        pending: deque[Future[list[PackedOutcome]] | list[Outcome]] = deque()

        def first_done() -> bool:
            head = pending[0]
            return isinstance(head, list) or head.done()

        def take() -> list[Outcome]:
            head = pending.popleft()
            return head if isinstance(head, list) else unpack_outcomes(head.result())

        for chunk in chunks:
            busy = sum(1 for f in pending if isinstance(f, Future) and not f.done())
            if busy < queued and any(f.done() for f in self._ready):
                pending.append(self._pool.submit(_work, pack_records(chunk)))
                self.screened_by_helpers += 1
            else:
                pending.append(self._local.screen(chunk))
                self.screened_here += 1
            while pending and (len(pending) >= window or first_done()):
                yield take()
        while pending:
            yield take()

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)
        self._local.close()


def _dask_work(
    packed: list[PackedRecord], sources: Mapping[str, str], kind: EngineKind, today: date, sha: str
) -> list[PackedOutcome]:
    """Runs on a Dask worker: the engine is built once per worker and kept on it."""
    from distributed import get_worker  # noqa: PLC0415 - only Dask workers import distributed

    worker = get_worker()
    engines: dict[str, Engine] = worker.__dict__.setdefault("assay_engines", {})
    engine = engines.get(sha)
    if engine is None:
        engine = engines[sha] = Engine(compile_pack(sources), kind=kind)
    return pack_outcomes(screen_chunk(engine, unpack_records(packed), today))


class Dask:
    """``--dask ADDRESS``: the same chunks on a Dask distributed cluster. The rule pack's
    sources are scattered to every worker once; each worker compiles them once."""

    def __init__(
        self, address: str, sources: Mapping[str, str], kind: EngineKind, today: date, sha: str
    ) -> None:
        from distributed import Client  # noqa: PLC0415 - only Dask runs import distributed

        self._client = Client(address)
        self._sources = self._client.scatter(dict(sources), broadcast=True)
        self._kind, self._today, self._sha = kind, today, sha
        self._window = 3 * max(1, len(self._client.scheduler_info().get("workers", {})))

    def run(self, chunks: Iterable[Chunk]) -> Iterator[list[Outcome]]:
        def submit(chunk: Chunk) -> Any:
            return self._client.submit(
                _dask_work,
                pack_records(chunk),
                self._sources,
                self._kind,
                self._today,
                self._sha,
                pure=False,
            )

        for packed in ordered(submit, chunks, window=self._window):
            yield unpack_outcomes(packed)

    def close(self) -> None:
        self._client.close()
