"""Writing outcomes: JSON Lines (default), CSV or Parquet (one row per flag).

Every sink writes outcomes in the order it receives them (input order) and can say how many
bytes it has made durable, which is what ``--resume`` records. The main output holds one
record per input record, error records included, each with its input position (and file and
line), so that output and input line up; ``--errors FILE`` writes a copy of the error records
as JSON Lines.

Before a run reads a record, :func:`check_outputs` finds the outputs it could not write —
a folder, a folder that does not exist or cannot be written in, an input, the same file
twice — so that a run never screens for an hour to fail at its end.
"""

from __future__ import annotations

import csv
import io
import os
import stat
import sys
from collections.abc import Mapping, Sequence
from glob import escape as glob_escape
from pathlib import Path
from typing import IO, Any, Literal, Protocol

import orjson

from assay.engine.batch.outcomes import Outcome
from assay.engine.batch.readers import os_problem

OutputFormat = Literal["jsonl", "csv", "parquet"]


class OutputError(ValueError):
    """An output that cannot be written where it was asked for: a usage error. The message
    is one line that names the option and the path."""


def check_outputs(outputs: Mapping[str, str | None], inputs: Sequence[str]) -> None:
    """Raise :class:`OutputError` for the first of ``outputs`` (option -> path, ``-`` for
    stdout; None: not asked for) that the run could not write, or that is an input or
    another of the outputs. Creates nothing."""
    inputs_seen = set()
    for source in inputs:
        if source != "-":
            info = Path(source).stat()
            inputs_seen.add((info.st_dev, info.st_ino))
    taken: dict[str, str] = {}  # resolved path ("-": stdout) -> option
    for option, path in outputs.items():
        if path is None:
            continue
        resolved = "-"
        if path != "-":
            _check_output(option, path)
            target = Path(path)
            if target.exists():
                info = target.stat()
                if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) in inputs_seen:
                    raise OutputError(
                        f"{option} {path}: is also an input; it would be overwritten before "
                        "it is read: give the output another name"
                    )
            if _is_device(target):
                continue  # /dev/null can take several outputs
            resolved = str(target.resolve())
        if resolved in taken:
            raise OutputError(
                f"{option} {path}: is also the {taken[resolved]} file; give each its own file"
            )
        taken[resolved] = option


