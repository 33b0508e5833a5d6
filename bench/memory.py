"""Benchmark: resident memory over a million evaluations, on each evaluator.

    python bench/memory.py [--evaluations 1000000]

Each evaluator runs in its own process and screens the sample manifests round-robin,
printing RSS after warm-up and at every tenth of the run (the rete evaluator's: the worker's
and its durable_rules host process's together). Flat means the engine keeps no
state between evaluations (durable_rules sessions deleted, caches bounded).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import psutil

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from assay.engine import Engine, Manifest  # noqa: E402

SAMPLES = _HERE.parent / "fixtures" / "samples"
DAY = date(2026, 10, 1)


def _worker(kind: str, evaluations: int) -> dict[str, object]:
    paths = sorted(SAMPLES.glob("*.json"))
    manifests = [Manifest.model_validate_json(path.read_bytes()) for path in paths]
    engine = Engine(kind="rete" if kind == "rete" else "compiled")
    # With the rete evaluator, its durable_rules host process counts too.
    host = engine.rete_host
    processes = [psutil.Process()]
    processes += [psutil.Process(pid) for pid, _, _ in host.stats().processes] if host else []

    def rss() -> int:
        return sum(process.memory_info().rss for process in processes)

    for n in range(10_000):
        engine.screen(manifests[n % len(manifests)], today=DAY)
    marks = [rss()]
    step = evaluations // 10
    started = time.perf_counter()
    for n in range(evaluations):
        engine.screen(manifests[n % len(manifests)], today=DAY)
        if (n + 1) % step == 0:
            marks.append(rss())
    seconds = time.perf_counter() - started
    engine.close()
    return {"kind": kind, "marks_mb": [m / 2**20 for m in marks], "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=1_000_000)
    parser.add_argument("--worker", choices=("compiled", "rete"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_worker(args.worker, args.evaluations)))
        return
    for kind in ("compiled", "rete"):
        done = subprocess.run(
            [sys.executable, __file__, "--worker", kind, "--evaluations", str(args.evaluations)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        marks = result["marks_mb"]
        trail = " ".join(f"{m:.1f}" for m in marks)
        print(f"{kind:<9} {args.evaluations:,} evaluations in {result['seconds']:.0f} s")
        print(f"          RSS MB after warm-up, then every tenth: {trail}")
        print(f"          growth after warm-up: {marks[-1] - marks[0]:+.1f} MB")


if __name__ == "__main__":
    main()
