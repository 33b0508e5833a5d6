"""Benchmark: manifests per second through the correlation evaluators, and their memory.

    python bench/correlation.py [--manifests 200000] [--consignors 10000] [--days 30]
                                [--year-manifests 200000] [--year-consignors 10000]
                                [--alerts-manifests 200000]
                                [--sections "split rule,default pack,repeat offenders,
                                             year,alerts pass,api,joining"]
                                [--duration 4] [--repeat 3]

A synthetic stream in filed_at order: ``--consignors`` consignors over ``--days`` days, 60%
of the manifests small express parcels of a cover good (members of the split-shipment rule),
the rest sea freight of a cover good (tiles), each consignor mostly to its own two buyers,
plus a planted burst of five parcels for every 50 consignors. Each section runs each
evaluator in its own process (same seed, same stream), timing only the ``push`` calls, and
prints manifests/s, the RSS growth over the pass (the evaluator's state; the stream is built
before), the alerts (which must be equal) and the ratio rete/reference, all measured in the
same run. Nothing here asserts a speed: read the figures.

Sections (add one by appending to ``SECTIONS``):

* ``split rule``    the sequence rule alone: durable_rules against the reference,
* ``default pack``  the default rules: the rete evaluator runs the split and the two
                    repeat-offender rules in durable_rules and delegates the others to the
                    reference (no seizures in this stream).
* ``repeat offenders`` the two repeat-offender rules alone, one manifest in 200 seized:
                    seizure facts joined in durable_rules against the reference's sorted
                    list per entity (alerts compared by a digest of their ids, in order).
* ``year``          the issue's figure, on the reference evaluator: a stream of
                    ``--year-manifests`` from ``--year-consignors`` over a year, made one
                    manifest at a time (never held whole), with one manifest in a thousand
                    seized (the repeat offenders' history); manifests/s through the
                    correlation stage (making the stream timed on its own and taken off)
                    against making it alone and against per-manifest screening, and the peak
                    RSS against a process that only makes the stream.

* ``alerts pass``   ``assay screen --alerts`` on ``--alerts-manifests`` of the ``year``
                    stream written shuffled to a JSON Lines file: the pass as it was (every
                    timed manifest in one list, sorted, one process: a copy kept here as the
                    baseline) against the partitioned pass with one worker and with two;
                    seconds (wall, and CPU with the helpers') and peak RSS of each (the
                    main process, and its largest helper; all start from a compiled pack,
                    about 45 MB), and whether the alerts files are the same bytes.

* ``api``           ``POST /v1/screen`` through ``assay serve`` (one worker, wrk, the
                    realistic clean 5-item manifest of ``bench/api.py``): the default pack
                    with its correlation rules against the same pack without
                    ``correlation/``, interleaved ``--repeat`` times, median kept.
* ``joining``       in-process, one core: what the correlation rules add to screening the
                    clean manifest of ``api`` (``Joiner.joining``), without the
                    repeat-offender rules (the service before they ran in it) against with
                    them and 1,000 seizures of other parties on record, and the ratio.

The ``year`` section at the issue's size (``--year-manifests 1000000 --year-consignors
50000``, about four minutes on two shared cores) was measured once (2026-12-04, before the
stream sections above were merged in, 2 cores shared with other work): 5,872 manifests/s
through the correlation stage (170 s), 0.15x per-manifest screening's rate (38,882/s), peak
RSS 443 MB against 87 MB to make the stream alone, 144,241 entities live at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psutil

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from assay.engine import Engine  # noqa: E402
from assay.engine.batch.alerts import write_alerts  # noqa: E402
from assay.engine.batch.readers import read_inputs  # noqa: E402
from assay.engine.batch.records import manifest_or_error  # noqa: E402
from assay.engine.contracts import Manifest, Party  # noqa: E402
from assay.engine.correlation.evaluator import (  # noqa: E402
    CorrelationEvaluator,
    Correlator,
    order_key,
)
from assay.engine.correlation.joining import Joiner  # noqa: E402
from assay.engine.correlation.measures import SEIZURES  # noqa: E402
from assay.engine.correlation.rete import ReteCorrelator  # noqa: E402
from assay.engine.correlation.seizures import SeizureIndex  # noqa: E402
from assay.engine.features import Enricher  # noqa: E402
from assay.engine.rulefile import build_example_manifest  # noqa: E402
from assay.engine.ruleset import RuleSet, compile_pack, default_pack_dir, read_sources  # noqa: E402
from bench.api import _manifest, _screening_key, _wait, _wrk, free_port  # noqa: E402

T0 = datetime(2026, 9, 1, tzinfo=UTC)


def _template(pack: RuleSet, mode: str, hs_code: str, kg: float) -> Manifest:
    data = build_example_manifest(
        pack.example_base,
        {
            "manifest": {
                "transport_mode": mode,
                "country_of_export": "CN",
                "port_of_loading": None,
                "countries_of_routing": ["CN", "US"],
            },
            "item": {"hs_code": hs_code, "description": "SOLDER PASTE SAC305", "gross_mass_kg": kg},
        },
    )
    return Manifest.model_validate(data)


def stream(pack: RuleSet, manifests: int, consignors: int, days: int) -> list[Manifest]:
    """The same stream for every evaluator (seeded), in (filed_at, manifest_id) order."""
    rng = random.Random(7)
    parcel = _template(pack, "express", "381010", 12)
    freight = _template(pack, "sea", "690721", 4800)
    parties = [Party(name=f"SHIPPER {n}", country="CN") for n in range(consignors)]
    buyers = [Party(name=f"BUYER {n}", country="US") for n in range(max(consignors // 5, 1))]
    span = days * 86400
    plan: list[tuple[int, int, Manifest]] = []
    for _ in range(manifests):
        plan.append(
            (
                rng.randrange(span),
                rng.randrange(consignors),
                parcel if rng.random() < 0.6 else freight,
            )
        )
    for who in range(0, consignors, 50):  # planted bursts: 5 parcels in 20 hours
        start = rng.randrange(span - 86400)
        plan += [(start + 4 * 3600 * k, who, parcel) for k in range(5)]
    plan.sort(key=lambda p: p[0])
    return [
        template.model_copy(
            update={
                "manifest_id": f"B{n:08d}",
                "filed_at": T0 + timedelta(seconds=second),
                "consignor": parties[who],
                # each consignor ships to its own two regular buyers, one time in ten to any
                "consignee": buyers[
                    (3 * who + rng.randrange(2)) % len(buyers)
                    if rng.random() < 0.9
                    else rng.randrange(len(buyers))
                ],
            }
        )
        for n, (second, who, template) in enumerate(plan)
    ]


def _worker(
    kind: str, section: str, manifests: int, consignors: int, days: int
) -> dict[str, object]:
    pack = compile_pack(read_sources(default_pack_dir()), origin="")
    rules = SECTIONS[section](pack)
    timed = stream(pack, manifests, consignors, days)
    process = psutil.Process()
    before = process.memory_info().rss
    every = SEIZED_EVERY.get(section)
    seized = {m.manifest_id for m in timed[::every]} if every else set()
    evaluator: CorrelationEvaluator = (
        ReteCorrelator(pack, rules, seized=seized)
        if kind == "rete"
        else Correlator(pack, rules, seized)
    )
    alerts = 0
    by_rule: Counter[str] = Counter()
    digest = hashlib.sha256()
    started = time.perf_counter()
    for manifest in timed:
        for alert in evaluator.push(manifest):
            alerts += 1
            by_rule[alert.rule_id] += 1
            digest.update(alert.alert_id.encode())
    seconds = time.perf_counter() - started
    live = evaluator.live_facts() if isinstance(evaluator, ReteCorrelator) else {}
    return {
        "kind": kind,
        "manifests": len(timed),
        "seconds": seconds,
        "alerts": alerts,
        "by_rule": dict(sorted(by_rule.items())),
        "digest": digest.hexdigest(),
        "seized": len(seized),
        "delegated": sorted(evaluator.delegated) if isinstance(evaluator, ReteCorrelator) else [],
        "rss_growth_mb": (process.memory_info().rss - before) / 2**20,
        "rss_mb": process.memory_info().rss / 2**20,
        "live_facts": live,
    }


SECTIONS: dict[str, Callable[[RuleSet], tuple]] = {  # type: ignore[type-arg]
    "split rule": lambda pack: tuple(
        r for r in pack.correlations if r.id == "split-shipment-small-parcels"
    ),
    "default pack": lambda pack: tuple(pack.correlations),
    "repeat offenders": lambda pack: tuple(
        r for r in pack.correlations if r.pattern == "repeat_offender"
    ),
}
# Sections whose stream carries seizures: one manifest in this many is seized.
SEIZED_EVERY = {"repeat offenders": 200}


YEAR_SEED = 18
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
SCREENED = 20_000  # manifests screened for the screening baseline
YEAR_PARTS = ("generate", "reference", "screen")


def _year_templates(pack: RuleSet) -> dict[str, Manifest]:
    """The shapes of the stream: each manifest is one of these with its own id, time and
    parties (a shallow copy: making the stream costs little beside correlating it)."""
    base = pack.example_base
    sea = build_example_manifest(base, {})
    tiles = build_example_manifest(
        base,
        {
            "manifest": {"country_of_export": "CN", "port_of_loading": "CNSGH",
                         "countries_of_routing": ["CN", "US"]},
            "item": {"hs_code": "690721", "description": "PORCELAIN FLOOR TILES 600X600MM",
                     "origin_country": "CN", "quantity": 200, "quantity_unit": "m2",
                     "packages": 40, "package_type": "CT", "gross_mass_kg": 4800,
                     "value": 2100, "currency": "USD"},
        },
    )  # fmt: skip
    parcel = build_example_manifest(
        base,
        {
            "manifest": {"transport_mode": "express", "country_of_export": "CN",
                         "port_of_loading": None, "countries_of_routing": ["CN", "US"]},
            "item": {"hs_code": "381010", "description": "SOLDER PASTE SAC305",
                     "origin_country": "CN", "quantity": 10, "quantity_unit": "kg",
                     "packages": 2, "package_type": "CT", "gross_mass_kg": 12, "value": 600,
                     "currency": "USD"},
        },
    )  # fmt: skip
    return {
        name: Manifest.model_validate(data)
        for name, data in (("sea", sea), ("tiles", tiles), ("parcel", parcel))
    }


def year_stream(pack: RuleSet, manifests: int, consignors: int) -> Iterator[tuple[Manifest, bool]]:
    """``manifests`` (manifest, seized) pairs in filed_at order, the same in every run."""
    shapes = _year_templates(pack)
    rng = random.Random(YEAR_SEED)
    senders = [
        Party(name=f"CONSIGNOR {n:06d}", country="CN" if n % 3 else "VN") for n in range(consignors)
    ]
    receivers = [Party(name=f"CONSIGNEE {n:06d}", country="US") for n in range(consignors // 2 + 1)]
    step = YEAR / manifests
    n = 0
    while n < manifests:
        sender = senders[rng.randrange(consignors)]
        draw = rng.random()
        if draw < 0.01:  # a burst of small express parcels from one sender
            shape, count = shapes["parcel"], 5
        elif draw < 0.15:  # cover goods, to any receiver
            shape, count = shapes["tiles"], 1
        else:
            shape, count = shapes["sea"], 1
        for _ in range(min(count, manifests - n)):
            manifest = shape.model_copy(
                update={
                    "manifest_id": f"B{n:08d}",
                    "filed_at": YEAR_START + step * n,
                    "consignor": sender,
                    "consignee": receivers[rng.randrange(len(receivers))],
                }
            )
            yield manifest, n % 1000 == 999
            n += 1


ALERTS_VARIANTS = ("one list", "partitioned, 1 worker", "partitioned, 2 workers")


def _alerts_in_one_list(inputs: list[str], pack: RuleSet, target: str) -> int:
    """The alerts pass before partitions (main at 013780a), kept as the baseline: every timed
    manifest in one list, sorted, one reference evaluator."""
    timed: list[Manifest] = []
    for record in read_inputs(inputs, None):
        manifest = manifest_or_error(record)
        if isinstance(manifest, Manifest) and manifest.filed_at is not None:
            timed.append(manifest)
    timed.sort(key=order_key)
    correlator = Correlator(pack)
    lines = [orjson.dumps(a.to_json()) + b"\n" for m in timed for a in correlator.push(m)]
    Path(target).write_bytes(b"".join(lines))
    return len(lines)


def _alerts_variant(variant: str, source: str, target: str) -> dict[str, object]:
    pack = compile_pack(read_sources(default_pack_dir()))
    started = time.perf_counter()
    if variant == "one list":
        alerts = _alerts_in_one_list([source], pack, target)
    else:
        workers = 2 if variant.endswith("2 workers") else 1
        alerts = write_alerts([source], None, pack, target, workers=workers).alerts
    used = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": sum(u.ru_utime + u.ru_stime for u in used),
        "alerts": alerts,
        "peak_mb": _high_water_mb(),
        "helper_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def _alerts_pass(args: argparse.Namespace) -> None:
    count = args.alerts_manifests
    pack = compile_pack(read_sources(default_pack_dir()))
    print(f"\nalerts pass: assay screen --alerts over {count:,} manifests (the year stream,")
    print("shuffled into one JSON Lines file), the default pack, no outcomes")
    with tempfile.TemporaryDirectory() as directory:
        source = Path(directory) / "manifests.jsonl"
        lines = [m.model_dump_json() for m, _ in year_stream(pack, count, args.year_consignors)]
        random.Random(1).shuffle(lines)
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        del lines
        print(f"input {source.stat().st_size / 2**20:,.0f} MB")
        results: dict[str, dict[str, Any]] = {}
        for variant in ALERTS_VARIANTS:
            target = Path(directory) / f"alerts-{len(results)}.jsonl"
            command = [sys.executable, __file__, "--alerts-variant", variant]
            command += ["--alerts-file", str(source), "--alerts-target", str(target)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            results[variant] = json.loads(out.splitlines()[-1])
            results[variant]["bytes"] = target.read_bytes()
    base = results["one list"]
    for variant, found in results.items():
        helper = float(found["helper_peak_mb"])
        helpers = f", largest helper {helper:,.0f} MB" if helper else ""
        print(
            f"  {variant:<24} {found['seconds']:>6.1f} s ({base['seconds'] / found['seconds']:.2f}x"
            f" the one list's speed, {found['cpu_seconds']:.1f} s of CPU)"
            f"  peak RSS {found['peak_mb']:>5,.0f} MB{helpers}"
            f"  {found['alerts']:,} alerts"
        )
    same = all(found["bytes"] == base["bytes"] for found in results.values())
    print("  " + ("the same alerts, byte for byte" if same else "ALERTS DIFFER"))


def _high_water_mb() -> float:
    """This process's peak RSS (``VmHWM``): unlike ``ru_maxrss``, which Linux keeps across
    ``exec``, not the peak of the bench process that started it."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return _peak_mb()


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _year_part(name: str, manifests: int, consignors: int) -> dict[str, object]:
    """One section, in this process: its seconds, peak RSS and what it found."""
    pack = compile_pack(read_sources(default_pack_dir()))
    found: dict[str, object] = {"section": name}
    if name == "generate":
        started = time.perf_counter()
        for _manifest, _seized in year_stream(pack, manifests, consignors):
            pass
        found["seconds"] = time.perf_counter() - started
    elif name == "screen":
        engine = Engine(pack)
        sample = [m for m, _ in year_stream(pack, min(SCREENED, manifests), consignors)]
        started = time.perf_counter()
        for manifest in sample:
            engine.screen(manifest)
        found["screen_per_second"] = len(sample) / (time.perf_counter() - started)
        engine.close()
    else:
        correlator = Correlator(pack)
        alerts: Counter[str] = Counter()
        started = time.perf_counter()
        for manifest, seized in year_stream(pack, manifests, consignors):
            for alert in correlator.push(manifest):
                alerts[alert.rule_id] += 1
            if seized:
                correlator.seize(manifest)
        found["seconds"] = time.perf_counter() - started
        found["alerts"] = dict(sorted(alerts.items()))
        found["live_entities"] = correlator.live_entities()
        found["rules"] = len(correlator.rules)
    found["peak_mb"] = _peak_mb()
    return found


