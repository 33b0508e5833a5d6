"""The store-backed correlation stage: the reference evaluator's alerts, with the windows in
the database (SQLite and PostgreSQL), across restarts, retries and data time."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from assay.engine.contracts import Manifest
from assay.engine.correlation.alerts import Alert
from assay.engine.correlation.evaluator import correlate, order_key
from assay.engine.correlation.joining import Joiner
from assay.engine.correlation.rete import ReteGroupJudge
from assay.engine.store.correlation import LATE_TOLERANCE, CorrelationStore
from tests.correlation_support import empty_correlation, screened
from tests.test_correlation import PACK, SPLIT, T0, _lines, _manifest, _stream, _streams


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(_streams)
def test_the_store_backed_stage_gives_the_reference_evaluators_alerts(
    db: Engine, spec: list[tuple[int, int, str, float, int]]
) -> None:
    empty_correlation(db)
    manifests = sorted(_stream(spec), key=order_key)
    store = CorrelationStore(db)
    found = [alert for manifest in manifests for alert in screened(store, manifest)]
    expected = _lines(correlate(PACK, manifests))
    assert _lines(found) == expected
    store.flush()
    assert _lines([stored.alert for stored in store.alerts(limit=1000)]) == expected


def test_a_restart_in_the_middle_of_a_burst_still_alerts(db: Engine) -> None:
    empty_correlation(db)
    parcels = [_manifest(f"P{n}", T0 + timedelta(hours=6 * n)) for n in range(4)]
    before = CorrelationStore(db)
    assert [screened(before, m) for m in parcels[:2]] == [[], []]
    after = CorrelationStore(db)  # a new process: nothing in memory
    assert screened(after, parcels[2]) == []
    [alert] = screened(after, parcels[3], decision_id="d" * 32)
    assert alert.rule_id == SPLIT.id and alert.manifest_ids == ("P0", "P1", "P2", "P3")
    [stored] = after.alerts()
    assert stored.alert == alert and stored.decision_id == "d" * 32


def test_a_retried_manifest_joins_once_and_alerts_once(db: Engine) -> None:
    empty_correlation(db)
    parcels = [_manifest(f"R{n}", T0 + timedelta(hours=n)) for n in range(4)]
    store = CorrelationStore(db)
    for manifest in parcels[:3]:
        screened(store, manifest)
    first = screened(store, parcels[3])
    held = store.rows()
    again = screened(store, parcels[3])
    assert first == again and len(first) == 1
    assert len(store.alerts()) == 1 and store.rows() == held


def test_members_and_shipments_expire_by_data_time(db: Engine) -> None:
    empty_correlation(db)
    store = CorrelationStore(db)
    receivers = next(r for r in PACK.correlations if r.id == "one-sender-many-new-receivers")
    joiner = Joiner((SPLIT, receivers), PACK.lanes)
    for day in range(60):
        for n in range(5):  # five new consignors a day, each filing one parcel
            at = T0 + timedelta(days=day, minutes=n)
            screened(store, _manifest(f"E{day}-{n}", at, f"C{day}-{n}"), joiner=joiner)
    store.flush()
    members, shipments = store.rows()
    # Of 300 parcels, members of the last 48 h (split) and 14 days (new receivers), plus the
    # week kept for late arrivals and one sweep interval (48 h of data time); the 365 day
    # history holds every consignor.
    late = LATE_TOLERANCE.days
    assert members <= 5 * (2 + late + 2) + 5 * (14 + late + 2)
    assert shipments == 300
    later = T0 + timedelta(days=60 + 366)
    store.sweep(order_key(_manifest("X", later))[0], (SPLIT, receivers))
    assert store.rows() == (0, 0)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.permutations(range(6)))
def test_whatever_the_arrival_order_a_burst_raises_the_reference_alerts(
    db: Engine, order: list[int]
) -> None:
    """Workers answer manifests as they come, not in filed_at order: a manifest arriving
    after later-filed members completes their alerts (with the members known then)."""
    empty_correlation(db)
    joiner = Joiner((SPLIT,), PACK.lanes)
    parcels = [_manifest(f"B{n}", T0 + timedelta(hours=8 * n)) for n in range(6)]
    expected = correlate(PACK, parcels, (SPLIT,))
    store = CorrelationStore(db)
    raised = [a for n in order for a in screened(store, parcels[n], joiner=joiner)]
    assert sorted(a.alert_id for a in raised) == sorted(a.alert_id for a in expected)
    by_id = {a.alert_id: set(a.manifest_ids) for a in expected}
    stored = store.alerts()
    assert {s.alert.alert_id for s in stored} == set(by_id)
    assert all(set(s.alert.manifest_ids) <= by_id[s.alert.alert_id] for s in stored)


VOLUME = next(rule for rule in PACK.correlations if rule.id == "volume-jump-controlled-heading")


def test_a_late_member_of_the_baseline_withdraws_the_volume_jump_it_undoes(db: Engine) -> None:
    """A 100 kg baseline, then 1.5 t within the month: a tenfold jump, alerted. Then a
    manifest filed in the baseline window arrives late with 200 kg: the month is no longer
    ten times the baseline, so the alert is withdrawn, naming the late manifest; it is kept,
    not deleted (the completing manifest's answer carried its flag)."""
    empty_correlation(db)
    joiner = Joiner((VOLUME,), PACK.lanes)
    store = CorrelationStore(db)
    tiles = {"mode": "sea", "hs_code": "690721"}
    base = _manifest("VJ-BASE", T0, "TILE EXPORTER", kg=100, **tiles)
    jump = _manifest("VJ-JUMP", T0 + timedelta(days=60), "TILE EXPORTER", kg=1500, **tiles)
    late = _manifest("VJ-LATE", T0 + timedelta(days=20), "TILE EXPORTER", kg=200, **tiles)
    assert screened(store, base, joiner=joiner) == []
    [alert] = screened(store, jump, joiner=joiner)
    assert store.alerts(withdrawn=True) == []
    assert screened(store, late, joiner=joiner) == []  # it completes nothing itself
    [stored] = store.alerts()
    assert stored.alert.alert_id == alert.alert_id
    assert stored.withdrawn_by == "VJ-LATE" and stored.withdrawn_at is not None
    assert store.alerts(withdrawn=False) == [] and store.alerts(withdrawn=True) == [stored]
    # As the reference decides for the three in filed_at order: no volume jump at all.
    assert correlate(PACK, [base, jump, late], (VOLUME,)) == []


_SPANS = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.one_of(st.integers(0, 48 * 60), st.integers(0, 100 * 24 * 60)),
        st.sampled_from(["express", "postal", "sea"]),
        st.sampled_from([12, 29.9, 100, 1500]),
        st.integers(0, 3),
    ),
    max_size=12,
)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(_SPANS, st.randoms(use_true_random=False))
def test_in_any_arrival_order_the_standing_alerts_are_the_reference_alerts(
    db: Engine, spec: list[tuple[int, int, str, float, int]], shuffler: Any
) -> None:
    """Whatever order the workers take a stream in, the alerts left standing (raised and not
    withdrawn) are the reference's for the stream in filed_at order, members and all: a late
    manifest completes the alerts it makes, brings the standing ones' members up to date,
    and withdraws the ones it undoes (split shipments, volume jumps)."""
    empty_correlation(db)
    rules = (SPLIT, VOLUME)
    joiner = Joiner(rules, PACK.lanes)
    manifests = _stream(spec)
    expected = {a.alert_id: a.manifest_ids for a in correlate(PACK, manifests, rules)}
    arrivals = list(manifests)
    shuffler.shuffle(arrivals)
    note(f"spec={spec} arrivals={[m.manifest_id for m in arrivals]}")
    # Any manifest may arrive last, up to the stream's whole span late (100 days): the
    # sweeps keep that much (the default tolerance is a week, LATE_TOLERANCE).
    store = CorrelationStore(db, late_tolerance=timedelta(days=101))
    for manifest in arrivals:
        screened(store, manifest, joiner=joiner)
    standing = store.alerts(withdrawn=False, limit=1000)
    assert {s.alert.alert_id: s.alert.manifest_ids for s in standing} == expected


