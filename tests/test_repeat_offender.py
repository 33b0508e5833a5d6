"""The repeat offender: seizures (inspection outcomes) as timed events of the correlation
stream, the ``history.seizures`` measure, examples with ``outcomes:``, and
``assay screen --alerts --outcomes``."""

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
from assay.engine.correlation.evaluator import Correlator, correlate, order_key
from assay.engine.correlation.rete import ReteCorrelator
from assay.engine.errors import AssayError
from assay.engine.rulefile import build_example_manifest
from assay.engine.ruleset import RuleSet, compile_pack, default_pack_dir, read_sources

PACK = compile_pack(read_sources(default_pack_dir()), origin="")
OFFENDER = next(rule for rule in PACK.correlations if rule.id == "repeat-offender")
CONSIGNEE = next(rule for rule in PACK.correlations if rule.id == "repeat-offender-consignee")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
runner = CliRunner()


def _manifest(
    manifest_id: str, at: datetime, consignor: str = "GANZHOU A", **patch: Any
) -> Manifest:
    data = build_example_manifest(
        PACK.example_base,
        {
            "manifest": {
                "manifest_id": manifest_id,
                "filed_at": at.isoformat(),
                "consignor": {"name": consignor, "country": "CN"},
                "consignee": {"name": patch.pop("consignee", "BUYER INC"), "country": "US"},
            }
        },
    )
    return Manifest.model_validate(data)


def _triggers(alerts: list[Any], rule_id: str = "repeat-offender") -> list[str]:
    return [a.trigger_manifest_id for a in alerts if a.rule_id == rule_id]


def _lines(alerts: list[Any]) -> list[str]:
    return sorted(json.dumps(a.to_json(), sort_keys=True) for a in alerts)


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=-5_000_000, max_value=5_000_000))
def test_a_seizure_counts_for_exactly_365_days_after_its_manifest_was_filed(
    offset_us: int,
) -> None:
    later = T0 + YEAR + timedelta(microseconds=offset_us)
    stream = [_manifest("SEIZED", T0), _manifest("AGAIN", later)]
    alerts = correlate(PACK, stream, (OFFENDER,), seized={"SEIZED"})
    assert _triggers(alerts) == (["AGAIN"] if offset_us <= 0 else [])


def test_the_seized_manifest_itself_and_earlier_filings_do_not_alert() -> None:
    stream = [
        _manifest("BEFORE", T0 - timedelta(days=1)),
        _manifest("A-SAME-TIME", T0),  # before SEIZED in (filed_at, manifest_id) order
        _manifest("SEIZED", T0),
        _manifest("Z-SAME-TIME", T0),  # after it
        _manifest("AFTER", T0 + timedelta(days=30)),
        _manifest("OTHER", T0 + timedelta(days=30), consignor="ANOTHER CO"),
    ]
    alerts = correlate(PACK, stream, (OFFENDER,), seized={"SEIZED"})
    assert _triggers(alerts) == ["Z-SAME-TIME", "AFTER"]
    assert alerts[-1].measures == {"history.seizures": 1.0}
    assert "filed again on 2026-01-31 00:00 UTC" in alerts[-1].explanation


def test_only_a_seizure_counts_and_the_consignee_rule_keys_by_the_consignee() -> None:
    stream = [
        _manifest("SEIZED", T0, consignee="PACIFIC METALS"),
        _manifest("CHECKED", T0, consignor="B CO"),
        _manifest("AGAIN", T0 + timedelta(days=3), consignor="C CO", consignee="PACIFIC METALS"),
        _manifest("B-AGAIN", T0 + timedelta(days=3), consignor="B CO"),
    ]
    alerts = correlate(PACK, stream, seized={"SEIZED"})
    assert _triggers(alerts, "repeat-offender-consignee") == ["AGAIN"]
    assert _triggers(alerts) == []  # CHECKED (no seizure given) is no offender's record


def test_without_outcomes_no_repeat_offender_alerts() -> None:
    stream = [_manifest("SEIZED", T0), _manifest("AGAIN", T0 + timedelta(days=1))]
    assert correlate(PACK, stream, (OFFENDER, CONSIGNEE)) == []


