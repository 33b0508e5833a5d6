"""Shared fixtures: the default pack, engines on both evaluators, the CEO's reference files."""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine as Database
from sqlalchemy import create_engine, text

from assay.engine import Engine, RuleSet, load_default_pack
from assay.engine.ruleset import compile_pack
from assay.engine.store.database import metadata, open_database
from assay.fixtures.synth import generate

# Hypothesis budgets: "ci" keeps .ci/run fast; ASSAY_HYPOTHESIS=deep searches much longer.
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "deep", max_examples=3_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("ASSAY_HYPOTHESIS", "ci"))


def wait_for(check: Callable[[], bool], seconds: float = 20.0) -> None:
    """Until ``check()`` is true (what another process or thread does), at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"timed out after {seconds} s waiting for {check}"
        time.sleep(0.02)


def empty_postgres() -> str:
    """The test PostgreSQL database's URL, with every Assay table and the schema's revision
    (``alembic_version``) dropped first."""
    url = os.environ.get("ASSAY_TEST_POSTGRES_URL")
    if not url:
        pytest.fail(
            "ASSAY_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which "
            "starts PostgreSQL, or point it at a database"
        )
    cleaner = create_engine(url)
    metadata.drop_all(cleaner)
    with cleaner.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    cleaner.dispose()
    return url


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """A store on SQLite and on the test PostgreSQL (emptied of every Assay table first), for
    the tests that must hold on both (the correlation stage's)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'assay.db'}"
    else:
        url = empty_postgres()
    engine = open_database(url)
    yield engine
    engine.dispose()


ROOT = Path(__file__).resolve().parents[1]
# The sample manifests ship with the package (copies of the CEO's shared/examples).
EXAMPLES = ROOT / "fixtures" / "samples"


def _shared_dir() -> Path:
    """The CEO's read-only shared folder: $ASSAY_SHARED, else beside the checkout, else
    /work/shared (where it lives on these machines, also for a clone made elsewhere)."""
    candidates = [os.environ.get("ASSAY_SHARED", ""), str(ROOT.parent / "shared"), "/work/shared"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "data" / "hs2022.csv").is_file():
            return Path(candidate)
    return ROOT.parent / "shared"


SHARED = _shared_dir()
HS2022 = SHARED / "data" / "hs2022.csv"


@pytest.fixture(scope="session")
def default_pack() -> RuleSet:
    return load_default_pack()


@pytest.fixture(scope="session")
def compiled_engine(default_pack: RuleSet) -> Iterator[Engine]:
    engine = Engine(default_pack, kind="compiled")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def rete_engine(default_pack: RuleSet) -> Iterator[Engine]:
    engine = Engine(default_pack, kind="rete")
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def hs2022_subheadings() -> frozenset[str]:
    """Real HS 2022 six-digit subheadings (pseudo-codes and the TOTAL row dropped)."""
    if not HS2022.is_file():
        pytest.fail(f"the HS 2022 nomenclature is missing: set ASSAY_SHARED (looked at {HS2022})")
    with HS2022.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return frozenset(
        row["hscode"]
        for row in rows
        if row["level"] == "6" and not row["hscode"].startswith("99") and row["hscode"] != "999999"
    )


BASE_MANIFEST: dict[str, Any] = {
    "manifest_id": "BASE-1",
    "transport_mode": "sea",
    "filed_at": "2026-10-01T00:00:00Z",
    "consignor": {"name": "ACME EXPORTS LTD", "country": "ES", "established_on": "2001-01-01"},
    "consignee": {"name": "BUYER INC", "country": "US"},
    "country_of_export": "ES",
    "destination_country": "US",
    "countries_of_routing": ["ES", "US"],
    "items": [
        {
            "line": 1,
            "hs_code": "940360",
            "description": "WOODEN FURNITURE",
            "origin_country": "ES",
            "quantity": 100,
            "quantity_unit": "pcs",
            "packages": 100,
            "package_type": "CT",
            "gross_mass_kg": 2000,
            "value": 20000,
        }
    ],
}

PACK_YAML = """
name: test-pack
version: "1"
lanes: {yellow_at: 25, red_at: 60, red_severities: [critical]}
example_base:
  manifest_id: BASE-1
  transport_mode: sea
  consignor: {name: ACME, country: ES}
  consignee: {name: BUYER, country: US}
  country_of_export: ES
  destination_country: US
  items:
    - {line: 1, hs_code: "940360", description: WOODEN FURNITURE, origin_country: ES,
       gross_mass_kg: 2000}
"""

TERMS_YAML = """
sources: [tests]
groups:
  water: {en: [WATER, DRINKING WATER], es: [AGUA], zh: [水]}
  glass: {en: [GLASS], es: [VIDRIO], zh: [玻璃]}
  solder_paste: {en: [SOLDER PASTE], es: [PASTA DE SOLDAR]}
  dysprosium: {en: [DYSPROSIUM, DY2O3], zh: [镝], es: [DISPROSIO]}
  mannequin: {en: ["MANNEQUIN*"]}
"""

FX_YAML = """
sources: [tests]
usd_per_unit: {EUR: 1.08, CNY: 0.14, JPY: 0.0067}
"""

LISTS_YAML = """
sources: [tests]
hs6: ["280530", "284690", "850511"]
hubs: [SG, KR, PA]
limits: {heavy: 1.25, tiny: 0.001}
"""


def rule_yaml(
    rule_id: str,
    when: str,
    *,
    scope: str = "item",
    explain: str = "Line {item.line} matched the test rule.",
    extra: str = "",
) -> str:
    """A syntactically complete rule file around ``when`` (examples are not run)."""
    if scope == "manifest" and "{item." in explain:
        explain = "Manifest {manifest.manifest_id} matched the test rule."
    indented = "\n".join("  " + line for line in when.splitlines())
    return (
        f"id: {rule_id}\ntitle: Test rule {rule_id}\npattern: test_pattern\nseverity: medium\n"
        f"score: 30\nscope: {scope}\nwhen: |\n{indented}\nexplain: {explain!r}\n"
        f"references: [tests]\n{extra}"
        "examples:\n  hit: [{note: unused}]\n  miss: [{note: unused}]\n"
    )


def make_pack(rules: dict[str, str], **extra_files: str) -> RuleSet:
    """Compile an in-memory pack: ``rules`` maps rule id to rule file text."""
    sources = {
        "pack.yaml": PACK_YAML,
        "reference/terms.yaml": TERMS_YAML,
        "reference/fx.yaml": FX_YAML,
        "reference/lists.yaml": LISTS_YAML,
    }
    sources.update({f"rules/{rule_id}.yaml": text for rule_id, text in rules.items()})
    sources.update(extra_files)
    return compile_pack(sources, origin="test")


# Lines tests want shown at the end of every run (the detection report), whatever -q says.
REPORT: list[str] = []


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if REPORT:
        terminalreporter.section("Assay report")
        for line in REPORT:
            terminalreporter.write_line(line)


def synthetic_docs(n: int, seed: int = 3) -> list[dict[str, Any]]:
    """``n`` manifests from the synthetic corpus generator (documents only)."""
    return [doc for doc, _ in generate(n, seed)]


def write_jsonl(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return path


def screened_results(path: Path) -> list[dict[str, Any]]:
    """A JSON Lines output's records without ``elapsed_ms``, the one field that varies."""
    out = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        record.pop("elapsed_ms", None)
        out.append(record)
    return out


# Headless Chromium, driven by playwright without its own browser download (../shared/TESTING.md).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    """The system's Chromium; a test that needs it fails (never skips) without it."""
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    pytest.fail("Chromium is not installed: scripts/test.sh installs it (apt-get install chromium)")


PLACE = ("position", "file", "line")


def placeless(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Output records without where their input record was (position, file, line): to
    compare runs over inputs named or laid out differently."""
    out = []
    for record in records:
        if "error" in record:
            error = {k: v for k, v in record["error"].items() if k not in PLACE}
            out.append({**record, "error": error})
        else:
            out.append({k: v for k, v in record.items() if k not in PLACE})
    return out


def write_mixed(path: Path, docs: list[dict[str, Any]], bad_every: int) -> list[int]:
    """``docs`` as JSON Lines with every ``bad_every``-th record bad (alternately not JSON
    and an unknown country) and a blank line (not a record) after each bad one; the bad
    records' positions."""
    lines, bad = [], []
    for position, doc in enumerate(docs, start=1):
        if position % bad_every:
            lines.append(json.dumps(doc))
            continue
        bad.append(position)
        wrong = {**doc, "destination_country": "ZZ"}
        lines += ["{not json" if len(bad) % 2 else json.dumps(wrong), ""]
    path.write_text("\n".join(lines) + "\n")
    return bad


def output_rows(path: Path) -> list[dict[str, Any]]:
    """A CSV or Parquet output's rows, cells as Parquet gives them (CSV: text, empty None)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # noqa: PLC0415 - only the tests that read Parquet

        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
        return rows
    with path.open(newline="") as handle:
        return [{k: v or None for k, v in row.items()} for row in csv.DictReader(handle)]


def assert_one_record_per_input(out: Path, count: int, errors: Path, bad: list[int]) -> None:
    """What ``--errors`` must leave: ``out`` holds one record for each of the ``count`` input
    records, in input order, each naming its position (a result and its flag rows, or an
    error in the record's place); ``errors`` holds copies of the error records, at ``bad``."""
    copies = errors.read_bytes().splitlines()
    assert [json.loads(c)["error"]["position"] for c in copies] == bad
    if out.suffix in (".csv", ".parquet"):
        rows = output_rows(out)
        positions = [int(row["position"]) for row in rows]
        assert positions == sorted(positions), "rows out of input order"
        assert list(dict.fromkeys(positions)) == list(range(1, count + 1))
        failed = [
            (int(r["position"]), r["file"], int(r["line"]), r["error"]) for r in rows if r["error"]
        ]
        expected = [json.loads(c)["error"] for c in copies]
        assert failed == [(e["position"], e["file"], e["line"], e["reason"]) for e in expected]
        assert all(row["file"] and row["line"] for row in rows)
        return
    lines = out.read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) == count
    places = [r.get("error", r) for r in records]
    assert [p["position"] for p in places] == list(range(1, count + 1))
    assert all(p["file"] and p["line"] for p in places)
    assert [line for line in lines if line.startswith(b'{"error"')] == copies


@pytest.fixture
def clients() -> Iterator[list[httpx.Client]]:
    """HTTP clients a test opens, closed after it."""
    opened: list[httpx.Client] = []
    yield opened
    for client in opened:
        client.close()