def _is_device(path: Path) -> bool:
    """A character device or a pipe (``/dev/null``): written as a stream, never created."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


_EXAMPLES = {"--errors": "errors.jsonl", "--report": "report.html"}


def _check_output(option: str, path: str) -> None:
    target = Path(path)
    try:
        info: os.stat_result | None = target.stat()
    except (FileNotFoundError, NotADirectoryError):
        info = None  # the folder is looked at next
    except OSError as exc:
        raise OutputError(f"{option} {path}: {os_problem(exc)}") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            example = _EXAMPLES.get(option, "results.jsonl")
            raise OutputError(
                f"{option} {path}: is a folder; give a file name, such as '{target / example}'"
            )
        if not stat.S_ISREG(info.st_mode):
            return  # /dev/null, a pipe: written as a stream
        if not os.access(target, os.W_OK):
            raise OutputError(f"{option} {path}: cannot be written: permission denied")
    folder = target.parent
    try:
        folder_info = folder.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise OutputError(
            f"{option} {path}: the folder {folder} does not exist; create it first"
        ) from None
    except OSError as exc:
        raise OutputError(f"{option} {path}: {folder}: {os_problem(exc)}") from None
    if not stat.S_ISDIR(folder_info.st_mode):
        raise OutputError(f"{option} {path}: {folder} is a file, not a folder")
    # The run also writes beside the output (its checkpoint, parts and segments).
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError(
            f"{option} {path}: cannot write in the folder {folder}: permission denied"
        )


FLAG_COLUMNS: tuple[str, ...] = (
    "position",
    "file",
    "line",
    "manifest_id",
    "channel",
    "risk_score",
    "ruleset_version",
    "rule_id",
    "title",
    "pattern",
    "severity",
    "score",
    "role",
    "item_line",
    "explanation",
    "error",
)


def output_format(path: str, forced: OutputFormat | None = None) -> OutputFormat:
    if forced is not None:
        return forced
    name = path.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return "jsonl"


def flag_rows(outcome: Outcome) -> list[dict[str, Any]]:
    """An outcome as rows of the flat layout: one per flag; one row when it has none."""
    document = orjson.loads(outcome.json)
    if outcome.error:
        error = document["error"]
        return [
            {
                "position": error["position"],
                "file": error.get("file"),
                "line": error.get("line"),
                "manifest_id": error.get("manifest_id"),
                "error": error["reason"],
            }
        ]
    base = {
        "position": outcome.position,
        "file": outcome.file,
        "line": outcome.line,
        "manifest_id": document["manifest_id"],
        "channel": document["channel"],
        "risk_score": document["risk_score"],
        "ruleset_version": document["ruleset"]["version"],
    }
    if not document["flags"]:
        return [base]
    return [
        {
            **base,
            "rule_id": flag["rule_id"],
            "title": flag["title"],
            "pattern": flag["pattern"],
            "severity": flag["severity"],
            "score": flag["score"],
            "role": flag.get("role", "finding"),
            "item_line": flag["item_line"],
            "explanation": flag["explanation"],
        }
        for flag in document["flags"]
    ]


class Sink(Protocol):
    def write(self, outcomes: Sequence[Outcome]) -> None: ...

    def sync(self) -> int:
        """Flush to disk; how much is now durable (bytes; Parquet: complete segments)."""
        ...

    def abandon(self) -> None:
        """Stop without finishing (the run failed): what ``--resume`` needs stays."""
        ...

    def close(self) -> None: ...


class JsonLinesSink:
    """One line per outcome. A result starts with where its record was, as an error record
    says inside ``error``: ``{"position": 7, "file": "in.jsonl", "line": 9, "manifest_id":
    ...}``. (The outcome's own JSON stays the bare result: the decision log and the report
    keep that.)"""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self._files: dict[str | None, bytes] = {}  # file name -> its JSON, made once per file

    def write(self, outcomes: Sequence[Outcome]) -> None:
        files = self._files
        lines: list[bytes] = []
        for o in outcomes:
            if o.error:
                lines.append(o.json + b"\n")
                continue
            file = files.get(o.file)
            if file is None:
                file = files[o.file] = orjson.dumps(o.file)
            line = b"null" if o.line is None else b"%d" % o.line
            # o.json is a JSON object: "{" and the result's fields, which follow ours.
            lines.append(
                b'{"position":%d,"file":%b,"line":%b,%b\n' % (o.position, file, line, o.json[1:])
            )
        self._handle.write(b"".join(lines))

    def sync(self) -> int:
        return _sync(self._handle)

    def abandon(self) -> None:
        _close(self._handle)

    def close(self) -> None:
        _close(self._handle)


class ErrorSink:
    """``--errors FILE``: a copy of the error records, as JSON Lines (the main output has
    them too, in their places)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def write(self, outcomes: Sequence[Outcome]) -> None:
        self._handle.write(b"".join(o.json + b"\n" for o in outcomes if o.error))

    def sync(self) -> int:
        return _sync(self._handle)

    def abandon(self) -> None:
        _close(self._handle)

    def close(self) -> None:
        _close(self._handle)


