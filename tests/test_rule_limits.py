"""A rule author cannot stall or bloat the engine: each attack on the rule language is a test's
input, and each bound of ``engine/limits.py`` gives a ``limit_exceeded`` problem that names it.

Attacks that hung a worker or took gigabytes before the bounds existed run in a child process
with a time and memory ceiling (:func:`bounded`): without the bound they fail, rather than
stall the test run.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine as Database
from sqlalchemy import update

from assay.api.settings import Settings
from assay.engine import AssayError, Engine, Manifest
from assay.engine import limits as bounds
from assay.engine.errors import Problem
from assay.engine.ruleset import default_pack_dir
from assay.engine.store.database import open_database, ruleset_versions
from assay.engine.store.rulesets import GovernanceError, RuleStore
from tests.conftest import BASE_MANIFEST, ROOT, make_pack, rule_yaml, wait_for
from tests.servers import live_api

WATER = "bottled_water_concealment/water-pet-too-heavy.yaml"
TILE = "tile_blending/tile-value-per-kg-high.yaml"


def bounded(code: str, seconds: float = 60, memory_mb: int = 1536) -> str:
    """Run ``code`` in a child Python limited to ``memory_mb`` of address space; its output.
    The test fails if the child is still running after ``seconds`` or fails."""
    ceiling = memory_mb << 20
    limited = (
        f"import resource\nresource.setrlimit(resource.RLIMIT_AS, ({ceiling}, {ceiling}))\n"
        + textwrap.dedent(code)
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", limited],
            capture_output=True,
            check=False,
            text=True,
            timeout=seconds,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"the attack still ran after {seconds} s")
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def the_problem(sources: dict[str, str]) -> Problem:
    """The one problem compiling ``sources`` (over the test pack) reports."""
    with pytest.raises(AssayError) as caught:
        make_pack({}, **sources)
    assert len(caught.value.problems) == 1, caught.value
    return caught.value.problems[0]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[RuleStore]:
    db = open_database(f"sqlite:///{tmp_path / 'store.db'}")
    rules = RuleStore(db)
    rules.import_directory(default_pack_dir())
    yield rules
    db.dispose()


# ------------------------------------------------------------------ regular expressions


def test_a_pattern_that_backtracks_in_python_runs_in_linear_time() -> None:
    """``A.*A.*A.*A.*A.*B`` passed `assay rules check` and ran for minutes on one
    200-character description under Python's ``re`` (holding the GIL). Validating a draft with
    it (its examples run) and screening with it now take the usual time."""
    out = bounded(
        """
        import json
        from assay.engine import Engine, Manifest
        from assay.engine.store.rulesets import validate_sources
        from tests.conftest import BASE_MANIFEST, PACK_YAML, TERMS_YAML, FX_YAML, LISTS_YAML
        rule = '''id: slow-pattern
        title: A pattern that backtracks
        pattern: test_pattern
        severity: medium
        score: 30
        when: 'item.description matches "A.*A.*A.*A.*A.*B"'
        explain: Line {item.line} matched the pattern.
        references: [tests]
        examples:
          hit: [{item: {description: AXAXAXAXAB}}]
          miss: [{item: {description: %s}}]
        ''' % ("A" * 200)
        sources = {"pack.yaml": PACK_YAML, "reference/terms.yaml": TERMS_YAML,
                   "reference/fx.yaml": FX_YAML, "reference/lists.yaml": LISTS_YAML,
                   "rules/slow-pattern.yaml": rule}
        report = validate_sources(sources)
        assert report.ok and report.examples_passed == 2, report
        from assay.engine.ruleset import compile_pack
        engine = Engine(compile_pack(sources, origin="t"))
        doc = json.loads(json.dumps(BASE_MANIFEST))
        doc["items"] = [dict(doc["items"][0], line=n, description="A" * 500) for n in range(1, 51)]
        print(len(engine.screen(Manifest.model_validate(doc)).flags))
        """,
        seconds=60,
    )
    assert out.strip() == "0"


# ----------------------------------------------------------------------- explanations


def test_a_format_wider_than_the_limit_is_refused_at_its_placeholder() -> None:
    """``{item.line:50000000}`` was accepted, and made a 50 MB explanation per flag (checking
    the template formatted it once already)."""
    text = rule_yaml("wide", "item.gross_mass_kg > 1", explain="Line {item.line:50000000} hit.")
    problem = the_problem({"rules/wide.yaml": text})
    assert problem.code == "limit_exceeded" and "MAX_FORMAT_WIDTH" in problem.message
    assert problem.location is not None and problem.source_line is not None
    # explain: 'Line {item.line:...' — the caret is under the placeholder's brace
    assert problem.source_line[problem.location.column - 1 :].startswith("{item.line:50000000}")
    make_pack(
        {"fine": rule_yaml("fine", "item.gross_mass_kg > 1", explain="Mass {item.line:>64}.")}
    )
    with pytest.raises(AssayError, match="MAX_FORMAT_WIDTH"):
        make_pack(
            {"prec": rule_yaml("prec", "item.gross_mass_kg > 1", explain="x {item.line:.65f} y")}
        )


def test_a_rendered_explanation_is_capped() -> None:
    """Many placeholders of long texts cannot make a flag's explanation unbounded."""
    explain = "Seen: " + " / ".join(["{item.description}"] * 25)
    ruleset = make_pack({"long": rule_yaml("long", "item.gross_mass_kg > 1", explain=explain)})
    doc = json.loads(json.dumps(BASE_MANIFEST))
    doc["items"][0]["description"] = "WOODEN FURNITURE " * 30
    engine = Engine(ruleset)
    try:
        [flag] = engine.screen(Manifest.model_validate(doc)).flags
    finally:
        engine.close()
    assert len(flag.explanation) == bounds.MAX_EXPLANATION_CHARS
    assert flag.explanation.startswith("Seen: WOODEN FURNITURE") and flag.explanation[-1] == "…"


