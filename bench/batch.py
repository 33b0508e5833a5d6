"""Benchmark: batch screening of a million goods items, 1 and 2 workers, against the I/O floor.

    python bench/batch.py [--manifests 250000] [--seed 5]

Generates the corpus with ``assay fixtures generate`` (JSON Lines), then times, each as its
own process with its peak resident memory (the whole process tree) sampled:

* the I/O floor: read the same file and write it back with orjson alone, no screening;
* ``assay screen --workers 1`` and ``--workers 2`` on it, output JSON Lines;
* streaming: ``--workers 1`` on a 20,000-item slice, to compare peak memory with the full run.

Prints goods items/s, peak RSS, the speed-up from 1 to 2 workers, and screening's share of
the floor's speed. Nothing here asserts: it prints what it measured, in one run. Shared
virtual machines drift by 20 % and more within minutes, so each measurement is taken
``--repeat`` times (default 2), interleaved (floor, 1 worker, 2 workers, floor, ...), and the
fastest of each is reported, with the spread.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

_HERE = Path(__file__).resolve().parent
ASSAY = str(Path(sys.executable).with_name("assay"))

_FLOOR = """
import sys, orjson
with open(sys.argv[1], "rb") as source, open(sys.argv[2], "wb") as sink:
    for line in source:
        sink.write(orjson.dumps(orjson.loads(line)) + b"\\n")
"""


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def _measure(command: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS of the process tree running ``command``."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watched = psutil.Process(process.pid)
    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                peak = max(peak, _tree_rss(watched))
            except psutil.NoSuchProcess:
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch)
    thread.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    thread.join()
    if process.returncode not in (0, 1):
        raise RuntimeError(f"{command[:3]} failed: {stderr.decode()[-2000:]}")
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=250_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="assay-batch-") as tmp:
        folder = Path(tmp)
        corpus = folder / "corpus.jsonl"
        subprocess.run(
            [
                ASSAY,
                "fixtures",
                "generate",
                "-n",
                str(args.manifests),
                "--seed",
                str(args.seed),
                "-o",
                str(corpus),
            ],
            check=True,
            capture_output=True,
        )
        lines = corpus.read_bytes().splitlines(keepends=True)
        items = sum(line.count(b'"hs_code"') for line in lines)
        small = folder / "small.jsonl"
        small_lines: list[bytes] = []
        small_items = 0
        for line in lines:
            if small_items >= 20_000:
                break
            small_lines.append(line)
            small_items += line.count(b'"hs_code"')
        small.write_bytes(b"".join(small_lines))
        del lines, small_lines
        size = corpus.stat().st_size
        print(f"corpus: {args.manifests:,} manifests, {items:,} goods items, {size / 1e6:,.0f} MB")

        commands = {
            0: [sys.executable, "-c", _FLOOR, str(corpus), str(folder / "copy.jsonl")],
            **{
                workers: [
                    *(ASSAY, "screen", str(corpus), "-o", str(folder / f"out-{workers}.jsonl")),
                    *("--workers", str(workers)),
                ]
                for workers in (1, 2)
            },
        }
        times: dict[int, list[tuple[float, int]]] = {key: [] for key in commands}
        for _ in range(args.repeat):
            for key, command in commands.items():
                times[key].append(_measure(command))
        best = {key: min(measured) for key, measured in times.items()}
        floor_s, floor_rss = best[0]
        runs = {workers: best[workers] for workers in (1, 2)}
        small_s, small_rss = _measure(
            [ASSAY, "screen", str(small), "-o", str(folder / "small-out.jsonl"), "--workers", "1"]
        )

    def row(label: str, count: int, seconds: float, rss: int) -> None:
        mb = rss / 2**20
        print(f"{label:<32}{count / seconds:>12,.0f}{seconds:>10.1f}{mb:>9,.0f} MB")

    print()
    print(f"{'run':<32}{'items/s':>12}{'seconds':>10}{'peak RSS':>12}")
    row("I/O floor (orjson read+write)", items, floor_s, floor_rss)
    for workers, (seconds, rss) in runs.items():
        row(f"assay screen --workers {workers}", items, seconds, rss)
    row("--workers 1 on 20,000 items", small_items, small_s, small_rss)
    one, two = items / runs[1][0], items / runs[2][0]
    floor = items / floor_s
    print()
    print(f"speed-up 1 -> 2 workers:        {two / one:.2f}x   (target >= 1.7x)")
    print(
        f"screening / I/O floor:          {one / floor:.1%} with 1 worker, "
        f"{two / floor:.1%} with 2 (target >= 20%)"
    )
    ratio = runs[1][1] / small_rss
    print(f"peak RSS, full run / 20k items: {ratio:.2f}x with 1 worker (target <= 1.5x)")
    print("(wall time includes each process's start-up: Python, the rule pack, worker spawning)")
    for key, label in ((0, "I/O floor"), (1, "--workers 1"), (2, "--workers 2")):
        spread = ", ".join(f"{s:.1f}" for s, _ in times[key])
        print(f"{label}: {args.repeat} runs, {spread} s")


if __name__ == "__main__":
    main()
