"""``assay screen --alerts``, partitioned by entity: the same bytes as one process and as the
reference ``correlate()``, whatever the partitions, workers or cluster; nothing raised twice,
seizures where their entity is, nothing left on disk."""

from __future__ import annotations

import gzip
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from distributed import LocalCluster
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from assay.cli.main import app
from assay.engine.batch.alert_partitions import route_keys, stable_hash
from assay.engine.batch.alerts import write_alerts
from assay.engine.contracts import Manifest
from assay.engine.correlation.evaluator import correlate
from assay.engine.ruleset import RuleSet, compile_pack, default_pack_dir, read_sources

T0 = datetime(2026, 10, 1, tzinfo=UTC)
runner = CliRunner()

# Every kind of entity a rule can be partitioned by: the default pack's consignor and
# consignee rules, and two written here, by HS heading first and by route.
BY_HEADING = """\
id: heading-burst
title: Three filings of one heading within two days
pattern: split_shipment
severity: medium
score: 10
correlation:
  group_by: [hs_heading, consignor]
  window: 48h
  scope: item
  each: item.gross_mass_kg > 0
  alert_when: group.count >= params.min_filings
params:
  min_filings: 2
explain: "{entity}: {group.count} filings within {window}."
references: ["a test rule"]
examples:
  hit:
    - manifests:
        - manifest: {filed_at: "2026-10-01T00:00:00Z"}
        - manifest: {filed_at: "2026-10-01T01:00:00Z"}
  miss:
    - manifests:
        - manifest: {filed_at: "2026-10-01T00:00:00Z"}
        - manifest: {filed_at: "2026-10-04T01:00:00Z"}
"""
BY_ROUTE = """\
id: route-burst
title: Three filings on one route within a day
pattern: split_shipment
severity: low
score: 5
correlation:
  group_by: route
  window: 24h
  each: manifest.total_gross_mass_kg < 100
  alert_when: group.count >= params.min_filings
params:
  min_filings: 3
explain: "{entity}: {group.count} light filings within {window}."
references: ["a test rule"]
examples:
  hit:
    - each: {item: {gross_mass_kg: 5}}
      manifests:
        - manifest: {filed_at: "2026-10-01T00:00:00Z"}
        - manifest: {filed_at: "2026-10-01T01:00:00Z"}
        - manifest: {filed_at: "2026-10-01T02:00:00Z"}
  miss:
    - each: {item: {gross_mass_kg: 5}}
      manifests:
        - manifest: {filed_at: "2026-10-01T00:00:00Z"}
        - manifest: {filed_at: "2026-10-02T01:00:00Z"}
        - manifest: {filed_at: "2026-10-03T02:00:00Z"}
"""
SOURCES = {
    **read_sources(default_pack_dir()),
    "correlation/heading-burst.yaml": BY_HEADING,
    "correlation/route-burst.yaml": BY_ROUTE,
}
PACK = compile_pack(SOURCES, origin="")
# Controlled goods and cover goods (headings 2805, 2846, 3810, 6907, 9618) and furniture.
CODES = ["280530", "284690", "381010", "690721", "961800", "940360"]


def _manifest(
    n: int,
    minutes: int,
    consignor: int,
    consignee: int,
    mode: str,
    items: list[tuple[str, float]],
    route: int = 0,
) -> Manifest:
    return Manifest.model_validate(
        {
            "manifest_id": f"M{n:04d}",
            "transport_mode": mode,
            "filed_at": (T0 + timedelta(minutes=minutes)).isoformat(),
            "consignor": {"name": f"SENDER {consignor}", "country": "CN"},
            "consignee": {"name": f"BUYER {consignee}", "country": "US"},
            "country_of_export": "CN",
            "destination_country": ["US", "DE", "NL"][route],
            "items": [
                {
                    "line": line,
                    "hs_code": code,
                    "description": "GOODS",
                    "origin_country": "CN",
                    "gross_mass_kg": kg,
                }
                for line, (code, kg) in enumerate(items, start=1)
            ],
        }
    )


_specs = st.lists(
    st.tuples(
        # minutes after T0: bursts within two days, or months (baselines, history)
        st.one_of(st.integers(0, 48 * 60), st.integers(0, 150 * 24 * 60)),
        st.integers(0, 4),  # consignor
        st.integers(0, 4),  # consignee
        st.sampled_from(["express", "express", "postal", "sea"]),
        st.lists(
            st.tuples(st.sampled_from(CODES), st.sampled_from([5.0, 12.0, 29.0, 1500.0])),
            min_size=1,
            max_size=3,
        ),
        st.integers(0, 2),  # route
        st.booleans(),  # seized
    ),
    min_size=1,
    max_size=40,
)


