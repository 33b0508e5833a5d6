"""durable_rules' traps, each shown on the raw library and shown harmless behind Assay.

The ``raw_`` tests pin the library's behaviour that the wrapper exists to avoid: if a new
durable_rules release changes it, they fail and tell us to revisit the wrapper.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

import durable_rules_engine as dre
import psutil
import pytest

from assay.engine import AssayError, Engine, Manifest
from assay.engine.evaluators import rete as rete_module
from assay.engine.evaluators.base import Hit
from assay.engine.evaluators.rete import MAX_FACT_PROPERTIES, ReteEvaluator, ReteHost, number
from assay.engine.features import Enricher
from assay.engine.ruleset import compile_pack, default_pack_dir, read_sources
from tests.conftest import BASE_MANIFEST, make_pack, rule_yaml, wait_for

_RAW_RULES = {
    "gt": {"all": [{"m": {"$and": [{"kind": "i"}, {"$gt": {"x": 5}}]}}]},
    "lt_field": {"all": [{"m": {"$and": [{"kind": "i"}, {"$lt": {"a": {"$m": "b"}}}]}}]},
    "text_gt": {"all": [{"m": {"$and": [{"kind": "i"}, {"$gt": {"s": 1000}}]}}]},
    "alt": {"all": [{"m": {"$and": [{"kind": "i"}, {"$mt": {"d": ".*(SAMARIUM|TERBIUM).*"}}]}}]},
    "escaped": {"all": [{"m": {"$and": [{"kind": "i"}, {"$eq": {"q": "ÜBER"}}]}}]},
}


@pytest.fixture(scope="module")
def raw() -> Iterator[int]:
    handle = dre.create_ruleset("raw-traps", json.dumps(_RAW_RULES, ensure_ascii=False))
    yield handle
    dre.delete_ruleset(handle)


def _fire(handle: int, fact_json: str) -> list[str]:
    result = dre.assert_fact(handle, fact_json)
    fired = []
    action = dre.start_action_for_state(handle, result[1])
    while action:
        message = action[1] if isinstance(action, tuple) else action
        fired.append(message[2 : message.index('"', 2)])
        action = dre.complete_and_start_action(handle, result[1])
    return fired


_sid = iter(range(10**9))


def _fact(**fields: Any) -> str:
    return json.dumps({"sid": f"raw{next(_sid)}", "kind": "i", **fields}, ensure_ascii=False)


def test_raw_missing_right_hand_field_makes_a_comparison_true(raw: int) -> None:
    assert _fire(raw, _fact(a=3)) == ["lt_field"]


def test_raw_text_is_compared_with_numbers_as_text(raw: int) -> None:
    assert _fire(raw, _fact(s="999")) == ["text_gt"]


def test_raw_regex_alternation_misses_its_first_branch(raw: int) -> None:
    assert _fire(raw, _fact(d="TERBIUM OXIDE")) == ["alt"]
    assert _fire(raw, _fact(d="SAMARIUM COBALT")) == []


def test_raw_exponent_without_decimal_point_is_rejected(raw: int) -> None:
    with pytest.raises(dre.error, match="204"):
        dre.assert_fact(raw, '{"sid":"e1","kind":"i","x":1e-07}')
    assert _fire(raw, '{"sid":"e2","kind":"i","x":' + number(1e20) + "}") == ["gt"]


def test_raw_json_escapes_are_not_decoded(raw: int) -> None:
    # The same text, once escaped (\u00dc) and once raw: compared as bytes, they differ.
    escaped = json.dumps({"sid": "esc1", "kind": "i", "q": "ÜBER"}, ensure_ascii=True)
    assert "\\u00dc" in escaped.lower()
    assert _fire(raw, escaped) == []
    assert _fire(raw, _fact(q="ÜBER")) == ["escaped"]


def test_raw_sessions_run_out_when_not_deleted() -> None:
    handle = dre.create_ruleset("raw-sessions", json.dumps({"gt": _RAW_RULES["gt"]}))
    try:
        with pytest.raises(MemoryError):
            for n in range(1_100):
                dre.assert_fact(handle, json.dumps({"sid": f"leak{n}", "kind": "i", "x": 1}))
    finally:
        dre.delete_ruleset(handle)


# ------------------------------------------------------------------ behind the wrapper


def _manifest(**item: Any) -> Manifest:
    data = json.loads(json.dumps(BASE_MANIFEST))
    data["items"][0].update(item)
    return Manifest.model_validate(data)


def _both(rules: dict[str, str], manifest: Manifest) -> tuple[list[str], list[str]]:
    ruleset = make_pack(rules)
    out = []
    for kind in ("compiled", "rete"):
        engine = Engine(ruleset, kind=kind)
        try:
            out.append([f.rule_id for f in engine.screen(manifest).flags])
        finally:
            engine.close()
    return out[0], out[1]


def test_every_matching_rule_fires_not_just_one() -> None:
    rules = {f"all-{n}": rule_yaml(f"all-{n}", "item.gross_mass_kg > 100") for n in range(3)}
    compiled, rete = _both(rules, _manifest())
    assert compiled == rete == ["all-0", "all-1", "all-2"]


def test_long_none_of_lists_would_pass_the_expression_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The shipped rule that reads four producer lists, each as one $neq per country, is
    refused by durable_rules (error 113, MAX_SEQUENCE_EXPRESSIONS) unless the long lists are
    decided in Python; with them lifted it compiles and agrees with the compiled evaluator."""
    rule_file = "transshipment/critical-metal-origin-not-producer.yaml"
    sources = {
        path: text
        for path, text in read_sources(default_pack_dir()).items()
        if path in ("pack.yaml", rule_file) or path.startswith("reference/")
    }
    alone = compile_pack(sources, origin="test")
    monkeypatch.setattr(rete_module, "_MAX_UNEQUAL_TESTS", 10**6)
    with pytest.raises(AssayError, match="error code: 113"):
        Engine(alone, kind="rete")
    monkeypatch.undo()
    doc = json.loads(json.dumps(dict(alone.example_base)))
    doc["items"][0].update(hs_code="811292", description="GERMANIUM INGOTS", origin_country="TH")
    for kind in ("compiled", "rete"):
        engine = Engine(alone, kind=kind)
        assert [f.rule_id for f in engine.screen(Manifest.model_validate(doc)).flags] == [
            "critical-metal-origin-not-producer"
        ]
        engine.close()


