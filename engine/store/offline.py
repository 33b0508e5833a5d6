"""What a service keeps on local disk to start and screen while its database cannot be reached.

* The ruleset version it last screened with from the store (:meth:`OfflineCopy.keep_ruleset`,
  written whenever a worker loads a stored version): a worker starting without the database
  screens with it, and ``/readyz`` says so; without one, with the pack in ``--rules`` or the
  shipped pack.
* The API keys in force, as their SHA-256 digests with id, holder and role, never the keys
  (:meth:`OfflineCopy.keep_keys`, refreshed every half minute): without the database a key
  is checked against this copy. A key revoked while this host could not reach the database
  works here until it can again.

One directory per database (``data_dir/offline/<hash of the URL without its password>``),
files replaced whole (written beside, then renamed), readable by the service's user only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from assay.engine.ruleset import sources_sha256
from assay.engine.store.redact import shown_url
from assay.engine.store.roles import ROLES, Role

RULESET = "active-ruleset.json"
KEYS = "api-keys.json"


def offline_dir(data_dir: Path, url: str) -> Path:
    """The copies kept for the database at ``url`` (the same directory whatever its password)."""
    digest = hashlib.sha256(shown_url(url).encode()).hexdigest()[:12]
    return data_dir / "offline" / digest


@dataclass(frozen=True)
class KeptRuleset:
    """A stored ruleset version as kept on disk."""

    version_id: int
    sha256: str
    sources: dict[str, str]
    kept_at: datetime


@dataclass(frozen=True)
class KeptKey:
    """An API key in force, as kept on disk: its digest, never the key."""

    key_sha256: str
    id: int
    name: str
    role: Role


class OfflineCopy:
    """The copies in ``directory``; reading a missing or damaged copy gives None."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _write(self, name: str, data: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = self.directory / f"{name}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(fresh, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(orjson.dumps(data))
            fresh.replace(self.directory / name)
        except BaseException:
            with contextlib.suppress(OSError):
                fresh.unlink()
            raise

    def _read(self, name: str) -> Any:
        try:
            return orjson.loads((self.directory / name).read_bytes())
        except (OSError, ValueError):
            return None

    def keep_ruleset(self, version_id: int, sources: Mapping[str, str]) -> None:
        """Keep stored version ``version_id``'s sources (unless the copy already holds them)."""
        sha256 = sources_sha256(sources)
        kept = self.ruleset()
        if kept is not None and (kept.version_id, kept.sha256) == (version_id, sha256):
            return
        self._write(
            RULESET,
            {
                "version_id": version_id,
                "sha256": sha256,
                "sources": dict(sources),
                "kept_at": datetime.now(UTC).isoformat(),
            },
        )

    def ruleset(self) -> KeptRuleset | None:
        """The kept version, if there is one whose sources are intact (their SHA-256 agrees)."""
        data = self._read(RULESET)
        try:
            sources = {str(k): str(v) for k, v in data["sources"].items()}
            kept = KeptRuleset(
                int(data["version_id"]),
                str(data["sha256"]),
                sources,
                datetime.fromisoformat(data["kept_at"]),
            )
        except (TypeError, KeyError, ValueError, AttributeError):
            return None
        return kept if sources_sha256(sources) == kept.sha256 else None

    def keep_keys(self, keys: list[KeptKey]) -> None:
        """Keep the keys in force (unless the copy already holds exactly these)."""
        rows = [[k.key_sha256, k.id, k.name, k.role] for k in sorted(keys, key=lambda k: k.id)]
        if self._read(KEYS) == {"keys": rows}:
            return
        self._write(KEYS, {"keys": rows})

    def keys(self) -> dict[str, KeptKey] | None:
        """The kept keys by digest; None if none were ever kept."""
        data = self._read(KEYS)
        if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
            return None
        found: dict[str, KeptKey] = {}
        for row in data["keys"]:
            with contextlib.suppress(TypeError, ValueError):
                digest, key_id, name, role = row
                for known in ROLES:
                    if role == known:
                        found[str(digest)] = KeptKey(str(digest), int(key_id), str(name), known)
        return found
