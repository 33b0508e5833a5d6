"""The decision writer: a process of its own that commits the service's decisions.

Each service worker starts one (``python -m engine.store.writer``) and hands it every
decision over a socket; a request is answered once the writer reports its decision
committed, so a crash still loses only decisions that had not been answered. The writer
commits whatever has arrived since its last commit in one transaction: under load one
commit serves many requests.

Why a process. Committing on the event loop cost a SQLite commit per request (130-200 µs on
the benchmark machine: seven 4 KiB log frames, fifteen ``pwrite`` and six ``fcntl`` calls),
because a request runs from arrival to commit without yielding, so no other request ever
shared its transaction; the decision log took 25-30 % of the service's throughput. A writer
*thread* was measured too and lost: the thread needs the GIL between statements and waits up
to the 5 ms switch interval for a busy loop each time (peak unchanged, p50 at half peak
1.8 → 3.2 ms). A process has no GIL to share; the loop's part is one ``write`` and, per
commit, one ``read``, and it never waits on the disk or on PostgreSQL's round trips.

Measured (2 vCPUs, wrk on the same cores, peak req/s, interleaved runs): one worker
1,185-1,291 → 1,514-1,713; two workers 1,828-2,231 → 1,726-1,888. The writer's work moves to
a core the worker leaves idle; two workers on two cores leave none, and the hand-off then
costs a little more than it saves. Run fewer workers than cores.

Frames, both ways: a 4-byte little-endian length, then JSON. Service → writer: a list of
decision rows (:func:`engine.store.decisions.decision_row`). Writer → service:
``{"frames": n, "error": null | "reason"}`` — the next ``n`` frames are committed, or failed
with the reason.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from engine.store.decisions import DecisionLog, DecisionLogError

_LENGTH = struct.Struct("<I")
# How often the writer flushes SQLite's write-ahead log, and checkpoints it (see Checkpointer).
_TRICKLE_SECONDS = 0.1
_CHECKPOINT_SECONDS = 1.0
# A commit that starts within 2 ms of one that served several requests waits up to 1 ms for
# more decisions to share it (requests per commit with two workers at peak: 1.2-1.3 without,
# ~3 with); a lone client never waits.
_BUSY = 0.002
_GATHER = 0.001
_PR_SET_PDEATHSIG = 1


def frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


def frames(buffer: bytearray) -> list[bytes]:
    """Complete frames at the start of ``buffer``, removed from it."""
    found: list[bytes] = []
    start = 0
    while len(buffer) - start >= _LENGTH.size:
        (size,) = _LENGTH.unpack_from(buffer, start)
        end = start + _LENGTH.size + size
        if end > len(buffer):
            break
        found.append(bytes(buffer[start + _LENGTH.size : end]))
        start = end
    del buffer[:start]
    return found


class DecisionWriter:
    """In a service worker: sends decisions to the writer process, settles them on its reports.

    ``await writer.store(rows)`` returns once ``rows`` are committed; it raises
    :class:`DecisionLogError` if they could not be (the request must then not be answered).
    With ``address``, the worker connects to the writer that ``assay serve`` started for all
    its workers (:class:`SharedWriter`); without, or when that one cannot be reached, it
    starts a writer of its own. A writer that goes away fails the decisions in flight, and
    the next :meth:`store` connects (or starts one) again.
    """

    def __init__(self, url: str, address: str | None = None) -> None:
        self.url = url
        self.address = address
        self._process: subprocess.Popen[bytes] | None = None
        self._socket: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._out = bytearray()  # frames the socket would not take yet
        self._in = bytearray()
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self.commits = 0  # transactions the writer reported, for tests and curiosity
        self._start()

    def _start(self) -> None:
        self._loop = None
        self._out.clear()
        self._in.clear()
        if self.address is not None:
            shared = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                shared.connect(self.address)
            except OSError:
                shared.close()  # not running: this worker starts its own
            else:
                shared.setblocking(False)
                self._socket = shared
                return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "engine.store.writer",
                    "--fd",
                    str(theirs.fileno()),
                    self.url,
                ],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except OSError:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self._socket = ours

    def store(self, rows: Sequence[dict[str, Any]]) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        if not rows:
            done.set_result(None)
            return done
        if self._socket is None:
            try:
                self._start()
            except OSError as exc:
                done.set_exception(DecisionLogError(f"cannot start the decision writer: {exc}"))
                return done
        assert self._socket is not None
        if self._loop is not loop:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._socket.fileno())
            loop.add_reader(self._socket.fileno(), self._read)
            self._loop = loop
        self._waiting.append(done)
        self._out += frame(orjson.dumps(rows))
        self._write()
        return done

    def _write(self) -> None:
        if self._socket is None or self._loop is None:
            return
        try:
            sent = self._socket.send(self._out)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._lost(f"the decision writer stopped ({exc})")
            return
        del self._out[:sent]
        fd = self._socket.fileno()
        if self._out:
            self._loop.add_writer(fd, self._write)
        else:
            self._loop.remove_writer(fd)

    def _read(self) -> None:
        assert self._socket is not None
        try:
            data = self._socket.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            self._lost(f"the decision writer stopped ({exc})")
            return
        if not data:
            self._lost("the decision writer stopped")
            return
        self._in += data
        for report in frames(self._in):
            self.commits += 1
            settled = orjson.loads(report)
            error = settled["error"]
            for _ in range(settled["frames"]):
                done = self._waiting.popleft()
                if done.done():
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(DecisionLogError(error))

    def _lost(self, reason: str) -> None:
        """The writer is gone: fail what it had not settled; the next store reconnects."""
        code = self._disconnect(wait=1.0)
        if code is not None:
            reason = f"{reason} (exit code {code})"
        while self._waiting:
            done = self._waiting.popleft()
            if not done.done():
                done.set_exception(DecisionLogError(reason))

    def _disconnect(self, wait: float) -> int | None:
        if self._socket is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(self._socket.fileno())
                self._loop.remove_writer(self._socket.fileno())
            self._socket.close()
            self._socket = None
        code = None
        if self._process is not None:
            try:
                code = self._process.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                self._process.kill()
                code = self._process.wait()
            self._process = None
        return code

    @property
    def pid(self) -> int | None:
        """The writer process this worker started, if it started one."""
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        """Send what is left and disconnect; a writer of this worker's own commits it,
        checkpoints and exits (it reads end-of-file)."""
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.setblocking(True)
                self._socket.sendall(self._out)
                self._socket.shutdown(socket.SHUT_WR)
        self._disconnect(wait=30.0)


class SharedWriter:
    """The one writer of an ``assay serve`` and all its workers, listening on a Unix socket.

    One writer rather than one per worker: two writing connections to one SQLite file
    take turns, and each turn starts by reading back the pages the other changed; one
    connection keeps them cached and commits both workers' decisions together.
    """

    def __init__(self, url: str) -> None:
        self._directory = Path(tempfile.mkdtemp(prefix="assay-"))
        self.address = str(self._directory / "writer.sock")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "engine.store.writer", "--listen", self.address, url],
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while not Path(self.address).exists():  # listening once the socket file exists
            if self._process.poll() is not None:
                raise DecisionLogError(
                    f"the decision writer exited at start (code {self._process.returncode})"
                )
            if time.monotonic() > deadline:
                self.close()
                raise DecisionLogError("the decision writer did not start within 60 s")
            time.sleep(0.02)

    def close(self) -> None:
        """Stop the writer (SIGTERM: it finishes its commit, checkpoints and exits)."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._directory, ignore_errors=True)


