"""What the store-backed correlation tests share: the database they run on (SQLite and the
test PostgreSQL, as the ``db`` fixture of :mod:`tests.conftest`), emptying its correlation
tables between examples, and screening one manifest into the stage as the API does."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Engine, delete

from assay.engine.contracts import Manifest
from assay.engine.correlation.alerts import Alert
from assay.engine.correlation.joining import Joiner
from assay.engine.features import Enricher
from assay.engine.store.correlation import CorrelationStore
from assay.engine.store.database import (
    alerts,
    correlation_members,
    correlation_records,
    correlation_shipped,
)
from tests.test_correlation import PACK

ENRICHER = Enricher(PACK)
JOINER = Joiner(PACK.correlations, PACK.lanes)


def empty_correlation(db: Engine) -> None:
    """Every correlation table emptied: a fresh store for the next example."""
    with db.begin() as connection:
        for table in (correlation_members, correlation_shipped, correlation_records, alerts):
            connection.execute(delete(table))


def screened(
    store: CorrelationStore,
    manifest: Manifest,
    decision_id: str | None = None,
    joiner: Joiner = JOINER,
) -> list[Alert]:
    """As the API does: members recorded at once, shipments of non-members noted."""
    manifest_view, item_views = ENRICHER.enrich(manifest, date(1970, 1, 1))
    joining = joiner.joining(manifest, manifest_view, item_views)
    if joining is None:
        return []
    if not joining.members:
        store.note(joining)
        return []
    return store.record(joining, decision_id)
