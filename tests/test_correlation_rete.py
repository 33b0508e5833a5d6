"""The durable_rules evaluator of correlation rules: the same alerts as the reference, the
traps of durable_rules avoided, and the rules it cannot express delegated to Python, loudly."""

from __future__ import annotations

import json
import logging
import random
import re
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import durable_rules_engine as dre
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from assay.cli.main import app
from assay.engine.contracts import Manifest
from assay.engine.correlation.evaluator import (
    Correlator,
    Member,
    OutOfOrderError,
    correlate,
    holds,
    make_alert,
    measure,
)
from assay.engine.correlation.rete import (
    MAX_CHAIN,
    ChainRuleset,
    OffenderShape,
    ReteCorrelator,
    ReteWindowJudge,
    chain_length,
    fact_text,
    offender_definition,
    offender_shape,
)
from assay.engine.ruleset import RuleSet
from tests.test_correlation import PACK, RULE, SPLIT, T0, _manifest, _pack, _stream, _streams

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Entity keys whose 32-bit FNV-1a hashes (durable_rules' join index) are equal.
COLLIDING_IDS = ("EX0324246", "EX1065780")
COLLIDING_KEYS_IDS = ("EX0039599", "EX0222382")  # as consignor=CN/<id>


def _run(ruleset: RuleSet, manifests: list[Manifest], **options: Any) -> list[dict[str, Any]]:
    evaluator = ReteCorrelator(ruleset, **options)
    try:
        return [a.to_json() for m in manifests for a in evaluator.push(m)]
    finally:
        evaluator.close()


def _reference(ruleset: RuleSet, manifests: list[Manifest]) -> list[dict[str, Any]]:
    correlator = Correlator(ruleset)
    return [a.to_json() for m in manifests for a in correlator.push(m)]


def _ordered(manifests: list[Manifest]) -> list[Manifest]:
    return sorted(manifests, key=lambda m: (m.filed_at, m.manifest_id))


def _fnv1a(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return value


# ------------------------------------------------------------ which rules run where


def test_the_split_and_repeat_offender_rules_run_in_durable_rules_the_others_loudly_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="assay.correlation.rete"):
        evaluator = ReteCorrelator(PACK)
    evaluator.close()
    assert set(evaluator.delegated) == {
        "one-sender-many-new-receivers",
        "volume-jump-controlled-heading",
    }
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2
    assert all("runs in the Python reference evaluator, not durable_rules" in m for m in logged)


def test_durable_rules_cannot_sum_over_a_window_volume_jump_runs_in_python() -> None:
    jump = next(r for r in PACK.correlations if r.id == "volume-jump-controlled-heading")
    reason = chain_length(jump)
    assert isinstance(reason, str)
    assert reason.startswith("durable_rules cannot sum over a window")
    receivers = next(r for r in PACK.correlations if r.id == "one-sender-many-new-receivers")
    assert chain_length(receivers) == (
        "durable_rules cannot count distinct values (group.new_consignees)"
    )
    # ... and a delegated rule still alerts exactly as the reference says.
    heavy = [
        _manifest(f"J{n}", T0 + timedelta(days=d), mode="sea", kg=kg, hs_code="690721")
        for n, (d, kg) in enumerate([(0, 400), (95, 3000), (96, 3000)])
    ]
    expected = _reference(PACK, heavy)
    assert [a["rule_id"] for a in expected] == ["volume-jump-controlled-heading"]
    assert _run(PACK, heavy) == expected


@pytest.mark.parametrize(
    ("alert_when", "expected"),
    [
        ("group.count >= params.min_parcels", 2),
        ("group.count > 3", 4),
        ("4 <= group.count", 4),
        ("3 < group.count", 4),
        ("group.count >= 3.5", 4),
        ("group.count >= 0", 1),
        (f"group.count >= {MAX_CHAIN + 1}", "longer than"),
        ("group.count <= 3", "not a count threshold"),
        ("group.count >= 4 and group.span_hours <= 10", "not a count threshold"),
        ("group.mass_kg >= 100", "cannot sum over a window (group.mass_kg)"),
        ("group.distinct_consignees >= 2", "cannot count distinct values"),
    ],
)
def test_which_alert_when_shapes_durable_rules_takes(alert_when: str, expected: int | str) -> None:
    rule = _pack(RULE.replace("group.count >= params.min_parcels", alert_when)).correlations[0]
    found = chain_length(rule)
    if isinstance(expected, int):
        assert found == expected
    else:
        assert isinstance(found, str) and expected in found, found


def test_a_count_rule_whose_explanation_reads_the_baseline_is_delegated() -> None:
    text = RULE.replace("window: 1h", "window: 1h\n  baseline: 1h").replace(
        "{group.count} parcels", "{group.count} ({baseline.count} before) parcels"
    )
    rule = _pack(text).correlations[0]
    assert "baseline.count" in str(chain_length(rule))


# ------------------------------------------------------------- the same alerts as the oracle


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_streams, st.sampled_from([1, 2, 64]))
def test_same_alerts_as_the_reference_on_generated_streams(
    spec: list[tuple[int, int, str, float, int]], shards: int
) -> None:
    manifests = _ordered(_stream(spec))
    assert _run(PACK, manifests, shards=shards) == _reference(PACK, manifests)