# ------------------------------------------------------------------------------- YAML

BOMB = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{b}: &{b} [{','.join([f'*{a}'] * 10)}]\n"
    for a, b in zip("abcdefghi", "bcdefghij", strict=True)
)


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    """A few hundred bytes of nested aliases (ten levels of ten) ran a worker for ~70 s at
    2.75 GB, and stayed in the draft so that every later validation repeated it. It is refused
    at its first alias, and never saved."""
    assert len(BOMB) < 400
    out = bounded(
        f"""
        from assay.engine.ruleset import default_pack_dir
        from assay.engine.store.database import open_database
        from assay.engine.store.rulesets import GovernanceError, RuleStore
        store = RuleStore(open_database("sqlite:///{tmp_path / "bomb.db"}"))
        store.import_directory(default_pack_dir())
        draft = store.create_draft(1, "mallory")
        try:
            store.write_file(draft, "bomb/bomb.yaml", {BOMB!r}, "mallory")
        except GovernanceError as exc:
            print(exc.status, exc.report.problems[0]["code"], exc.report.problems[0]["line"])
        assert "bomb/bomb.yaml" not in store.sources(draft)
        assert store.validate(draft).ok
        """,
        seconds=60,
        memory_mb=1024,
    )
    assert out.split() == ["invalid", "yaml_syntax", "2"]


@pytest.mark.parametrize(
    ("text", "code", "message", "line"),
    [
        ("id: x\nwhen: " + "9" * 8_100 + "\n", "limit_exceeded", "MAX_YAML_TEXT_CHARS", 2),
        ("id: x\nscore: " + "9" * 4_000 + "\n", "rule_schema", "less than or equal to 100", 2),
        ("id: x\nwhen: 2001-13-45\n", "yaml_syntax", "month must be in 1..12", 2),
        ("id: x\nid: y\n", "yaml_syntax", "the key 'id' is given twice", 2),
        ("? [a]\n: b\n", "yaml_syntax", "a key must be a plain text", 1),
        ("a: !!python/object:os.system x\n", "yaml_syntax", "could not determine a constructor", 1),
        ("a: " + "[" * 30 + "]" * 30 + "\n", "limit_exceeded", "MAX_YAML_DEPTH", 1),
        ("a: [" + "1, " * 2_100 + "1]\n", "limit_exceeded", "MAX_YAML_LIST_ITEMS", 1),
        ("".join(f"k{n}: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" for n in range(5_100)), "limit_exceeded",
         "MAX_YAML_NODES", 5_000),
        ("a: b\n" + "#" * (300 * 1024) + "\n", "limit_exceeded", "MAX_FILE_BYTES", 1),
        ("a: \x07\n", "yaml_syntax", "control characters are not allowed", 1),
    ],
)  # fmt: skip
def test_yaml_that_cannot_be_read_or_is_past_a_bound_is_a_located_problem(
    text: str, code: str, message: str, line: int
) -> None:
    with pytest.raises(AssayError) as caught:
        make_pack({}, **{"rules/x.yaml": text})
    [problem] = [p for p in caught.value.problems if p.code == code and message in p.message]
    assert problem.location is not None and problem.location.line == line
    assert problem.location.file == "test/rules/x.yaml"