def test_seize_on_a_live_stream_counts_from_then_on() -> None:
    correlator = Correlator(PACK, (OFFENDER,))
    seized = _manifest("SEIZED", T0)
    assert correlator.push(seized) == []
    assert correlator.push(_manifest("BEFORE-KNOWN", T0 + timedelta(days=2))) == []
    correlator.seize(seized)  # the outcome is recorded three days after the filing
    [alert] = correlator.push(_manifest("AFTER-KNOWN", T0 + timedelta(days=3)))
    assert alert.trigger_manifest_id == "AFTER-KNOWN"


def test_seizures_expire_with_the_history() -> None:
    correlator = Correlator(PACK, (OFFENDER,), seized={"SEIZED"})
    correlator.push(_manifest("SEIZED", T0))
    assert correlator.live_entities() == 1
    for day in range(366, 400):  # other consignors move the clock past the year
        correlator.push(_manifest(f"D{day}", T0 + timedelta(days=day), consignor=f"C{day}"))
    assert correlator.live_entities() <= 2  # the offender's seizure is gone


_streams = st.lists(
    st.tuples(st.integers(0, 2), st.integers(0, 500 * 24), st.integers(0, 1), st.booleans()),
    max_size=14,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_streams, st.randoms(use_true_random=False))
def test_order_of_arrival_does_not_change_repeat_offender_alerts(
    spec: list[tuple[int, int, int, bool]], shuffler: Any
) -> None:
    manifests = [
        _manifest(f"M{n}", T0 + timedelta(hours=hours), f"C{who}", consignee=f"B{to}")
        for n, (who, hours, to, _seized) in enumerate(spec)
    ]
    seized = {f"M{n}" for n, spec_row in enumerate(spec) if spec_row[3]}
    shuffled = list(manifests)
    shuffler.shuffle(shuffled)
    assert _lines(correlate(PACK, shuffled, seized=seized)) == _lines(
        correlate(PACK, manifests, seized=seized)
    )


# ----------------------------------------------------------------------- the language

_RULE = (default_pack_dir() / "correlation" / "repeat-offender.yaml").read_text(encoding="utf-8")


def _base() -> dict[str, str]:
    return {
        path: text
        for path, text in read_sources(default_pack_dir()).items()
        if path == "pack.yaml" or path.startswith("reference/")
    }


def _compile(text: str) -> RuleSet:
    return compile_pack({**_base(), "correlation/repeat-offender.yaml": text}, origin="")


def _problems(text: str) -> list[str]:
    with pytest.raises(AssayError) as caught:
        _compile(text)
    return [f"{p.location}: {p.code}: {p.message} | {p.hint}" for p in caught.value.problems]


def test_an_outcome_naming_no_manifest_of_the_sequence_is_reported_where_it_is() -> None:
    broken = _RULE.replace(
        "- {manifest_id: RO-SEIZED, result: seizure, pattern: tile_blending}",
        "- {manifest_id: RO-SEIZD, result: seizure, pattern: tile_blending}",
    )
    [problem] = _problems(broken)
    line = broken.splitlines().index(next(x for x in broken.splitlines() if "RO-SEIZD" in x)) + 1
    assert problem.startswith(f"correlation/repeat-offender.yaml:{line}:")
    assert "rule_schema: the outcome names manifest 'RO-SEIZD'" in problem
    assert "RO-SEIZED" in problem  # the hint lists the sequence's manifests


def test_an_outcome_must_read_like_a_line_of_an_outcomes_file() -> None:
    broken = _RULE.replace("result: seizure, pattern", "result: seized, pattern")
    [problem] = _problems(broken)
    assert "rule_schema" in problem and "seizure" in problem


def test_history_seizures_needs_a_history() -> None:
    broken = _RULE.replace("  history: 365d\n", "")
    problems = _problems(broken)
    assert any("'history.seizures' needs the correlation's 'history'" in p for p in problems)


# ------------------------------------------------------------------------------ the CLI


def _inputs(tmp_path: Path) -> Path:
    stream = [_manifest("AGAIN", T0 + timedelta(days=10)), _manifest("SEIZED", T0)]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(m.model_dump_json() + "\n" for m in stream), encoding="utf-8")
    return path


