"""Reading inputs as a stream of records, whatever their size.

Formats, by file name (``.gz`` is looked through; stdin is sniffed):

* ``.jsonl``/``.ndjson``: one manifest per line;
* ``.json``: one manifest, or an array of them — arrays are split element by element while
  reading, never loaded whole;
* ``.csv``: one row per goods item (:mod:`engine.batch.columns`);
* ``.parquet``/``.pq``: the same flat layout, read in row batches.

Gzip is recognised by its magic bytes, not only by the name. Memory use does not grow with
the input: records are produced as they are read.

Before a run reads a record, :func:`expand` and :func:`check_input` find the inputs it
cannot read at all — missing, a folder, unreadable, binary data, not UTF-8, a CSV or
Parquet file with unknown columns — and say so in one line naming the file.
"""

from __future__ import annotations

import codecs
import csv
import glob
import gzip
import io
import re
import stat
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from assay.engine.batch.columns import group_rows, unknown_columns
from assay.engine.batch.records import Record

Format = Literal["jsonl", "json", "csv", "parquet"]
_CHUNK = 1 << 20
_HEAD = 1 << 16  # what is read of each input to check it before the run, and to sniff it
_GZIP = b"\x1f\x8b"
_PARQUET = b"PAR1"
_NAMES: dict[Format, str] = {
    "jsonl": "JSON Lines",
    "json": "JSON",
    "csv": "CSV",
    "parquet": "Parquet",
}


class InputError(ValueError):
    """An input that cannot be read at all (missing file, unknown columns): a usage error.
    The message is one line that names the input."""


@dataclass
class Meter:
    """How far the run has read, in bytes of the input files as stored (for progress)."""

    total: int | None = 0
    done: int = 0
    _finished: int = field(default=0, repr=False)

    def file_done(self, size: int) -> None:
        self._finished += size
        self.done = self._finished


def os_problem(exc: OSError) -> str:
    """What an ``OSError`` says, without its errno and path: 'permission denied'."""
    return (exc.strerror or type(exc).__name__).lower()


def expand(patterns: Sequence[str]) -> list[str]:
    """Input paths: globs expanded in sorted order (the folders they match left out);
    ``-`` is stdin. A pattern matching no file, a missing file and a folder are errors, so a
    typo does not silently screen nothing."""
    paths: list[str] = []
    for pattern in patterns:
        if pattern == "-":
            paths.append("-")
            continue
        if any(ch in pattern for ch in "*?["):
            found = sorted(glob.glob(pattern, recursive=True))  # noqa: PTH207 - absolute patterns
            files = [path for path in found if not Path(path).is_dir()]
            if not files:
                what = "only folders" if found else "nothing"
                raise InputError(
                    f"{pattern}: no input file matches this pattern (it matches {what})"
                )
            paths += files
            continue
        try:
            info = Path(pattern).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise InputError(f"{pattern}: no such file") from None
        except OSError as exc:
            raise InputError(f"{pattern}: cannot be read: {os_problem(exc)}") from None
        if stat.S_ISDIR(info.st_mode):
            raise InputError(
                f"{pattern}: is a folder, not a file; to screen the files in it, give a "
                f"pattern such as '{Path(pattern) / '*.jsonl'}'"
            )
        paths.append(pattern)
    return paths


