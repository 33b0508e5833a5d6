"""API keys: one role each, stored as SHA-256 digests, never in clear.

A key is ``assay_`` followed by 43 URL-safe random characters. The service keeps the keys it
has checked in memory for a few seconds, so a request pays one hash, not a database query;
a revoked key stops working within that time.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update

from engine.store.database import api_keys, stored_utc
from engine.store.roles import ROLES, Role

_CACHE_SECONDS = 5.0


@dataclass(frozen=True)
class Identity:
    """Who is calling: the key's name (a person or a system) and its role."""

    name: str
    role: Role


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
    def __init__(self, db: Engine) -> None:
        self._db = db
        self._cache: dict[str, tuple[float, Identity | None]] = {}

    def create(self, role: Role, name: str) -> str:
        """A new key for ``name`` with ``role``; the clear key is returned once, only here."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        key = "assay_" + secrets.token_urlsafe(32)
        with self._db.begin() as connection:
            connection.execute(
                insert(api_keys).values(
                    key_sha256=_digest(key), role=role, name=name, created_at=datetime.now(UTC)
                )
            )
        return key

    def identify(self, key: str) -> Identity | None:
        """The identity behind ``key``, or None if it is unknown or revoked."""
        digest = _digest(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and now - cached[0] < _CACHE_SECONDS:
            return cached[1]
        with self._db.connect() as connection:
            row = connection.execute(
                select(api_keys.c.name, api_keys.c.role).where(
                    api_keys.c.key_sha256 == digest, api_keys.c.revoked_at.is_(None)
                )
            ).first()
        identity = Identity(row[0], row[1]) if row is not None else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now, identity)
        return identity

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

    def revoke(self, key_id: int) -> bool:
        with self._db.begin() as connection:
            result = connection.execute(
                update(api_keys)
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC))
            )
        self._cache.clear()
        return bool(result.rowcount)
