"""Correlation rules: the language, the reference evaluator, the default pack's rules, and
``assay screen --alerts``."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from assay.cli.main import app
from assay.engine.contracts import Manifest
from assay.engine.correlation.entities import party_key
from assay.engine.correlation.evaluator import Correlator, OutOfOrderError, correlate
from assay.engine.correlation.measures import MEASURES
from assay.engine.errors import AssayError
from assay.engine.examples import run_examples
from assay.engine.rulefile import build_example_manifest
from assay.engine.ruleset import RuleSet, compile_pack, default_pack_dir, read_sources
from assay.engine.store.rulesets import validate_sources

ROOT = Path(__file__).resolve().parent.parent
PACK = compile_pack(read_sources(default_pack_dir()), origin="")
SPLIT = next(rule for rule in PACK.correlations if rule.id == "split-shipment-small-parcels")
T0 = datetime(2026, 10, 1, tzinfo=UTC)
runner = CliRunner()


def _base_sources() -> dict[str, str]:
    """The default pack's pack.yaml and reference files, without its rules."""
    return {
        path: text
        for path, text in read_sources(default_pack_dir()).items()
        if path == "pack.yaml" or path.startswith("reference/")
    }


RULE = """\
id: two-parcels
title: Two parcels within an hour
pattern: split_shipment
severity: high
score: 50
correlation:
  group_by: consignor
  window: 1h
  each: manifest.transport_mode == "EXPRESS"
  alert_when: group.count >= params.min_parcels
params:
  min_parcels: 2
explain: "{entity} filed {group.count} parcels within {window}, at least {params.min_parcels}."
references: ["a test rule"]
examples:
  hit:
    - each: {manifest: {transport_mode: express}}
      manifests:
        - manifest: {filed_at: "2026-10-01T00:00:00Z"}
        - manifest: {filed_at: "2026-10-01T01:00:00Z"}
  miss:
    - each: {manifest: {transport_mode: express}}
      manifests:
        - manifest: {filed_at: "2026-10-01T00:00:00Z"}
        - manifest: {filed_at: "2026-10-01T01:00:01Z"}
"""


def _pack(rule_text: str, name: str = "correlation/two-parcels.yaml") -> RuleSet:
    return compile_pack({**_base_sources(), name: rule_text}, origin="")


def _problems(rule_text: str) -> list[str]:
    with pytest.raises(AssayError) as caught:
        _pack(rule_text)
    return [f"{p.location}: {p.code}: {p.message} | {p.hint}" for p in caught.value.problems]


def _manifest(
    manifest_id: str, at: datetime, consignor: str = "SHENZHEN A", **patch: Any
) -> Manifest:
    data = build_example_manifest(
        PACK.example_base,
        {
            "manifest": {
                "manifest_id": manifest_id,
                "filed_at": at.isoformat(),
                "transport_mode": patch.pop("mode", "express"),
                "country_of_export": "CN",
                "port_of_loading": None,
                "countries_of_routing": ["CN", "US"],
                "consignor": {"name": consignor, "country": "CN"},
                "consignee": {"name": patch.pop("consignee", "BUYER INC"), "country": "US"},
            },
            "item": {
                "hs_code": patch.pop("hs_code", "381010"),
                "description": "SOLDER PASTE SAC305",
                "origin_country": "CN",
                "gross_mass_kg": patch.pop("kg", 12),
                "value": 600,
            },
        },
    )
    return Manifest.model_validate(data)


def _lines(alerts: list[Any]) -> list[str]:
    return sorted(json.dumps(a.to_json(), sort_keys=True) for a in alerts)


# ----------------------------------------------------------------------- the default pack


@pytest.mark.parametrize("rule_id", [rule.id for rule in PACK.correlations])
def test_default_correlation_rule_examples_pass(rule_id: str) -> None:
    outcomes = [o for o in run_examples(PACK) if o.rule_id == rule_id]
    assert {o.expect_hit for o in outcomes} == {True, False}
    assert [o.describe() for o in outcomes if not o.passed] == []


def test_default_pack_has_the_issue_rules_with_sourced_thresholds() -> None:
    ids = {rule.id for rule in PACK.correlations}
    assert ids == {
        "split-shipment-small-parcels",
        "one-sender-many-new-receivers",
        "volume-jump-controlled-heading",
        "repeat-offender",
        "repeat-offender-consignee",
    }
    for rule in PACK.correlations:
        assert all(ref.startswith("REFERENCE.md §") for ref in rule.references)
        text = (default_pack_dir() / rule.file).read_text(encoding="utf-8")
        assert "# Reason:" in text
        header = " ".join(text.split("\nid: ")[0].replace("#", " ").split())
        assert "(Engine.screen) does not run it; the service runs it as it screens" in header