_count_rules = st.tuples(
    st.integers(1, 6),  # N
    st.sampled_from(["1h", "2h", "6h", "48h"]),
    st.sampled_from(["consignor", "consignee", "route", "[consignor, consignee]"]),
    st.sampled_from([">=", ">"]),
)
_bursts = st.lists(
    st.tuples(
        st.integers(0, 2),  # consignor
        st.integers(0, 12 * 60),  # minutes
        st.integers(0, 2),  # consignee
        st.sampled_from(["express", "express", "sea"]),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_count_rules, _bursts)
def test_same_alerts_as_the_reference_on_generated_count_rules(
    shape: tuple[int, str, str, str], spec: list[tuple[int, int, int, str]]
) -> None:
    n, window, group_by, op = shape
    text = (
        RULE.replace("window: 1h", f"window: {window}")
        .replace("group_by: consignor", f"group_by: {group_by}")
        .replace("group.count >= params.min_parcels", f"group.count {op} {n}")
        .replace(
            "{group.count} parcels within {window}",
            "{group.count} parcels ({group.mass_kg} kg, {group.span_hours} h, "
            "{group.distinct_consignees} receivers) within {window}",
        )
        .replace("at least {params.min_parcels}", "at least " + str(n))
    )
    pack = _pack(text)
    manifests = _ordered(
        [
            _manifest(
                f"M{k}",
                T0 + timedelta(minutes=minutes),
                f"C{who}",
                consignee=f"B{to}",
                mode=mode,
            )
            for k, (who, minutes, to, mode) in enumerate(spec)
        ]
    )
    assert _run(pack, manifests, shards=2) == _reference(pack, manifests)


@settings(max_examples=100, deadline=None)
@given(
    st.integers(-62_135_596_800, 253_402_300_000 - 7200),  # seconds: year 1 to 9999
    st.integers(-3, 3),  # microseconds after one window
)
def test_the_window_bound_is_exact_to_the_microsecond_in_any_year(
    start: int, offset_us: int
) -> None:
    """durable_rules compares the integer microseconds of filed_at exactly: a member filed
    exactly one window after the first joins its group, a microsecond later it does not."""
    pack = _pack(RULE)
    first = EPOCH + timedelta(seconds=start)
    second = first + timedelta(hours=1, microseconds=offset_us)
    manifests = [_manifest("M1", first), _manifest("M2", second)]
    alerts = _run(pack, manifests)
    assert len(alerts) == (1 if offset_us <= 0 else 0)
    assert alerts == _reference(pack, manifests)


def test_members_filed_at_the_same_microsecond_keep_manifest_id_order() -> None:
    same = [_manifest(f"S{n}", T0) for n in (3, 1, 2, 0)]
    manifests = _ordered(same)
    alerts = _run(PACK, manifests)
    assert alerts == _reference(PACK, manifests)
    assert alerts[0]["manifest_ids"] == ["S0", "S1", "S2", "S3"]


def test_a_fifth_member_lists_every_member_of_the_window() -> None:
    parcels = [_manifest(f"P{n}", T0 + timedelta(hours=n)) for n in range(6)]
    alerts = _run(PACK, parcels)
    assert [len(a["manifest_ids"]) for a in alerts] == [4, 5, 6]
    assert alerts == _reference(PACK, parcels)


# --------------------------------------------------------------------- durable_rules' traps


_COLLISION = """
import sys
import durable_rules_engine as dre, json
from assay.engine.correlation.rete import ChainRuleset, fact_text
engine = ChainRuleset("collision", 2, 10)
fired = []
for n, key in enumerate([sys.argv[1], sys.argv[2], sys.argv[1], sys.argv[2]], 1):
    for f in engine.assert_fact(fact_text("0", n, n, key)):
        fired.append([f["sequence"]["m1"]["n"], f["sequence"]["m2"]["n"]])
print(json.dumps(fired))
"""

_RAW_COLLISION = """
import durable_rules_engine as dre, json, sys
sentinel = sys.argv[1] == 'yes'; a, b = sys.argv[2], sys.argv[3]
def later(p):
    ops = [{'kind': 'member'}, {'$gt': {'n': {p: 'n'}}}, {'e': {'m1': 'e'}}]
    if sentinel: ops.append({'one': {'m1': 'one'}})
    return {'$and': ops}
R = {'r': {'all': [{'m1': {'kind': 'member'}}, {'m2': later('m1')}]}}
h = dre.create_ruleset('c', json.dumps(R))
fired = 0
for n, e in enumerate([a, b, a, b], 1):
    fact = {'sid': '0', 'id': str(n), 'kind': 'member', 'n': n, 't': n, 'e': e, 'one': 1}
    r = dre.assert_fact(h, json.dumps(fact))
    x = dre.start_action_for_state(h, r[1])
    while x:
        fired += 1; x = dre.complete_and_start_action(h, r[1])
print('fired', fired)
"""


def _python(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_raw_colliding_join_keys_with_the_entity_join_last_crash_durable_rules() -> None:
    """The trap itself: two keys with one hash in a session, ``==`` last -> SIGSEGV (it
    depends on the memory layout, so three tries: a crash in any shows the trap); the same
    rule with the sentinel join after it fires the right pairs."""
    assert _fnv1a(COLLIDING_IDS[0]) == _fnv1a(COLLIDING_IDS[1])
    tries = [_python(_RAW_COLLISION, "no", *COLLIDING_IDS) for _ in range(3)]
    assert any(t.returncode == -11 for t in tries), tries  # SIGSEGV
    guarded = _python(_RAW_COLLISION, "yes", *COLLIDING_IDS)
    assert (guarded.returncode, guarded.stdout) == (0, "fired 2\n"), guarded


def test_colliding_entity_keys_in_one_shard_are_kept_apart_by_the_sentinel_join() -> None:
    ran = _python(_COLLISION, *COLLIDING_IDS)
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout) == [[1, 3], [2, 4]]  # each key joined with itself only


_COLLIDING_STREAM = """
import sys, json
from datetime import timedelta
sys.path.insert(0, sys.argv[1])
from tests.test_correlation import PACK, T0, _manifest
from assay.engine.correlation.rete import ReteCorrelator
from assay.engine.correlation.evaluator import correlate
manifests = []
for n in range(10):
    m = _manifest(f"P{n}", T0 + timedelta(hours=n))
    who = m.consignor.model_copy(update={"identifier": sys.argv[2 + n % 2]})
    manifests.append(m.model_copy(update={"consignor": who}))
evaluator = ReteCorrelator(PACK, shards=1)
got = [a.to_json() for m in manifests for a in evaluator.push(m)]
want = [a.to_json() for a in correlate(PACK, manifests)]
print(json.dumps([got == want, [a["entity_key"] for a in got]]))
"""


def test_a_stream_of_two_consignors_whose_keys_collide_gives_the_reference_alerts() -> None:
    keys = [f"consignor=CN/{i}" for i in COLLIDING_KEYS_IDS]
    assert _fnv1a(keys[0]) == _fnv1a(keys[1])
    ran = _python(_COLLIDING_STREAM, str(ROOT), *COLLIDING_KEYS_IDS)
    assert ran.returncode == 0, ran.stderr
    same, entity_keys = json.loads(ran.stdout)
    assert same
    assert sorted(entity_keys) == sorted(keys * 2)  # 5 members each: 2 alerts each


def test_raw_a_fact_missing_a_compared_field_poisons_its_session() -> None:
    """Why every fact is checked before it is asserted (CORRELATION_NOTES §1.4): a fact
    without ``t`` is stored without complaint, and every later fact of its session fails."""
    engine = ChainRuleset("poison", 2, 10)
    bad = {"sid": "0", "id": "1", "kind": "member", "n": 1, "e": "A", "one": 1}
    engine.assert_fact(json.dumps(bad))
    with pytest.raises(dre.error, match="311"):
        engine.assert_fact(fact_text("0", 2, 2, "A"))
    engine.assert_fact(fact_text("1", 3, 3, "A"))  # another shard is unharmed
    engine.close()


@pytest.mark.parametrize(
    ("n", "t", "key", "problem"),
    [
        (1, None, "A", "must be integers"),
        (1, 1.5, "A", "must be integers"),
        (True, 1, "A", "must be integers"),
        (1, 1, "", "entity key is empty"),
    ],
)
def test_facts_are_checked_before_they_reach_durable_rules(
    n: Any, t: Any, key: str, problem: str
) -> None:
    with pytest.raises((TypeError, ValueError), match=problem):
        fact_text("0", n, t, key)


def test_a_key_durable_rules_cannot_store_byte_for_byte_is_sent_hex_encoded() -> None:
    assert json.loads(fact_text("0", 1, 1, 'A"B\\C'))["e"] == "hex:" + b'A"B\\C'.hex()
    assert json.loads(fact_text("0", 1, 1, "consignor=CN/ÜBER"))["e"] == "consignor=CN/ÜBER"


def test_no_background_threads_and_out_of_order_is_refused() -> None:
    before = threading.active_count()
    evaluator = ReteCorrelator(PACK)
    evaluator.push(_manifest("LATE", T0 + timedelta(hours=1)))
    assert threading.active_count() == before
    with pytest.raises(OutOfOrderError, match="feed manifests in filed_at order"):
        evaluator.push(_manifest("EARLY", T0))
    evaluator.close()


def test_facts_are_retracted_as_data_time_passes() -> None:
    """After 60 days of 40 members a day, durable_rules holds the last 48 hours' facts only
    (counted with get_facts over every shard)."""
    evaluator = ReteCorrelator(PACK, rules=(SPLIT,))
    last = T0
    for day in range(60):
        for n in range(40):
            last = T0 + timedelta(days=day, minutes=30 * n)
            evaluator.push(_manifest(f"D{day}-{n}", last, f"C{n % 25}"))
    live = evaluator.live_facts()[SPLIT.id]
    in_window = sum(
        1
        for day in range(60)
        for n in range(40)
        if T0 + timedelta(days=day, minutes=30 * n) >= last - timedelta(hours=48)
    )
    assert live == in_window  # 2,400 pushed, 80 + 1 live
    evaluator.close()


# ---------------------------------------------------------------- the synchronous path


def _member(n: int, hours: float, kg: float = 12.0, consignee: str = "US/name:B") -> Member:
    at = T0 + timedelta(hours=hours)
    micros = (at - EPOCH) // timedelta(microseconds=1)
    return Member(micros, f"W{n}", at, kg, "CN/name:A", consignee, False)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.floats(0, 120, allow_nan=False), max_size=12), st.floats(0, 130))