def test_members_of_one_entity_screened_at_once_by_many_threads_lose_nothing(
    db: Engine,
) -> None:
    """The per-entity lock (PostgreSQL's advisory lock, SQLite's writer): eight workers
    recording one consignor's parcels at the same moment raise the reference's alerts, as
    one at a time in any order would."""
    empty_correlation(db)
    joiner = Joiner((SPLIT,), PACK.lanes)
    parcels = [_manifest(f"C{n}", T0 + timedelta(hours=5 * n)) for n in range(8)]
    expected = {a.alert_id for a in correlate(PACK, parcels, (SPLIT,))}
    store = CorrelationStore(db)
    start = threading.Barrier(len(parcels))

    def screen(manifest: Manifest) -> list[Alert]:
        start.wait()
        return screened(store, manifest, joiner=joiner)

    with ThreadPoolExecutor(len(parcels)) as pool:
        raised = [a for found in pool.map(screen, parcels) for a in found]
    assert {a.alert_id for a in raised} == expected == {s.alert.alert_id for s in store.alerts()}
    assert len(raised) == len(expected)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(_streams)
def test_with_durable_rules_judging_the_stage_gives_the_reference_evaluators_alerts(
    db: Engine, spec: list[tuple[int, int, str, float, int]]
) -> None:
    """``--engine rete``: the Rete network judges the sequence patterns (the split shipment),
    the reference's measures the rules it cannot express; the alerts are the reference's."""
    empty_correlation(db)
    manifests = sorted(_stream(spec), key=order_key)
    store = CorrelationStore(db, judge=ReteGroupJudge())
    found = [alert for manifest in manifests for alert in screened(store, manifest)]
    assert _lines(found) == _lines(correlate(PACK, manifests))
