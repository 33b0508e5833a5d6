"""Cold start of the new-receivers rule: ``group.new_consignees`` is missing until the record
of shipments covers the rule's ``warm_up``, in the reference, the store-backed stage (SQLite
and PostgreSQL) and the durable_rules evaluator alike; the service seeds an empty record from
the decision log."""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from assay.api.settings import Settings
from assay.engine.contracts import Manifest
from assay.engine.correlation.alerts import Alert
from assay.engine.correlation.evaluator import Correlator, correlate, micros, order_key
from assay.engine.correlation.joining import Joiner
from assay.engine.correlation.language import CorrelationRule
from assay.engine.correlation.rete import ReteCorrelator, ReteGroupJudge
from assay.engine.store.correlation import SEEDING_LEASE, CorrelationStore
from assay.engine.store.database import (
    open_database,
)
from assay.engine.store.decisions import DecisionLog
from assay.engine.store.seeding import Seeded, seed_records
from tests.correlation_support import empty_correlation, screened
from tests.servers import live_api
from tests.test_correlation import PACK, RULE, T0, _lines, _manifest, _pack, _problems

RECEIVERS = next(r for r in PACK.correlations if r.id == "one-sender-many-new-receivers")
DAY = timedelta(days=1)
JSON = {"Content-Type": "application/json"}


def _tiles(manifest_id: str, days: float, consignor: str, consignee: str) -> Manifest:
    return _manifest(
        manifest_id,
        T0 + timedelta(days=days),
        consignor,
        mode="sea",
        kg=4800,
        consignee=consignee,
        hs_code="690721",
    )


def _furniture(manifest_id: str, days: float, consignor: str, consignee: str) -> Manifest:
    """A shipment that joins no group but adds to the consignor's record."""
    return _manifest(
        manifest_id,
        T0 + timedelta(days=days),
        consignor,
        mode="sea",
        kg=2000,
        consignee=consignee,
        hs_code="940360",
    )


def _received(alerts_: list[Alert]) -> list[Alert]:
    return [a for a in alerts_ if a.rule_id == RECEIVERS.id]


# ------------------------------------------------------------------------ the language

WARMED = RULE.replace(
    "  alert_when: group.count >= params.min_parcels",
    "  history: 30d\n  warm_up: 7d\n  alert_when: group.new_consignees >= params.min_parcels",
)


def test_warm_up_defaults_to_the_history_and_the_default_pack_waits_a_quarter() -> None:
    assert (RECEIVERS.warm_up, RECEIVERS.warm_up_text) == (90 * 86400, "90d")
    without = _pack_rule(WARMED.replace("  warm_up: 7d\n", ""))
    assert (without.warm_up, without.warm_up_text) == (30 * 86400, "30d")
    assert _pack_rule(WARMED.replace("warm_up: 7d", "warm_up: 0d")).warm_up == 0
    split = next(r for r in PACK.correlations if r.id == "split-shipment-small-parcels")
    assert split.warm_up is None  # reads no new_consignees: no record, no warm-up


def _pack_rule(text: str) -> CorrelationRule:
    return _pack(text).correlations[0]


@pytest.mark.parametrize(
    ("before", "after", "where", "words"),
    [
        ("warm_up: 7d", "warm_up: a week", "11:12", "e.g. '90d'"),
        ("warm_up: 7d", "warm_up: 31d", "11:12", "make it at most 30d"),
        (
            "group.new_consignees >=",
            "group.count >=",
            "11:12",
            "remove 'warm_up', or read group.new_consignees",
        ),
    ],
)
def test_warm_up_problems_say_where_what_and_the_fix(
    before: str, after: str, where: str, words: str
) -> None:
    [problem] = _problems(WARMED.replace(before, after))
    assert problem.startswith(f"correlation/two-parcels.yaml:{where}: rule_schema:"), problem
    assert words in problem