def test_the_window_judge_agrees_with_the_reference(earlier: list[float], now: float) -> None:
    judge = JUDGE
    members = [_member(n, h) for n, h in enumerate(sorted(h for h in earlier if h <= now))]
    new = _member(99, now)
    got = judge.judge(SPLIT, "consignor=CN/name:A", "consignor A (CN)", members, new)
    group = [*members, new]
    measures = measure(SPLIT, group, new.t)
    want = (
        make_alert(SPLIT, "consignor=CN/name:A", "consignor A (CN)", group, new.t, measures)
        if holds(SPLIT.alert_when, measures)
        else None
    )
    assert (got and got.to_json()) == (want and want.to_json())


JUDGE = ReteWindowJudge()


def test_the_window_judge_deletes_its_sessions() -> None:
    """1,200 judgements: more than the 1,024 sessions durable_rules can hold at once."""
    members = [_member(n, n) for n in range(3)]
    for k in range(1_200):
        alert = JUDGE.judge(SPLIT, "consignor=CN/name:A", "A", members, _member(9, 3 + k / 1e3))
        assert alert is not None


def test_the_window_judge_judges_a_delegated_rule_in_python() -> None:
    receivers = next(r for r in PACK.correlations if r.id == "one-sender-many-new-receivers")
    members = [
        replace(_member(n, 24 * n, consignee=f"US/name:B{n}"), new_consignee=True) for n in range(3)
    ]
    alert = JUDGE.judge(receivers, "consignor=CN/name:A", "A", members[:2], members[2])
    assert alert is not None and alert.rule_id == receivers.id


