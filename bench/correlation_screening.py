"""Benchmark: what correlation rules cost per-manifest screening, in-process, on one core.

    python bench/correlation_screening.py [--manifests 3000] [--seed 7]

On the synthetic corpus (``assay fixtures generate``, every manifest timed), it measures:

* ``screen, pack without correlation rules``  Engine.screen with the default pack minus
  ``correlation/`` (the baseline);
* ``screen``                 Engine.screen with the default pack (its correlation rules are
  compiled but not looked at);
* ``screen_joining``         the same plus each correlation rule's ``each`` condition on the
  views the screening built (what every API screening pays);
* ``+ stage (SQLite)``       the same plus the store-backed stage as the API runs it:
  members recorded and judged in a transaction, shipments of the others noted in memory and
  flushed once at the end.

It prints µs per manifest (best of three passes), the share of manifests that join a group,
and the ratios to the baseline, all measured in the same run. Nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from assay.engine import Engine, Manifest  # noqa: E402
from assay.engine.ruleset import compile_pack, default_pack_dir, read_sources  # noqa: E402
from assay.engine.store.correlation import CorrelationStore  # noqa: E402
from assay.engine.store.database import open_database  # noqa: E402
from assay.fixtures.synth import generate  # noqa: E402


def _best(passes: int, run: Callable[[], object], count: int) -> float:
    """Best µs per manifest over ``passes`` runs."""
    best = float("inf")
    for _ in range(passes):
        started = time.perf_counter()
        run()
        best = min(best, (time.perf_counter() - started) / count * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    manifests = [Manifest.model_validate(doc) for doc, _ in generate(args.manifests, args.seed)]
    manifests = [m for m in manifests if m.filed_at is not None]
    manifests.sort(key=lambda m: (m.filed_at, m.manifest_id))
    sources = read_sources(default_pack_dir())
    plain = {k: v for k, v in sources.items() if not k.startswith("correlation/")}
    without = Engine(compile_pack(plain, origin="bench"))
    with_rules = Engine(compile_pack(sources, origin="bench"))
    count = len(manifests)

    joinings = [with_rules.screen_joining(m)[1] for m in manifests]
    members = sum(1 for j in joinings if j is not None and j.members)

    def staged() -> None:
        with tempfile.TemporaryDirectory() as folder:
            db = open_database(f"sqlite:///{Path(folder) / 'assay.db'}")
            store = CorrelationStore(db)
            for manifest in manifests:
                _, joining = with_rules.screen_joining(manifest)
                if joining is None:
                    continue
                if joining.members:
                    store.record(joining)
                else:
                    store.note(joining)
            store.flush()
            db.dispose()

    figures = {
        "screen, pack without correlation rules": _best(
            3, lambda: [without.screen(m) for m in manifests], count
        ),
        "screen": _best(3, lambda: [with_rules.screen(m) for m in manifests], count),
        "screen_joining": _best(
            3, lambda: [with_rules.screen_joining(m) for m in manifests], count
        ),
        "+ stage (SQLite)": _best(3, staged, count),
    }
    base = figures["screen, pack without correlation rules"]
    print(f"{count} timed manifests; {members} ({members / count:.1%}) join a correlation group")
    for name, value in figures.items():
        print(f"{name:42s} {value:8.1f} µs/manifest  x{value / base:.2f}")


if __name__ == "__main__":
    main()