# ------------------------------------------------------------------- depth and size


def _deep(levels: int) -> str:
    return "(" * levels + "item.gross_mass_kg > 1" + ")" * levels


@pytest.mark.parametrize(
    ("when", "limit"),
    [
        (_deep(485), "MAX_CONDITION_DEPTH"),
        (" and ".join(["(item.gross_mass_kg > 1"] * 40) + ")" * 40, "MAX_CONDITION_DEPTH"),
        ("not " * 40 + "item.gross_mass_kg > 1", "MAX_CONDITION_DEPTH"),
        ("item.gross_mass_kg" + " + 1" * 40 + " > 3", "MAX_CONDITION_DEPTH"),
        ("item.gross_mass_kg > 1 " + "and item.gross_mass_kg > 1 " * 160, "MAX_CONDITION_CHARS"),
        ("item.hs6 in [" + ", ".join(['"1"'] * 600) + "]", "MAX_LIST_LITERAL_ITEMS"),
        ('item.description contains "' + "A" * 201 + '"', "MAX_TEXT_LITERAL_CHARS"),
    ],
)
def test_conditions_past_a_bound_are_refused_where_they_pass_it(when: str, limit: str) -> None:
    """A condition nested 485 parentheses deep validated, was approved and activated, and
    then `assay serve` could not start (RecursionError)."""
    problem = the_problem({"rules/big.yaml": rule_yaml("big", when)})
    assert problem.code == "limit_exceeded" and limit in problem.message, problem
    assert problem.location is not None and problem.location.file == "test/rules/big.yaml"
    assert problem.location.line >= 8  # in the condition, not at the top of the file


def _rule_with(rule_id: str, when: str = "item.gross_mass_kg > 1") -> str:
    return rule_yaml(rule_id, when)


def test_pack_bounds_name_their_limit() -> None:
    many_rules = {f"rules/r{n:03d}.yaml": _rule_with(f"r{n:03d}") for n in range(501)}
    assert "MAX_RULES" in the_problem(many_rules).message
    many_files = {f"more/f{n:04d}.yaml": "a: 1\n" for n in range(1_001)}
    assert "MAX_PACK_FILES" in the_problem(many_files).message
    filler = "# " + "x" * 250_000 + "\n"
    heavy = {f"more/f{n}.yaml": filler for n in range(17)}
    assert "MAX_PACK_BYTES" in the_problem(heavy).message
    long_when = "item.gross_mass_kg > 1" + " and item.gross_mass_kg > 1" * 140  # ~3,900 chars
    wordy = {f"rules/w{n:02d}.yaml": _rule_with(f"w{n:02d}", long_when) for n in range(30)}
    assert "MAX_PACK_CONDITION_CHARS" in the_problem(wordy).message
    for problem in (the_problem(many_rules), the_problem(heavy)):
        assert problem.code == "limit_exceeded" and problem.location is not None


def test_examples_are_bounded_per_rule() -> None:
    hits = "".join("\n    - {note: hit}" for _ in range(bounds.MAX_EXAMPLES + 1))
    text = rule_yaml("many", "item.gross_mass_kg > 1").replace(
        "examples:\n  hit: [{note: unused}]", f"examples:\n  hit:{hits}"
    )
    problem = the_problem({"rules/many.yaml": text})
    assert problem.code == "limit_exceeded" and "MAX_EXAMPLES" in problem.message
    items = ", ".join(f"{{line: {n}}}" for n in range(1, bounds.MAX_EXAMPLE_ITEMS + 2))
    text = rule_yaml("wide", "item.gross_mass_kg > 1").replace(
        "hit: [{note: unused}]", f"hit: [{{items: [{items}]}}]"
    )
    problem = the_problem({"rules/wide.yaml": text})
    assert problem.code == "limit_exceeded" and "MAX_EXAMPLE_ITEMS" in problem.message


