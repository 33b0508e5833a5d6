"""The detection benchmark's runner (bench/detection.py): the real CLI screens the corpus, the
results join to the labels in order, and found / stopped mean what the table says."""

from __future__ import annotations

from pathlib import Path

import orjson

from bench.detection import Outcome, measure, outcomes, screen
from bench.detection_corpus import Label, generate
from bench.hs_nomenclature import subheadings
from tests.conftest import HS2022


def test_real_cli_results_join_to_the_labels(tmp_path: Path) -> None:
    corpus = generate(120, 5, subheadings(HS2022))
    labels = [label for _, label in corpus]
    source = tmp_path / "corpus.jsonl"
    source.write_bytes(b"".join(orjson.dumps(m) + b"\n" for m, _ in corpus))
    screen(source, tmp_path / "results.jsonl", None, "compiled", 1)
    joined = outcomes(tmp_path / "results.jsonl", labels)
    figures = measure(joined)
    assert figures.errors == 0
    concealed = sum(label.tier == "concealment" for label in labels)
    assert sum(share.n for share in figures.found.values()) == concealed
    honest_tiers = ("honest_ordinary", "honest_unusual", "honest_hs_wording")
    assert sum(figures.not_green[tier].n for tier in honest_tiers) == len(labels) - concealed
    assert all(outcome.stopped or not outcome.found for outcome in joined)


def test_found_needs_the_manifests_own_pattern_and_a_lane_other_than_green() -> None:
    label = Label("M-1", "concealment", "tiles_heavy", "tile_blending", "plain")
    own = ("tile-rule", "tile_blending")
    other = ("water-rule", "bottled_water_concealment")
    cases = {
        ("red", (own,)): (True, True),
        ("green", (own,)): (False, False),
        ("yellow", (other,)): (False, True),
        (None, ()): (False, False),
    }
    for (channel, flags), (found, stopped) in cases.items():
        outcome = Outcome(label, channel, flags)
        assert (outcome.found, outcome.stopped) == (found, stopped), (channel, flags)
    figures = measure([Outcome(label, "yellow", (other,))])
    assert figures.found[("tile_blending", "plain")].hits == 0
    assert figures.stopped[("tile_blending", "plain")].hits == 1
    assert figures.stopped_as["tiles_heavy"]["bottled_water_concealment"] == 1