# ------------------------------------------------------------------------------ the CLI


def test_screen_alerts_with_the_rete_engine_writes_the_same_bytes(tmp_path: Path) -> None:
    parcels = [_manifest(f"P{n}", T0 + timedelta(hours=7 * n)) for n in range(9)]
    parcels += [
        _manifest(f"J{n}", T0 + timedelta(days=d), mode="sea", kg=kg, hs_code="690721")
        for n, (d, kg) in enumerate([(0, 400), (95, 3000), (96, 3000)])
    ]
    inputs = tmp_path / "in.jsonl"
    inputs.write_text("".join(m.model_dump_json() + "\n" for m in reversed(parcels)), "utf-8")
    outputs = {}
    for engine in ("compiled", "rete"):
        target = tmp_path / f"alerts-{engine}.jsonl"
        command = ["screen", str(inputs), "-o", str(tmp_path / f"o-{engine}.jsonl")]
        result = runner.invoke(app, [*command, "--engine", engine, "--alerts", str(target)])
        assert result.exit_code == 0, result.output
        outputs[engine] = (target.read_bytes(), result.output)
    assert outputs["rete"][0] == outputs["compiled"][0]
    written = [json.loads(line)["rule_id"] for line in outputs["rete"][0].splitlines()]
    assert written == [a.rule_id for a in correlate(PACK, parcels)]
    assert set(written) == {"split-shipment-small-parcels", "volume-jump-controlled-heading"}
    said = outputs["rete"][1]
    assert "volume-jump-controlled-heading runs in Python" in said
    assert "durable_rules cannot sum over a window" in said
    assert "runs in Python" not in outputs["compiled"][1]


def _long_stream(seed: int, count: int = 3_000) -> list[Manifest]:
    rng = random.Random(seed)
    return _ordered(
        [
            _manifest(
                f"L{n:05d}",
                T0 + timedelta(minutes=rng.randrange(20 * 24 * 60)),
                f"SHIPPER {rng.randrange(150)}",
                consignee=f"BUYER {rng.randrange(40)}",
                mode=rng.choice(["express", "postal", "sea"]),
                kg=rng.choice([12, 12, 29.9, 30, 1500]),
                hs_code=rng.choice(["381010", "690721", "940360"]),
            )
            for n in range(count)
        ]
    )