def test_the_first_weeks_example_misses_only_because_of_the_warm_up() -> None:
    """The default rule's miss example "in the record's first weeks" alerts without a
    warm-up: the warm-up, not the data, keeps it silent."""
    [first_weeks] = [e for e in RECEIVERS.examples if e.note and "first weeks" in e.note]
    assert correlate(PACK, first_weeks.manifests, (RECEIVERS,)) == []
    eager = replace(RECEIVERS, warm_up=0)
    assert len(correlate(PACK, first_weeks.manifests, (eager,))) == 1


# ------------------------------------------------------------------- the reference


def test_new_consignees_is_missing_until_the_record_covers_the_warm_up() -> None:
    """The record starts at the stream's first manifest; a member filed exactly warm_up
    after it is covered, one a second earlier is not."""
    rule = replace(RECEIVERS, warm_up=10 * 86400)
    start = [_furniture("F", 0, "A", "OLD")]
    second = 1 / 86400
    early = [_tiles(f"E{n}", day, "A", f"N{n}") for n, day in enumerate((8, 9, 10 - second))]
    assert correlate(PACK, start + early, (rule,)) == []
    on_time = [_tiles(f"T{n}", 8 + n, "A", f"N{n}") for n in range(3)]
    [alert] = correlate(PACK, start + on_time, (rule,))
    assert alert.trigger_manifest_id == "T2" and alert.measures["group.new_consignees"] == 3
    # Given the start of the record, a part of the stream judges as the whole does.
    late = Correlator(PACK, (rule,), record_since=T0)
    assert [a.alert_id for m in on_time for a in late.push(m)] == [alert.alert_id]


# ------------------------------------------------------------- agreement on streams

SHORT = replace(RECEIVERS, id="new-receivers-short", history=60 * 86400, warm_up=20 * 86400)

_streams = st.lists(
    st.tuples(
        st.integers(0, 2),  # consignor
        st.integers(0, 100 * 24 * 60),  # minutes after T0: across the 20-day warm-up
        st.integers(0, 5),  # consignee
        st.sampled_from([True, True, True, False]),  # tiles (joins) or furniture (history)
    ),
    max_size=18,
)


