"""Benchmark: the HTTP service against the framework's floor, with wrk.

    python bench/api.py [--duration 5] [--connections 16] [--repeat 5]

For 1 and 2 uvicorn workers it starts, on loopback:

* ``assay serve`` and drives ``POST /v1/screen`` with a realistic 5-item manifest, each
  request with a manifest id of its own (every decision is logged to SQLite before it is
  answered, as in production);
* the *floor*: a FastAPI app whose endpoint reads the same body and returns constant bytes in
  a raw ``Response`` (``bench/floor_app.py``), served the same way;
* the same service with a decision log that stores nothing (``bench/floor_app.py:unlogged``),
  to price the log.

wrk (``apt-get install wrk``) runs in its own process: first at full speed (peak requests/s,
p50, p99; the three servers in turn, ``--repeat`` times, the median kept), then paced at half
the measured peak to read p99 latency under ordinary load.
For ``assay serve`` and the unlogged server it also prints the CPU that the workers and the
decision writer spent per request (psutil, median run): the writer's work runs beside the
workers, and on a machine without a core to spare it takes their CPU.
Nothing here asserts: it prints figures and ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

import httpx
import psutil

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from assay.fixtures.synth import generate  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# Stands for the manifest id in the body wrk sends; each request gets its own id in its place.
MANIFEST_ID = "BENCH-MANIFEST-00000000"


def _manifest() -> bytes:
    """A realistic 5-item manifest: clean trade, as four in five manifests are, with
    containers, routing and dates, from the synthetic corpus; its id is :data:`MANIFEST_ID`."""
    for document, label in generate(400, 11):
        items = document["items"]
        if len(items) == 5 and label.kind == "clean" and all(i.get("containers") for i in items):
            return json.dumps({**document, "manifest_id": MANIFEST_ID}).encode()
    raise RuntimeError("no 5-item manifest in the sample")


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {url}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start: {url}")


def _start(kind: str, workers: int, data: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "ASSAY_DATA_DIR": str(data)}
    env.pop("ASSAY_DATABASE_URL", None)
    uvicorn_args = [
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    if kind == "screen":
        command = [
            str(Path(sys.executable).with_name("assay")),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        probe = f"http://127.0.0.1:{port}/readyz"
    elif kind == "floor":
        command = [sys.executable, "-m", "uvicorn", "bench.floor_app:app", *uvicorn_args]
        probe = f"http://127.0.0.1:{port}/healthz"
    else:  # screening without the decision log, to price the log
        if workers > 1:  # as assay serve runs them: metrics shared through files
            shared = data / "prometheus"
            shutil.rmtree(shared, ignore_errors=True)
            shared.mkdir(parents=True)
            env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.floor_app:unlogged",
            "--factory",
            *uvicorn_args,
        ]
        probe = f"http://127.0.0.1:{port}/healthz"
    process = subprocess.Popen(
        command, env=env, cwd=_HERE.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _wait(probe, process)
    return process, f"http://127.0.0.1:{port}"


# Every request carries a manifest id of its own (a thread's random prefix and one of 10,000
# numbers, in turn), as a border service's traffic does: the decision log's index on manifest
# ids then grows as in service, not at one place. The same script drives the floor and the
# unlogged server.
_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
local template = io.open("{body}", "rb"):read("*a")
local from, to = template:find("{manifest_id}", 1, true)
local head, tail = template:sub(1, from - 1), template:sub(to + 1)
math.randomseed(os.time() + tonumber(tostring({{}}):match("0x(%x+)"), 16) % 1000003)
local prefix = string.format("B%06x-", math.random(0, 0xffffff))
-- Made before the run: building each request as it is sent made wrk, not the server, the
-- limit of the floor's two-worker run.
local requests = {{}}
for n = 1, 10000 do requests[n] = wrk.format(nil, nil, nil, head .. prefix .. n .. tail) end
local sent = 0
function request()
  sent = sent % 10000 + 1
  return requests[sent]
end
{pacing}
"""


