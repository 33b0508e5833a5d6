"""The workbench's sessions: who signed in with which key, until when, and the secret that
signs their cookies.

A session is made at sign-in for one API key (never kept: only its id, as the key store
knows it) and lasts until its expiry, its sign-out, or the revocation of its key, whichever
comes first. Its id is random, given to the browser once and kept here as a SHA-256 digest.
Every worker and host on the database shares the sessions and the signing secret, so a
browser may land on any of them. A session is looked up once every few seconds at most per
worker, as keys are (:mod:`engine.store.keys`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from assay.engine.store import audit
from assay.engine.store.database import api_keys, service_secrets, stored_utc, ui_sessions
from assay.engine.store.keys import Identity

_CACHE_SECONDS = 5.0
_SIGNING = "ui_cookie_signing"


@dataclass(frozen=True)
class Session:
    """A signed-in session: the identity of its key, its CSRF token and its expiry."""

    identity: Identity
    csrf: str
    expires_at: datetime


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    def __init__(self, db: Engine) -> None:
        self._db = db
        self._cache: dict[str, tuple[float, Session | None]] = {}
        self._secret: bytes | None = None

    def signing_secret(self) -> bytes:
        """The secret that signs the workbench's cookies: made by the first worker that needs
        it, then read by every other (a race between two is settled by the primary key)."""
        if self._secret is not None:
            return self._secret
        query = select(service_secrets.c.secret).where(service_secrets.c.name == _SIGNING)
        with self._db.connect() as connection:
            found = connection.execute(query).scalar()
        if found is None:
            try:
                with self._db.begin() as connection:
                    connection.execute(
                        insert(service_secrets).values(
                            name=_SIGNING,
                            secret=secrets.token_hex(32),
                            created_at=datetime.now(UTC),
                        )
                    )
            except IntegrityError:  # another worker made it first
                pass
            with self._db.connect() as connection:
                found = connection.execute(query).scalar_one()
        self._secret = bytes.fromhex(found)
        return self._secret

    def begin(self, identity: Identity, lifetime: timedelta) -> tuple[str, Session]:
        """A new session for ``identity`` (a stored key): its id, given out only here."""
        if identity.key_id is None:
            raise ValueError("only a stored key can sign in")
        session_id = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        session = Session(identity, secrets.token_urlsafe(32), now + lifetime)
        with self._db.begin() as connection:
            # Sessions long expired are cleared as new ones begin: the table stays small.
            connection.execute(
                delete(ui_sessions).where(ui_sessions.c.expires_at < now - timedelta(days=1))
            )
            connection.execute(
                insert(ui_sessions).values(
                    id_sha256=_digest(session_id),
                    key_id=identity.key_id,
                    csrf=session.csrf,
                    created_at=now,
                    expires_at=session.expires_at,
                )
            )
            audit.record(connection, identity, "sign_in", None, None, role=identity.role)
        return session_id, session

    def get(self, session_id: str) -> Session | None:
        """The session behind ``session_id`` if it is in force: not expired, not ended, its
        key not revoked (a query at most every few seconds per worker)."""
        digest = _digest(session_id)
        found = self._cache.get(digest)
        if found is None or time.monotonic() - found[0] >= _CACHE_SECONDS:
            found = (time.monotonic(), self._read(digest))
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[digest] = found
        session = found[1]
        if session is None or session.expires_at <= datetime.now(UTC):
            return None
        return session

    def _read(self, digest: str) -> Session | None:
        query = (
            select(
                ui_sessions.c.csrf,
                ui_sessions.c.expires_at,
                api_keys.c.id,
                api_keys.c.name,
                api_keys.c.role,
            )
            .join(api_keys, api_keys.c.id == ui_sessions.c.key_id)
            .where(
                ui_sessions.c.id_sha256 == digest,
                ui_sessions.c.ended_at.is_(None),
                api_keys.c.revoked_at.is_(None),
            )
        )
        with self._db.connect() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        return Session(Identity(row[3], row[4], key_id=row[2]), row[0], stored_utc(row[1]))

    def end(self, session_id: str, identity: Identity) -> None:
        """Sign out: the session is refused from now on, by every worker within seconds
        (this one at once)."""
        digest = _digest(session_id)
        with self._db.begin() as connection:
            audit.record(connection, identity, "sign_out", None, None)
            connection.execute(
                update(ui_sessions)
                .where(ui_sessions.c.id_sha256 == digest, ui_sessions.c.ended_at.is_(None))
                .values(ended_at=datetime.now(UTC))
            )
        self._cache[digest] = (time.monotonic(), None)