def _stream(spec: list[tuple[int, int, int, bool]]) -> list[Manifest]:
    make = {True: _tiles, False: _furniture}
    return sorted(
        (
            make[tiles](f"M{n}", minutes / 1440, f"CONSIGNOR {who}", f"BUYER {to}")
            for n, (who, minutes, to, tiles) in enumerate(spec)
        ),
        key=order_key,
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(_streams, st.booleans())
def test_reference_store_and_rete_agree_with_a_warm_up(
    db: Engine, spec: list[tuple[int, int, int, bool]], rete_judge: bool
) -> None:
    empty_correlation(db)
    manifests = _stream(spec)
    rules = (SHORT, RECEIVERS)
    expected = _lines(correlate(PACK, manifests, rules))
    rete = ReteCorrelator(PACK, rules)
    try:
        assert _lines([a for m in manifests for a in rete.push(m)]) == expected
    finally:
        rete.close()
    store = CorrelationStore(db, judge=ReteGroupJudge() if rete_judge else None)
    joiner = Joiner(rules, PACK.lanes)
    assert _lines([a for m in manifests for a in screened(store, m, joiner=joiner)]) == expected


# ------------------------------------------------------------------------ cold start


def _honest_trade(days: int, consignors: int = 30, seed: int = 7) -> list[Manifest]:
    """Each consignor ships tiles to its own five regular consignees, each about monthly."""
    chance = random.Random(seed)
    out: list[Manifest] = []
    for who in range(consignors):
        for to in range(5):
            day = chance.uniform(0, 30)
            while day < days:
                out.append(
                    _tiles(f"H{who}-{to}-{day:.3f}", day, f"TILER {who}", f"SHOP {who}-{to}")
                )
                day += chance.uniform(20, 40)
    return sorted(out, key=order_key)


def test_a_fresh_store_fed_honest_trade_stays_silent_but_catches_a_later_fan_out(
    db: Engine,
) -> None:
    empty_correlation(db)
    trade = _honest_trade(days=120)
    # Without the warm-up, the first weeks of this trade flood the rule.
    assert len(_received(correlate(PACK, trade, (replace(RECEIVERS, warm_up=0),)))) > 30
    fan_out = [_tiles(f"FAN{n}", 100 + 3 * n, "TILER 3", f"FRONT {n}") for n in range(3)]
    stream = sorted(trade + fan_out, key=order_key)
    store = CorrelationStore(db)
    joiner = Joiner(PACK.correlations, PACK.lanes)
    raised = _received([a for m in stream for a in screened(store, m, joiner=joiner)])
    # The fan-out's third new consignee completes it; TILER 3's next shipments within the
    # window still see three new receivers in the group (one alert per completing member).
    assert raised[0].trigger_manifest_id == "FAN2"
    assert raised[0].measures["group.new_consignees"] == 3
    assert {a.entity for a in raised} == {"consignor TILER 3 (CN)"}
    assert _lines(raised) == _lines(_received(correlate(PACK, stream)))


def test_the_record_start_is_the_earliest_manifest_noted_and_outlives_the_sweep(
    db: Engine,
) -> None:
    empty_correlation(db)
    joiner = Joiner((RECEIVERS,), PACK.lanes)
    first = CorrelationStore(db)
    screened(first, _tiles("LATE", 5, "A", "B"), joiner=joiner)
    assert first.record_since(RECEIVERS.id) == micros(T0 + 5 * DAY)
    other = CorrelationStore(db)  # another worker, which meets an earlier filing
    screened(other, _furniture("EARLY", 1, "A", "C"), joiner=joiner)
    other.flush()
    assert first.record_since(RECEIVERS.id) == micros(T0 + DAY)
    first.sweep(micros(T0 + 800 * DAY), (RECEIVERS,))
    assert CorrelationStore(db).record_since(RECEIVERS.id) == micros(T0 + DAY)


# ------------------------------------------------------------------- seeding from the log


def _clear_correlation(url: str) -> None:
    engine = open_database(url)
    empty_correlation(engine)
    engine.dispose()


def _log_history(settings: Settings, history: list[Manifest]) -> None:
    """Screen ``history`` through a service (so it is in the decision log), then empty the
    correlation tables: a store whose record was never kept, or was lost."""
    with live_api(settings) as api, api.client() as client:
        for manifest in history:
            answer = client.post("/v1/screen", content=manifest.model_dump_json(), headers=JSON)
            assert answer.status_code == 200, answer.text
        assert api.service.log.caught_up(timeout=30)
    _clear_correlation(settings.resolved_database_url())


def test_seeding_reads_the_log_in_chunks_once_per_rule(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    history = [_furniture(f"LOG{n}", -100 + 10 * n, "TILER A", f"SHOP {n}") for n in range(5)]
    _log_history(settings, history)
    url = settings.resolved_database_url()
    db = open_database(url)
    decisions = DecisionLog(url)
    try:
        store = CorrelationStore(db)
        [seeded] = seed_records(store, decisions, PACK.correlations, chunk=2)
        assert seeded == Seeded(RECEIVERS.id, 5, micros(T0 - 100 * DAY))
        assert store.record_since(RECEIVERS.id) == micros(T0 - 100 * DAY)
        assert store.rows() == (0, 5)  # one shipment per (consignor, shop)
        # Another worker (or a restart) finds it taken: a rule is seeded once.
        assert seed_records(CorrelationStore(db), decisions, PACK.correlations) == []
    finally:
        decisions.close()
        db.dispose()


def test_a_seeding_given_up_or_abandoned_is_taken_again_and_a_done_one_never(
    tmp_path: Path,
) -> None:
    """A seeding stopped by a shutdown gives its claim up, so the next start seeds the rule;
    a claim whose worker died (no sign of life for SEEDING_LEASE) is taken over; a rule
    seeded once is never seeded again."""
    settings = Settings(data_dir=tmp_path)
    history = [_furniture(f"LOG{n}", -100 + 10 * n, "TILER A", f"SHOP {n}") for n in range(5)]
    _log_history(settings, history)
    url = settings.resolved_database_url()
    db = open_database(url)
    decisions = DecisionLog(url)
    try:
        store = CorrelationStore(db)
        stopped = seed_records(store, decisions, [RECEIVERS], chunk=2, stopped=lambda: True)
        assert stopped == [] and store.unseeded([RECEIVERS.id]) == {RECEIVERS.id}
        # A worker killed while seeding: its claim holds for the lease, then is taken over.
        now = datetime.now(UTC)
        assert store.claim_seeding(RECEIVERS.id, now)
        assert not store.claim_seeding(RECEIVERS.id, now + SEEDING_LEASE / 2)
        assert store.claim_seeding(RECEIVERS.id, now + SEEDING_LEASE * 2)
        store.end_seeding([RECEIVERS.id], done=False)  # as that worker's successor gives up
        [seeded] = seed_records(store, decisions, [RECEIVERS], chunk=2)
        assert seeded.decisions == 5 and store.unseeded([RECEIVERS.id]) == set()
        assert not store.claim_seeding(RECEIVERS.id, now + SEEDING_LEASE * 100)
    finally:
        decisions.close()
        db.dispose()


def test_a_worker_seeds_what_a_dead_worker_left_unseeded(tmp_path: Path) -> None:
    """The service asks again (check_seeding, each SEEDING_LEASE in its follow loop) while a
    rule's record is unseeded: a claim left by a dead worker, once stale, is seeded."""
    settings = Settings(data_dir=tmp_path)
    _log_history(settings, [_furniture("LOG-A1", -120, "TILER A", "SHOP 1")])
    db = open_database(settings.resolved_database_url())
    stale = datetime.now(UTC) - SEEDING_LEASE * 2
    assert CorrelationStore(db).claim_seeding(RECEIVERS.id, stale)  # then the worker died
    db.dispose()
    with live_api(settings) as api:
        api.service.wait_for_seeding()
        # The start found the claim stale and seeded it; nothing is pending any more.
        assert api.service.correlation.unseeded([RECEIVERS.id]) == set()
        api.service.check_seeding()
        assert not api.service.seeding_pending


def test_the_service_seeds_an_empty_record_from_the_decision_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A consignee seen in the log before is not new after a restart with an empty
    correlation record; one never seen is, once the seeded record covers the warm-up."""
    settings = Settings(data_dir=tmp_path)
    history = [
        _furniture("LOG-A1", -120, "TILER A", "SHOP 1"),
        _tiles("LOG-A2", -60, "TILER A", "SHOP 2"),
        _furniture("LOG-C1", -100, "TILER C", "SHOP 9"),
    ]
    _log_history(settings, history)
    known = [_tiles(f"A{n}", n, "TILER A", f"SHOP {n + 1}") for n in range(3)]
    unknown = [_tiles(f"C{n}", n, "TILER C", f"NEW SHOP {n}") for n in range(3)]
    with (
        caplog.at_level(logging.INFO, logger="assay.correlation"),
        live_api(settings) as api,
        api.client() as client,
    ):
        api.service.wait_for_seeding()
        flagged = {}
        for manifest in known + unknown:
            answer = client.post("/v1/screen", content=manifest.model_dump_json(), headers=JSON)
            assert answer.status_code == 200, answer.text
            flagged[manifest.manifest_id] = [f["rule_id"] for f in answer.json()["flags"]]
    assert RECEIVERS.id not in flagged["A2"]  # SHOP 1 and SHOP 2 were served before
    assert RECEIVERS.id in flagged["C2"]  # three new shops of TILER C
    assert (
        f"seeded the record of {RECEIVERS.id} from 3 logged decisions since "
        f"{(T0 - 120 * DAY).isoformat().replace('+00:00', 'Z')}" in caplog.text
    )