def test_per_manifest_screening_does_not_evaluate_correlation_rules() -> None:
    flagged = {rule.id for rule in PACK.rules}
    assert not flagged & {rule.id for rule in PACK.correlations}


# ------------------------------------------------------------------------ the language


def test_a_correlation_rule_compiles_to_its_intermediate_form() -> None:
    rule = _pack(RULE).correlations[0]
    assert (rule.group_by, rule.window, rule.scope) == (("consignor",), 3600, "manifest")
    assert rule.measures == {"group.count"}
    assert rule.reads == ("manifest.transport_mode",)
    assert [e.expect_hit for e in rule.examples] == [True, False]
    assert [m.manifest_id for m in rule.examples[0].manifests] == [
        "two-parcels-hit1-1",
        "two-parcels-hit1-2",
    ]


def test_unknown_measure_is_reported_at_its_place_with_a_suggestion() -> None:
    [problem] = _problems(RULE.replace("group.count >=", "group.cout >="))
    assert problem.startswith("correlation/two-parcels.yaml:10:15: unknown_name:")
    assert "did you mean 'group.count'?" in problem


def test_each_is_checked_like_a_rule_condition() -> None:
    text = RULE.replace('manifest.transport_mode == "EXPRESS"', 'item.hs6 == "381010"')
    [problem] = _problems(text)
    assert problem.startswith("correlation/two-parcels.yaml:9:9: unknown_name:")
    assert "scope: item" in problem


def test_syntax_errors_in_the_group_condition_point_at_the_token() -> None:
    [problem] = _problems(RULE.replace("group.count >= params", "group.count >= >= params"))
    assert problem.startswith("correlation/two-parcels.yaml:10:30: rule_syntax:")


def test_group_condition_compares_numbers_only() -> None:
    [problem] = _problems(RULE.replace("group.count >= params.min_parcels", 'group.count == "4"'))
    assert problem.startswith("correlation/two-parcels.yaml:10:30: type_mismatch:")


@pytest.mark.parametrize(
    ("before", "after", "where", "words"),
    [
        ("window: 1h", "window: 2 days", "8:11", "e.g. '48h' or '14d'"),
        ("group_by: consignor", "group_by: hs_heading", "7:13", "add 'scope: item'"),
        (
            "group.count >= params.min_parcels",
            "group.new_consignees >= 2",
            "10:15",
            "needs the correlation's 'history'",
        ),
        ("{group.count} parcels", "{group.cont} parcels", "13:27", "did you mean 'group.count'?"),
    ],
)
def test_schema_problems_say_where_what_and_the_fix(
    before: str, after: str, where: str, words: str
) -> None:
    problems = _problems(RULE.replace(before, after))
    assert any(p.startswith(f"correlation/two-parcels.yaml:{where}:") for p in problems), problems
    assert any(words in p for p in problems), problems


def test_measures_are_documented() -> None:
    docs = (ROOT / "docs" / "correlation.md").read_text(encoding="utf-8")
    assert [m.name for m in MEASURES if f"`{m.name}`" not in docs] == []


# ---------------------------------------------------------------- the reference evaluator


@given(st.integers(min_value=-5_000_000, max_value=5_000_000))
def test_windows_expire_exactly_at_their_bound(offset_us: int) -> None:
    """Inclusive: a member filed exactly one window before still counts; a microsecond
    earlier it does not."""
    pack = _pack(RULE)
    second = T0 + timedelta(hours=1, microseconds=offset_us)
    alerts = correlate(pack, [_manifest("M1", T0), _manifest("M2", second)])
    assert bool(alerts) == (offset_us <= 0)


@pytest.mark.parametrize(
    ("later", "in_baseline"),
    [
        (timedelta(hours=2), True),  # exactly window + baseline earlier: the baseline's start
        (timedelta(hours=2, microseconds=1), False),  # a microsecond more: expired
        (timedelta(hours=1, microseconds=1), True),
        (timedelta(hours=1), False),  # exactly one window earlier: in the group, not the baseline
    ],
)
def test_the_baseline_window_is_closed_at_its_start_and_open_at_its_end(
    later: timedelta, in_baseline: bool
) -> None:
    rule = RULE.replace("window: 1h", "window: 1h\n  baseline: 1h").replace(
        "group.count >= params.min_parcels", "baseline.count >= 1"
    )
    pack = compile_pack({**_base_sources(), "correlation/two-parcels.yaml": rule}, origin="")
    alerts = correlate(pack, [_manifest("M1", T0), _manifest("M2", T0 + later)], rules=None)
    assert bool(alerts) == in_baseline