def test_same_alerts_as_the_reference_on_a_long_stream_of_many_consignors() -> None:
    """3,000 manifests of 150 consignors over 20 days through 64 shards: every alert equal,
    in the same order (the generated streams above are short and have 3 consignors)."""
    manifests = _long_stream(18)
    got = _run(PACK, manifests)
    assert got == _reference(PACK, manifests)
    assert {a["rule_id"] for a in got} >= {"split-shipment-small-parcels"}


def test_state_is_rebuilt_by_replaying_one_window() -> None:
    """A fresh evaluator fed the manifests of the 48 hours before a restart point (their
    alerts discarded) raises, from there on, exactly the alerts of an uninterrupted run."""
    manifests = _long_stream(19)
    cut = len(manifests) // 2
    restart = manifests[cut].filed_at
    assert restart is not None
    whole = _run(PACK, manifests, rules=(SPLIT,))
    after = {m.manifest_id for m in manifests[cut:]}
    expected = [a for a in whole if a["trigger_manifest_id"] in after]
    evaluator = ReteCorrelator(PACK, rules=(SPLIT,))
    for manifest in manifests[:cut]:
        if manifest.filed_at and manifest.filed_at >= restart - timedelta(hours=48):
            evaluator.push(manifest)  # replay: these alerts were written before
    resumed = [a.to_json() for m in manifests[cut:] for a in evaluator.push(m)]
    evaluator.close()
    assert resumed == expected and expected


def test_every_test_the_durable_rules_doc_names_exists() -> None:
    doc = (ROOT / "docs" / "durable_rules.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Correlation rules on durable_rules") :]
    named = set(re.findall(r"`(test_[a-z0-9_]+)`", section))
    here = set(re.findall(r"^def (test_[a-z0-9_]+)", Path(__file__).read_text("utf-8"), re.M))
    assert named and named <= here, named - here


# ------------------------------------------------------------------- repeat offenders

OFFENDER_RULE = """\
id: seized-again
title: An entity with seizures files again
pattern: repeat_offender
severity: high
score: 40
correlation:
  group_by: consignor
  window: 1h
  history: 365d
  scope: manifest
  each: manifest.total_gross_mass_kg >= 0
  alert_when: history.seizures >= params.min_seizures
params:
  min_seizures: 1
explain: "{entity}: {history.seizures} seizures, {group.count} filings in {window}."
references: ["a test rule"]
examples:
  hit:
    - manifests:
        - manifest: {manifest_id: S1, filed_at: "2026-10-01T00:00:00Z"}
        - manifest: {manifest_id: S2, filed_at: "2026-10-02T00:00:00Z"}
      outcomes:
        - {manifest_id: S1, result: seizure}
  miss:
    - manifests:
        - manifest: {manifest_id: S1, filed_at: "2026-10-01T00:00:00Z"}
        - manifest: {manifest_id: S2, filed_at: "2026-10-02T00:00:00Z"}
"""


def _offender(alert_when: str = "", **settings_: str) -> RuleSet:
    text = OFFENDER_RULE
    if alert_when:
        text = text.replace("history.seizures >= params.min_seizures", alert_when)
    for key, value in settings_.items():
        text = re.sub(rf"(\n  {key}): [^\n]+", rf"\1: {value}", text, count=1)
    return _pack(text, "correlation/seized-again.yaml")


