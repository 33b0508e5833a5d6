"""What the workbench's page tests share: a served app on the test PostgreSQL, signing in
without a browser (for the fast role checks), and screening the sample manifests."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from assay.api.settings import Settings
from assay.engine.store.roles import Role
from tests.conftest import EXAMPLES, empty_postgres
from tests.servers import LiveApi, live_api


@contextmanager
def served(data_dir: Path) -> Iterator[LiveApi]:
    """The service over an emptied test PostgreSQL database."""
    settings = Settings(data_dir=data_dir, database_url=empty_postgres(), reload_seconds=0.1)
    with live_api(settings) as server:
        yield server


def sign_in(client: httpx.Client, key: str) -> str:
    """Sign ``client`` in through the workbench's form with ``key``, as a browser does; the
    session's CSRF token (from a page every role may open)."""
    token = re.search(r'name="token" value="([^"]+)"', client.get("/ui").text)
    assert token is not None
    data = {"key": key, "token": token.group(1), "next": ""}
    answer = client.post("/ui/signin", data=data, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/ui/try").text)
    assert csrf is not None
    return csrf.group(1)


@contextmanager
def signed_in(server: LiveApi, role: Role, name: str | None = None) -> Iterator[httpx.Client]:
    """An httpx client holding a workbench session of a fresh ``role`` key (no redirects
    followed, so tests see each answer)."""
    key = server.service.keys.create(role, name or f"{role} person")
    with httpx.Client(base_url=server.url, timeout=60) as client:
        sign_in(client, key)
        yield client


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def sample(name: str, manifest_id: str | None = None) -> dict[str, Any]:
    """A sample manifest (``fixtures/samples``), under another id if given."""
    manifest: dict[str, Any] = json.loads((EXAMPLES / f"{name}.json").read_text())
    if manifest_id is not None:
        manifest["manifest_id"] = manifest_id
    return manifest


def screen(server: LiveApi, *manifests: dict[str, Any]) -> list[dict[str, Any]]:
    """Each manifest screened through ``POST /v1/screen``, as a border system sends it: the
    results, each with its ``decision_id``."""
    results = []
    with server.client("screening") as client:
        for manifest in manifests:
            answer = client.post("/v1/screen", json=manifest)
            assert answer.status_code == 200, answer.text
            results.append({**answer.json(), "decision_id": answer.headers["x-decision-id"]})
    return results


def session_client(
    api: LiveApi, role: str, name: str, clients: list[httpx.Client]
) -> tuple[httpx.Client, str]:
    """An HTTP client signed in to the workbench with a new key (closed by the ``clients``
    fixture), and its CSRF token."""
    client = httpx.Client(base_url=api.url, timeout=60)
    clients.append(client)
    key = api.service.keys.create(role, name)  # type: ignore[arg-type]
    return client, sign_in(client, key)
