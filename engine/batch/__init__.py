"""Batch screening: records in from files of any size, one output record per input record."""

from assay.engine.batch.records import (
    Record,
    manifest_or_error,
    record_error,
    screen_record,
    screen_records,
    split_records,
    to_json_line,
    validation_errors,
)

__all__ = [
    "Record",
    "manifest_or_error",
    "record_error",
    "screen_record",
    "screen_records",
    "split_records",
    "to_json_line",
    "validation_errors",
]
