"""Scoring and lanes: deterministic, bounded, order-free, monotone, thresholds from the pack."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assay.engine.contracts import Severity
from assay.engine.lanes import Lanes

LANES = Lanes(yellow_at=25, red_at=60, red_severities=frozenset({"critical"}))
SEVERITIES: list[Severity] = ["low", "medium", "high"]
hits = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d"]), st.integers(0, 100), st.sampled_from(SEVERITIES)
    ),
    max_size=12,
)


def test_examples_from_the_pack_comment() -> None:
    assert LANES.decide([]) == (0, "green")
    assert LANES.decide([("a", 30, "medium")]) == (30, "yellow")
    assert LANES.decide([("a", 50, "high"), ("b", 30, "medium")]) == (65, "red")
    assert LANES.decide([("a", 10, "low"), ("b", 15, "low")]) == (24, "green")  # 23.5 -> 24
    assert LANES.decide([("a", 5, "critical")]) == (5, "red")


def test_one_rule_on_many_items_counts_once() -> None:
    assert LANES.decide([("a", 40, "high")] * 10) == LANES.decide([("a", 40, "high")])


@given(hits)
def test_bounded_and_order_free(flags: list[tuple[str, int, Severity]]) -> None:
    score, lane = LANES.decide(flags)
    assert 0 <= score <= 100
    assert (score, lane) == LANES.decide(list(reversed(flags)))
    expected = "red" if score >= 60 else "yellow" if score >= 25 else "green"
    assert lane == expected


@given(
    hits, st.tuples(st.sampled_from(["e", "f"]), st.integers(0, 100), st.sampled_from(SEVERITIES))
)
def test_another_rule_never_lowers_the_score(
    flags: list[tuple[str, int, Severity]], extra: tuple[str, int, Severity]
) -> None:
    before, _ = LANES.decide(flags)
    after, _ = LANES.decide([*flags, extra])
    assert after >= before
    assert after >= extra[1]