def _seizing(
    pack: RuleSet,
    manifests: list[Manifest],
    seized: set[str],
    later: dict[int, list[int]] | None = None,
    **options: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
    """(rete alerts, reference alerts, rete's delegated) over ``manifests`` with ``seized``,
    and ``later[i]``: the manifests seize() records after the i-th is pushed, in both."""
    rete = ReteCorrelator(pack, seized=seized, **options)
    reference = Correlator(pack, options.get("rules"), seized)
    got: list[dict[str, Any]] = []
    want: list[dict[str, Any]] = []
    try:
        for index, manifest in enumerate(manifests):
            got += [a.to_json() for a in rete.push(manifest)]
            want += [a.to_json() for a in reference.push(manifest)]
            for other in (later or {}).get(index, []):
                rete.seize(manifests[other])
                reference.seize(manifests[other])
    finally:
        rete.close()
    return got, want, rete.delegated


@pytest.mark.parametrize(
    ("alert_when", "expected"),
    [
        ("history.seizures >= params.min_seizures", OffenderShape(1)),
        ("history.seizures > 2", OffenderShape(3)),
        ("2 <= history.seizures", OffenderShape(2)),
        ("1 < history.seizures", OffenderShape(2)),
        ("history.seizures >= 1.5", OffenderShape(2)),
        ("history.seizures >= 0", OffenderShape(0)),
        ("history.seizures >= 2 and group.count >= 3", OffenderShape(2, 3)),
        ("group.count > 1 and history.seizures >= 1", OffenderShape(1, 2)),
        ("history.seizures >= 15", OffenderShape(15)),
        ("history.seizures >= 5 and group.count >= 11", OffenderShape(5, 11)),
        (f"history.seizures >= 0 and group.count >= {MAX_CHAIN}", OffenderShape(0, MAX_CHAIN)),
        ("history.seizures >= 16", "take 33 patterns, and durable_rules joins at most 32"),
        ("history.seizures >= 6 and group.count >= 11", "at most 32 in a rule (error 304)"),
        (f"history.seizures >= 1 and group.count >= {MAX_CHAIN}", "at most 32"),
        ("history.seizures <= 1", "other than a seizure threshold"),
        ("history.seizures >= 1 or group.count >= 3", "other than a seizure threshold"),
        ("history.seizures >= 1 and group.span_hours <= 3", "other than a seizure threshold"),
        ("history.seizures >= 1 and history.seizures >= 2", "other than a seizure threshold"),
        ("history.seizures >= 1 and group.mass_kg >= 3", "other than a seizure threshold"),
        ("group.count >= 2", None),
    ],
)
def test_which_seizure_thresholds_durable_rules_takes(
    alert_when: str, expected: OffenderShape | str | None
) -> None:
    rule = _offender(alert_when).correlations[0]
    found = offender_shape(rule)
    if isinstance(expected, str):
        assert isinstance(found, str) and expected in found, found
    else:
        assert found == expected
    # The count chain (and the window judge) never takes a seizure rule as a count rule.
    if expected is not None:
        assert isinstance(chain_length(rule), str)


def test_a_seizure_rule_reading_the_baseline_in_its_explanation_is_delegated() -> None:
    text = OFFENDER_RULE.replace("window: 1h", "window: 1h\n  baseline: 1h").replace(
        "{group.count} filings", "{group.count} ({baseline.count} before) filings"
    )
    pack = _pack(text, "correlation/seized-again.yaml")
    assert "baseline.count" in str(offender_shape(pack.correlations[0]))
    manifests = [_manifest("A", T0), _manifest("B", T0 + timedelta(days=1))]
    got, want, delegated = _seizing(pack, manifests, {"A"})
    assert "seized-again" in delegated
    assert got == want and len(got) == 1


_offender_rules = st.tuples(
    st.integers(0, 3),  # N seizures
    st.sampled_from([None, 1, 2, 3]),  # and group.count >= M
    st.sampled_from(["1h", "48h", "30d"]),  # window
    st.sampled_from(["1h", "2d", "30d", "365d"]),  # history
    st.sampled_from(  # group_by, scope, each
        [
            ("consignor", "manifest", "manifest.total_gross_mass_kg >= 0"),
            ("consignee", "manifest", 'manifest.transport_mode == "EXPRESS"'),
            ("[consignor, consignee]", "manifest", "manifest.total_gross_mass_kg >= 0"),
            ("[consignor, hs_heading]", "item", "item.gross_mass_kg < 20"),
        ]
    ),
)
_seized_streams = st.lists(
    st.tuples(
        st.integers(0, 2),  # consignor
        # minutes after T0: bursts within two days, or over two years (history's bounds)
        st.one_of(st.integers(0, 48 * 60), st.integers(0, 800 * 24 * 60)),
        st.integers(0, 2),  # consignee
        st.sampled_from(["express", "express", "sea"]),
        st.booleans(),  # seized
        st.sampled_from([("381010", 12), ("381010", 30), ("690721", 12)]),  # hs_code, kg
    ),
    max_size=24,
)
_later_seizures = st.dictionaries(st.integers(0, 23), st.lists(st.integers(0, 23), max_size=2))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_offender_rules, _seized_streams, _later_seizures, st.sampled_from([1, 2, 64]))
def test_same_alerts_as_the_reference_on_generated_seizure_rules(
    shape: tuple[int, int | None, str, str, tuple[str, str, str]],
    spec: list[tuple[int, int, int, str, bool, tuple[str, int]]],
    later: dict[int, list[int]],
    shards: int,
) -> None:
    """Generated repeat-offender rules (N seizures, optionally and M members, any window and
    history, grouped by parties or by heading) over generated streams with seizures, given
    with the stream and recorded later by seize() (of earlier or later manifests): every
    alert equal, counts and all."""
    n, m, window, history, (group_by, scope, each) = shape
    alert_when = f"history.seizures >= {n}" + (f" and group.count >= {m}" if m else "")
    pack = _offender(
        alert_when, window=window, history=history, group_by=group_by, scope=scope, each=each
    )
    manifests = _ordered(
        [
            _manifest(
                f"M{k}",
                T0 + timedelta(minutes=minutes),
                f"C{who}",
                consignee=f"B{to}",
                mode=mode,
                hs_code=hs_code,
                kg=kg,
            )
            for k, (who, minutes, to, mode, _seized, (hs_code, kg)) in enumerate(spec)
        ]
    )
    seized = {f"M{k}" for k, row in enumerate(spec) if row[4]}
    later = {i: [j for j in js if j < len(manifests)] for i, js in later.items()}
    got, want, delegated = _seizing(pack, manifests, seized, later, shards=shards)
    assert not delegated
    assert got == want


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_streams, st.sets(st.integers(0, 15)))
def test_same_alerts_as_the_reference_on_generated_streams_with_seizures(
    spec: list[tuple[int, int, str, float, int]], seized_at: set[int]
) -> None:
    """The default pack, its two repeat-offender rules in durable_rules, with seizures."""
    manifests = _ordered(_stream(spec))
    seized = {f"M{k}" for k in seized_at}
    got, want, delegated = _seizing(PACK, manifests, seized)
    assert set(delegated) == {"one-sender-many-new-receivers", "volume-jump-controlled-heading"}
    assert got == want


