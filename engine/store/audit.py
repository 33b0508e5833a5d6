"""The audit trail: who did what to which ruleset version or key, when, and why.

Every governance transition, every refused one (four eyes, a draft that is someone else's, an
endpoint a key's role may not call) and every key created or revoked is a row. A row names
the *person* (a key holder's normalised name, :func:`engine.store.people.person_of`) and, in
its details, the id of the key they used, so an auditor can tell two keys of one person apart
and cannot be misled by two spellings of one name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, insert

from assay.engine.store.database import audit
from assay.engine.store.people import person_of


class Acting(Protocol):
    """Whoever acts: a person, and the key they used (None: not through a key)."""

    @property
    def person(self) -> str: ...

    @property
    def key_id(self) -> int | None: ...


def record(
    connection: Connection,
    actor: Acting | str,
    action: str,
    version_id: int | None,
    reason: str | None = None,
    **details: Any,
) -> None:
    """Add one row in ``connection``'s transaction. ``actor`` is an identity, or the name of
    a system or command-line user (recorded as its person, without a key id)."""
    if isinstance(actor, str):
        person = person_of(actor)
    else:
        person = actor.person
        if actor.key_id is not None:
            details = {"key_id": actor.key_id, **details}
    connection.execute(
        insert(audit).values(
            at=datetime.now(UTC),
            actor=person[:64],
            action=action,
            version_id=version_id,
            reason=reason,
            details=orjson.dumps(details).decode() if details else None,
        )
    )