def _year(args: argparse.Namespace) -> None:
    print("\nyear (reference evaluator, seizures as history)")
    size = [
        "--year-manifests",
        str(args.year_manifests),
        "--year-consignors",
        str(args.year_consignors),
    ]
    results = {}
    for section in YEAR_PARTS:
        done = subprocess.run(
            [sys.executable, __file__, "--year-part", section, *size],
            capture_output=True,
            text=True,
            check=True,
        )
        results[section] = json.loads(done.stdout.strip().splitlines()[-1])
    made, ran = results["generate"], results["reference"]
    generate_s, total_s = float(made["seconds"]), float(ran["seconds"])
    correlate_s = max(total_s - generate_s, 1e-9)
    rate = args.year_manifests / correlate_s
    screen_rate = float(results["screen"]["screen_per_second"])
    made_mb, ran_mb = float(made["peak_mb"]), float(ran["peak_mb"])
    print(
        f"stream: {args.year_manifests:,} manifests, {args.year_consignors:,} consignors, a year of"
        f" filed_at, {ran['rules']} correlation rules (the default pack)"
    )
    print(f"generate only        {args.year_manifests / generate_s:>12,.0f} manifests/s")
    print(
        f"correlation stage    {rate:>12,.0f} manifests/s  ({correlate_s:.1f} s;"
        f" {correlate_s / generate_s:.2f}x the time to make the stream)"
    )
    print(
        f"per-manifest screen  {screen_rate:>12,.0f} manifests/s  (first {SCREENED:,});"
        f" the correlation stage runs at {rate / screen_rate:.2f}x screening's rate"
    )
    print(
        f"peak RSS             {ran_mb:>12,.0f} MB correlating, {made_mb:,.0f} MB making the"
        f" stream alone: +{ran_mb - made_mb:,.0f} MB ({ran_mb / made_mb:.2f}x)"
    )
    print(f"live entities at the end: {ran['live_entities']:,}")
    print("alerts: " + ", ".join(f"{k} {v:,}" for k, v in ran["alerts"].items()))


