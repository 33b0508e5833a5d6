"""Service configuration: ``assay serve`` flags, or ``ASSAY_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from assay.engine.evaluators.rete import DEFAULT_VERSIONS_PER_PROCESS
from assay.engine.store.database import default_data_dir, default_database_url
from assay.engine.store.journal import journal_dir
from assay.engine.store.offline import offline_dir


class Settings(BaseSettings):
    """Every setting has an ``ASSAY_`` environment variable: ``ASSAY_PORT``, ``ASSAY_RULES``..."""

    model_config = SettingsConfigDict(env_prefix="ASSAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=64)
    rules: Path | None = Field(
        default=None, description="Rule pack directory; default: shipped pack."
    )
    engine: Literal["compiled", "rete"] = "compiled"
    rete_max_versions: int = Field(
        default=DEFAULT_VERSIONS_PER_PROCESS,
        ge=1,
        le=10_000,
        description="With the rete evaluator: ruleset versions one durable_rules host process "
        "compiles before a fresh process takes the next (each compile leaks its pattern "
        "automata there, ~1.7 MB a version of the shipped pack; the old process ends once "
        "idle). Any number of versions can be activated.",
    )
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL of the decision log; default: SQLite in data_dir."
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="Largest body of a screening request or of recorded inspection outcomes.",
    )
    max_request_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest body of any other request (a draft's file is at most 256 KiB of "
        "YAML); checked after the key, before the body is read.",
    )
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="A request's line and headers together; more is answered 431 and the "
        "connection closed, without reading the rest.",
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A request's line and headers must arrive within this from its first byte "
        "(for a new connection, from its opening); else 408 and the connection is closed.",
    )
    body_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A request's body must arrive within this from the end of its headers; "
        "else 408 (if not yet answered) and the connection is closed.",
    )
    keepalive_timeout_seconds: int = Field(
        default=5, ge=1, description="An idle keep-alive connection is closed after this."
    )
    max_batch: int = Field(default=1000, ge=1, le=10_000)
    access_log: bool = False
    opentelemetry: bool = Field(
        default=False,
        description="FastAPI's OpenTelemetry traces, metrics and logs through the process's "
        "configured providers (install and configure the OpenTelemetry SDK). Off: FastAPI does "
        "not look for providers on each request (~9 µs a request). /metrics is always on.",
    )
    open_screening_on_loopback: bool = Field(
        default=False, description="Let loopback clients screen without a key."
    )
    reload_seconds: float = Field(
        default=0.5, gt=0, le=60, description="How often workers check the active version."
    )

    journal_dir: Path | None = Field(
        default=None,
        description="Where workers journal decisions before answering; default: "
        "data_dir/journal/<hash of the database URL>.",
    )
    journal_backlog_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1,
        description="Screening answers 503 while the journal holds more than this not yet "
        "in the database (the database refusing or unreachable).",
    )
    ui_session_minutes: int = Field(
        default=480,
        ge=5,
        le=7 * 24 * 60,
        description="How long a workbench sign-in lasts (default: 8 hours, a shift).",
    )
    corpus_dir: Path | None = Field(
        default=None,
        description="Where back-tests read manifest files from; default: data_dir/corpus.",
    )

    def resolved_database_url(self) -> str:
        return self.database_url or default_database_url(self.data_dir)

    def resolved_journal_dir(self) -> Path:
        if self.journal_dir is not None:
            return self.journal_dir
        return journal_dir(self.data_dir, self.resolved_database_url())

    def resolved_offline_dir(self) -> Path:
        """Where workers keep the copies they start from without the database
        (:mod:`engine.store.offline`)."""
        return offline_dir(self.data_dir, self.resolved_database_url())

    def resolved_corpus_dir(self) -> Path:
        return self.corpus_dir if self.corpus_dir is not None else self.data_dir / "corpus"