@settings(max_examples=100, deadline=None)
@given(
    st.integers(-62_135_596_800, 253_402_300_000 - 400 * 86400),  # seconds: year 1 to 9999
    st.integers(-3, 3),  # microseconds after 365 days
)
def test_the_history_bound_is_exact_to_the_microsecond_in_any_year(
    start: int, offset_us: int
) -> None:
    """A seizure counts for a filing exactly 365 days later, not a microsecond after."""
    rule = next(r for r in PACK.correlations if r.id == "repeat-offender")
    first = EPOCH + timedelta(seconds=start)
    again = first + timedelta(days=365, microseconds=offset_us)
    manifests = [_manifest("SEIZED", first), _manifest("AGAIN", again)]
    got, want, _ = _seizing(PACK, manifests, {"SEIZED"}, rules=(rule,))
    assert got == want
    assert [a["trigger_manifest_id"] for a in got] == (["AGAIN"] if offset_us <= 0 else [])


def test_a_seizure_counts_from_the_next_filing_at_the_same_microsecond_never_its_own() -> None:
    """The lower end of the history, inclusive: a filing at the seized manifest's own
    microsecond (after it in manifest_id order) counts it; the seized manifest does not."""
    manifests = [_manifest("A", T0), _manifest("B", T0), _manifest("C", T0)]
    got, want, _ = _seizing(_offender(), manifests, {"A", "B"})
    assert got == want
    assert [(a["trigger_manifest_id"], a["measures"]["history.seizures"]) for a in got] == [
        ("B", 1.0),
        ("C", 2.0),
    ]


def test_counts_above_one_and_a_count_threshold_are_the_reference_s() -> None:
    """history.seizures >= 2 and group.count >= 2: the alert says 3 seizures and lists the
    window's members, as the reference does."""
    pack = _offender(
        "history.seizures >= 2 and group.count >= 2",
        window="48h",
        history="30d",
    )
    days = [0, 3, 6, 9, 20, 20.5, 40, 41]
    manifests = [_manifest(f"D{k}", T0 + timedelta(days=d)) for k, d in enumerate(days)]
    got, want, delegated = _seizing(pack, manifests, {"D0", "D1", "D2"})
    assert not delegated and got == want
    assert [(a["trigger_manifest_id"], a["manifest_ids"]) for a in got] == [
        ("D5", ["D4", "D5"])  # D6, D7: D0..D2's seizures are more than 30 days before
    ]
    assert "3 seizures, 2 filings in 48 hours" in got[0]["explanation"]


def test_seizure_facts_are_retracted_as_data_time_passes() -> None:
    """Over three years with a seizure a month, durable_rules holds the seizures of the last
    history and window only, and the members of the window."""
    rule = next(r for r in PACK.correlations if r.id == "repeat-offender")
    manifests = [_manifest(f"Y{k:03d}", T0 + timedelta(days=10 * k)) for k in range(110)]
    seized = {m.manifest_id for m in manifests[::3]}
    evaluator = ReteCorrelator(PACK, rules=(rule,), seized=seized)
    alerts = [a.to_json() for m in manifests for a in evaluator.push(m)]
    live = evaluator.live_facts()[rule.id]
    evaluator.close()
    assert alerts == [a.to_json() for a in correlate(PACK, manifests, (rule,), seized)]
    last = manifests[-1].filed_at
    assert last is not None
    since = last - timedelta(days=365, hours=1)
    held = sum(1 for k in range(0, 110, 3) if T0 + timedelta(days=10 * k) >= since)
    assert live == held + 1  # and the last member


