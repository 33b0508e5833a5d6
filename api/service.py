"""What one service process holds: settings, the engine, the decision log, the metrics."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from api.metrics import Metrics
from api.settings import Settings
from engine import Engine
from engine.ruleset import default_pack_dir, load_pack
from engine.store.decisions import DecisionLog, GroupCommit


@dataclass
class Service:
    settings: Settings
    engine: Engine
    log: DecisionLog
    commits: GroupCommit
    metrics: Metrics

    @classmethod
    def start(cls, settings: Settings, metrics: Metrics) -> Service:
        ruleset = load_pack(settings.rules if settings.rules is not None else default_pack_dir())
        log = DecisionLog(settings.resolved_database_url())
        return cls(
            settings=settings,
            engine=Engine(ruleset, kind=settings.engine),
            log=log,
            commits=GroupCommit(log),
            metrics=metrics,
        )

    def stop(self) -> None:
        self.commits.close()
        self.log.close()
        self.engine.close()


def service(request: Request) -> Service:
    """The running service (a FastAPI dependency)."""
    found: Service = request.app.state.service
    return found
