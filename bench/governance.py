"""Benchmark: back-tests, live rule figures and shadow mode, each against its own floor.

    python bench/governance.py [--manifests 5000] [--duration 5] [--connections 16]

On a synthetic corpus with inspection outcomes (``fixtures.synth``), measured in one run:

* **back-test** of a candidate against a baseline, in process: manifests/s, against the
  floor of validating each manifest and screening it with both engines (the least a
  back-test with a baseline must do);
* the same as a **background job** (``python -m assay.engine.jobs``, as the service starts it) on
  a file and on the decision log (SQLite): process start, imports and compilation included;
* **live rule figures** (``GET /v1/rules/{id}/stats``'s query) over the logged decisions,
  against reading every logged result's JSON to find the rule (the design it replaced);
* **shadow mode** on ``assay serve`` (one worker, wrk): requests/s and p99 with a shadow run
  on, against the same server with none (needs wrk: ``apt-get install wrk``).

Nothing here asserts: it prints figures and ratios.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from assay.engine import Engine, Manifest  # noqa: E402
from assay.engine.backtest import Backtest  # noqa: E402
from assay.engine.batch.readers import read_inputs  # noqa: E402
from assay.engine.inspections import Inspection  # noqa: E402
from assay.engine.ruleset import compile_pack, default_pack_dir, read_sources  # noqa: E402
from assay.engine.store.backtests import BacktestStore  # noqa: E402
from assay.engine.store.database import decisions, open_database  # noqa: E402
from assay.engine.store.decisions import DecisionLog, decision_row, new_decision_id  # noqa: E402
from assay.engine.store.inspections import InspectionStore  # noqa: E402
from assay.engine.store.rulesets import RuleStore  # noqa: E402
from assay.engine.store.rulestats import rule_figures  # noqa: E402
from assay.fixtures.synth import generate, inspection_outcomes  # noqa: E402
from bench.api import _manifest, _start, _wrk  # noqa: E402

WATER = "bottled_water_concealment/water-pet-too-heavy.yaml"
RULE = "water-pet-too-heavy"


def _candidate_sources() -> dict[str, str]:
    sources = read_sources(default_pack_dir())
    sources[WATER] = sources[WATER].replace("max_kg_per_litre: 1.25", "max_kg_per_litre: 1.1")
    return sources


def _best(seconds: list[float]) -> float:
    return min(seconds)


def _backtests(corpus: Path, outcomes: dict[str, Inspection], count: int) -> None:
    candidate = Engine(compile_pack(_candidate_sources()))
    baseline = Engine()
    floor, inproc = [], []
    for _ in range(3):
        started = time.perf_counter()
        for line in corpus.read_bytes().splitlines():
            manifest = Manifest.model_validate_json(line)
            candidate.screen(manifest)
            baseline.screen(manifest)
        floor.append(time.perf_counter() - started)
        started = time.perf_counter()
        run = Backtest(candidate, baseline, outcomes)
        run.run(read_inputs([str(corpus)]))
        report = run.report()
        inproc.append(time.perf_counter() - started)
    changes = report["changes"]
    print(f"back-test, {count:,} manifests, candidate vs baseline, with {len(outcomes):,} outcomes")
    print(f"  floor (validate + screen twice)   {count / _best(floor):>10,.0f} manifests/s")
    print(
        f"  Backtest.run + report             {count / _best(inproc):>10,.0f} manifests/s"
        f"   ({_best(floor) / _best(inproc):.2f} of the floor)"
    )
    print(
        f"  result: {changes['newly_flagged']} newly flagged, {changes['no_longer_flagged']} no"
        f" longer; red rate {report['channels']['baseline']['inspection_rate']:.3f} ->"
        f" {report['channels']['candidate']['inspection_rate']:.3f}"
    )


def _fill(url: str, corpus: Path, outcomes: dict[str, Inspection]) -> tuple[int, int]:
    """The store: version 1 (default) and 2 (candidate), the corpus logged as decisions,
    the outcomes recorded. Returns the two version ids."""
    db = open_database(url)
    store = RuleStore(db)
    store.import_directory(default_pack_dir())
    draft = store.create_draft(1, "bench")
    store.write_file(draft, WATER, _candidate_sources()[WATER], "bench")
    InspectionStore(db).record(outcomes.values(), "bench")
    engine = Engine()
    log = DecisionLog(url)
    rows = []
    for line in corpus.read_bytes().splitlines():
        result = engine.screen(Manifest.model_validate_json(line))
        rows.append(decision_row(line, result, request_id=None, source="cli"))
        if len(rows) == 2000:
            log.append(rows)
            rows = []
    log.append(rows)
    log.close()
    db.dispose()
    return 1, draft


def _jobs(url: str, corpus: Path, count: int, versions: tuple[int, int]) -> None:
    db = open_database(url)
    jobs = BacktestStore(db)
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    requests = {
        "job on the file": {
            "candidate": versions[1],
            "files": ["x"],
            "corpus_paths": [str(corpus)],
        },
        "job on the decision log": {"candidate": versions[1], "decisions": {"since": since}},
    }
    for label, request in requests.items():
        job_id = jobs.create(request, versions[1], versions[0], "bench")
        started = time.perf_counter()  # as the service runs it: a process of its own
        subprocess.run(
            [sys.executable, "-m", "assay.engine.jobs", str(job_id)],
            env={**os.environ, "ASSAY_DATABASE_URL": url},
            cwd=_HERE.parent,
            check=True,
            stderr=subprocess.DEVNULL,
        )
        elapsed = time.perf_counter() - started
        job = jobs.get(job_id)
        assert job is not None and job.state == "done", job and job.error
        print(f"  {label:<33} {count / elapsed:>10,.0f} manifests/s   ({elapsed:.2f} s in all)")
    db.dispose()


def _copies(url: str, copies: int) -> int:
    """Log the decisions already logged ``copies`` more times, under new ids: a bigger log."""
    log = DecisionLog(url)
    since = datetime.now(UTC) - timedelta(days=1)
    originals = list(log.between(since))
    for _ in range(copies):
        rows = [
            {
                "id": new_decision_id(),
                "created_at": datetime.now(UTC),
                "manifest_id": d.manifest_id,
                "input_sha256": d.input_sha256,
                "input": orjson.dumps(d.input).decode(),
                "ruleset_name": d.ruleset.name,
                "ruleset_version": d.ruleset.version,
                "ruleset_sha256": d.ruleset.sha256,
                "ruleset_version_id": d.ruleset.version_id,
                "channel": d.channel,
                "risk_score": d.risk_score,
                "result": orjson.dumps({"flags": [f.model_dump() for f in d.flags]}).decode(),
                "elapsed_ms": d.elapsed_ms,
                "request_id": None,
                "source": "cli",
                "rule_ids": sorted({f.rule_id for f in d.flags}),
            }
            for d in originals
        ]
        for start in range(0, len(rows), 2000):
            log.append(rows[start : start + 2000])
    log.close()
    return len(originals) * (copies + 1)


def _stats(url: str, outcomes: dict[str, Inspection], count: int) -> None:
    db = open_database(url)
    until = datetime.now(UTC) + timedelta(seconds=1)
    since = until - timedelta(days=90)
    scan, indexed = [], []
    for _ in range(5):
        started = time.perf_counter()
        with db.connect() as connection:
            hits = {
                row.manifest_id
                for row in connection.execute(
                    decisions.select().with_only_columns(
                        decisions.c.manifest_id, decisions.c.result
                    )
                )
                if any(f["rule_id"] == RULE for f in orjson.loads(row.result)["flags"])
            }
        scan.append(time.perf_counter() - started)
        started = time.perf_counter()
        live = rule_figures(db, RULE, "bottled_water_concealment", outcomes, since, until)
        indexed.append(time.perf_counter() - started)
    assert live.figures["hits"] == len(hits)
    print(f"live rule figures over {count:,} logged decisions ({len(hits):,} manifests hit)")
    print(f"  reading every result's JSON        {_best(scan) * 1000:>10.1f} ms")
    print(
        f"  rule_figures (decision_flags)      {_best(indexed) * 1000:>10.1f} ms"
        f"   ({_best(scan) / _best(indexed):.1f}x faster), outcomes included"
    )
    db.dispose()


def _key(data: Path, role: str, name: str) -> str:
    env = {**os.environ, "ASSAY_DATA_DIR": str(data)}
    env.pop("ASSAY_DATABASE_URL", None)
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("assay")),
            "keys",
            "create",
            "--role",
            role,
            "--name",
            name,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def _shadow(work: Path, duration: int, connections: int) -> None:
    if shutil.which("wrk") is None:
        print("shadow mode: skipped, wrk is not installed (apt-get install -y wrk)")
        return
    body = work / "manifest.json"
    body.write_bytes(_manifest())
    data = work / "serve"
    keys = {role: _key(data, role, role) for role in ("screening", "author", "reviewer")}
    process, url = _start("screen", 1, data)
    figures = {}
    try:
        with httpx.Client(base_url=url, timeout=30) as client:

            def call(role: str, method: str, path: str, json: object = None) -> httpx.Response:
                headers = {"Authorization": f"Bearer {keys[role]}"}
                answer = client.request(method, path, headers=headers, json=json)
                answer.raise_for_status()
                return answer

            draft = call("author", "POST", "/v1/rulesets/1/drafts").json()["id"]
            call(
                "author",
                "PUT",
                f"/v1/rulesets/{draft}/files/{WATER}",
                json={"source": _candidate_sources()[WATER]},
            )
            call("author", "POST", f"/v1/rulesets/{draft}/submit")
            screen = url + "/v1/screen"
            _wrk(screen, body, 2, connections, None, keys["screening"])  # warm-up
            runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
            for _ in range(2):  # alternate, so drift in the machine's speed hits both
                runs["off"].append(
                    _wrk(screen, body, duration, connections, None, keys["screening"])
                )
                call("reviewer", "PUT", "/v1/shadow", json={"version_id": draft})
                time.sleep(1.5)
                runs["on"].append(
                    _wrk(screen, body, duration, connections, None, keys["screening"])
                )
                call("reviewer", "DELETE", "/v1/shadow")
                time.sleep(1.5)
            shadowed = call("reviewer", "GET", "/v1/shadow").json()["comparison"]["screened"]
            for side, measured in runs.items():
                figures[side] = max(measured, key=lambda r: r["rate"])
    finally:
        process.terminate()
        process.wait(timeout=30)
    off, on = figures["off"], figures["on"]
    print(f"shadow mode, assay serve, 1 worker, wrk -c{connections} -d{duration}s, best of 2")
    print(f"  no shadow run     {off['rate']:>10,.0f} req/s   p99 {off['p99']:.2f} ms")
    print(
        f"  shadowing         {on['rate']:>10,.0f} req/s   p99 {on['p99']:.2f} ms"
        f"   ({on['rate'] / off['rate']:.2f} of the throughput; {shadowed:,} in the last run)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=5000)
    parser.add_argument("--log-copies", type=int, default=9, help="log grown (1+N)-fold")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="assay-bench-governance-"))
    try:
        pairs = list(generate(args.manifests, 7))
        corpus = work / "corpus.jsonl"
        corpus.write_bytes(b"".join(orjson.dumps(document) + b"\n" for document, _ in pairs))
        outcomes = {
            row["manifest_id"]: Inspection.model_validate({k: v for k, v in row.items() if v})
            for row in inspection_outcomes([label for _, label in pairs], 7)
        }
        _backtests(corpus, outcomes, args.manifests)
        url = f"sqlite:///{work / 'assay.db'}"
        versions = _fill(url, corpus, outcomes)
        _jobs(url, corpus, args.manifests, versions)
        print()
        _stats(url, outcomes, _copies(url, args.log_copies))
        print()
        _shadow(work, args.duration, args.connections)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
