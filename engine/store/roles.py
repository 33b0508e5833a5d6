"""The roles an API key can hold (apart from the key store, so the CLI can name them without
loading the database layer)."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["screening", "author", "reviewer", "admin"]
ROLES: tuple[Role, ...] = get_args(Role)
