"""A partitioned run: ``--workers N`` over JSON Lines files, each process on its own partitions.

The inputs are cut into :data:`PARTS_PER_WORKER` partitions per worker
(:mod:`engine.batch.partitions`). The main process and N-1 helper processes each take the
next partition nobody has taken (a shared counter), screen it as a run of its own
(:func:`engine.batch.stream.run_stream`: its own part file, its own resume checkpoint) and
report its summary. When every partition is done the parts are joined, in partition order,
into the output: the same bytes a one-process run writes. Small partitions keep the
processes finishing together; the main process, which also draws the progress bar, simply
takes fewer of them.

Resume: ``OUT.assay-resume`` holds the plan and which partitions are done; an interrupted
partition resumes from its own checkpoint, so nothing is screened twice into the output and
nothing is skipped, whichever process was killed.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import shutil
import signal
import time
from collections.abc import Sequence
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.engine.batch.outcomes import Outcome, Summary
from assay.engine.batch.partitions import MIN_PARTITION, Partition, plan, splittable
from assay.engine.batch.readers import Meter
from assay.engine.batch.stream import CHECKPOINT_EVERY, Checkpoint, Job, Observer, run_stream
from assay.engine.batch.workers import InProcess
from assay.engine.processes import die_with_parent

if TYPE_CHECKING:
    from assay.engine.store.decisions import DecisionLog

PARTS_PER_WORKER = 48


def eligible(job: Job, log: DecisionLog | None) -> bool:
    """Whether ``job`` can run partitioned: several workers, plain JSON Lines files in,
    JSON Lines or CSV to a file out, no decision log (which needs every input in one
    process) and no Dask."""
    return (
        job.workers > 1
        and job.dask is None
        and job.partition is None
        and job.output != "-"
        and job.output_format in ("jsonl", "csv")
        and log is None
        and not job.keep_inputs
        and splittable(job.inputs, job.input_format)
    )


def part_path(path: str, index: int) -> str:
    return f"{path}.assay-part-{index:05d}"


def _part_job(job: Job, partition: Partition, resume: bool) -> Job:
    return Job(
        **{
            **job.__dict__,
            "output": part_path(job.output, partition.index),
            "errors": part_path(job.errors, partition.index) if job.errors else None,
            "partition": partition,
            "header": partition.index == 0,
            "resume": resume,
            "workers": 1,
            "ruleset": None,
        }
    )


def _claim(counter: Synchronized[int], total: int) -> int | None:
    with counter.get_lock():
        taken = counter.value
        if taken >= total:
            return None
        counter.value = taken + 1
    return taken


Report = tuple[int, dict[str, Any] | None, str | None]  # partition, summary, failure
_READY = -1  # a helper's first report: its engine is built


def _helper(
    inbox: multiprocessing.Queue[Any],
    counter: Synchronized[int],
    reports: multiprocessing.Queue[Report],
    parent: int,
) -> None:
    """A helper process: its job first, then the plan (made while it started)."""
    # Killed with the main process, so that a helper of a killed run never writes into a part
    # that --resume is rewriting.
    if not die_with_parent(signal.SIGKILL, parent):
        os._exit(1)  # the main process died before we asked
    job: Job = inbox.get()
    assert job.today is not None
    backend = InProcess(job.sources, job.engine, job.today)
    reports.put((_READY, None, None))
    todo: list[Partition] = inbox.get()
    try:
        while (taken := _claim(counter, len(todo))) is not None:
            partition = todo[taken]
            try:
                summary = run_stream(_part_job(job, partition, job.resume), backend=backend)
            except Exception as exc:  # reported, then this helper stops
                reports.put((partition.index, None, f"{type(exc).__name__}: {exc}"))
                raise
            reports.put((partition.index, summary.to_json(), None))
    finally:
        backend.close()


def _join(parts: Sequence[str], target: str) -> None:
    """Concatenate ``parts`` into ``target`` (in the kernel where it can)."""
    with Path(target).open("wb") as out:
        for part in parts:
            with Path(part).open("rb") as source:
                remaining = os.fstat(source.fileno()).st_size
                try:
                    while remaining > 0:
                        copied = os.copy_file_range(source.fileno(), out.fileno(), remaining)
                        if copied == 0:
                            break
                        remaining -= copied
                except (AttributeError, OSError):
                    out.flush()
                    shutil.copyfileobj(source, out, 1 << 20)
                    remaining = 0
        out.flush()  # as durable as a one-stream run's output: no fsync at the end


class PartitionedRun:
    """The main process's side of a partitioned run: the plan, the helpers, the reports."""

    def __init__(self, job: Job, observe: Observer | None, state: dict[str, Any] | None) -> None:
        assert job.today is not None
        self.job = job
        self.observe = observe
        self.checkpoint = Checkpoint(job)
        self.ready = 0  # helpers started
        self.screened_here = 0  # partitions, for the record of who did what
        self.screened_by_helpers = 0
        # Helpers first: they take a second to start (Python, imports, the pack), time in
        # which this process plans the partitions, then sends them the plan.
        if state is None:
            size = sum(Path(p).stat().st_size for p in job.inputs)
            expected = min(job.workers * PARTS_PER_WORKER, size // MIN_PARTITION + 1)
        else:
            expected = len(state["plan"]) - len(state["done"])
        context = multiprocessing.get_context("spawn")
        self.counter: Synchronized[int] = context.Value("i", 0)
        self.reports: multiprocessing.Queue[Report] = context.Queue()
        # The job and the plan go by queue, not as arguments: ``start()`` blocks until the
        # child has read its arguments (0.6 s of Python starting) once they outgrow a pipe's
        # buffer, which the rule pack's sources do. Kept while the run lives: a queue
        # collected here vanishes under a starting helper.
        self.inboxes: list[multiprocessing.Queue[Any]] = []
        self.helpers = []
        for _ in range(min(job.workers - 1, expected - 1)):
            inbox: multiprocessing.Queue[Any] = context.Queue()
            arguments = (inbox, self.counter, self.reports, os.getpid())
            helper = context.Process(target=_helper, args=arguments, daemon=True)
            helper.start()
            inbox.put(Job(**{**job.__dict__, "ruleset": None}))
            self.inboxes.append(inbox)
            self.helpers.append(helper)
        try:
            self._plan(state)
        except BaseException:
            self._stop_helpers()
            raise
        for inbox in self.inboxes:
            inbox.put(self.todo)
        self.local = InProcess(job.sources, job.engine, job.today, ruleset=job.ruleset)

    def _plan(self, state: dict[str, Any] | None) -> None:
        job = self.job
        if state is None:
            for stale in Path(job.output).parent.glob(f"{Path(job.output).name}.assay-part-*"):
                stale.unlink()
            self.plan = plan(job.inputs, job.workers * PARTS_PER_WORKER)
            self.done: set[int] = set()
            self.summary = Summary()
        else:
            self.plan = [Partition.from_json(p) for p in state["plan"]]
            self.done = set(state["done"])
            self.summary = Summary.from_json(state["summary"])
        self.started = time.perf_counter() - self.summary.seconds
        self.todo = [p for p in self.plan if p.index not in self.done]
        self.meter = Meter(total=sum(p.size for p in self.plan))
        self.done_bytes = sum(p.size for p in self.plan if p.index in self.done)
        self.last_checkpoint = time.monotonic()
        if state is None:
            self.save()  # the plan, before any part is written

    def _stop_helpers(self) -> None:
        for helper in self.helpers:
            if helper.is_alive():
                helper.terminate()
            helper.join()
        # A helper stopped before reading its job and plan (the main process finished the
        # partitions first) leaves them in the queue's pipe; without this, the queue's
        # feeder thread waits at exit for a reader that is gone, and the process never ends.
        for inbox in self.inboxes:
            inbox.cancel_join_thread()
            inbox.close()

    def save(self) -> None:
        self.summary.seconds = time.perf_counter() - self.started
        self.checkpoint.write(
            {
                "plan": [p.to_json() for p in self.plan],
                "done": sorted(self.done),
                "summary": self.summary.to_json(),
            }
        )
        self.last_checkpoint = time.monotonic()

    def finished(self, partition: Partition, summary: Summary) -> None:
        self.done.add(partition.index)
        self.done_bytes += partition.size
        self.summary.merge(summary)
        if time.monotonic() - self.last_checkpoint >= CHECKPOINT_EVERY:
            self.save()

    def collect(self, wait: bool) -> None:
        """Take in the helpers' reports: those already sent, or (``wait``) the next one."""
        while True:
            try:
                index, summary, failure = self.reports.get(block=wait, timeout=0.5)
            except queue.Empty:
                dead = [h.exitcode for h in self.helpers if h.exitcode not in (None, 0)]
                if wait and dead:
                    raise RuntimeError(
                        f"a helper process died (exit code {dead[0]}); run again with "
                        "--resume to continue where it stopped"
                    ) from None
                return
            if failure is not None:
                raise RuntimeError(f"partition {index} failed in a helper process: {failure}")
            if index == _READY:
                self.ready += 1
            else:
                assert summary is not None
                partition = self.plan[index]  # partitions are numbered in plan order
                self.finished(partition, Summary.from_json(summary))
                self.screened_by_helpers += 1
            if wait:
                return

    def wait_ready(self) -> None:
        """Block until every helper has started (tests; runs never need to)."""
        while self.ready < len(self.helpers):
            self.collect(wait=True)

    def tick(self, outcomes: Sequence[Outcome], current: Summary, meter: Meter) -> None:
        """After each chunk screened here: take in reports, then show progress."""
        self.collect(wait=False)
        if self.observe is None:
            return
        progress = Summary(  # counts only: partitions done, and the one screening here
            records=self.summary.records + current.records,
            items=self.summary.items + current.items,
            seconds=time.perf_counter() - self.started,
        )
        self.meter.done = self.done_bytes + meter.done
        self.observe(outcomes, progress, self.meter)

    def screen(self) -> None:
        """Screen partitions here while any is left, then wait for the helpers'."""
        try:
            while (taken := _claim(self.counter, len(self.todo))) is not None:
                partition = self.todo[taken]
                part = _part_job(self.job, partition, self.job.resume)
                self.finished(partition, run_stream(part, self.tick, backend=self.local))
                self.screened_here += 1
            while len(self.done) < len(self.plan):
                self.collect(wait=True)
                self.tick((), Summary(), Meter())
        finally:
            self.local.close()
            self._stop_helpers()

    def join(self) -> None:
        """Join the parts into the outputs, then forget the run."""
        self.save()
        outputs = [self.job.output] + ([self.job.errors] if self.job.errors else [])
        for output in outputs:
            _join([part_path(output, p.index) for p in self.plan], output)
        self.checkpoint.remove()
        for output in outputs:
            for partition in self.plan:
                Path(part_path(output, partition.index)).unlink(missing_ok=True)


def run_partitioned(
    job: Job, observe: Observer | None = None, state: dict[str, Any] | None = None
) -> Summary:
    """Run ``job`` partitioned (see the module); ``state`` is an interrupted run's
    checkpoint, when resuming one."""
    run = PartitionedRun(job, observe, state)
    run.screen()
    run.join()
    run.summary.seconds = time.perf_counter() - run.started
    return run.summary
