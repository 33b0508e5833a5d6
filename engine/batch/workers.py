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

from engine.batch.outcomes import Outcome, screen_chunk
from engine.batch.records import Record
from engine.engine import Engine
from engine.evaluators.base import EngineKind
from engine.ruleset import RuleSet, compile_pack

Chunk = list[Record]


class Backend(Protocol):
    def run(self, chunks: Iterable[Chunk]) -> Iterator[list[Outcome]]: ...

    def close(self) -> None: ...


def ordered(
    submit: Callable[[Chunk], Any], chunks: Iterable[Chunk], window: int
) -> Iterator[list[Outcome]]:
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
            yield screen_chunk(self._engine, chunk, self._today, self._keep)

    def close(self) -> None:
        self._engine.close()


# Inside a worker process, the one engine it screens with (set by _start_worker).
_worker_engine: Engine | None = None
_worker_today: date | None = None
_worker_keep = False


def _start_worker(sources: Mapping[str, str], kind: EngineKind, today: date, keep: bool) -> None:
    global _worker_engine, _worker_today, _worker_keep  # noqa: PLW0603 - one per process
    _worker_engine = Engine(compile_pack(sources), kind=kind)
    _worker_today = today
    _worker_keep = keep


def _work(chunk: Chunk) -> list[Outcome]:
    assert _worker_engine is not None and _worker_today is not None
    return screen_chunk(_worker_engine, chunk, _worker_today, _worker_keep)


class Processes:
    """``--workers N``: N processes (spawned, so nothing leaks in from the parent)."""

    def __init__(
        self,
        workers: int,
        sources: Mapping[str, str],
        kind: EngineKind,
        today: date,
        keep: bool = False,
    ) -> None:
        self._workers = workers
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(dict(sources), kind, today, keep),
        )

    def run(self, chunks: Iterable[Chunk]) -> Iterator[list[Outcome]]:
        def submit(chunk: Chunk) -> Future[list[Outcome]]:
            return self._pool.submit(_work, chunk)

        return ordered(submit, chunks, window=3 * self._workers)

    def close(self) -> None:
        self._pool.shutdown(cancel_futures=True)


def _dask_work(
    chunk: Chunk, sources: Mapping[str, str], kind: EngineKind, today: date, sha: str
) -> list[Outcome]:
    """Runs on a Dask worker: the engine is built once per worker and kept on it."""
    from distributed import get_worker  # noqa: PLC0415 - only Dask workers import distributed

    worker = get_worker()
    engines: dict[str, Engine] = worker.__dict__.setdefault("assay_engines", {})
    engine = engines.get(sha)
    if engine is None:
        engine = engines[sha] = Engine(compile_pack(sources), kind=kind)
    return screen_chunk(engine, chunk, today)


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
                _dask_work, chunk, self._sources, self._kind, self._today, self._sha, pure=False
            )

        return ordered(submit, chunks, window=self._window)

    def close(self) -> None:
        self._client.close()
