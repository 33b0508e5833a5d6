"""Scoring and lanes: deterministic, bounded, order-free, monotone, thresholds from the pack;
indicators count only beside a finding about the goods."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from assay.engine.contracts import Role, Severity
from assay.engine.lanes import Lanes

LANES = Lanes(yellow_at=25, red_at=60, red_severities=frozenset({"critical"}))
SEVERITIES: list[Severity] = ["low", "medium", "high"]
Hit = tuple[str, int, Severity, Role]
ROLES: list[Role] = ["finding", "indicator"]


def hit_of(names: list[str], roles: list[Role]) -> st.SearchStrategy[Hit]:
    return st.tuples(
        st.sampled_from(names),
        st.integers(0, 100),
        st.sampled_from(SEVERITIES),
        st.sampled_from(roles),
    )


hits = st.lists(hit_of(["a", "b", "c", "d"], ROLES), max_size=12)


def finding(name: str, score: int, severity: Severity = "high") -> Hit:
    return (name, score, severity, "finding")


def indicator(name: str, score: int) -> Hit:
    return (name, score, "medium", "indicator")


def test_examples_from_the_pack_comment() -> None:
    assert LANES.decide([]) == (0, "green")
    assert LANES.decide([finding("a", 30, "medium")]) == (30, "yellow")
    assert LANES.decide([finding("a", 50), finding("b", 30, "medium")]) == (65, "red")
    assert LANES.decide([finding("a", 10, "low"), finding("b", 15, "low")]) == (24, "green")
    assert LANES.decide([finding("a", 5, "critical")]) == (5, "red")


def test_indicators_alone_never_move_a_manifest_out_of_green() -> None:
    """A young consignor and a hub in the routing say nothing about the goods: green, 0."""
    young, hub = indicator("young", 25), indicator("hub", 30)
    assert LANES.decide([young]) == (0, "green")
    assert LANES.decide([young, hub]) == (0, "green")
    # Beside a finding they add their weight: 1 - 0.55 x 0.75 = 58.75 -> 59, yellow; with the
    # hub as well, 1 - 0.55 x 0.75 x 0.7 = 71.1 -> red.
    heavy = finding("tile-heavy", 45)
    assert LANES.decide([heavy]) == (45, "yellow")
    assert LANES.decide([heavy, young]) == (59, "yellow")
    assert LANES.decide([heavy, young, hub]) == (71, "red")


def test_one_rule_on_many_items_counts_once() -> None:
    assert LANES.decide([finding("a", 40)] * 10) == LANES.decide([finding("a", 40)])


@given(hits)
def test_bounded_and_order_free(flags: list[Hit]) -> None:
    score, lane = LANES.decide(flags)
    assert 0 <= score <= 100
    assert (score, lane) == LANES.decide(list(reversed(flags)))
    expected = "red" if score >= 60 else "yellow" if score >= 25 else "green"
    assert lane == expected
    if all(role == "indicator" for *_, role in flags):
        assert (score, lane) == (0, "green")


@given(hits, hit_of(["e", "f"], ROLES))
def test_another_rule_never_lowers_the_score(flags: list[Hit], extra: Hit) -> None:
    before, _ = LANES.decide(flags)
    after, _ = LANES.decide([*flags, extra])
    assert after >= before
    if extra[3] == "finding" or any(role == "finding" for *_, role in flags):
        assert after >= extra[1]


@given(st.lists(hit_of(["a", "b", "c"], ["finding"]), min_size=1, max_size=6), hits)
def test_indicators_only_add_to_findings(findings: list[Hit], others: list[Hit]) -> None:
    indicators = [indicator(name + "-i", score) for name, score, *_ in others]
    alone, _ = LANES.decide(findings)
    together, _ = LANES.decide([*findings, *indicators])
    assert together >= alone