def _stream(specs: list[Any]) -> tuple[list[Manifest], frozenset[str]]:
    manifests = [
        _manifest(n, minutes, who, to, mode, items, route)
        for n, (minutes, who, to, mode, items, route, _) in enumerate(specs)
    ]
    seized = frozenset(m.manifest_id for m, spec in zip(manifests, specs, strict=True) if spec[6])
    return manifests, seized


def _write_files(
    directory: Path,
    manifests: list[Manifest],
    files: int,
    shuffle: random.Random,
    array: bool = True,
) -> tuple[list[str], list[Manifest]]:
    """``manifests`` shuffled into ``files`` inputs (JSON Lines with a bad record or two, and
    with ``array`` a pretty-printed JSON array); the manifests in the order the inputs hold
    them."""
    shuffled = list(manifests)
    shuffle.shuffle(shuffled)
    shares = [shuffled[k::files] for k in range(files)]
    paths = []
    for k, share in enumerate(shares):
        if k == 1 and array:
            path = directory / f"in-{k}.json"
            items = ",\n".join(m.model_dump_json(indent=2) for m in share)
            path.write_text(f"[\n{items}\n]\n", encoding="utf-8")
        else:
            path = directory / f"in-{k}.jsonl"
            lines = [m.model_dump_json() for m in share]
            lines[len(lines) // 2 : len(lines) // 2] = ['{"manifest_id": "BAD-1"}', "not json"]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(str(path))
    return paths, [m for share in shares for m in share]


def _reference(ruleset: RuleSet, manifests: list[Manifest], seized: frozenset[str]) -> bytes:
    alerts = correlate(ruleset, manifests, seized=seized)
    return b"".join(orjson.dumps(a.to_json()) + b"\n" for a in alerts)


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".assay-alerts-" in p.name)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_specs, st.integers(1, 5), st.integers(1, 3), st.randoms(use_true_random=False))
def test_partitions_give_the_reference_alerts_byte_for_byte(
    tmp_path_factory: pytest.TempPathFactory,
    specs: list[Any],
    partitions: int,
    files: int,
    shuffle: random.Random,
) -> None:
    directory = tmp_path_factory.mktemp("alerts")
    manifests, seized = _stream(specs)
    paths, read_order = _write_files(directory, manifests, files, shuffle)
    target = directory / "alerts.jsonl"
    summary = write_alerts(paths, None, PACK, str(target), seized=seized, partitions=partitions)
    assert target.read_bytes() == _reference(PACK, read_order, seized)
    assert summary.manifests == len(manifests)  # the bad records are the screening's errors
    assert summary.alerts == len(target.read_bytes().splitlines())
    assert _leftovers(directory) == []


@pytest.mark.parametrize("workers", [1, 2])
def test_every_partition_counts_the_warm_up_from_the_whole_streams_start(
    tmp_path: Path, workers: int
) -> None:
    """An early sender in one partition, and in another only a sender first seen four months
    later, fanning out to three receivers: the new-receivers rule's 90-day warm-up counts
    from the stream's first manifest in every partition, as one evaluator over the stream
    does, so the late fan-out alerts (a partition's own first manifest would silence it)."""
    day = 60 * 24
    early = [(n, 0, 0, "sea", [("940360", 20.0)], 0, False) for n in range(3)]
    late = [(day * (120 + n), 1, 10 + n, "sea", [("690721", 1500.0)], 0, False) for n in range(3)]
    manifests, seized = _stream(early + late)
    keys = [next(iter(route_keys("consignor", m))) for m in (manifests[0], manifests[-1])]
    count = next(c for c in range(2, 64) if len({stable_hash(k) % c for k in keys}) == 2)
    path = tmp_path / "in.jsonl"
    path.write_text("".join(m.model_dump_json() + "\n" for m in manifests), encoding="utf-8")
    target = tmp_path / "alerts.jsonl"
    write_alerts([str(path)], None, PACK, str(target), partitions=count, workers=workers)
    expected = _reference(PACK, manifests, seized)
    assert b"one-sender-many-new-receivers" in expected
    assert target.read_bytes() == expected


