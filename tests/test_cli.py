"""The ``assay`` command, run as users run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assay.cli.main import app
from assay.engine import Engine
from assay.engine.ruleset import default_pack_dir
from tests.conftest import EXAMPLES, ROOT

runner = CliRunner()


def _lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_screen_files_in_input_order() -> None:
    paths = sorted(str(p) for p in EXAMPLES.glob("*.json"))
    result = runner.invoke(app, ["screen", *paths])
    assert result.exit_code == 0, result.output
    out = _lines(result.stdout)
    assert [r["manifest_id"] for r in out] == ["EX-0001", "EX-0004", "EX-0003", "EX-0002"]
    assert [r["channel"] for r in out] == ["green", "green", "yellow", "red"]  # EX-0004: licensed


def test_screen_stdin_jsonl_with_bad_records_keeps_going(tmp_path: Path) -> None:
    good = json.loads((EXAMPLES / "clean-tiles.json").read_text())
    bad_field = dict(good, manifest_id="BAD-1", country_of_export="XX")
    lines = [json.dumps(good), "{not json", json.dumps(bad_field), "[1, 2]", json.dumps(good)]
    out_file = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["screen", "-", "--output", str(out_file)], input="\n".join(lines))
    assert result.exit_code == 1
    out = _lines(out_file.read_text())
    assert len(out) == 5
    assert out[0]["channel"] == "green" and out[4]["channel"] == "green"
    assert out[1]["error"]["position"] == 2  # type: ignore[index]
    assert "not valid JSON" in out[1]["error"]["reason"]  # type: ignore[index]
    error = out[2]["error"]
    assert error["manifest_id"] == "BAD-1"  # type: ignore[index]
    assert error["reason"].startswith("country_of_export: 'XX' is not an ISO 3166-1")  # type: ignore[index]
    assert error["errors"][0]["field"] == "country_of_export"  # type: ignore[index]
    assert "must be a JSON object" in out[3]["error"]["reason"]  # type: ignore[index]


def test_json_array_input(tmp_path: Path) -> None:
    docs = [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("*.json"))]
    source = tmp_path / "all.json"
    source.write_text(json.dumps(docs))
    result = runner.invoke(app, ["screen", str(source)])
    assert result.exit_code == 0
    assert len(_lines(result.stdout)) == 4


def test_rete_engine_gives_the_same_results() -> None:
    paths = sorted(str(p) for p in EXAMPLES.glob("*.json"))
    compiled = runner.invoke(app, ["screen", *paths])
    rete = runner.invoke(app, ["screen", *paths, "--engine", "rete"])
    strip = [{k: v for k, v in r.items() if k != "elapsed_ms"} for r in _lines(compiled.stdout)]
    assert strip == [{k: v for k, v in r.items() if k != "elapsed_ms"} for r in _lines(rete.stdout)]


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert runner.invoke(app, ["screen", str(tmp_path / "missing.json")]).exit_code == 2
    assert runner.invoke(app, ["screen", "-", "--engine", "fast"], input="{}").exit_code == 2
    assert runner.invoke(app, ["screen", "-", "--rules", str(tmp_path)], input="{}").exit_code == 2


def _edited_pack(tmp_path: Path, old: str, new: str) -> tuple[Path, Path]:
    """A copy of the default pack with one edit in water-pet-too-heavy.yaml."""
    pack = tmp_path / "pack"
    shutil.copytree(default_pack_dir(), pack, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    rule = next(pack.rglob("water-pet-too-heavy.yaml"))
    rule.write_text(rule.read_text().replace(old, new))
    return pack, rule


def test_rules_check_reports_file_line_column(tmp_path: Path) -> None:
    pack, rule = _edited_pack(tmp_path, "item.kg_per_litre >", "item.kg_per_liter >")
    result = runner.invoke(app, ["rules", "check", str(pack)])
    assert result.exit_code == 2
    assert f"{rule}:11:7: unknown_name: unknown name 'item.kg_per_liter'" in result.stderr
    assert "did you mean 'item.kg_per_litre'" in result.stderr


def test_rules_check_runs_examples(tmp_path: Path) -> None:
    pack, _ = _edited_pack(tmp_path, "max_kg_per_litre: 1.25", "max_kg_per_litre: 9.0")
    result = runner.invoke(app, ["rules", "check", str(pack)])
    assert result.exit_code == 1
    assert (
        "example_failed: rule 'water-pet-too-heavy' should fire, but it did not fire"
        in result.stderr
    )
    assert runner.invoke(app, ["rules", "check"]).exit_code == 0


@pytest.mark.parametrize("engine", ["compiled", "rete"])
def test_rules_test_table(engine: str) -> None:
    result = runner.invoke(app, ["rules", "test", "--engine", engine])
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.stderr  # piped: the rows alone on standard output
    assert "water-pet-too-heavy\thit\tyes\t" in result.stdout


def test_piped_listings_are_whole_tab_separated_lines() -> None:
    """`assay rules list | cat` once showed `water-denser…`: off a terminal nothing is cut."""
    pack = Engine().ruleset
    done = subprocess.run(
        [str(Path(sys.executable).with_name("assay")), "rules", "list"],
        env={**os.environ, "COLUMNS": "60"},
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "id\tpattern\tseverity\tscore\tscope\ttitle"
    rows = [line.split("\t") for line in lines[1:]]
    assert [row[0] for row in rows] == [rule.id for rule in pack.rules]
    assert [row[5] for row in rows] == [rule.title for rule in pack.rules]
    assert "…" not in done.stdout
    fields = runner.invoke(app, ["rules", "fields"])
    assert "item.kg_per_litre\tnumber\tyes\t" in fields.stdout


def test_listings_as_json() -> None:
    pack = Engine().ruleset
    listed = json.loads(runner.invoke(app, ["rules", "list", "--format", "json"]).stdout)
    assert [r["id"] for r in listed] == [rule.id for rule in pack.rules]
    assert all(isinstance(r["score"], int) for r in listed)
    tested = runner.invoke(app, ["rules", "test", "--format", "json"])
    outcomes = json.loads(tested.stdout)
    assert tested.exit_code == 0 and all(o["passed"] is True for o in outcomes)
    assert {o["expect"] for o in outcomes} == {"hit", "miss"}
    fields = json.loads(runner.invoke(app, ["rules", "fields", "--format", "json"]).stdout)
    assert {"name": "item.hs6", "type": "text", "derived": True}.items() <= next(
        f for f in fields if f["name"] == "item.hs6"
    ).items()
    wrong = runner.invoke(app, ["rules", "list", "--format", "yaml"])
    assert wrong.exit_code == 2 and "--format must be 'table' or 'json'" in wrong.stderr


def test_installed_console_script_works_from_any_directory(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("assay")
    sample = EXAMPLES / "water-heavy.json"
    done = subprocess.run(
        [str(script), "screen", str(sample)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["channel"] == "red"


def test_wheel_ships_the_rule_pack_and_samples(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    wheel = next(tmp_path.glob("assay-*.whl"))
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:  # a pure-Python wheel installs by unpacking
        archive.extractall(target)
        names = set(archive.namelist())
        top_level = {name.split("/")[0] for name in names}
    # /docs works offline from an installed wheel: Swagger UI ships inside, with its licence.
    vendored = "assay/api/static/vendor/swagger-ui/"
    assert {vendored + "swagger-ui-bundle.js", vendored + "LICENSE"} <= names
    assert {"assay/api/static/docs.html", "assay/api/static/docs.js"} <= names
    # Everything under one `assay` namespace: no `engine` or `api` of ours to collide with
    # another distribution's in site-packages.
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"assay"}
    program = (
        "import assay.engine, sys; from assay.cli.main import app; "
        "sys.stderr.write(assay.engine.__file__ + '\\n'); app()"
    )
    sample = target / "assay" / "fixtures" / "samples" / "water-heavy.json"
    done = subprocess.run(
        [sys.executable, "-c", program, "screen", str(sample)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith(str(target))  # the wheel's engine, not the source tree's
    assert json.loads(done.stdout)["channel"] == "red"


def test_fixtures_generate_is_reproducible(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    for out in (first, second):
        done = runner.invoke(
            app, ["fixtures", "generate", "-n", "50", "--seed", "3", "-o", str(out)]
        )
        assert done.exit_code == 0, done.output
    assert first.read_bytes() == second.read_bytes()
    labels = _lines(first.with_suffix(".labels.jsonl").read_text())
    manifests = _lines(first.read_text())
    assert [label["manifest_id"] for label in labels] == [m["manifest_id"] for m in manifests]
    screened = runner.invoke(app, ["screen", str(first)])
    assert screened.exit_code == 0
    assert len(_lines(screened.stdout)) == 50


def test_screening_does_not_load_the_database_layer_or_the_service() -> None:
    """`assay screen` without --log starts without SQLAlchemy, uvicorn or FastAPI (0.5 s of
    imports, paid by every batch run and by each of its helper processes)."""
    probe = (
        "import sys, assay.cli.main, assay.engine.batch.parallel; "
        "print(sorted({'sqlalchemy', 'uvicorn', 'fastapi'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