def test_none_of_a_long_list_compiles_and_agrees() -> None:
    """40 countries: one $neq each would pass durable_rules' 32-expression sequence."""
    codes = ", ".join(f'"{a}{b}"' for a in "ABCDEFGH" for b in "QRSTU")
    rules = {
        "none-of": rule_yaml("none-of", f"item.origin_country not in [{codes}]"),
        "not-any-of": rule_yaml("not-any-of", f"not (item.origin_country in [{codes}])"),
        "any-of": rule_yaml("any-of", f"item.origin_country in [{codes}]"),
    }
    assert _both(rules, _manifest(origin_country="US")) == (["none-of", "not-any-of"],) * 2
    assert _both(rules, _manifest(origin_country="AT")) == (["any-of"],) * 2


def test_missing_right_hand_field_is_false_on_both() -> None:
    rules = {"net-below": rule_yaml("net-below", "item.net_mass_kg < item.gross_mass_kg")}
    assert _both(rules, _manifest()) == ([], [])
    assert _both(rules, _manifest(net_mass_kg=1500)) == (["net-below"], ["net-below"])


def test_text_compared_with_number_is_a_checked_error() -> None:
    with pytest.raises(AssayError) as caught:
        make_pack({"hs-gt": rule_yaml("hs-gt", "item.hs_code > 1000")})
    assert caught.value.code == "type_mismatch"
    assert "cannot compare item.hs_code (a text) with 1000 (a number)" in str(caught.value)


def test_alternation_is_refused_and_any_of_matches_every_branch() -> None:
    with pytest.raises(AssayError) as caught:
        make_pack({"alt": rule_yaml("alt", 'item.description matches "SAMARIUM|TERBIUM"')})
    assert caught.value.code == "unsafe_regex"
    rules = {"any": rule_yaml("any", 'item.description contains any of ["SAMARIUM", "TERBIUM"]')}
    manifest = _manifest(description="SAMARIUM COBALT MAGNETS")
    assert _both(rules, manifest) == (["any"], ["any"])


def test_tiny_and_huge_numbers_reach_durable_rules() -> None:
    rules = {
        "tiny": rule_yaml("tiny", "item.usd_per_kg < 0.000001 and item.usd_per_kg > 0"),
        "huge": rule_yaml("huge", "item.value * 1e20 > 1e15"),
    }
    manifest = _manifest(value=0.0001, gross_mass_kg=1000)  # 1e-07 USD/kg
    assert _both(rules, manifest) == (["huge", "tiny"], ["huge", "tiny"])  # pack order: by file


def test_quotes_backslashes_and_controls_in_text_match_on_both() -> None:
    rules = {"quote": rule_yaml("quote", 'item.description contains "12\' PIPE /"')}
    manifest = _manifest(description='STEEL 12" PIPE \\ \x07FITTINGS')
    assert _both(rules, manifest) == (["quote"], ["quote"])