def _busy_stream(count: int, seed: int) -> tuple[list[Manifest], frozenset[str]]:
    rng = random.Random(seed)
    specs = [
        (
            rng.randrange(0, 60 * 24 * (3 if n % 3 else 200)),
            rng.randrange(12),
            rng.randrange(8),
            rng.choice(["express", "postal", "sea"]),
            [
                (rng.choice(CODES), rng.choice([5.0, 12.0, 1500.0]))
                for _ in range(rng.randint(1, 3))
            ],
            rng.randrange(3),
            rng.random() < 0.05,
        )
        for n in range(count)
    ]
    # A sender first seen after the new-receivers rule's 90-day warm-up, fanning out to three
    # receivers: a partition's record must start with the whole stream, or it stays silent.
    day = 60 * 24
    specs += [
        (day * (120 + n), 50, 20 + n, "sea", [("690721", 1500.0)], 0, False) for n in range(3)
    ]
    return _stream(specs)


def test_every_default_and_test_rule_alerts_on_the_busy_stream(tmp_path: Path) -> None:
    """The stream the worker and cluster runs below compare on raises every rule's alerts, so
    those comparisons cover every kind of partition."""
    manifests, seized = _busy_stream(400, seed=7)
    raised = {a.rule_id for a in correlate(PACK, manifests, seized=seized)}
    assert raised == {rule.id for rule in PACK.correlations}


@pytest.mark.parametrize("engine", ["compiled", "rete"])
def test_screen_alerts_with_workers_writes_the_one_worker_bytes(
    tmp_path: Path, engine: str
) -> None:
    manifests, seized = _busy_stream(400, seed=7)
    paths, read_order = _write_files(tmp_path, manifests, 3, random.Random(3))
    outcomes = tmp_path / "outcomes.csv"
    outcomes.write_text(
        "manifest_id,result,pattern,notes\n" + "".join(f"{m},seizure,,\n" for m in sorted(seized)),
        encoding="utf-8",
    )
    pack = tmp_path / "pack"
    for path, text in SOURCES.items():
        (pack / path).parent.mkdir(parents=True, exist_ok=True)
        (pack / path).write_text(text, encoding="utf-8")
    written = {}
    for workers in ("1", "2", "3"):
        target = tmp_path / f"alerts-{workers}.jsonl"
        command = [
            "screen",
            *paths,
            "--rules",
            str(pack),
            "-o",
            str(tmp_path / f"out-{workers}.jsonl"),
        ]
        options = ["--workers", workers, "--engine", engine, "--outcomes", str(outcomes)]
        result = runner.invoke(app, [*command, *options, "--alerts", str(target)])
        assert result.exit_code == 1, result.output  # the bad records are error lines
        assert f"over {len(manifests):,} manifests in filed_at order" in result.output
        written[workers] = target.read_bytes()
    assert written["2"] == written["1"] == _reference(PACK, read_order, seized)
    assert written["3"] == written["1"]
    assert _leftovers(tmp_path) == []


def test_helpers_that_read_json_lines_in_byte_ranges_write_the_one_worker_bytes(
    tmp_path: Path,
) -> None:
    """Plain JSON Lines inputs are cut into byte ranges that the helpers read and spill
    themselves (over 1 MB: several ranges); the alerts are still the one-process bytes."""
    manifests, seized = _busy_stream(3_000, seed=11)
    paths, read_order = _write_files(tmp_path, manifests, 2, random.Random(4), array=False)
    assert sum(Path(p).stat().st_size for p in paths) > 2 << 20
    untimed = manifests[0].model_copy(update={"manifest_id": "UNTIMED", "filed_at": None})
    with Path(paths[1]).open("a", encoding="utf-8") as tail:
        tail.write(untimed.model_dump_json() + "\n")
    target = tmp_path / "alerts.jsonl"
    summary = write_alerts(paths, None, PACK, str(target), seized=seized, workers=2)
    assert (summary.manifests, summary.skipped) == (len(manifests), 1)
    assert target.read_bytes() == _reference(PACK, read_order, seized)
    assert _leftovers(tmp_path) == []