class Checkpointer:
    """SQLite: copies the write-ahead log into the database every second (PASSIVE: writers
    go on) and ``fdatasync``s the log every 100 ms, on a thread and a connection of its own.

    The writing connection syncs nothing (:meth:`DecisionLog.hand_off_syncs`): a checkpoint's
    or a log restart's fsync took 30-100 ms on the benchmark machine and, inside a commit,
    held every request waiting for it. Flushing the log often keeps each flush small; it only
    makes commits durable sooner. A power cut can lose the last ~100 ms of answered
    decisions, not corrupt the file; a process crash loses none.
    """

    def __init__(self, log: DecisionLog) -> None:
        self.log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="assay-wal", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(_TRICKLE_SECONDS):
            self.log.sync_wal()
            if time.monotonic() - last >= _CHECKPOINT_SECONDS:
                last = time.monotonic()
                self.log.checkpoint()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.log.sync_wal()
        self.log.checkpoint()  # with syncs: the writer, which has none, closes without one


def _decode(payload: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = orjson.loads(payload)
    for row in rows:
        row["created_at"] = datetime.fromisoformat(row["created_at"])
    return rows


def serve(url: str, listener: socket.socket | None, first: socket.socket | None) -> None:
    """The writer process: commit what arrives from every connection, report to each.

    A private writer (``first``, no listener) stops when its worker closes the connection;
    a shared one (``listener``) serves workers as they connect, until SIGTERM.
    """
    log = DecisionLog(url)
    checkpointer = None
    if log.is_sqlite:
        log.hand_off_syncs()
        checkpointer = Checkpointer(log)
    inbox = _Inbox(listener)
    if first is not None:
        inbox.add(first)
    last, shared = 0.0, 0
    try:
        while inbox.pending or listener is not None:
            # Busy (the last commit, moments ago, served several requests): wait a little for
            # more decisions, so that one commit serves several again; otherwise commit at once.
            busy = shared > 1 and time.monotonic() - last < _BUSY
            ended = inbox.receive(_GATHER if busy else 0.0)
            batches = [(connection, frames(buffer)) for connection, buffer in inbox.pending.items()]
            batches = [(connection, batch) for connection, batch in batches if batch]
            if batches:
                payloads = [payload for _, batch in batches for payload in batch]
                error = _commit(log, payloads)
                shared = len(payloads)
                for connection, batch in batches:
                    report = frame(orjson.dumps({"frames": len(batch), "error": error}))
                    with contextlib.suppress(OSError):  # a worker that left misses its report
                        connection.setblocking(True)
                        connection.sendall(report)
                        connection.setblocking(False)
                last = time.monotonic()
            for connection in ended:
                inbox.remove(connection)
    finally:
        if checkpointer is not None:
            checkpointer.close()
        log.close()


class _Inbox:
    """The writer's connections and what each has sent that is not yet committed."""

    def __init__(self, listener: socket.socket | None) -> None:
        self.listener = listener
        self.selector = selectors.DefaultSelector()
        self.pending: dict[socket.socket, bytearray] = {}
        if listener is not None:
            listener.setblocking(False)
            self.selector.register(listener, selectors.EVENT_READ)

    def add(self, connection: socket.socket) -> None:
        connection.setblocking(False)
        self.selector.register(connection, selectors.EVENT_READ)
        self.pending[connection] = bytearray()

    def remove(self, connection: socket.socket) -> None:
        self.selector.unregister(connection)
        del self.pending[connection]
        connection.close()

    def receive(self, gather: float) -> list[socket.socket]:
        """Wait for data, then read for ``gather`` seconds more; the connections that closed."""
        until = time.monotonic() + gather
        ended: list[socket.socket] = []
        ready = [key.fileobj for key, _ in self.selector.select()]
        while ready:
            for source in ready:
                if source is self.listener:
                    self.add(self.listener.accept()[0])
                elif (
                    isinstance(source, socket.socket)
                    and source not in ended
                    and not _drain(source, self.pending[source])
                ):
                    ended.append(source)
            left = until - time.monotonic()
            if left <= 0:
                break
            ready = [key.fileobj for key, _ in self.selector.select(left)]
        return ended


def _drain(connection: socket.socket, buffer: bytearray) -> bool:
    """Read what ``connection`` has sent into ``buffer``; False once it has closed."""
    while True:
        try:
            data = connection.recv(1 << 20)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        buffer += data


def _commit(log: DecisionLog, payloads: list[bytes]) -> str | None:
    """Store every row of ``payloads`` in one transaction; the reason it failed, if it did."""
    try:
        log.append([row for payload in payloads for row in _decode(payload)])
    except DecisionLogError as exc:
        return str(exc)
    except (ValueError, KeyError, TypeError) as exc:  # not decision rows: a bug, say so
        return f"the decision writer received a malformed frame: {exc}"
    return None


def _stop(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str]) -> int:
    """``--fd FD URL`` (a worker's own writer) or ``--listen PATH URL`` (``assay serve``'s)."""
    mode, where, url = argv
    if mode == "--fd":
        connection = socket.socket(fileno=int(where))
        try:
            serve(url, None, connection)
        except (BrokenPipeError, ConnectionResetError):  # the worker went away first
            return 0
        return 0
    signal.signal(signal.SIGTERM, _stop)
    _die_with_parent()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(f"{where}.new")
    listener.listen(64)
    Path(f"{where}.new").replace(where)  # the path appears once it accepts connections
    try:
        serve(url, listener, None)
    finally:
        listener.close()
    return 0


def _die_with_parent() -> None:
    """Linux: the kernel stops the shared writer when ``assay serve`` dies, even by SIGKILL."""
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        raise SystemExit(0)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