def test_screen_alerts_with_outcomes_counts_the_seizures(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text(
        "manifest_id,result,pattern,notes\nSEIZED,seizure,tile_blending,\nX,maybe,,\n",
        encoding="utf-8",
    )
    alerts = tmp_path / "alerts.jsonl"
    command = ["screen", str(inputs), "-o", str(tmp_path / "o.jsonl"), "--alerts", str(alerts)]
    result = runner.invoke(app, [*command, "--outcomes", str(outcomes)])
    assert result.exit_code == 0, result.output
    assert "skipped" in result.output and "outcomes.csv:3" in result.output
    assert "1 seizure(s) from --outcomes fed repeat-offender-consignee, repeat-offender" in (
        " ".join(result.output.split())
    )
    lines = [json.loads(x) for x in alerts.read_text(encoding="utf-8").splitlines()]
    assert [(a["rule_id"], a["trigger_manifest_id"]) for a in lines] == [
        ("repeat-offender-consignee", "AGAIN"),  # the pack's order: by file name
        ("repeat-offender", "AGAIN"),
    ]
    rete = tmp_path / "alerts-rete.jsonl"
    command = ["screen", str(inputs), "-o", str(tmp_path / "o2.jsonl"), "--engine", "rete"]
    result = runner.invoke(app, [*command, "--alerts", str(rete), "--outcomes", str(outcomes)])
    assert result.exit_code == 0, result.output
    assert "repeat-offender runs in Python" not in " ".join(result.output.split())
    assert rete.read_bytes() == alerts.read_bytes()  # durable_rules or not, the same alerts


def test_screen_alerts_without_outcomes_says_the_repeat_offender_rules_had_none(
    tmp_path: Path,
) -> None:
    inputs = _inputs(tmp_path)
    alerts = tmp_path / "alerts.jsonl"
    command = ["screen", str(inputs), "-o", str(tmp_path / "o.jsonl"), "--alerts", str(alerts)]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert (
        "repeat-offender-consignee, repeat-offender had no outcomes (give --outcomes FILE)" in said
    )
    assert alerts.read_text(encoding="utf-8") == ""


def test_screen_outcomes_needs_alerts_and_a_file(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    output = tmp_path / "o.jsonl"
    result = runner.invoke(
        app, ["screen", str(inputs), "-o", str(output), "--outcomes", str(inputs)]
    )
    assert result.exit_code == 2
    assert "give --alerts FILE too" in result.output
    result = runner.invoke(
        app,
        [
            "screen",
            str(inputs),
            "-o",
            str(output),
            "--alerts",
            str(tmp_path / "a.jsonl"),
            "--outcomes",
            str(tmp_path / "missing.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "no such file" in result.output
    assert not output.exists()  # nothing was screened


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_streams, st.integers(2, 4))
def test_splitting_by_consignor_keeps_the_consignor_rules_alerts_with_seizures(
    spec: list[tuple[int, int, int, bool]], parts: int
) -> None:
    """A seizure belongs to its manifest's partition: split by the consignor's key, the
    consignor's repeat-offender rule gives the alerts of the whole stream."""
    manifests = [
        _manifest(f"M{n}", T0 + timedelta(hours=hours), f"C{who}", consignee=f"B{to}")
        for n, (who, hours, to, _seized) in enumerate(spec)
    ]
    seized = {f"M{n}" for n, spec_row in enumerate(spec) if spec_row[3]}
    partitions: list[list[Manifest]] = [[] for _ in range(parts)]
    for manifest in manifests:
        partitions[zlib.crc32(party_key(manifest.consignor).encode()) % parts].append(manifest)
    split = [a for part in partitions for a in correlate(PACK, part, (OFFENDER,), seized)]
    assert _lines(split) == _lines(correlate(PACK, manifests, (OFFENDER,), seized))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_streams)
def test_the_durable_rules_evaluator_joins_the_seizures_as_the_reference_counts_them(
    spec: list[tuple[int, int, int, bool]],
) -> None:
    """The repeat-offender rules run in durable_rules (seizure facts joined to the member
    that counts them: tests/test_correlation_rete.py) and give the reference's alerts."""
    manifests = sorted(
        (
            _manifest(f"M{n}", T0 + timedelta(hours=hours), f"C{who}", consignee=f"B{to}")
            for n, (who, hours, to, _seized) in enumerate(spec)
        ),
        key=order_key,
    )
    seized = {f"M{n}" for n, spec_row in enumerate(spec) if spec_row[3]}
    rete = ReteCorrelator(PACK, seized=seized)
    try:
        pushed = [alert for manifest in manifests for alert in rete.push(manifest)]
    finally:
        rete.close()
    assert "repeat-offender" not in rete.delegated
    assert _lines(pushed) == _lines(correlate(PACK, manifests, seized=seized))