def _screening_key(data: Path) -> str:
    """A screening key in ``data``'s store, made as an operator makes one."""
    env = {**os.environ, "ASSAY_DATA_DIR": str(data)}
    env.pop("ASSAY_DATABASE_URL", None)
    assay = str(Path(sys.executable).with_name("assay"))
    done = subprocess.run(
        [assay, "keys", "create", "--role", "screening", "--name", "wrk"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


def _wrk(
    url: str, body: Path, seconds: int, connections: int, pace_ms: float | None, key: str = ""
) -> dict[str, float]:
    # Each connection waits a random time (uniform, mean pace_ms) before each request, so the
    # clients are independent rather than in lockstep bursts.
    pacing = (
        f"math.randomseed(os.time())\nfunction delay() return math.random(0, {2 * pace_ms:.0f}) end"
        if pace_ms
        else ""
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_LUA.format(body=body, pacing=pacing, key=key, manifest_id=MANIFEST_ID))
    done = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True,
        text=True,
        check=False,
    )
    Path(script.name).unlink()
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout} {done.stderr}")
    text = done.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    latency = {}
    for pct in ("50", "99"):
        value, unit = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
        latency[pct] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors = re.search(r"Socket errors: (.*)", text)
    return {
        "rate": rate,
        "p50": latency["50"],
        "p99": latency["99"],
        "non2xx": float(non2xx.group(1)) if non2xx else 0.0,
        "socket_errors": 1.0 if errors else 0.0,
    }


def _half_peak(
    url: str, body: Path, seconds: int, connections: int, peak: dict[str, float], key: str
) -> dict[str, float]:
    """wrk paced to half the peak rate; p99 is then the latency of ordinary load.

    Each connection waits between requests; a connection's cycle is its wait plus the
    request's latency, and the latency to subtract is the one at half load, not at peak (at
    peak it includes queueing, and subtracting it offered ~80 % of peak, not half). A short
    calibration run measures it, then the wait is set and checked to within 10 %.
    """
    half = peak["rate"] / 2
    cycle = connections / half * 1000
    pace = cycle
    for _ in range(4):
        probe = _wrk(url, body, 2, connections, pace, key)
        if abs(probe["rate"] - half) <= 0.1 * half:
            break
        pace = max(pace * probe["rate"] / half, 0.1)
    measured = _wrk(url, body, seconds, connections, pace, key)
    measured["offered"] = half
    return measured


def _writer(server: subprocess.Popen[bytes]) -> psutil.Process | None:
    """``assay serve``'s decision writer process, if ``server`` has one."""
    for child in psutil.Process(server.pid).children(recursive=True):
        if "engine.store.writer" in " ".join(child.cmdline()):
            return child
    return None


