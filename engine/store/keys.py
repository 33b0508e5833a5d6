"""API keys: one role each, stored as SHA-256 digests, never in clear; each held by a person.

A key is ``assay_`` followed by 43 URL-safe random characters. The service keeps the keys it
has checked in memory for a few seconds, so a request pays one hash, not a database query;
a revoked key stops working within that time. While the database cannot be reached, keys
are checked against the local copy of the keys in force (:mod:`engine.store.offline`).

A key's holder name is shown as written; the *person* behind it is that name normalised
(:func:`engine.store.people.person_of`), so that ``Author1``, ``"author1 "`` and ``author1``
followed by a zero-width space are one person: four-eyes review compares persons, and the
audit trail records the person and the key id of every act.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from assay.engine.store import audit
from assay.engine.store.database import api_keys, stored_utc
from assay.engine.store.offline import KeptKey, OfflineCopy
from assay.engine.store.people import name_problem, person_of
from assay.engine.store.roles import ROLES, Role

_CACHE_SECONDS = 5.0
log = logging.getLogger("assay.keys")


@dataclass(frozen=True)
class Identity:
    """Who is calling: the key's holder name as written (a person or a system), its role,
    the person it stands for (:func:`~engine.store.people.person_of`) and the key's id
    (None: not a stored key)."""

    name: str
    role: Role
    person: str = ""
    key_id: int | None = None

    def __post_init__(self) -> None:
        if not self.person:
            object.__setattr__(self, "person", person_of(self.name))


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class KeyStore:
    """Keys in the database; with ``offline``, checked against its copy of the keys in force
    while the database cannot be reached (:meth:`keep_copy` refreshes it)."""

    def __init__(self, db: Engine, offline: OfflineCopy | None = None) -> None:
        self._db = db
        self._offline = offline
        self._cache: dict[str, tuple[float, Identity | None]] = {}
        self._refusals: dict[tuple[int | None, str, str], float] = {}

    def create(self, role: Role, name: str, by: Identity | str = "system") -> str:
        """A new key for ``name`` with ``role``, created by ``by`` (recorded in the audit
        trail); the clear key is returned once, only here. Raises ValueError for a role or
        holder name that cannot be (:func:`name_problem`)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        problem = name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        key = "assay_" + secrets.token_urlsafe(32)
        with self._db.begin() as connection:
            created = connection.execute(
                insert(api_keys).values(
                    key_sha256=_digest(key), role=role, name=name, created_at=datetime.now(UTC)
                )
            )
            new_id = created.inserted_primary_key
            audit.record(
                connection,
                by,
                "create_key",
                None,
                None,
                created_key=int(new_id[0]) if new_id else None,
                role=role,
                holder=name,
                person=person_of(name),
            )
        return key

    def _cached(self, digest: str) -> tuple[bool, Identity | None]:
        found = self._cache.get(digest)
        if found is not None and time.monotonic() - found[0] < _CACHE_SECONDS:
            return True, found[1]
        return False, None

    def cached(self, key: str) -> tuple[bool, Identity | None]:
        """``(True, identity or None)`` when ``key`` was checked in the last few seconds;
        ``(False, None)`` when only the database can tell (:meth:`identify`)."""
        return self._cached(_digest(key))

    def identify(self, key: str) -> Identity | None:
        """The identity behind ``key``, or None if it is unknown or revoked (a database query
        when not cached: call it off the event loop)."""
        digest = _digest(key)
        hit, identity = self._cached(digest)
        if hit:
            return identity
        try:
            with self._db.connect() as connection:
                row = connection.execute(
                    select(api_keys.c.id, api_keys.c.name, api_keys.c.role).where(
                        api_keys.c.key_sha256 == digest, api_keys.c.revoked_at.is_(None)
                    )
                ).first()
            identity = Identity(row[1], row[2], key_id=row[0]) if row is not None else None
        except SQLAlchemyError:
            kept = self._offline.keys() if self._offline is not None else None
            if kept is None:
                raise
            found = kept.get(digest)
            identity = Identity(found.name, found.role, key_id=found.id) if found else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (time.monotonic(), identity)
        return identity

    def note_refusal(
        self, who: Identity, method: str, path: str, allowed: tuple[Role, ...]
    ) -> None:
        """Record in the audit trail that ``who`` called an endpoint its role may not; once
        a minute per key and endpoint, so that a loop of refused calls cannot fill the log."""
        now = time.monotonic()
        mark = (who.key_id, method, path)
        if now - self._refusals.get(mark, -60.0) < 60.0:
            return
        if len(self._refusals) > 10_000:
            self._refusals.clear()
        self._refusals[mark] = now
        reason = f"{who.role} key called {method} {path[:200]}, which needs {' or '.join(allowed)}"
        try:
            with self._db.begin() as connection:
                audit.record(connection, who, "role_refused", None, reason, role=who.role)
        except SQLAlchemyError:  # the refusal stands; the database is down (the log says)
            log.warning("could not record in the audit trail that key %s %s", who.key_id, reason)

    def in_force(self) -> list[KeptKey]:
        """Every key not revoked, as the offline copy keeps it."""
        query = select(api_keys.c.key_sha256, api_keys.c.id, api_keys.c.name, api_keys.c.role)
        with self._db.connect() as connection:
            rows = connection.execute(query.where(api_keys.c.revoked_at.is_(None))).all()
        return [KeptKey(row[0], row[1], row[2], row[3]) for row in rows]

    def keep_copy(self) -> None:
        """Refresh the offline copy of the keys in force (nothing without one)."""
        if self._offline is not None:
            self._offline.keep_keys(self.in_force())

    def all(self) -> list[KeyInfo]:
        with self._db.connect() as connection:
            return [
                KeyInfo(
                    row["id"],
                    row["name"],
                    row["role"],
                    stored_utc(row["created_at"]),
                    stored_utc(row["revoked_at"]),
                )
                for row in connection.execute(select(api_keys).order_by(api_keys.c.id)).mappings()
            ]

    def revoke(self, key_id: int, by: Identity | str = "system") -> bool:
        """Revoke key ``key_id`` (recorded in the audit trail as done by ``by``); whether
        there was such a key, not yet revoked."""
        with self._db.begin() as connection:
            result = connection.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
            if result.rowcount:
                audit.record(connection, by, "revoke_key", None, None, revoked_key=key_id)
        self._cache.clear()
        return bool(result.rowcount)