def test_negation_only_rule_terminates_and_or_fires_once() -> None:
    rules = {
        "only-not": rule_yaml("only-not", "not (item.gross_mass_kg > 5000)"),
        "both-or": rule_yaml("both-or", "item.gross_mass_kg > 1 or item.gross_mass_kg > 2"),
        "not-text": rule_yaml("not-text", 'not (item.description contains "STEEL")'),
    }
    assert _both(rules, _manifest()) == (
        ["both-or", "not-text", "only-not"],
        ["both-or", "not-text", "only-not"],
    )


def test_sessions_are_always_cleaned_up(rete_engine: Engine) -> None:
    # 3,000 evaluations where no rule fires would exhaust 1,024 live sessions if any leaked.
    manifest = _manifest()
    for _ in range(3_000):
        assert rete_engine.screen(manifest).flags == []


def test_no_background_threads() -> None:
    before = threading.active_count()
    engine = Engine(
        make_pack({"any-weight": rule_yaml("any-weight", "item.gross_mass_kg > 1")}), kind="rete"
    )
    for _ in range(200):
        engine.screen(_manifest())
    engine.close()
    assert threading.active_count() == before


def test_versions_have_unique_names_and_old_host_processes_end() -> None:
    """durable_rules cannot reuse a ruleset's name, and never frees a compile's pattern
    automata: every version has a name of its own, a host process compiles at most
    ``max_versions``, the next version goes to a fresh one (this used to be refused), and
    the old process ends as soon as none of its versions is in use."""
    host = ReteHost(max_versions=2)
    ruleset = make_pack({"any-weight": rule_yaml("any-weight", "item.gross_mass_kg > 1")})
    views = Enricher(ruleset).enrich(_manifest(gross_mass_kg=10.0), date(2026, 1, 1))
    try:
        first, second = ReteEvaluator(ruleset, host), ReteEvaluator(ruleset, host)
        assert first.name != second.name
        [(old, compiled, live)] = host.stats().processes
        assert (compiled, live) == (2, 2)
        third = ReteEvaluator(ruleset, host)
        assert third.name not in (first.name, second.name)
        new = next(pid for pid, _, _ in host.stats().processes if pid != old)
        assert sorted(host.stats().processes) == sorted([(old, 2, 2), (new, 1, 1)])
        first.close()
        assert psutil.pid_exists(old)  # the second version is still in use there
        assert second.evaluate(*views) == [Hit(0, 1)]
        second.close()
        assert host.stats().processes == ((new, 1, 1),)
        assert not psutil.pid_exists(old)  # ended, and reaped
        assert third.evaluate(*views) == [Hit(0, 1)]
        third.close()
    finally:
        host.close()
    assert not psutil.pid_exists(new)


def test_a_host_process_that_ends_is_replaced() -> None:
    """A crash in durable_rules (or the OOM killer) ends the host process, not the worker:
    the next screening creates its ruleset again in a fresh process and answers."""
    engine = Engine(
        make_pack({"any-weight": rule_yaml("any-weight", "item.gross_mass_kg > 1")}), kind="rete"
    )
    try:
        host = engine.rete_host
        assert host is not None
        manifest = _manifest(gross_mass_kg=10.0)
        before = engine.screen(manifest)
        [(pid, _, _)] = host.stats().processes
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
        after = engine.screen(manifest)
        assert [f.rule_id for f in after.flags] == [f.rule_id for f in before.flags]
        assert after.flags
        [(fresh, compiled, live)] = host.stats().processes
        assert fresh != pid and (compiled, live) == (1, 1)
    finally:
        engine.close()


def test_too_many_fact_properties_is_a_named_error() -> None:
    members = [f'"T{n}" in item.terms' for n in range(MAX_FACT_PROPERTIES + 5)]
    # Three rules: one condition that long would pass the bound on a condition's length.
    ruleset = make_pack(
        {
            f"wide-{part}": rule_yaml(f"wide-{part}", " or ".join(members[part::3]))
            for part in range(3)
        }
    )
    with pytest.raises(AssayError) as caught:
        ReteEvaluator(ruleset, ReteHost())
    assert caught.value.code == "rete_limit"


def test_concurrent_threads_get_their_own_results(rete_engine: Engine) -> None:
    manifests = [
        _manifest(gross_mass_kg=float(g), description=d)
        for g in (10, 5000)
        for d in ("DRINKING WATER 550ML PET", "SOLDER PASTE", "WOODEN FURNITURE")
    ]
    expected = [[(f.rule_id, f.item_line) for f in rete_engine.screen(m).flags] for m in manifests]

    def run(n: int) -> list[tuple[str, int | None]]:
        return [(f.rule_id, f.item_line) for f in rete_engine.screen(manifests[n % 6]).flags]

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(run, range(3_000)))
    assert all(result == expected[n % 6] for n, result in enumerate(results))
