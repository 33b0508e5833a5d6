"""Benchmark: manifests per second through the correlation evaluators, and their memory.

    python bench/correlation.py [--manifests 200000] [--consignors 10000] [--days 30]

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
* ``default pack``  the three default rules: the rete evaluator runs the split rule in
                    durable_rules and delegates the other two to the reference.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from assay.engine.contracts import Manifest, Party  # noqa: E402
from assay.engine.correlation.evaluator import CorrelationEvaluator, Correlator  # noqa: E402
from assay.engine.correlation.rete import ReteCorrelator  # noqa: E402
from assay.engine.rulefile import build_example_manifest  # noqa: E402
from assay.engine.ruleset import RuleSet, compile_pack, default_pack_dir, read_sources  # noqa: E402

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
    evaluator: CorrelationEvaluator = (
        ReteCorrelator(pack, rules) if kind == "rete" else Correlator(pack, rules)
    )
    alerts = 0
    started = time.perf_counter()
    for manifest in timed:
        alerts += len(evaluator.push(manifest))
    seconds = time.perf_counter() - started
    live = evaluator.live_facts() if isinstance(evaluator, ReteCorrelator) else {}
    return {
        "kind": kind,
        "manifests": len(timed),
        "seconds": seconds,
        "alerts": alerts,
        "rss_growth_mb": (process.memory_info().rss - before) / 2**20,
        "rss_mb": process.memory_info().rss / 2**20,
        "live_facts": live,
    }


SECTIONS: dict[str, Callable[[RuleSet], tuple]] = {  # type: ignore[type-arg]
    "split rule": lambda pack: tuple(
        r for r in pack.correlations if r.id == "split-shipment-small-parcels"
    ),
    "default pack": lambda pack: tuple(pack.correlations),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=200_000)
    parser.add_argument("--consignors", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--section", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = _worker(args.worker, args.section, args.manifests, args.consignors, args.days)
        print(json.dumps(result))
        return
    print(
        f"{args.manifests:,} manifests (+ planted bursts), {args.consignors:,} consignors, "
        f"{args.days} days, in filed_at order; one process per evaluator"
    )
    for section in SECTIONS:
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
        same = "same alerts" if ref["alerts"] == rete["alerts"] else "ALERTS DIFFER"
        print(f"  rete/reference speed {ratio:.2f}x  ({same})")


if __name__ == "__main__":
    main()
