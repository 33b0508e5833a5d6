"""No secret is printed or logged: the database password (commands, their errors, the service's
log, the decision writer's command line and status, /readyz) and API keys (the access log)."""

from __future__ import annotations

import hashlib
import io
import logging
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import psutil
import pytest

from assay.engine.store.journal import STATUS
from assay.engine.store.offline import KeptKey, OfflineCopy, offline_dir
from assay.engine.store.redact import SecretFilter
from tests.conftest import EXAMPLES, wait_for
from tests.servers import assay_serve, free_port

PASSWORD = "Pw-9d8e7f6a5b-secret"
ASSAY = str(Path(sys.executable).with_name("assay"))


def _unreachable() -> str:
    return f"postgresql+psycopg://assay:{PASSWORD}@127.0.0.1:{free_port()}/assay"


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "list"],
        ["keys", "create", "--role", "admin"],
        ["keys", "revoke", "1"],
        ["db", "current"],
        ["db", "upgrade"],
        ["replay", "--since", "2026-01-01"],
        ["backtest", "--candidate", "1", "--corpus", str(EXAMPLES / "water-heavy.json")],
        ["screen", "--log", str(EXAMPLES / "water-heavy.json")],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_a_command_whose_database_fails_says_so_in_one_line_without_the_password(
    command: list[str], tmp_path: Path
) -> None:
    url = _unreachable()
    for given in (["--database-url", url], []):  # on the command line, or from the environment
        done = subprocess.run(
            [ASSAY, *command, *given],
            env={"PATH": "/usr/bin:/bin", "ASSAY_DATABASE_URL": url, "HOME": str(tmp_path)},
            capture_output=True,
            text=True,
            check=False,
            cwd=tmp_path,
        )
        said = done.stdout + done.stderr
        assert done.returncode == 2, said
        assert PASSWORD not in said
        assert "Traceback" not in said
        assert done.stderr.strip().splitlines() == [
            line for line in done.stderr.strip().splitlines() if line.startswith("error: ")
        ]
        assert "assay:***@127.0.0.1" in done.stderr and "Connection refused" in done.stderr


def test_serve_hides_the_password_from_its_output_its_processes_and_its_answers(
    tmp_path: Path,
) -> None:
    url = _unreachable()
    admin_key = "assay_" + "a" * 43
    OfflineCopy(offline_dir(tmp_path, url)).keep_keys(
        [KeptKey(hashlib.sha256(admin_key.encode()).hexdigest(), 1, "operator", "admin")]
    )
    log = tmp_path / "serve.log"
    env = {"ASSAY_DATABASE_URL": url, "ASSAY_WORKERS": "2"}
    with assay_serve(tmp_path, env=env, log=log) as (served, process):
        server = psutil.Process(process.pid)
        family = [server, *server.children(recursive=True)]
        assert any("assay.engine.store.writer" in " ".join(p.cmdline()) for p in family)
        for member in family:
            assert PASSWORD not in " ".join(member.cmdline())
        admin = {"Authorization": f"Bearer {admin_key}"}
        wait_for(lambda: "refused" in str(httpx.get(f"{served}/readyz", headers=admin).json()))
        answers = [httpx.get(f"{served}/readyz"), httpx.get(f"{served}/readyz", headers=admin)]
        answers.append(httpx.get(f"{served}/v1/keys", headers=admin))  # 503, and a log line
    for answer in answers:
        assert PASSWORD not in answer.text
    statuses = list(tmp_path.glob(f"journal/*/{STATUS}"))
    assert statuses and all(PASSWORD not in path.read_text() for path in statuses)
    said = log.read_text()
    assert "Connection refused" in said  # the log says why...
    assert PASSWORD not in said  # ...but never the password
    assert answers[2].status_code == 503 and "GET /v1/keys: the database cannot be reached" in said


def test_the_log_filter_hides_the_password_and_api_keys_in_messages_and_tracebacks() -> None:
    url = f"postgresql+psycopg://assay:{PASSWORD}@db.example/assay"
    key = "assay_" + "Z" * 43
    stream = io.StringIO()
    logger = logging.getLogger("tests.secrets")
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretFilter([PASSWORD]))
    logger.addHandler(handler)
    try:
        logger.error("connecting to %s with key %s", url, key)
        try:
            raise RuntimeError(f"invalid dsn {quote(PASSWORD)} near {key}")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert "assay:***@db.example" in written and "assay_***" in written
    assert "RuntimeError: invalid dsn *** near assay_***" in written
    assert PASSWORD not in written and quote(PASSWORD) not in written and key not in written