def test_a_file_past_a_bound_or_not_yaml_is_never_saved(store: RuleStore) -> None:
    """At 490 levels the file write answered 500 but the file was saved anyway."""
    draft = store.create_draft(1, "alice")
    before = store.sources(draft)
    deep = before[WATER].replace('(item.hs4 == "2201" or "WATER" in item.terms)', _deep(490))
    for text in (deep, "id: [unclosed\n", BOMB):
        with pytest.raises(GovernanceError) as caught:
            store.write_file(draft, WATER, text, "alice")
        assert caught.value.status == "invalid" and caught.value.report is not None
        assert "was not saved" in caught.value.message
        assert store.sources(draft) == before
    # A rule with an ordinary mistake is work in progress: saved, listed, not submittable.
    typo = before[WATER].replace("item.kg_per_litre >", "item.kg_per_liter >")
    report = store.write_file(draft, WATER, typo, "alice")
    assert not report.ok and report.problems[0]["code"] == "unknown_name"
    assert store.sources(draft)[WATER] == typo


# ------------------------------------------------------------------------ file names


@pytest.mark.parametrize(
    "path",
    [
        "tile_blending\\tile-value-per-kg-high.yaml",
        "tile_blending//tile-value-per-kg-high.yaml",
        "./tile_blending/tile-value-per-kg-high.yaml",
        "tile_blending/./tile-value-per-kg-high.yaml",
        "tile_blending/../tile_blending/tile-value-per-kg-high.yaml",
        "/tile_blending/tile-value-per-kg-high.yaml",
        "tile_blending/tile-value-per-kg-high.yml",
        "tile_blending/.tile-value-per-kg-high.yaml",
        "tile blending/tile-value-per-kg-high.yaml",
        "tile_blending/tile-value-per-kg-high.yaml ",
        "reference/extra/terms.yaml",
        "a/b/c/d/e.yaml",
        "tile_blending/tile-value-per-kg-high\u200b.yaml",
        "Tile_Blending/tile-value-per-kg-high.yaml",  # one file on a case-blind disk
    ],
)
def test_a_file_name_that_is_not_canonical_is_refused(store: RuleStore, path: str) -> None:
    """``tile_blending\\tile-value-per-kg-high.yaml`` was stored as a new file, compiled over
    the existing rule without a duplicate-id error, and shown in the diff as added."""
    draft = store.create_draft(1, "alice")
    with pytest.raises(GovernanceError) as caught:
        store.write_file(draft, path, store.sources(1)[TILE], "alice")
    assert caught.value.status == "invalid" and "is not a pack file path" in caught.value.message
    assert store.sources(draft) == store.sources(1)


def test_the_compiler_refuses_names_with_two_spellings() -> None:
    rule = _rule_with("tile-value-per-kg-high")
    problem = the_problem({"rules\\tile-value-per-kg-high.yaml": rule})
    assert problem.code == "pack_schema" and "backslash" in problem.message
    with pytest.raises(AssayError) as caught:
        make_pack({}, **{"Rules/r-one.yaml": _rule_with("r-one"), "rules/r-one.yaml": ""})
    assert any("differ only in letter case" in p.message for p in caught.value.problems)


def test_a_backslash_file_name_over_http_is_refused_and_not_stored(tmp_path: Path) -> None:
    with live_api(Settings(data_dir=tmp_path)) as api, api.client("author", "alice") as alice:
        draft = alice.post("/v1/rulesets/1/drafts").json()["id"]
        source = alice.get(f"/v1/rulesets/1/files/{TILE}").json()["source"]
        answer = alice.put(
            f"/v1/rulesets/{draft}/files/tile_blending%5Ctile-value-per-kg-high.yaml",
            json={"source": source},
        )
        assert answer.status_code == 422 and "backslash" in answer.json()["detail"]
        assert (
            alice.get(f"/v1/rulesets/{draft}").json()["files"]
            == (alice.get("/v1/rulesets/1").json()["files"])
        )
        assert alice.get(f"/v1/rulesets/1/diff/{draft}").json()["added"] == []


