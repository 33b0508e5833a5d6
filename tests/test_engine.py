"""The engine object: one entry point, atomic ruleset swaps, threads, asyncio, flat memory."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psutil
import pytest

from assay.engine import Engine, Manifest, RuleSet
from assay.engine.contracts import ScreeningResult
from tests.conftest import EXAMPLES, PACK_YAML, make_pack, rule_yaml

SAMPLES = [Manifest.model_validate_json(p.read_bytes()) for p in sorted(EXAMPLES.glob("*.json"))]


def _key(result: ScreeningResult) -> tuple[Any, ...]:
    return (
        result.manifest_id,
        result.channel,
        result.risk_score,
        tuple((f.rule_id, f.item_line, f.explanation) for f in result.flags),
    )


def test_result_names_the_ruleset_and_times_itself(
    compiled_engine: Engine, default_pack: RuleSet
) -> None:
    result = compiled_engine.screen(SAMPLES[0])
    assert result.ruleset.name == default_pack.name
    assert result.ruleset.version == default_pack.version
    assert result.ruleset.sha256 == default_pack.sha256 and len(result.ruleset.sha256) == 64
    assert result.ruleset.version_id is None  # a pack not from the rule store
    assert result.elapsed_ms > 0


def test_evaluators_agree_on_the_samples(compiled_engine: Engine, rete_engine: Engine) -> None:
    for manifest in SAMPLES:
        assert _key(compiled_engine.screen(manifest)) == _key(rete_engine.screen(manifest))


def test_unknown_evaluator_is_refused() -> None:
    with pytest.raises(ValueError, match="choose 'compiled' or 'rete'"):
        Engine(kind="fast")  # type: ignore[arg-type]


def _heavy_pack(version: str, threshold: float) -> RuleSet:
    text = rule_yaml("heavy-item", f"item.gross_mass_kg > {threshold}")
    return make_pack(
        {"heavy-item": text},
        **{"pack.yaml": _pack_yaml(version)},
    )


def _pack_yaml(version: str) -> str:
    return PACK_YAML.replace('version: "1"', f'version: "{version}"')


@pytest.mark.parametrize("kind", ["compiled", "rete"])
def test_swap_is_atomic_under_load(kind: str) -> None:
    # Version "low" flags every sample (threshold 0); version "high" flags none. Every result
    # must be wholly one version's: its flags must match the version it names.
    low, high = _heavy_pack("low", 0.0), _heavy_pack("high", 1e9)
    engine = Engine(low, kind=kind)  # type: ignore[arg-type]
    stop = threading.Event()
    bad: list[str] = []
    seen: set[str] = set()

    def screen() -> None:
        n = 0
        while not stop.is_set():
            result = engine.screen(SAMPLES[n % len(SAMPLES)])
            n += 1
            seen.add(result.ruleset.version)
            flagged = bool(result.flags)
            if flagged != (result.ruleset.version == "low"):
                bad.append(f"{result.ruleset.version}: {len(result.flags)} flags")

    workers = [threading.Thread(target=screen) for _ in range(4)]
    for worker in workers:
        worker.start()
    for n in range(30):
        engine.load(high if n % 2 == 0 else low)
        time.sleep(0.005)
    stop.set()
    for worker in workers:
        worker.join()
    engine.close()
    assert not bad
    assert seen == {"low", "high"}


def _churn_pack(n: int) -> RuleSet:
    """Version ``n`` of a pack whose heavy-item rule flags every sample when ``n`` is even
    and none when odd; the same pack version string every time, as governance edits leave
    it. Its text rules (never matching the samples) give durable_rules pattern automata to
    compile, which it never frees in its process."""
    rules = {
        "heavy-item": rule_yaml("heavy-item", f"item.gross_mass_kg > {0.0 if n % 2 == 0 else 1e9}")
    }
    for word in ("alpha", "bravo", "charlie", "delta"):
        when = f'item.description contains "{word.upper()} {n}"'
        rules[f"says-{word}"] = rule_yaml(f"says-{word}", when)
    return make_pack(rules, **{"pack.yaml": _pack_yaml("1")})


def _rss(pids: list[int]) -> int:
    return sum(psutil.Process(pid).memory_info().rss for pid in pids)


def test_the_rete_engine_follows_any_number_of_activations() -> None:
    """The rete engine used to refuse its 65th version (durable_rules never frees a compile's
    pattern automata). Now 150 activations each take effect at once — the next screening
    answers with the new rules and names the new version — while at most two durable_rules
    host processes run, none compiles more than ``rete_max_versions`` versions, every one
    replaced has ended, and memory measured at the same point of each host's life does not
    grow (it grew ~0.4 MB an activation of this pack in one process)."""
    engine = Engine(_churn_pack(0), kind="rete", rete_max_versions=8, version_id=1)
    host = engine.rete_host
    assert host is not None
    seen: set[int] = set()
    fresh: list[int] = []  # memory of this process and its hosts, just after each replacement
    try:
        for n in range(1, 151):
            engine.load(_churn_pack(n), version_id=n + 1)
            result = engine.screen(SAMPLES[0])
            assert result.ruleset.version_id == n + 1 and result.ruleset.version == "1"
            assert [f.rule_id for f in result.flags] == (["heavy-item"] if n % 2 == 0 else [])
            processes = host.stats().processes
            assert len(processes) <= 2 and sum(live for _, _, live in processes) <= 2
            assert all(compiled <= 8 for _, compiled, _ in processes)
            pids = [pid for pid, _, _ in processes]
            seen.update(pids)
            if [compiled for _, compiled, _ in processes] == [1]:
                fresh.append(psutil.Process().memory_info().rss + _rss(pids))
    finally:
        engine.close()
    assert host.stats().created == 151 and len(seen) == 151 // 8 + 1
    assert not [pid for pid in seen if psutil.pid_exists(pid)]  # all ended with the engine
    grown = fresh[-1] - fresh[1]
    assert grown < 10 * 1024 * 1024, f"memory grew {grown / 1e6:.1f} MB over {len(fresh)} hosts"


def test_many_threads_match_sequential(compiled_engine: Engine) -> None:
    expected = [_key(compiled_engine.screen(m)) for m in SAMPLES]
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(
            pool.map(lambda n: _key(compiled_engine.screen(SAMPLES[n % 4])), range(4_000))
        )
    assert all(result == expected[n % 4] for n, result in enumerate(results))


def test_asyncio_callers(rete_engine: Engine) -> None:
    expected = [_key(rete_engine.screen(m)) for m in SAMPLES]

    async def main() -> list[tuple[Any, ...]]:
        tasks = [asyncio.to_thread(rete_engine.screen, SAMPLES[n % 4]) for n in range(400)]
        return [_key(r) for r in await asyncio.gather(*tasks)]

    results = asyncio.run(main())
    assert all(result == expected[n % 4] for n, result in enumerate(results))


@pytest.mark.parametrize(("kind", "rounds"), [("compiled", 200_000), ("rete", 60_000)])
def test_memory_stays_flat(kind: str, rounds: int, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(f"{kind}_engine")
    host = engine.rete_host  # its durable_rules host process counts too
    pids = [pid for pid, _, _ in host.stats().processes] if host is not None else []
    process = psutil.Process()
    for n in range(5_000):  # warm caches and allocator pools
        engine.screen(SAMPLES[n % 4])
    gc.collect()
    before = process.memory_info().rss + _rss(pids)
    for n in range(rounds):
        engine.screen(SAMPLES[n % 4])
    gc.collect()
    grown = process.memory_info().rss + _rss(pids) - before
    # A leak of even 100 bytes per evaluation would show as 6-20 MB here.
    assert grown < 4 * 1024 * 1024, f"RSS grew {grown / 1e6:.1f} MB over {rounds} evaluations"