def check_input(path: str, forced: Format | None = None) -> None:
    """Raise :class:`InputError` if ``path`` cannot be screened at all: unreadable, binary
    data, not UTF-8 text, not the Parquet file its name says, unknown columns. Reads the
    first 64 KiB (and a Parquet file's footer); nothing of stdin or a pipe, whose data
    would be gone. Every record can still be bad: that gives error records, not this."""
    if path == "-":
        return
    try:
        info = Path(path).stat()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {os_problem(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise InputError(f"{path}: is a folder, not a file")
    if not stat.S_ISREG(info.st_mode):
        return  # a pipe or a device: read once, as it comes
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(_HEAD + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read: {os_problem(exc)}") from None
    whole = len(head) <= _HEAD  # the head is the whole file
    gzipped = head[:2] == _GZIP
    if gzipped:
        unpack = zlib.decompressobj(wbits=31)
        try:
            head = unpack.decompress(head, _HEAD)
        except zlib.error as exc:
            raise InputError(f"{path}: starts as gzip but is not valid gzip data ({exc})") from None
        whole = whole and unpack.eof
    else:
        head = head[:_HEAD]
    named = forced or format_of(path)
    seen = sniff(head)
    fmt = named or seen
    hint = "" if forced else "; use --input-format if it is one of them"
    told = "as --input-format says" if forced else "as its name says"
    if seen == "parquet" and fmt != "parquet" and fmt is not None:
        fix = "" if forced else "; use --input-format parquet"
        raise InputError(f"{path}: a Parquet file, not {_NAMES[fmt]} {told}{fix}")
    if fmt is None or (seen is None and fmt != "parquet"):  # Parquet: said below, precisely
        what = f", not {_NAMES[fmt]} {told}" if fmt is not None else ""
        raise InputError(
            f"{path}: not JSON Lines, JSON, CSV or Parquet (it holds binary data{what}){hint}"
        )
    if fmt == "parquet":
        _check_parquet(path, head, gzipped, hint)
        return
    problem = _utf8_problem(head, complete=whole)
    if problem is not None:
        raise InputError(
            f"{path}: not UTF-8 text ({problem}); Assay reads UTF-8: convert the file first, "
            "e.g. with iconv -f LATIN1 -t UTF-8"
        )
    if fmt == "csv":
        text = head.decode("utf-8-sig", errors="ignore")
        if "\n" in text or whole:  # the whole header is in the head
            header = next(csv.reader(io.StringIO(text)), [])
            _check_columns(path, header)


def _check_parquet(path: str, head: bytes, gzipped: bool, hint: str) -> None:
    if gzipped:
        raise InputError(
            f"{path}: a gzipped Parquet file; Parquet compresses its own data, so gunzip it first"
        )
    if not head.startswith(_PARQUET):
        raise InputError(f"{path}: not a Parquet file (it does not start with PAR1){hint}")
    import pyarrow.parquet as pq  # noqa: PLC0415 - loading pyarrow costs every run 0.3 s

    try:
        names = pq.read_schema(path).names
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise InputError(f"{path}: not a readable Parquet file ({exc})") from None
    _check_columns(path, names)


def _check_columns(name: str, header: Sequence[str]) -> None:
    unknown = unknown_columns(header)
    if unknown:
        raise InputError(
            f"{name}: unknown column(s) {', '.join(unknown)}; the columns are listed in the "
            "README (flat layout: one row per goods item)"
        )


def _utf8_problem(data: bytes, *, complete: bool) -> str | None:
    """Where ``data`` stops being UTF-8, or None. ``complete``: the data is whole (else a
    character cut at its end is not a problem)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=complete)
    except UnicodeDecodeError as exc:
        return f"byte 0x{data[exc.start]:02x} at offset {exc.start}"
    return None


def format_of(path: str) -> Format | None:
    name = path.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    if name.endswith(".json"):
        return "json"
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return None


class _Counted(io.RawIOBase):
    """A raw stream that tells the meter how many stored bytes have been read."""

    def __init__(self, raw: IO[bytes], meter: Meter | None, base: int) -> None:
        self._raw = raw
        self._meter = meter
        self._base = base
        self._count = 0

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        if self._raw is not sys.stdin.buffer:
            self._raw.close()
        super().close()

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._count += n
        if self._meter is not None:
            self._meter.done = self._base + self._count
        return n


def _open(path: str, meter: Meter | None) -> tuple[IO[bytes], IO[bytes]]:
    """A binary stream on ``path``, decompressed if gzip; and the file stream underneath
    (both are closed by the caller: a GzipFile does not close the stream it reads)."""
    if path == "-":
        raw: IO[bytes] = sys.stdin.buffer
    else:
        raw = Path(path).open("rb")  # noqa: SIM115 - closed by the caller
    base = meter.done if meter is not None else 0
    buffered = io.BufferedReader(_Counted(raw, meter, base), buffer_size=_CHUNK)
    if buffered.peek(2)[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=buffered), buffered  # type: ignore[return-value]
    return buffered, buffered


def read_inputs(
    paths: Sequence[str],
    forced: Format | None = None,
    meter: Meter | None = None,
    names: Sequence[str] | None = None,
) -> Iterator[Record]:
    """Records from every input in turn, numbered across the run. ``names`` are what
    records and errors call the inputs, and what their format is told by (default: their
    paths), one per path."""
    if names is not None and len(names) != len(paths):
        raise ValueError("one name per path")
    if meter is not None:
        sizes = [Path(p).stat().st_size if p != "-" else None for p in paths]
        meter.total = None if None in sizes else sum(s for s in sizes if s is not None)
    position = 0
    for index, path in enumerate(paths):
        name = names[index] if names is not None else path
        fmt = forced or format_of(name)
        stream, underlying = _open(path, meter)
        try:
            if fmt is None:
                fmt = _sniff(stream, name)
            if fmt == "jsonl":
                records = _jsonl(stream, name)
            elif fmt == "json":
                records = _json(stream, name)
            elif fmt == "csv":
                records = _csv(stream, name)
            else:
                records = _parquet(path, name)
            for record in records:
                position += 1
                yield Record(
                    position, record.data, record.decode_error, record.file, record.line, record.raw
                )
        finally:
            stream.close()
            underlying.close()
            if meter is not None and path != "-":
                meter.file_done(Path(path).stat().st_size)


def _sniff(stream: IO[bytes], name: str) -> Format:
    peek = getattr(stream, "peek", None)
    fmt = sniff((peek(_HEAD) if peek is not None else b"")[:_HEAD])
    if fmt is None:
        raise InputError(
            f"{name}: not JSON Lines, JSON, CSV or Parquet (it holds binary data); use "
            "--input-format if it is one of them"
        )
    return fmt


def sniff(head: bytes) -> Format | None:
    """Parquet, a JSON array, one JSON document, JSON Lines or CSV, from the first bytes;
    None for other binary data (a NUL byte)."""
    if head.startswith(_PARQUET):
        return "parquet"
    if b"\0" in head:
        return None
    text = head.lstrip()
    if text.startswith(b"["):
        return "json"
    if text.startswith(b"{"):
        first_line = text.split(b"\n", 1)[0]
        try:
            orjson.loads(first_line)
        except orjson.JSONDecodeError:
            return "json"  # a pretty-printed document
        return "jsonl"
    return "csv"


def _jsonl(stream: IO[bytes], name: str) -> Iterator[Record]:
    for number, line in enumerate(stream, start=1):
        if line.strip():
            yield Record(0, file=name, line=number, raw=line.rstrip(b"\r\n"))


_SPECIAL = re.compile(rb'["\\\[\]{},]')


def _json(stream: IO[bytes], name: str) -> Iterator[Record]:
    """One JSON document, or the elements of a top-level array, split while reading."""
    first = b""
    while not first.strip():
        chunk = stream.read(_CHUNK)
        if not chunk:
            return
        first += chunk
    start = len(first) - len(first.lstrip())
    if first[start : start + 1] != b"[":
        rest = stream.read()
        yield Record(0, file=name, line=1, raw=first + rest)
        return
    yield from _array_elements(first[start + 1 :], stream, name)


_QUOTE, _BACKSLASH, _COMMA = ord('"'), ord("\\"), ord(",")
_OPEN, _CLOSE = frozenset(b"{["), frozenset(b"}]")


def _array_elements(pending: bytes, stream: IO[bytes], name: str) -> Iterator[Record]:
    """Split a top-level JSON array into its elements' bytes, chunk by chunk. Only the
    structure is tracked (strings, escapes, nesting); each element is parsed later."""
    depth = 0
    in_string = False
    element = bytearray()
    index = 0
    buffer = pending
    skip = -1  # a byte escaped by a backslash: its special meaning does not count
    while True:
        cursor = 0
        for match in _SPECIAL.finditer(buffer):
            at = match.start()
            if at == skip:
                continue
            char = buffer[at]
            if in_string:
                if char == _BACKSLASH:
                    skip = at + 1
                elif char == _QUOTE:
                    in_string = False
                continue
            if char == _QUOTE:
                in_string = True
            elif char in _OPEN:
                depth += 1
            elif char in _CLOSE:
                if depth == 0:  # the array's own closing bracket
                    element += buffer[cursor:at]
                    if element.strip():
                        index += 1
                        yield Record(0, file=name, line=index, raw=bytes(element).strip())
                    return
                depth -= 1
            elif char == _COMMA and depth == 0:
                element += buffer[cursor:at]
                index += 1
                yield Record(0, file=name, line=index, raw=bytes(element).strip())
                element = bytearray()
                cursor = at + 1
        element += buffer[cursor:]
        skip = 0 if skip == len(buffer) else -1  # an escape split across two chunks
        buffer = stream.read(_CHUNK)
        if not buffer:
            if element.strip():
                index += 1
                yield Record(0, file=name, line=index, decode_error="the JSON array is not closed")
            return


def _csv(stream: IO[bytes], name: str) -> Iterator[Record]:
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        # A file that stops being text past the part checked before the run stops it here.
        try:
            _check_columns(name, reader.fieldnames or [])
            for row in reader:
                yield reader.line_num, row
        except UnicodeDecodeError as exc:
            raise InputError(
                f"{name}: not UTF-8 text after line {reader.line_num} ({exc.reason}); Assay "
                "reads UTF-8: convert the file first, e.g. with iconv -f LATIN1 -t UTF-8"
            ) from None
        except csv.Error as exc:
            raise InputError(f"{name}: line {reader.line_num}: not CSV: {exc}") from None

    for line, manifest, problem in group_rows(rows()):
        if problem is not None:
            yield Record(0, data=manifest, file=name, line=line, decode_error=problem)
        else:
            yield Record(0, data=manifest, file=name, line=line)


def _parquet(path: str, name: str) -> Iterator[Record]:
    import pyarrow.parquet as pq  # noqa: PLC0415 - loading pyarrow costs every run 0.3 s

    if path == "-":
        raise InputError("Parquet cannot be read from stdin; give a file")
    parquet = pq.ParquetFile(path)
    _check_columns(name, parquet.schema_arrow.names)

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        number = 0
        for batch in parquet.iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                number += 1
                yield number, row

    for line, manifest, problem in group_rows(rows()):
        yield Record(0, data=manifest, file=name, line=line, decode_error=problem)