def test_the_diff_matches_rules_by_the_id_they_declare(store: RuleStore) -> None:
    """Two files declaring one rule id are shown as such; a rule that moved is not 'added'."""
    draft = store.create_draft(1, "alice")
    source = store.sources(draft)[WATER]
    store.write_file(draft, "copy/water-pet-too-heavy.yaml", source, "alice")
    diff = store.diff(1, draft)
    assert diff["added"] == [] and diff["changed"] == []
    files = [WATER, "copy/water-pet-too-heavy.yaml"]
    assert diff["duplicates"] == [
        {"version": draft, "rule_id": "water-pet-too-heavy", "files": files}
    ]
    assert store.validate(draft).problems[0]["code"] == "duplicate_rule"


# ---------------------------------------------------------------- start-up fallback


def _activate_edit(store: RuleStore, db: Database, max_kg: str, spoil: bool = False) -> int:
    """A draft changing one threshold, through review to active (spoiled before it is made
    active, when ``spoil``)."""
    draft = store.create_draft(1, "alice")
    source = store.sources(draft)[WATER].replace("max_kg_per_litre: 1.25", max_kg)
    assert store.write_file(draft, WATER, source, "alice").ok
    store.submit(draft, "alice")
    store.approve(draft, "bob")
    if spoil:
        _spoil(db, draft, store.sources(draft))
    store.activate(draft, "bob")
    return draft


def _spoil(db: Database, version_id: int, sources: dict[str, str]) -> None:
    """Store a version as an older release could have: past today's bounds."""
    spoiled = dict(sources)
    spoiled[WATER] = spoiled[WATER].replace(
        '(item.hs4 == "2201" or "WATER" in item.terms)', _deep(485)
    )
    with db.begin() as connection:
        connection.execute(
            update(ruleset_versions)
            .where(ruleset_versions.c.id == version_id)
            .values(sources=json.dumps(spoiled))
        )


def test_a_worker_starts_and_screens_when_the_active_version_does_not_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An active version nested 485 deep (stored by a release without the bound) made
    `assay serve` fail at start-up. Now the worker falls back to the last version that loads,
    serves, and says so in /readyz (503: it is not on the active version) and the log; the
    same when a broken version is activated while it runs."""
    settings = Settings(data_dir=tmp_path, reload_seconds=0.1)
    db = open_database(settings.resolved_database_url())
    store = RuleStore(db)
    store.import_directory(default_pack_dir())
    good = _activate_edit(store, db, "max_kg_per_litre: 1.3")
    broken = _activate_edit(store, db, "max_kg_per_litre: 1.35", spoil=True)
    with live_api(settings) as api, api.client() as client:
        readiness = httpx.get(f"{api.url}/readyz")
        ready = readiness.json()
        assert readiness.status_code == 503 and ready["status"] == "not ready"
        assert ready["ruleset"]["version_id"] == good
        assert f"active version {broken} does not load" in ready["ruleset"]["problem"]
        assert "details" not in ready and "MAX_CONDITION_DEPTH" not in json.dumps(ready)
        admin = client.get("/readyz", headers=api.auth("admin")).json()
        assert "MAX_CONDITION_DEPTH" in admin["details"]["ruleset"]
        water = (ROOT / "fixtures" / "samples" / "water-heavy.json").read_bytes()
        answer = client.post(
            "/v1/screen", content=water, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 200 and answer.json()["flags"]
        assert any(
            f"active ruleset version {broken} does not load" in r.message for r in caplog.records
        )
        later = _activate_edit(store, db, "max_kg_per_litre: 1.2", spoil=True)

        def reported() -> bool:
            problem = httpx.get(f"{api.url}/readyz").json()["ruleset"].get("problem", "")
            return f"active version {later} does not load" in problem

        wait_for(reported)
        ready = httpx.get(f"{api.url}/readyz").json()
        assert ready["status"] == "not ready" and ready["ruleset"]["version_id"] == good
        answer = client.post(
            "/v1/screen", content=water, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 200
    # Every version that was ever active is spoiled: the shipped pack screens.
    _spoil(db, good, store.sources(good))
    _spoil(db, 1, store.sources(1))
    with live_api(settings) as api:
        ready = httpx.get(f"{api.url}/readyz").json()
        assert ready["ruleset"]["version_id"] is None
        assert "screening with the shipped rule pack" in ready["ruleset"]["problem"]
    db.dispose()