def test_an_alert_of_several_headings_is_raised_once_in_join_order(tmp_path: Path) -> None:
    """A manifest whose headings fall in different partitions goes to each; each keeps its
    own headings' alerts, and the merge puts them in the order one process raises them."""
    items = [("940360", 5.0), ("381010", 5.0), ("690721", 5.0), ("280530", 5.0)]
    headings = {"hs_heading=" + code[:4] for code, _ in items}
    parts = 3
    assert len({stable_hash(h) % parts for h in headings}) > 1  # spread over partitions
    manifests = [_manifest(n, 60 * n, 0, 0, "sea", items) for n in range(3)]
    assert route_keys("hs_heading", manifests[0]) == headings
    paths, read_order = _write_files(tmp_path, manifests, 1, random.Random(0))
    target = tmp_path / "alerts.jsonl"
    write_alerts(paths, None, PACK, str(target), partitions=parts)
    lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    burst = [
        (a["trigger_manifest_id"], a["entity_key"])
        for a in lines
        if a["rule_id"] == "heading-burst"
    ]
    assert len(burst) == len(set(burst)) == 2 * len(items)  # M0001 and M0002, each heading
    assert target.read_bytes() == _reference(PACK, read_order, frozenset())


def test_a_seizure_counts_in_the_partitions_of_its_consignor_and_its_consignee(
    tmp_path: Path,
) -> None:
    """The consignor's and the consignee's rules run in different partitions; the seized
    manifest is in both, and each counts it for its own entity."""
    parts = 4
    sender, buyer = (
        0,
        next(
            b
            for b in range(50)
            if stable_hash(f"consignee=US/name:BUYER {b}") % parts
            != stable_hash("consignor=CN/name:SENDER 0") % parts
        ),
    )
    seized_first = _manifest(0, 0, sender, buyer, "sea", [("940360", 500.0)])
    later = [_manifest(n, 60 * 24 * n, sender, buyer, "sea", [("940360", 500.0)]) for n in (1, 2)]
    paths, read_order = _write_files(tmp_path, [*later, seized_first], 1, random.Random(1))
    target = tmp_path / "alerts.jsonl"
    write_alerts(paths, None, PACK, str(target), seized={"M0000"}, partitions=parts)
    lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    offenders = [a for a in lines if a["rule_id"].startswith("repeat-offender")]
    assert [(a["rule_id"], a["trigger_manifest_id"]) for a in offenders] == [
        ("repeat-offender-consignee", "M0001"),  # the pack's order: its file comes first
        ("repeat-offender", "M0001"),
        ("repeat-offender-consignee", "M0002"),
        ("repeat-offender", "M0002"),
    ]
    assert target.read_bytes() == _reference(PACK, read_order, frozenset({"M0000"}))


def test_a_failed_pass_leaves_no_alerts_and_no_partition_files(tmp_path: Path) -> None:
    manifests, _ = _busy_stream(50, seed=2)
    paths, _ = _write_files(tmp_path, manifests, 1, random.Random(2))
    broken = tmp_path / "broken.jsonl.gz"
    whole = gzip.compress(b"".join(m.model_dump_json().encode() + b"\n" for m in manifests))
    broken.write_bytes(whole[: len(whole) // 2])  # cut short: reading it fails half-way
    target = tmp_path / "alerts.jsonl"
    with pytest.raises(Exception, match=r"(?i)broken\.jsonl\.gz|compressed|end"):
        write_alerts([*paths, str(broken)], None, PACK, str(target), partitions=3)
    assert not target.exists()
    assert _leftovers(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jsonl.gz", "in-0.jsonl"]


def test_alerts_on_a_dask_cluster_equal_one_process(tmp_path: Path) -> None:
    manifests, seized = _busy_stream(300, seed=5)
    paths, read_order = _write_files(tmp_path, manifests, 2, random.Random(5))
    target = tmp_path / "alerts.jsonl"
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        summary = write_alerts(
            paths, None, PACK, str(target), seized=seized, dask=cluster.scheduler_address
        )
    assert summary.manifests == len(manifests)
    assert target.read_bytes() == _reference(PACK, read_order, seized)
    assert _leftovers(tmp_path) == []


def test_rete_partitions_leave_the_delegated_rules_to_the_summary(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    manifests, seized = _busy_stream(200, seed=3)
    paths, read_order = _write_files(tmp_path, manifests, 1, random.Random(3))
    target = tmp_path / "alerts.jsonl"
    with caplog.at_level("WARNING", logger="assay.correlation.rete"):
        summary = write_alerts(paths, None, PACK, str(target), "rete", seized=seized, partitions=3)
    # The summary names each delegated rule once (the CLI prints it); no partition repeats it.
    assert [r for r in caplog.records if "runs in the Python" in r.getMessage()] == []
    assert sorted(summary.delegated) == [
        "one-sender-many-new-receivers",
        "volume-jump-controlled-heading",
    ]
    assert target.read_bytes() == _reference(PACK, read_order, seized)