def test_an_alert_names_who_how_many_when_and_the_threshold() -> None:
    parcels = [_manifest(f"P{n}", T0 + timedelta(hours=10 * n)) for n in range(4)]
    [alert] = correlate(PACK, parcels, (SPLIT,))
    assert alert.manifest_ids == ("P0", "P1", "P2", "P3")
    assert alert.trigger_manifest_id == "P3"
    assert (alert.first_filed_at, alert.last_filed_at) == (T0, T0 + timedelta(hours=30))
    assert alert.entity_key == "consignor=CN/name:SHENZHEN A"
    assert alert.explanation.startswith(
        "consignor SHENZHEN A (CN) filed 4 express or postal parcels"
    )
    assert "(30 hours, 48 kg in all)" in alert.explanation
    assert "alerts at 4 or more such parcels from one consignor within 48 hours" in (
        alert.explanation
    )
    again = correlate(PACK, parcels, (SPLIT,))
    assert again[0].alert_id == alert.alert_id


def test_an_identifier_keys_a_party_before_its_name() -> None:
    one = _manifest("A", T0).consignor.model_copy(update={"identifier": "91440300X"})
    two = one.model_copy(update={"name": "ANOTHER SPELLING LTD"})
    assert party_key(one) == party_key(two) == "CN/91440300X"


def test_a_time_without_zone_is_read_as_utc() -> None:
    naive = [
        _manifest(f"P{n}", T0 + timedelta(hours=n)).model_copy(
            update={"filed_at": (T0 + timedelta(hours=n)).replace(tzinfo=None)}
        )
        for n in range(4)
    ]
    [alert] = correlate(PACK, naive, (SPLIT,))
    assert alert.to_json()["first_filed_at"] == "2026-10-01T00:00:00Z"
    assert "between 2026-10-01 00:00 UTC and 2026-10-01 03:00 UTC" in alert.explanation


def test_push_refuses_a_stream_out_of_filed_at_order() -> None:
    correlator = Correlator(PACK)
    correlator.push(_manifest("LATE", T0 + timedelta(hours=1)))
    with pytest.raises(OutOfOrderError, match="feed manifests in filed_at order"):
        correlator.push(_manifest("EARLY", T0))


def test_memory_follows_the_live_windows_not_the_stream() -> None:
    correlator = Correlator(PACK, (SPLIT,))
    for day in range(60):
        for n in range(20):  # 20 new consignors a day, each filing once
            at = T0 + timedelta(days=day, minutes=n)
            correlator.push(_manifest(f"D{day}-{n}", at, f"C{day}-{n}"))
    # Only the consignors of the last 48 h (plus one sweep interval) remain of 1,200.
    assert correlator.live_entities() <= 20 * 4


_streams = st.lists(
    st.tuples(
        st.integers(0, 2),  # consignor
        # minutes after T0: bursts within two days (split shipments), or months (baselines
        # and history); every default correlation rule fires on some of these streams
        st.one_of(st.integers(0, 48 * 60), st.integers(0, 150 * 24 * 60)),
        st.sampled_from(["express", "express", "postal", "sea"]),
        st.sampled_from([12, 12, 29.9, 30, 1500]),
        st.integers(0, 3),  # consignee
    ),
    max_size=16,
)


def _stream(spec: list[tuple[int, int, str, float, int]]) -> list[Manifest]:
    return [
        _manifest(
            f"M{n}",
            T0 + timedelta(minutes=minutes),
            f"CONSIGNOR {who}",
            mode=mode,
            kg=kg,
            consignee=f"BUYER {to}",
            hs_code="690721",
        )
        for n, (who, minutes, mode, kg, to) in enumerate(spec)
    ]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_streams, st.randoms(use_true_random=False))
def test_order_of_arrival_does_not_change_the_alerts(
    spec: list[tuple[int, int, str, float, int]], shuffler: Any
) -> None:
    manifests = _stream(spec)
    shuffled = list(manifests)
    shuffler.shuffle(shuffled)
    assert _lines(correlate(PACK, shuffled)) == _lines(correlate(PACK, manifests))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_streams, st.integers(2, 4))
def test_splitting_a_stream_by_entity_does_not_change_the_alerts(
    spec: list[tuple[int, int, str, float, int]], parts: int
) -> None:
    """Every default correlation rule but repeat-offender-consignee groups by consignor
    (first), so partitions by the consignor's key see whole groups and whole histories (these
    streams carry no seizures, so the consignee's rule raises nothing here)."""
    manifests = _stream(spec)
    partitions: list[list[Manifest]] = [[] for _ in range(parts)]
    for manifest in manifests:
        partitions[zlib.crc32(party_key(manifest.consignor).encode()) % parts].append(manifest)
    # The record of shipments starts with the whole stream (warm_up counts from there).
    since = min((m.filed_at for m in manifests if m.filed_at), default=None)
    split = [alert for part in partitions for alert in correlate(PACK, part, record_since=since)]
    assert _lines(split) == _lines(correlate(PACK, manifests))


