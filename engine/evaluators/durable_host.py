"""The durable_rules host process: where the rete evaluator's rulesets live and run.

Why a process of its own: compiling a ruleset leaks its pattern automata inside
durable_rules' C core (``compileRegex`` never frees the NFA/DFA graph it builds, about
64 KB a state; ``delete_ruleset`` frees the ruleset's pools but not that), so a process
that keeps compiling new versions grows without bound: measured ~1.7 MB per version of the
shipped pack (2 pattern tests) activated and screened with in turn, 0.29 MB in a bare
create/delete loop, and ~1.4 MB through ``durable.engine.Host``, whether the rulesets are
deleted or not, and whether ``Host`` objects are re-created or not (they all share the one
C heap). Only ending the process gives that memory back. So the rulesets
live in a child process that :class:`assay.engine.evaluators.rete.ReteHost` replaces with a
fresh one after a bounded number of versions, once no screening uses the old one.

A second gain: a crash in durable_rules (several are known, see docs/durable_rules.md)
ends the host process, not the service's worker; the worker starts another one.

This file is both sides of the protocol. Run as a program (``python -P durable_host.py``)
it is the host: it imports only the standard library, orjson and durable_rules' C module,
reads requests on its standard input and answers on its standard output, one at a time, and
exits when its input closes (its parent closed it, or died). Imported, it gives the parent
:class:`HostProcess`, which starts one and talks to it.

Messages are length-prefixed (4 bytes, little-endian) JSON arrays:

* ``["ping"]`` -> ``["ok", pid]``
* ``["create", name, definition]`` -> ``["ok", handle]``
* ``["delete", handle]`` -> ``["ok"]``
* ``["screen", handle, sid, [fact, ...]]`` -> ``["ok", [[rule, line], ...], failure]``:
  the manifest fact first, then the items; every action drained and the session deleted
  (the wrapper's rules for durable_rules' traps, in :mod:`assay.engine.evaluators.rete`).
  ``rule`` is the rule's index, ``line`` the item's line or -1 for the manifest; ``failure``
  is null, or ``[fact index, durable_rules' message]`` for the fact it refused (index 0:
  nothing was stored).

and ``["error", message]`` for any request durable_rules refused. The parent reads
answers as data only (never unpickles): the host runs a C library on manifests from outside.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import struct
import subprocess
import sys
import time
import weakref
from pathlib import Path
from typing import Any

import durable_rules_engine as dre
import orjson

_LENGTH = struct.Struct("<I")
_PROGRAM = str(Path(__file__).resolve())
# How long one request may take before the host is presumed stuck and stopped: far above
# any real one (a 10,000-item manifest, a 500-rule pack's compile), only there so that a
# hang cannot hold the rete evaluator for ever.
CALL_TIMEOUT = 120.0


# ------------------------------------------------------------------------ the host side


def _screen(handle: int, sid: str, facts: list[str]) -> list[Any]:
    fired: list[list[int]] = []
    try:
        state = dre.assert_fact(handle, facts[0])[1]
    except dre.error as exc:  # nothing was stored: no session to clean up
        return ["ok", fired, [0, str(exc)]]
    failure: list[Any] | None = None
    for index in range(1, len(facts)):
        try:
            dre.assert_fact(handle, facts[index])
        except dre.error as exc:
            failure = [index, str(exc)]
            break
    # Drain every action (the anchor rule guarantees at least one), then delete the session:
    # deleting one in which no action ran crashes durable_rules.
    action = dre.start_action_for_state(handle, state)
    while action:
        message = action[1] if isinstance(action, tuple) else action
        rule = message[2 : message.index('"', 2)]
        if rule != "anchor":
            start = message.index('"id":"') + 6
            fact_id = message[start : message.index('"', start)]
            fired.append([int(rule[1:]), -1 if fact_id == "m" else int(fact_id)])
        action = dre.complete_and_start_action(handle, state)
    dre.delete_state(handle, sid)
    return ["ok", fired, failure]


def _answer(request: list[Any]) -> list[Any]:
    op = request[0]
    try:
        if op == "screen":
            return _screen(int(request[1]), str(request[2]), list(request[3]))
        if op == "create":
            return ["ok", int(dre.create_ruleset(str(request[1]), str(request[2])))]
        if op == "delete":
            dre.delete_ruleset(int(request[1]))
            return ["ok"]
        if op == "ping":
            return ["ok", os.getpid()]
    except dre.error as exc:
        return ["error", str(exc)]
    return ["error", f"unknown request {op!r}"]


def _read_exactly(fd: int, size: int, deadline: float | None = None) -> bytes | None:
    """``size`` bytes from ``fd``; None at end of input before the first byte. EOFError if
    it ends part way; TimeoutError if ``deadline`` (monotonic) passes first."""
    chunks: list[bytes] = []
    wanted = size
    while wanted:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, wanted)
        if not chunk:
            if wanted == size:
                return None
            raise EOFError("the input ended inside a message")
        chunks.append(chunk)
        wanted -= len(chunk)
    return b"".join(chunks)


def _read_message(fd: int, deadline: float | None = None) -> bytes | None:
    head = _read_exactly(fd, _LENGTH.size, deadline)
    if head is None:
        return None
    (length,) = _LENGTH.unpack(head)
    body = _read_exactly(fd, length, deadline) if length else b""
    if body is None:
        raise EOFError("the input ended inside a message")
    return body


def _write_message(fd: int, payload: bytes) -> None:
    view = memoryview(_LENGTH.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


def serve(requests: int, answers: int) -> None:
    """Answer requests until the input ends."""
    while True:
        request = _read_message(requests)
        if request is None:
            return
        try:
            parsed = orjson.loads(request)
            answer = _answer(parsed) if isinstance(parsed, list) and parsed else None
        except Exception as exc:  # a bad request never ends the host
            answer = ["error", f"{type(exc).__name__}: {exc}"]
        if answer is None:
            answer = ["error", "a request is a non-empty JSON array"]
        _write_message(answers, orjson.dumps(answer))


def main() -> None:
    # The protocol gets private copies of stdin and stdout; anything else writing to
    # standard output (a library's printf) goes to standard error instead.
    requests, answers = os.dup(0), os.dup(1)
    nothing = os.open(os.devnull, os.O_RDONLY)
    os.dup2(nothing, 0)
    os.dup2(2, 1)
    os.close(nothing)
    # Ctrl-C in a terminal reaches the whole process group: the parent decides when the
    # host ends (by closing its input), not the terminal.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(requests, answers)


# ---------------------------------------------------------------------- the parent side


class HostProcessError(Exception):
    """The host process cannot answer any more: it ended, was stopped, or is not ours."""


class HostProcess:
    """One running host process and the rulesets created in it.

    Not thread-safe: the caller serialises calls (:class:`~assay.engine.evaluators.rete.
    ReteHost` holds its lock around each). ``compiled`` counts the rulesets created in it
    (each leaks its automata, so it bounds the process's growth); ``live`` holds the
    handles not yet deleted. After :class:`HostProcessError` the process is stopped and every
    ruleset in it is lost (``gone`` says why).
    """

    def __init__(self, timeout: float = CALL_TIMEOUT) -> None:
        self.timeout = timeout
        self.compiled = 0
        self.live: set[int] = set()
        self.gone: str | None = None
        self._owner = os.getpid()
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-P", _PROGRAM],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                bufsize=0,
                close_fds=True,
            )
        except OSError as exc:
            raise HostProcessError(f"could not start {sys.executable} {_PROGRAM}: {exc}") from None
        self.pid = self._process.pid
        # Stopped when forgotten or at exit, whichever is first; never left running.
        self._stop = weakref.finalize(self, _stop, self._process)
        self.call(["ping"])  # it started and imported durable_rules

    def call(self, request: list[Any]) -> list[Any]:
        """Send ``request`` and return its answer (``["ok", ...]`` or ``["error", msg]``)."""
        if self.gone is not None:
            raise HostProcessError(self.gone)
        if os.getpid() != self._owner:  # a forked copy must not talk on its parent's pipes
            raise HostProcessError(
                f"the durable_rules host process {self.pid} belongs to process {self._owner}, "
                f"not to this one ({os.getpid()})"
            )
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        try:
            _write_message(stdin.fileno(), orjson.dumps(request))
            payload = _read_message(stdout.fileno(), time.monotonic() + self.timeout)
            if payload is None:
                raise EOFError
        except TimeoutError:
            raise self._fail(f"did not answer within {self.timeout:g} s and was stopped") from None
        except (OSError, EOFError, ValueError):
            raise self._fail(self._ending()) from None
        try:
            answer = orjson.loads(payload)
        except orjson.JSONDecodeError:
            answer = None
        if not isinstance(answer, list) or not answer or answer[0] not in ("ok", "error"):
            raise self._fail("answered something that is not an answer, and was stopped")
        return answer

    def _ending(self) -> str:
        try:
            code = self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "stopped answering, and was stopped"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"ended by {name}"
        return f"exited with code {code}"

    def _fail(self, reason: str) -> HostProcessError:
        self.gone = f"the durable_rules host process {self.pid} {reason}"
        self.live.clear()
        self._stop()
        return HostProcessError(self.gone)

    def close(self) -> None:
        """End the process (every ruleset in it goes with it); idempotent."""
        if self.gone is None:
            self.gone = f"the durable_rules host process {self.pid} was closed"
        self.live.clear()
        self._stop()

    @property
    def running(self) -> bool:
        return self._process.poll() is None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Close the host's input (it exits at once), wait for it, kill it if it does not."""
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            with contextlib.suppress(OSError):
                pipe.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


if __name__ == "__main__":
    main()
