"""A batch run: one stream of records (:mod:`engine.batch.stream`), or partitions that every
process reads and writes on its own (:mod:`engine.batch.parallel`) when the inputs allow.

Both give the same output bytes; which one ran shows only in the speed.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from assay.engine.batch.outcomes import Outcome, Summary
from assay.engine.batch.parallel import eligible, run_partitioned
from assay.engine.batch.readers import InputError
from assay.engine.batch.stream import Checkpoint, Job, JobError, Observer, run_stream

if TYPE_CHECKING:
    from assay.engine.store.decisions import DecisionLog


def run(job: Job, observe: Observer | None = None, log: DecisionLog | None = None) -> Summary:
    """Run ``job``; every input record gives one output record. Raises :class:`JobError` or
    :class:`engine.batch.readers.InputError` for usage errors."""
    if job.resume and job.output == "-":
        raise JobError("--resume needs an output file, not stdout")
    if job.resume and "-" in job.inputs:
        raise JobError("--resume needs input files: stdin cannot be read again")
    job = Job(**{**job.__dict__, "today": job.today or date.today()})
    state = Checkpoint(job).read() if job.resume else None
    if state is not None and "plan" in state:  # an interrupted partitioned run
        if log is not None:
            raise JobError(
                "this run was partitioned and logged no decisions; resume it without --log"
            )
        return run_partitioned(job, observe, state)
    if state is None and eligible(job, log):
        return run_partitioned(job, observe)
    return run_stream(job, observe, log)


__all__ = ["InputError", "Job", "JobError", "Outcome", "run"]