def _cpu(processes: list[psutil.Process]) -> list[float]:
    return [sum(process.cpu_times()[:2]) for process in processes]


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median rate, and the spread of all runs' rates."""
    ordered = sorted(runs, key=lambda run: run["rate"])
    middle = dict(ordered[len(ordered) // 2])
    middle["low"], middle["high"] = ordered[0]["rate"], ordered[-1]["rate"]
    return middle


def _measured(
    server: subprocess.Popen[bytes],
    writer: psutil.Process | None,
    run: Callable[[], dict[str, float]],
    seconds: int,
) -> dict[str, float]:
    """``run`` (a wrk run of ``seconds``), with the CPU per request that ``server``'s workers
    and ``writer`` spent meanwhile."""
    top = psutil.Process(server.pid)  # one worker: uvicorn serves in this process
    workers = [top, *(p for p in top.children(recursive=True) if p != writer)]
    watched = [*workers, *([writer] if writer else [])]
    before = _cpu(watched)
    result = run()
    spent = [after - start for start, after in zip(before, _cpu(watched), strict=True)]
    count = result["rate"] * seconds
    result["cpu_workers"] = sum(spent[: len(workers)]) / count * 1e6
    result["cpu_writer"] = sum(spent[len(workers) :]) / count * 1e6
    return result


def _peaks(
    workers: int, work: Path, body: Path, args: argparse.Namespace
) -> dict[str, dict[str, float]]:
    """The three servers with ``workers`` workers, driven in turn ``args.repeat`` times; the
    median run of each, and ``assay serve`` at half its peak."""
    kinds = ("floor", "screen", "unlogged")
    servers: dict[str, tuple[subprocess.Popen[bytes], str, str]] = {}
    try:
        for kind in kinds:
            data = work / f"data-{kind}-{workers}"
            key = _screening_key(data) if kind != "floor" else ""
            process, url = _start(kind, workers, data)
            path = "/floor" if kind == "floor" else "/v1/screen"
            servers[kind] = (process, url + path, key)
            _wrk(url + path, body, 2, args.connections, None, key)  # warm-up
        writer = _writer(servers["screen"][0])
        if writer is None:
            raise RuntimeError("assay serve runs no decision writer")
        # Interleaved: the VM's speed drifts by tens of percent over minutes, and every
        # server should see the same drift.
        runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
        for _ in range(args.repeat):
            for kind, found_runs in runs.items():
                server, target, key = servers[kind]

                def run(target: str = target, key: str = key) -> dict[str, float]:
                    return _wrk(target, body, args.duration, args.connections, None, key)

                found = _measured(server, writer if kind == "screen" else None, run, args.duration)
                found_runs.append(found)
        peak = {kind: _median_run(found_runs) for kind, found_runs in runs.items()}
        for kind, found_runs in runs.items():
            peak[kind]["cpu_workers"] = median(one["cpu_workers"] for one in found_runs)
            peak[kind]["cpu_writer"] = median(one["cpu_writer"] for one in found_runs)
        _, target, key = servers["screen"]
        peak["screen-half"] = _half_peak(
            target, body, args.duration, args.connections, peak["screen"], key
        )
        return peak
    finally:
        for process, _, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)


def _report(workers: int, peak: dict[str, dict[str, float]]) -> None:
    for kind, label in (
        ("floor", "floor (raw bytes)"),
        ("screen", "POST /v1/screen (peak)"),
        ("screen-half", "POST /v1/screen (half peak)"),
        ("unlogged", "screen without decision log"),
    ):
        r = peak[kind]
        spread = f"{r['low']:,.0f}-{r['high']:,.0f}" if "low" in r else ""
        print(
            f"{workers:<8}{label:<28}{r['rate']:>10,.0f}{spread:>16}{r['p50']:>9.2f}"
            f"{r['p99']:>9.2f}{r['non2xx']:>9,.0f}"
        )
    ratio = peak["screen"]["rate"] / peak["floor"]["rate"]
    log_cost = 1 - peak["screen"]["rate"] / peak["unlogged"]["rate"]
    print(
        f"{'':<8}screening / floor: {ratio:.2f}   decision log cost: {log_cost:.1%}   "
        f"p99 at half peak: {peak['screen-half']['p99']:.2f} ms"
    )
    print(
        f"{'':<8}CPU per request (medians): workers {peak['screen']['cpu_workers']:.0f} µs "
        f"+ writer {peak['screen']['cpu_writer']:.0f} µs; unlogged, workers "
        f"{peak['unlogged']['cpu_workers']:.0f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument(
        "--repeat", type=int, default=5, help="peak runs per server, interleaved; median kept"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="assay-bench-"))
    body = work / "manifest.json"
    body.write_bytes(_manifest())
    size = body.stat().st_size
    print(
        f"body: a 5-item manifest, {size} bytes; wrk -t2 -c{args.connections} -d{args.duration}s;"
        f" peak: median of {args.repeat} interleaved runs"
    )
    peaks = [(workers, _peaks(workers, work, body, args)) for workers in (1, 2)]
    print()
    print(
        f"{'workers':<8}{'endpoint':<28}{'req/s':>10}{'(range)':>16}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}"
    )
    for workers, peak in peaks:
        _report(workers, peak)
    shutil.rmtree(work, ignore_errors=True)
    print()
    print(
        textwrap.dedent("""\
        Targets: screening >= 50% of the floor's requests/s; p99 <= 10 ms at half the peak rate;
        the decision log costs <= 15% of throughput.""")
    )


if __name__ == "__main__":
    main()