class CsvSink:
    def __init__(self, handle: IO[bytes], *, header: bool) -> None:
        self._handle = handle
        self._text = io.StringIO()
        self._writer = csv.DictWriter(self._text, FLAG_COLUMNS, lineterminator="\n")
        if header:
            self._writer.writeheader()
            self._drain()

    def _drain(self) -> None:
        self._handle.write(self._text.getvalue().encode())
        self._text.seek(0)
        self._text.truncate()

    def write(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            self._writer.writerows(flag_rows(outcome))
        self._drain()

    def sync(self) -> int:
        return _sync(self._handle)

    def abandon(self) -> None:
        _close(self._handle)

    def close(self) -> None:
        _close(self._handle)


class ParquetSink:
    """Row groups of the flat per-flag layout, written every 50,000 rows and at checkpoints.

    A Parquet file is readable only once its footer is written, so a killed run cannot be
    continued inside one. The rows go to *segments* instead, each a complete Parquet file
    (``OUT.assay-segment-00000``...) closed and synced at every checkpoint (:meth:`sync`
    returns how many are complete); a resumed run (``keep``) deletes the segment the
    interruption left open and goes on with the next. :meth:`close` joins the segments,
    row group by row group, into ``OUT`` and deletes them; :meth:`abandon` leaves them for
    ``--resume``.
    """

    def __init__(self, path: Path, *, keep: int | None = None) -> None:
        import pyarrow as pa  # noqa: PLC0415 - only Parquet output pays for loading pyarrow
        import pyarrow.parquet as pq  # noqa: PLC0415

        self._pa = pa
        self._pq = pq
        self._path = path
        self._schema = pa.schema(
            [
                ("position", pa.int64()),
                ("file", pa.string()),
                ("line", pa.int64()),
                ("manifest_id", pa.string()),
                ("channel", pa.string()),
                ("risk_score", pa.int64()),
                ("ruleset_version", pa.string()),
                ("rule_id", pa.string()),
                ("title", pa.string()),
                ("pattern", pa.string()),
                ("severity", pa.string()),
                ("score", pa.int64()),
                ("role", pa.string()),
                ("item_line", pa.int64()),
                ("explanation", pa.string()),
                ("error", pa.string()),
            ]
        )
        self._rows: list[dict[str, Any]] = []
        self._complete = keep or 0
        self._writer: Any = None  # the open segment's
        for stale in path.parent.glob(f"{glob_escape(path.name)}.assay-segment-*"):
            if int(stale.name.rsplit("-", 1)[1]) >= self._complete:
                stale.unlink()

    def _segment(self, index: int) -> Path:
        return self._path.with_name(f"{self._path.name}.assay-segment-{index:05d}")

    def write(self, outcomes: Sequence[Outcome]) -> None:
        for outcome in outcomes:
            self._rows += flag_rows(outcome)
        if len(self._rows) >= 50_000:
            self._flush_rows()

    def _flush_rows(self) -> None:
        if self._rows:
            if self._writer is None:
                self._writer = self._pq.ParquetWriter(
                    str(self._segment(self._complete)), self._schema
                )
            table = self._pa.Table.from_pylist(self._rows, schema=self._schema)
            self._writer.write_table(table)
            self._rows = []

    def sync(self) -> int:
        """Close the open segment, synced; the number of complete segments."""
        self._flush_rows()
        if self._writer is not None:
            self._writer.close()
            with self._segment(self._complete).open("rb") as segment:
                os.fsync(segment.fileno())
            self._writer = None
            self._complete += 1
        return self._complete

    def abandon(self) -> None:
        if self._writer is not None:
            self._writer.close()  # a later --resume deletes it: it is past the checkpoint
            self._writer = None

    def close(self) -> None:
        self.sync()
        segments = [self._segment(index) for index in range(self._complete)]
        with self._pq.ParquetWriter(str(self._path), self._schema) as output:
            for segment in segments:
                parts = self._pq.ParquetFile(str(segment))
                for group in range(parts.num_row_groups):
                    output.write_table(parts.read_row_group(group))
                parts.close()
        for segment in segments:
            segment.unlink()


def _sync(handle: IO[bytes]) -> int:
    handle.flush()
    if handle.isatty():
        return 0
    try:
        os.fsync(handle.fileno())
    except (OSError, io.UnsupportedOperation):
        return 0
    return handle.tell() if handle.seekable() else 0


def _close(handle: IO[bytes]) -> None:
    handle.flush()
    if handle is not sys.stdout.buffer:
        handle.close()