def _serve(data: Path, rules: Path | None) -> tuple[subprocess.Popen[bytes], str]:
    """``assay serve`` with one worker on a free port, with the pack in ``rules``."""
    port = free_port()
    env = {**os.environ, "ASSAY_DATA_DIR": str(data)}
    env.pop("ASSAY_DATABASE_URL", None)
    command = [str(Path(sys.executable).with_name("assay")), "serve", "--port", str(port)]
    command += ["--rules", str(rules)] if rules is not None else []
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait(f"http://127.0.0.1:{port}/readyz", process)
    return process, f"http://127.0.0.1:{port}/v1/screen"


def _api(args: argparse.Namespace) -> None:
    """The service's requests/s with the correlation rules in force and without, same run."""
    if shutil.which("wrk") is None:
        print("\napi: skipped, wrk is not installed (apt-get install -y wrk)")
        return
    work = Path(tempfile.mkdtemp(prefix="assay-bench-correlation-"))
    body = work / "manifest.json"
    body.write_bytes(_manifest())
    without = work / "pack-without-correlation"
    shutil.copytree(default_pack_dir(), without, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(without / "correlation")
    servers: dict[str, tuple[subprocess.Popen[bytes], str, str]] = {}
    try:
        for name, rules in (("with correlation", None), ("without correlation", without)):
            data = work / name.replace(" ", "-")
            key = _screening_key(data)
            process, url = _serve(data, rules)
            servers[name] = (process, url, key)
            _wrk(url, body, 2, 16, None, key)  # warm-up
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
        for _ in range(args.repeat):  # interleaved: the machine's speed drifts
            for name, (_, url, key) in servers.items():
                runs[name].append(_wrk(url, body, args.duration, 16, None, key))
    finally:
        for process, _, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\napi: POST /v1/screen, one worker, wrk -c16 -d{args.duration}s, median of"
        f" {args.repeat} interleaved runs; a clean 5-item manifest (joins no group)"
    )
    rates = {}
    for name, found in runs.items():
        ordered = sorted(found, key=lambda run: run["rate"])
        middle = ordered[len(ordered) // 2]
        rates[name] = middle["rate"]
        print(
            f"  {name:<22}{middle['rate']:>10,.0f} req/s  p50 {middle['p50']:.2f} ms"
            f"  p99 {middle['p99']:.2f} ms"
        )
    ratio = rates["with correlation"] / rates["without correlation"]
    print(f"  with / without correlation rules: {ratio:.2f}x")


def _joining() -> None:
    """µs per ``Joiner.joining`` of a clean manifest, without and with the rules reading
    seizures (and 1,000 seizures of other parties in the index), interleaved, best of 5."""
    pack = compile_pack(read_sources(default_pack_dir()), origin="")
    manifest = Manifest.model_validate_json(_manifest())
    seized = []
    for n in range(1000):
        document = json.loads(_manifest())
        document["manifest_id"] = f"SEIZED-{n}"
        document["consignor"] = {"name": f"SEIZED CONSIGNOR {n}", "country": "CN"}
        document["consignee"] = {"name": f"SEIZED CONSIGNEE {n}", "country": "US"}
        seized.append(Manifest.model_validate(document))
    index = SeizureIndex()
    index.replace(seized)
    view, items = Enricher(pack).enrich(manifest, datetime(2026, 1, 1, tzinfo=UTC).date())
    joiners = {
        "without repeat offenders": Joiner(
            [rule for rule in pack.correlations if SEIZURES not in rule.measures], pack.lanes
        ),
        "with them, 1,000 seizures": Joiner(pack.correlations, pack.lanes, index),
    }
    best = dict.fromkeys(joiners, float("inf"))
    for _ in range(5):
        for name, joiner in joiners.items():
            started = time.perf_counter()
            for _ in range(20_000):
                joiner.joining(manifest, view, items)
            best[name] = min(best[name], (time.perf_counter() - started) / 20_000 * 1e6)
    print("\njoining: Joiner.joining of the clean manifest of api, best of 5 x 20,000")
    for name, micros in best.items():
        print(f"  {name:<28}{micros:>8.1f} µs")
    ratio = best["with them, 1,000 seizures"] / best["without repeat offenders"]
    print(f"  with / without: {ratio:.2f}x")


def _streams(args: argparse.Namespace, chosen: list[str]) -> None:
    """The stream sections: each evaluator in a process of its own, the same stream."""
    for section in [name for name in SECTIONS if name in chosen]:
        figures = {}
        for kind in ("reference", "rete"):
            command = [sys.executable, __file__, "--worker", kind, "--section", section]
            command += ["--manifests", str(args.manifests), "--consignors", str(args.consignors)]
            command += ["--days", str(args.days)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
            figures[kind] = json.loads(out.splitlines()[-1])
        print(f"\n{section}")
        for kind, f in figures.items():
            rate = f["manifests"] / f["seconds"]
            facts = f"  live facts at the end {f['live_facts']}" if f["live_facts"] else ""
            print(
                f"  {kind:<10} {rate:>10,.0f} manifests/s  {f['alerts']:>6,} alerts  "
                f"RSS {f['rss_mb']:>6.0f} MB (+{f['rss_growth_mb']:.0f} MB over the pass){facts}"
            )
        ref, rete = figures["reference"], figures["rete"]
        ratio = (rete["manifests"] / rete["seconds"]) / (ref["manifests"] / ref["seconds"])
        same = "same alerts" if ref["digest"] == rete["digest"] else "ALERTS DIFFER"
        if rete["seized"]:
            print(f"  {rete['seized']:,} manifests seized (one in {SEIZED_EVERY[section]})")
        if rete["delegated"]:
            print(f"  rete delegated to Python: {', '.join(rete['delegated'])}")
        print(f"  rete/reference speed {ratio:.2f}x  ({same})")
        print("  alerts by rule: " + ", ".join(f"{k} {v:,}" for k, v in ref["by_rule"].items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=200_000)
    parser.add_argument("--consignors", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--year-manifests", type=int, default=200_000)
    parser.add_argument("--year-consignors", type=int, default=10_000)
    parser.add_argument(
        "--sections",
        default=",".join([*SECTIONS, "year", "alerts pass", "api", "joining"]),
        help="comma-separated: " + ", ".join([*SECTIONS, "year", "alerts pass", "api", "joining"]),
    )
    parser.add_argument("--duration", type=int, default=4, help="api: seconds a wrk run")
    parser.add_argument("--repeat", type=int, default=3, help="api: runs a server, interleaved")
    parser.add_argument("--alerts-manifests", type=int, default=200_000)
    parser.add_argument("--year-part", choices=YEAR_PARTS, help=argparse.SUPPRESS)
    parser.add_argument("--alerts-variant", choices=ALERTS_VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--alerts-file", help=argparse.SUPPRESS)
    parser.add_argument("--alerts-target", help=argparse.SUPPRESS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--section", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.alerts_variant:
        found = _alerts_variant(args.alerts_variant, args.alerts_file, args.alerts_target)
        print(json.dumps(found))
        return
    if args.year_part:
        print(json.dumps(_year_part(args.year_part, args.year_manifests, args.year_consignors)))
        return
    if args.worker:
        result = _worker(args.worker, args.section, args.manifests, args.consignors, args.days)
        print(json.dumps(result))
        return
    print(
        f"{args.manifests:,} manifests (+ planted bursts), {args.consignors:,} consignors, "
        f"{args.days} days, in filed_at order; one process per evaluator"
    )
    chosen = [name.strip() for name in args.sections.split(",")]
    _streams(args, chosen)
    if "year" in chosen:
        _year(args)
    if "alerts pass" in chosen:
        _alerts_pass(args)
    if "api" in chosen:
        _api(args)
    if "joining" in chosen:
        _joining()


if __name__ == "__main__":
    main()
