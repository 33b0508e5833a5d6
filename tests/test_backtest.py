"""Back-tests: figures checked against ones computed by hand on a small corpus; outcomes files;
the CLI; and properties of the figures on generated hits and outcomes."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from assay.cli.main import app as cli
from assay.engine import Engine
from assay.engine.backtest import Backtest
from assay.engine.batch.readers import read_inputs
from assay.engine.inspections import Inspection, read_inspections
from assay.engine.performance import figures
from assay.engine.ruleset import compile_pack, default_pack_dir, read_sources
from tests.conftest import EXAMPLES

TILE = "tile_blending/tile-denser-than-porcelain.yaml"
LICENCE = "controlled_material/controlled-licence-to-verify.yaml"

# Ten manifests made from the samples, under new ids. With the default pack:
#   W1-W3 (heavy water) red: water-pet-too-heavy, young-consignor-sensitive-goods, ...
#   S1-S2 (bulk solder) yellow: solder-paste-bulk-packaging, young-consignor-sensitive-goods
#   M1 (licensed magnets) yellow: controlled-licence-to-verify
#   C1-C4 (clean tiles) green: nothing
CORPUS = {
    "W1": "water-heavy",
    "W2": "water-heavy",
    "W3": "water-heavy",
    "S1": "solder-bulk",
    "S2": "solder-bulk",
    "M1": "magnets-declared",
    "C1": "clean-tiles",
    "C2": "clean-tiles",
    "C3": "clean-tiles",
    "C4": "clean-tiles",
}
OUTCOMES = [
    ("W1", "seizure", "bottled_water_concealment"),
    ("W2", "no_find", ""),
    ("S1", "seizure", "false_declaration"),
    ("S2", "irregularity", ""),
    ("M1", "no_find", ""),
    ("C1", "seizure", "tile_blending"),  # a seizure no rule of the default pack flags
    ("C2", "no_find", ""),
    ("X9", "seizure", ""),  # not in the corpus: not counted
]


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    with path.open("w") as handle:
        for manifest_id, sample in CORPUS.items():
            document = json.loads((EXAMPLES / f"{sample}.json").read_text())
            handle.write(json.dumps({**document, "manifest_id": manifest_id}) + "\n")
        handle.write('{"manifest_id": "BAD1"}\n')  # an invalid record: counted, not lost
    return path


@pytest.fixture
def outcomes_csv(tmp_path: Path) -> Path:
    path = tmp_path / "outcomes.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["manifest_id", "result", "pattern", "notes"])
        for manifest_id, result, pattern in OUTCOMES:
            writer.writerow([manifest_id, result, pattern, ""])
    return path


def _candidate_dir(tmp_path: Path) -> Path:
    """The default pack with a looser tile threshold and without the licence rule."""
    sources = read_sources(default_pack_dir())
    sources[TILE] = sources[TILE].replace("max_kg_per_litre: 2.6", "max_kg_per_litre: 1.5")
    del sources[LICENCE]
    directory = tmp_path / "candidate"
    for name, text in sources.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_text(text)
    return directory


def _rules(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["rule_id"]: row for row in report["rules"]}


def test_figures_equal_those_computed_by_hand(corpus: Path, outcomes_csv: Path) -> None:
    run = Backtest(Engine(), outcomes=read_inspections(outcomes_csv).outcomes, alarm_at=1)
    run.run(read_inputs([str(corpus)]))
    report = run.report()
    assert report["corpus"]["records"] == 11 and report["corpus"]["manifests"] == 10
    assert report["corpus"]["invalid"] == 1 and "corpus.jsonl:11" in report["corpus"]["errors"][0]
    assert report["outcomes"] == {
        "given": 8,
        "matched": 7,
        "seizures": 3,
        "irregularities": 1,
        "no_finds": 3,
    }
    rules = _rules(report)
    water = rules["water-pet-too-heavy"]  # W1 seizure, W2 no find, W3 not inspected
    assert (water["hits"], water["share"], water["inspected"]) == (3, 0.3, 2)
    assert water["precision"] == 0.5
    assert water["recall"] == pytest.approx(1 / 3, abs=1e-6)
    assert water["yield"] == pytest.approx(1 / 3, abs=1e-6)
    assert water["pattern_recall"] == 1.0  # the one bottled-water seizure
    young = rules["young-consignor-sensitive-goods"]  # W1 s, W2 nf, S1 s, S2 irr, W3 -
    assert (young["hits"], young["inspected"], young["seizures"]) == (5, 4, 2)
    assert young["irregularities"] == 1 and young["no_finds"] == 1
    assert young["precision"] == 0.75
    assert young["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert young["yield"] == 0.4
    licence = rules["controlled-licence-to-verify"]  # M1: inspected once, nothing found
    assert (licence["hits"], licence["precision"], licence["recall"]) == (1, 0.0, 0.0)
    assert licence["alarm"] is not None and "none had a find" in licence["alarm"]
    assert water["alarm"] is None
    silent = rules["tile-denser-than-porcelain"]
    assert (silent["hits"], silent["share"], silent["precision"]) == (0, 0.0, None)
    assert silent["recall"] == 0.0 and silent["yield"] is None
    flagged, red = report["overall"]["flagged"], report["overall"]["red"]
    assert (flagged["hits"], flagged["inspected"], flagged["precision"]) == (6, 5, 0.6)
    assert flagged["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert (red["hits"], red["precision"]) == (3, 0.5)
    # M1, licensed magnets, is green: its licence check is an indicator, not a finding.
    assert report["channels"]["candidate"] == {
        "green": 5,
        "yellow": 2,
        "red": 3,
        "inspection_rate": 0.3,
        "check_rate": 0.2,
    }
    patterns = {row["pattern"]: row for row in report["patterns"]}
    assert patterns["tile_blending"]["pattern_recall"] == 0.0  # C1 was missed
    assert patterns["bottled_water_concealment"]["hits"] == 3


def test_against_a_baseline_lists_newly_and_no_longer_flagged(
    tmp_path: Path, corpus: Path, outcomes_csv: Path
) -> None:
    candidate = Engine(compile_pack(read_sources(_candidate_dir(tmp_path))))
    run = Backtest(candidate, Engine(), read_inspections(outcomes_csv).outcomes)
    run.run(read_inputs([str(corpus)]))
    report = run.report()
    changes = report["changes"]
    assert (changes["newly_flagged"], changes["no_longer_flagged"]) == (4, 1)
    # M1 loses its licence flag but not its lane: the flag was an indicator, green already.
    assert changes["channel_moves"] == {"green->yellow": 4}
    newly = {entry["manifest_id"]: entry for entry in changes["listed"]["newly_flagged"]}
    assert set(newly) == {"C1", "C2", "C3", "C4"}
    assert newly["C1"]["after_rules"] == ["tile-denser-than-porcelain"]
    assert "denser than tile can be" in newly["C1"]["explanations"][0]
    [gone] = changes["listed"]["no_longer_flagged"]
    assert (gone["manifest_id"], gone["before_rules"]) == ("M1", ["controlled-licence-to-verify"])
    assert gone["explanations"]  # what the baseline said, so the reviewer sees what is lost
    tile = _rules(report)["tile-denser-than-porcelain"]
    assert (tile["hits"], tile["baseline_hits"], tile["precision"]) == (4, 0, 0.5)
    assert tile["pattern_recall"] == 1.0
    assert report["channels"]["baseline"]["yellow"] == 2
    assert report["channels"]["candidate"]["yellow"] == 6


def test_cli_backtest_writes_the_same_report(
    tmp_path: Path, corpus: Path, outcomes_csv: Path
) -> None:
    output = tmp_path / "report.json"
    candidate = _candidate_dir(tmp_path)
    done = CliRunner().invoke(
        cli,
        [
            "backtest",
            "--candidate",
            str(candidate),
            "--baseline",
            str(default_pack_dir()),
            "--corpus",
            str(corpus),
            "--outcomes",
            str(outcomes_csv),
            "-o",
            str(output),
        ],
    )
    assert done.exit_code == 0, done.output
    assert "4 newly flagged, 1 no longer flagged" in " ".join(done.stdout.split())
    written = json.loads(output.read_text())
    run = Backtest(
        Engine(compile_pack(read_sources(candidate))),
        Engine(),
        read_inspections(outcomes_csv).outcomes,
    )
    run.run(read_inputs([str(corpus)]))
    assert written == json.loads(json.dumps(run.report()))


def test_cli_backtest_names_a_bad_candidate(tmp_path: Path, corpus: Path) -> None:
    done = CliRunner().invoke(
        cli, ["backtest", "--candidate", str(tmp_path / "nope"), "--corpus", str(corpus)]
    )
    assert done.exit_code == 2
    assert "neither a version id nor a directory" in done.output


def test_outcome_files_name_each_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "outcomes.jsonl"
    path.write_text(
        '{"manifest_id": "A", "result": "seizure", "pattern": "tile_blending"}\n'
        '{"manifest_id": "B", "result": "found it"}\n'
        "not json\n"
        '{"manifest_id": "C", "result": "no_find", "colour": "red"}\n'
        "\n"
        '{"manifest_id": "A", "result": "irregularity", "notes": "corrected"}\n'
    )
    read = read_inspections(path)
    assert read.outcomes == {
        "A": Inspection(manifest_id="A", result="irregularity", notes="corrected")
    }
    assert len(read.errors) == 3 and read.lines == 5
    assert read.errors[0].startswith(f"{path}:2: result: Input should be 'seizure'")
    assert read.errors[1].startswith(f"{path}:3: not valid JSON")
    assert read.errors[2].startswith(f"{path}:4: colour: Extra inputs are not permitted")
    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("manifest,outcome\nA,seizure\n")
    [problem] = read_inspections(bad_header).errors
    assert "unknown column 'manifest'" in problem and "missing column 'manifest_id'" in problem


ids = st.sampled_from([f"M{n}" for n in range(30)])
results = st.sampled_from(["seizure", "irregularity", "no_find"])


@given(
    hits=st.sets(ids),
    outcomes=st.dictionaries(ids, results),
    alarm_at=st.integers(1, 10),
)
def test_figures_are_consistent(hits: set[str], outcomes: dict[str, str], alarm_at: int) -> None:
    recorded = {m: Inspection(manifest_id=m, result=r) for m, r in outcomes.items()}  # type: ignore[arg-type]
    known = {m for m, r in outcomes.items() if r == "seizure"}
    got = figures(hits, 30, recorded, known, alarm_at)
    assert got.inspected == got.seizures + got.irregularities + got.no_finds
    assert got.inspected == len(hits & set(outcomes))
    for value in (got.precision, got.recall, got.seizure_yield, got.share):
        assert value is None or 0.0 <= value <= 1.0
    assert (got.precision is None) == (got.inspected == 0)
    assert (got.recall is None) == (not known)
    if got.recall is not None:
        assert got.recall == pytest.approx(len(hits & known) / len(known), abs=1e-6)
    assert (got.alarm is not None) == (
        got.inspected >= alarm_at and got.seizures + got.irregularities == 0
    )
    assert figures(set(), 30, recorded, known).hits == 0