# ----------------------------------------------------------------------- governance


def test_a_correlation_rule_with_a_failing_example_cannot_be_submitted() -> None:
    broken = RULE.replace('"2026-10-01T01:00:01Z"', '"2026-10-01T00:30:00Z"')
    validation = validate_sources({**_base_sources(), "correlation/two-parcels.yaml": broken})
    assert not validation.ok
    [failed] = validation.examples_failed
    assert failed["rule_id"] == "two-parcels"
    assert failed["expected"] == "miss"
    assert (failed["file"], failed["line"]) == ("correlation/two-parcels.yaml", 22)


# ------------------------------------------------------------------------------ the CLI


def _write_inputs(path: Path, manifests: list[Manifest]) -> None:
    path.write_text("".join(m.model_dump_json() + "\n" for m in manifests), encoding="utf-8")


def test_screen_alerts_end_to_end(tmp_path: Path) -> None:
    parcels = [_manifest(f"P{n}", T0 + timedelta(hours=15 * n)) for n in range(5)]
    parcels.append(_manifest("UNTIMED", T0).model_copy(update={"filed_at": None}))
    inputs = tmp_path / "in.jsonl"
    _write_inputs(inputs, list(reversed(parcels)))  # newest first: the pass sorts them
    alerts = tmp_path / "alerts.jsonl"
    result = runner.invoke(
        app, ["screen", str(inputs), "-o", str(tmp_path / "out.jsonl"), "--alerts", str(alerts)]
    )
    assert result.exit_code == 0, result.output
    assert "2 alert(s) from 5 correlation rule(s) over 5 manifests" in result.output
    assert "(1 without filed_at skipped)" in result.output
    lines = [json.loads(line) for line in alerts.read_text(encoding="utf-8").splitlines()]
    assert [(a["rule_id"], a["trigger_manifest_id"], len(a["manifest_ids"])) for a in lines] == [
        ("split-shipment-small-parcels", "P3", 4),
        ("split-shipment-small-parcels", "P4", 4),  # P0 left the window of P4 (60 h later)
    ]
    assert set(lines[0]) >= {
        "alert_id",
        "rule_id",
        "pattern",
        "entity_key",
        "manifest_ids",
        "first_filed_at",
        "last_filed_at",
        "explanation",
    }
    assert lines[1]["manifest_ids"] == ["P1", "P2", "P3", "P4"]
    assert lines[1]["first_filed_at"] == "2026-10-01T15:00:00Z"

    again = tmp_path / "alerts-2.jsonl"
    command = ["screen", str(inputs), "-o", str(tmp_path / "o2.jsonl"), "--workers", "2"]
    result = runner.invoke(app, [*command, "--alerts", str(again)])
    assert result.exit_code == 0, result.output
    assert again.read_bytes() == alerts.read_bytes()  # --workers screens; alerts stay one pass


def test_screen_alerts_refuses_stdin_and_packs_without_correlation_rules(tmp_path: Path) -> None:
    result = runner.invoke(app, ["screen", "-", "--alerts", str(tmp_path / "a.jsonl")], input="")
    assert result.exit_code == 2
    assert "--alerts needs input files" in result.output
    pack = tmp_path / "pack"
    pack.mkdir()
    for path, text in _base_sources().items():
        (pack / path).parent.mkdir(parents=True, exist_ok=True)
        (pack / path).write_text(text, encoding="utf-8")
    inputs = tmp_path / "in.jsonl"
    _write_inputs(inputs, [_manifest("P0", T0)])
    result = runner.invoke(
        app, ["screen", str(inputs), "--rules", str(pack), "--alerts", str(tmp_path / "a.jsonl")]
    )
    assert result.exit_code == 2
    assert "has no correlation rules" in result.output
    assert not (tmp_path / "a.jsonl").exists()


def test_rules_check_runs_correlation_examples(tmp_path: Path) -> None:
    pack = tmp_path / "pack"
    for path, text in {**_base_sources(), "correlation/two-parcels.yaml": RULE}.items():
        (pack / path).parent.mkdir(parents=True, exist_ok=True)
        (pack / path).write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["rules", "check", str(pack)])
    assert result.exit_code == 0, result.output
    assert "0 rules and 1 correlation rules" in result.output
    broken = RULE.replace('"2026-10-01T01:00:01Z"', '"2026-10-01T00:30:00Z"')
    (pack / "correlation/two-parcels.yaml").write_text(broken, encoding="utf-8")
    result = runner.invoke(app, ["rules", "check", str(pack)])
    assert result.exit_code == 1
    assert "two-parcels.yaml:22:7: example_failed: rule 'two-parcels' should not fire" in (
        result.output
    )