def test_retracting_a_counted_seizure_neither_fires_nor_stales_the_next_join() -> None:
    """A member whose seizure chain matched (s1, s2 of three) could match again (s2, s3) when
    s1 is retracted and the ``none`` it blocked is lifted; durable_rules 2.0.28 does not re-run
    that join (nothing fires), and the next member joins the facts left. ReteCorrelator does
    not rely on either: a seizure fact is retracted only once no live member can count it (a
    window after it leaves the history), and a retraction that fires is an error."""
    engine = ChainRuleset("lifted", 1, 10, offender_definition(OffenderShape(2), 10, 100))
    seizures = [fact_text("0", n, t, "A", "seizure") for n, t in ((1, 0), (2, 10), (3, 20))]
    for text in seizures:
        assert engine.assert_fact(text) == []

    def chains(fired: list[dict[str, Any]]) -> list[tuple[int, int, int]]:
        return [
            (f["offender"]["m1"]["n"], f["offender"]["s1"]["n"], f["offender"]["s2"]["n"])
            for f in fired
        ]

    assert chains(engine.assert_fact(fact_text("0", 4, 50, "A"))) == [(4, 1, 2)]
    assert engine.retract_fact(seizures[0]) == []
    assert chains(engine.assert_fact(fact_text("0", 5, 55, "A"))) == [(5, 2, 3)]
    engine.close()


@pytest.mark.parametrize("rule_id", ["repeat-offender", "repeat-offender-consignee"])
def test_the_repeat_offender_examples_pass_on_durable_rules(rule_id: str) -> None:
    rule = next(r for r in PACK.correlations if r.id == rule_id)
    assert rule.examples
    for example in rule.examples:
        manifests = _ordered(list(example.manifests))
        got, want, delegated = _seizing(PACK, manifests, set(example.seized), rules=(rule,))
        assert not delegated
        assert got == want
        assert bool(got) == example.expect_hit, example.note


def test_raw_durable_rules_keeps_no_fact_that_no_pattern_reads() -> None:
    """Why ``history.seizures >= 0`` still has a seizure pattern (one that never matches): a
    fact of a kind no pattern reads is not stored, so its seizures could not be counted."""
    chain = ChainRuleset("unread", 1, 10)
    chain.assert_fact(fact_text("0", 1, 1, "A"))
    chain.assert_fact(fact_text("0", 2, 1, "A", "seizure"))
    assert [f["kind"] for f in chain.facts("0")] == ["member"]
    chain.close()
    kept = ChainRuleset("kept", 1, 10, offender_definition(OffenderShape(0), 10, 100))
    assert len(kept.assert_fact(fact_text("0", 1, 1, "A"))) == 1  # >= 0 seizures: fires
    assert kept.assert_fact(fact_text("0", 2, 1, "A", "seizure")) == []
    assert sorted(f["kind"] for f in kept.facts("0")) == ["member", "seizure"]
    kept.close()


def test_rules_test_with_the_rete_engine_runs_correlation_examples_on_durable_rules(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``assay rules test --engine rete``: every example passes, correlation examples run on
    ReteCorrelator (only the rules it cannot express are said to run in Python)."""
    with caplog.at_level(logging.WARNING, logger="assay.correlation.rete"):
        result = runner.invoke(app, ["rules", "test", "--engine", "rete"])
    assert result.exit_code == 0, result.output
    assert ", 0 failed" in result.output
    ran_in_python = {r.getMessage().split()[2] for r in caplog.records}
    assert ran_in_python == {"one-sender-many-new-receivers", "volume-jump-controlled-heading"}


def test_raw_a_rule_of_more_than_32_patterns_fails_every_assert() -> None:
    """durable_rules' limit: a rule of 33 patterns compiles and takes facts, then the assert
    that would join them fails (error 304). So a repeat offender whose 2M-1 member and 2N
    seizure patterns exceed 32 is delegated, loudly; one of 31 runs."""
    for seizures, fails in ((15, False), (16, True)):
        shape = OffenderShape(seizures)
        engine = ChainRuleset("limit", 1, 10, offender_definition(shape, 10, 10**12))
        for n in range(1, seizures + 1):
            assert engine.assert_fact(fact_text("0", n, n, "A", "seizure")) == []
        member = fact_text("0", seizures + 1, 100, "A")
        if fails:
            with pytest.raises(dre.error, match="304"):
                engine.assert_fact(member)
        else:
            assert len(engine.assert_fact(member)) == 1
        engine.close()


def test_a_seizure_threshold_beyond_durable_rules_limit_runs_in_python_loudly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pack = _offender("history.seizures >= 16", history="365d")
    manifests = [_manifest(f"S{k:02d}", T0 + timedelta(days=k)) for k in range(18)]
    with caplog.at_level(logging.WARNING, logger="assay.correlation.rete"):
        got, want, delegated = _seizing(pack, manifests, {m.manifest_id for m in manifests})
    assert "durable_rules joins at most 32" in delegated["seized-again"]
    assert any("seized-again runs in the Python" in r.getMessage() for r in caplog.records)
    assert got == want
    assert [a["measures"]["history.seizures"] for a in got] == [16.0, 17.0]
