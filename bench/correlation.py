"""Benchmark: the correlation stage (the reference evaluator) on a long stream of manifests.

    python bench/correlation.py [--manifests 200000] [--consignors 10000]

The issue's figure is ``--manifests 1000000 --consignors 50000`` (about four minutes on two
shared cores); measured once (2026-12-04, 2 cores shared with other work): 5,872 manifests/s
through the correlation stage (170 s), 0.15x per-manifest screening's rate (38,882/s), peak
RSS 443 MB against 87 MB to make the stream alone, 144,241 entities live at the end. The
default is a fifth of it, to run in under a minute.

A stream of ``--manifests`` manifests from ``--consignors`` distinct consignors over a year of
filed_at, generated deterministically in filed_at order (seed 18): mostly sea freight of
furniture, some tiles (cover goods, to fresh consignees: new receivers and volume jumps),
bursts of small express parcels of solder paste (split shipments), and one manifest in a
thousand seized (the repeat offenders' history). It goes through the default pack's
correlation rules (:class:`engine.correlation.evaluator.Correlator`), one manifest at a time.

Printed, from the same run: manifests per second through the correlation stage (the time to
make the stream measured on its own and taken off), against the generation alone and against
per-manifest screening (``Engine.screen``) of the same stream's first manifests, with ratios;
the alerts per rule; the entities live at the end; and the peak RSS of a process that only
makes the stream against one that also correlates it (each section runs in its own process,
so the peaks are its own). Memory follows the live windows (a year of history for the
repeat-offender and new-receiver rules), not the stream's length.

The rete (durable_rules) evaluator of issue 18 adds its own section beside ``reference``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from assay.engine import Engine  # noqa: E402
from assay.engine.contracts import Manifest, Party  # noqa: E402
from assay.engine.correlation.evaluator import Correlator  # noqa: E402
from assay.engine.rulefile import build_example_manifest  # noqa: E402
from assay.engine.ruleset import RuleSet, compile_pack, default_pack_dir, read_sources  # noqa: E402

SEED = 18
START = datetime(2026, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=365)
SCREENED = 20_000  # manifests screened per manifest for the screening baseline
SECTIONS = ("generate", "reference", "screen")


def _templates(pack: RuleSet) -> dict[str, Manifest]:
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


def stream(pack: RuleSet, manifests: int, consignors: int) -> Iterator[tuple[Manifest, bool]]:
    """``manifests`` (manifest, seized) pairs in filed_at order, the same in every run."""
    shapes = _templates(pack)
    rng = random.Random(SEED)
    senders = [
        Party(name=f"CONSIGNOR {n:06d}", country="CN" if n % 3 else "VN") for n in range(consignors)
    ]
    receivers = [Party(name=f"CONSIGNEE {n:06d}", country="US") for n in range(consignors // 2 + 1)]
    step = SPAN / manifests
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
                    "filed_at": START + step * n,
                    "consignor": sender,
                    "consignee": receivers[rng.randrange(len(receivers))],
                }
            )
            yield manifest, n % 1000 == 999
            n += 1


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _section(name: str, manifests: int, consignors: int) -> dict[str, object]:
    """One section, in this process: its seconds, peak RSS and what it found."""
    pack = compile_pack(read_sources(default_pack_dir()))
    found: dict[str, object] = {"section": name}
    if name == "generate":
        started = time.perf_counter()
        for _manifest, _seized in stream(pack, manifests, consignors):
            pass
        found["seconds"] = time.perf_counter() - started
    elif name == "screen":
        engine = Engine(pack)
        sample = [m for m, _ in stream(pack, min(SCREENED, manifests), consignors)]
        started = time.perf_counter()
        for manifest in sample:
            engine.screen(manifest)
        found["screen_per_second"] = len(sample) / (time.perf_counter() - started)
        engine.close()
    else:
        correlator = Correlator(pack)
        alerts: Counter[str] = Counter()
        started = time.perf_counter()
        for manifest, seized in stream(pack, manifests, consignors):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--manifests", type=int, default=200_000)
    parser.add_argument("--consignors", type=int, default=10_000)
    parser.add_argument("--section", choices=SECTIONS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.section:
        print(json.dumps(_section(args.section, args.manifests, args.consignors)))
        return
    size = ["--manifests", str(args.manifests), "--consignors", str(args.consignors)]
    results = {}
    for section in SECTIONS:
        done = subprocess.run(
            [sys.executable, __file__, "--section", section, *size],
            capture_output=True,
            text=True,
            check=True,
        )
        results[section] = json.loads(done.stdout.strip().splitlines()[-1])
    made, ran = results["generate"], results["reference"]
    generate_s, total_s = float(made["seconds"]), float(ran["seconds"])
    correlate_s = max(total_s - generate_s, 1e-9)
    rate = args.manifests / correlate_s
    screen_rate = float(results["screen"]["screen_per_second"])
    made_mb, ran_mb = float(made["peak_mb"]), float(ran["peak_mb"])
    print(
        f"stream: {args.manifests:,} manifests, {args.consignors:,} consignors, a year of"
        f" filed_at, {ran['rules']} correlation rules (the default pack)"
    )
    print(f"generate only        {args.manifests / generate_s:>12,.0f} manifests/s")
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


if __name__ == "__main__":
    main()
