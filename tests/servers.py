"""Real servers for API tests: uvicorn in a thread of the test process, or `assay serve`."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from assay.api.app import create_app
from assay.api.service import Service
from assay.api.settings import Settings
from assay.api.transport import server_config
from assay.engine.store.roles import Role


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LiveApi:
    url: str
    app: FastAPI

    @property
    def service(self) -> Service:
        found: Service = self.app.state.service
        return found

    def auth(self, role: Role = "screening", name: str | None = None) -> dict[str, str]:
        """An Authorization header with a fresh key of ``role`` (held by ``name``)."""
        return {"Authorization": f"Bearer {self.service.keys.create(role, name or role)}"}

    def client(self, role: Role = "screening", name: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, headers=self.auth(role, name))


@contextmanager
def live_api(settings: Settings) -> Iterator[LiveApi]:
    """The app served by uvicorn on a free loopback port, in a thread, configured as
    `assay serve` configures it (:func:`api.transport.server_config`)."""
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(server_config(app, settings, host="127.0.0.1", port=port))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield LiveApi(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def create_key(
    data_dir: Path, role: Role, name: str | None = None, env: dict[str, str] | None = None
) -> str:
    """`assay keys create` in ``data_dir`` (with ``env`` added to its environment, such as
    ``ASSAY_DATABASE_URL``): the key from the last line of its output."""
    added = env or {}
    env = {**os.environ, "ASSAY_DATA_DIR": str(data_dir)}
    env.pop("ASSAY_DATABASE_URL", None)
    env.update(added)
    command = [str(Path(sys.executable).with_name("assay")), "keys", "create", "--role", role]
    done = subprocess.run(
        [*command, "--name", name or role], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


@contextmanager
def assay_serve(
    data_dir: Path, *args: str, env: dict[str, str] | None = None, log: Path | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`assay serve` as a separate process, as an operator runs it, with ``env`` added to its
    environment; its stderr to ``log`` if given, else a pipe."""
    port = free_port()
    environment = {**os.environ, "ASSAY_DATA_DIR": str(data_dir)}
    environment.pop("ASSAY_DATABASE_URL", None)
    environment.update(env or {})
    command = [str(Path(sys.executable).with_name("assay")), "serve", "--port", str(port), *args]
    # In a process group of its own: its workers and decision writer go with it when it is
    # killed, instead of living on with its stderr open (which would block the read below).
    with contextlib.ExitStack() as files:
        stderr = subprocess.PIPE if log is None else files.enter_context(log.open("ab"))
        process = subprocess.Popen(
            command,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # two workers start in ~4 s; far longer on a busy machine
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            _kill_group(process)
            message = b""
            if process.stderr is not None:
                message = process.stderr.read()
                process.stderr.close()
            elif log is not None:
                message = log.read_bytes()
            raise RuntimeError(f"assay serve did not start: {message!r}")
        time.sleep(0.1)
    try:
        yield url, process
    finally:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        _kill_group(process)  # whatever of it is left
        if process.stderr is not None:
            process.stderr.close()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL to ``process`` and every process of its group (started in its own session)."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
