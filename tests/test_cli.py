"""The ``assay`` command, run as users run it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from assay.cli import main as cli_main
from assay.cli.main import app
from assay.engine import Engine
from assay.engine.batch.columns import write_flat
from assay.engine.ruleset import default_pack_dir
from tests.conftest import EXAMPLES, ROOT, synthetic_docs

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


SAMPLE = EXAMPLES / "water-heavy.json"
EARLIER = b"the results of an earlier run\n"
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))

# A bad path: given the run's folder (holding in.json, a manifest, and out.jsonl, an earlier
# run's output), what to put there and the arguments of `assay screen`; and the path the
# one line of error must name, and the problem it must say.
BadPath = Callable[[Path], tuple[list[str], str, str]]


def _output_in_missing_folder(tmp: Path) -> tuple[list[str], str, str]:
    out = str(tmp / "missing" / "out.jsonl")
    return [str(tmp / "in.json"), "-o", out], f"--output {out}", "folder"


def _output_is_a_folder(tmp: Path) -> tuple[list[str], str, str]:
    (tmp / "results").mkdir()
    out = str(tmp / "results")
    return [str(tmp / "in.json"), "-o", out], f"--output {out}", "is a folder"


def _side_file_in_missing_folder(option: str) -> BadPath:
    def case(tmp: Path) -> tuple[list[str], str, str]:
        side = str(tmp / "missing" / "side")
        args = [str(tmp / "in.json"), "-o", str(tmp / "out.jsonl"), option, side]
        return args, f"{option} {side}", "does not exist"

    return case


def _side_file_is_a_folder(option: str) -> BadPath:
    def case(tmp: Path) -> tuple[list[str], str, str]:
        (tmp / "side").mkdir()
        side = str(tmp / "side")
        args = [str(tmp / "in.json"), "-o", str(tmp / "out.jsonl"), option, side]
        return args, f"{option} {side}", "is a folder"

    return case


def _output_is_an_input(tmp: Path) -> tuple[list[str], str, str]:
    source = str(tmp / "in.json")
    return [source, "-o", source], f"--output {source}", "is also an input"


def _errors_is_the_output(tmp: Path) -> tuple[list[str], str, str]:
    out = str(tmp / "out.jsonl")
    args = [str(tmp / "in.json"), "-o", out, "--errors", out]
    return args, f"--errors {out}", "is also the --output file"


def _errors_and_output_on_stdout(tmp: Path) -> tuple[list[str], str, str]:
    return [str(tmp / "in.json"), "-o", "-", "--errors", "-"], "--errors -", "is also the --output"


def _input_is_a_folder(tmp: Path) -> tuple[list[str], str, str]:
    (tmp / "manifests").mkdir()
    (tmp / "manifests" / "a.jsonl").write_bytes(SAMPLE.read_bytes().replace(b"\n", b"") + b"\n")
    folder = str(tmp / "manifests")
    return [folder, "-o", str(tmp / "out.jsonl")], folder, "is a folder"


def _binary_input(name: str) -> BadPath:
    def case(tmp: Path) -> tuple[list[str], str, str]:
        (tmp / name).write_bytes(BINARY)
        args = [str(tmp / "in.json"), str(tmp / name), "-o", str(tmp / "out.jsonl")]
        return (
            args,
            str(tmp / name),
            "not JSON Lines, JSON, CSV or Parquet (it holds binary data",
        )

    return case


def _not_parquet(tmp: Path) -> tuple[list[str], str, str]:
    (tmp / "in.parquet").write_bytes(SAMPLE.read_bytes())
    args = [str(tmp / "in.parquet"), "-o", str(tmp / "out.jsonl")]
    return args, str(tmp / "in.parquet"), "not a Parquet file"


def _parquet_named_jsonl(tmp: Path) -> tuple[list[str], str, str]:
    write_flat(tmp / "in.jsonl", synthetic_docs(3), "parquet")
    args = [str(tmp / "in.jsonl"), "-o", str(tmp / "out.jsonl")]
    return args, str(tmp / "in.jsonl"), "a Parquet file, not JSON Lines"


def _not_utf8(tmp: Path) -> tuple[list[str], str, str]:
    (tmp / "latin.csv").write_bytes(b"manifest_id,description\nA-1,caf\xe9 cr\xe8me\n")
    args = [str(tmp / "latin.csv"), "-o", str(tmp / "out.jsonl")]
    return args, str(tmp / "latin.csv"), "not UTF-8 text"


def _unknown_column_in_the_second_input(tmp: Path) -> tuple[list[str], str, str]:
    write_flat(tmp / "a.csv", synthetic_docs(5), "csv")
    (tmp / "b.csv").write_text("manifest_id,colour\nA-1,red\n")
    args = [str(tmp / "a.csv"), str(tmp / "b.csv"), "-o", str(tmp / "out.jsonl")]
    return args, str(tmp / "b.csv"), "unknown column(s) colour"


def _corrupt_gzip(tmp: Path) -> tuple[list[str], str, str]:
    (tmp / "in.jsonl.gz").write_bytes(b"\x1f\x8b" + BINARY)
    args = [str(tmp / "in.jsonl.gz"), "-o", str(tmp / "out.jsonl")]
    return args, str(tmp / "in.jsonl.gz"), "not valid gzip data"


def _glob_matching_nothing(tmp: Path) -> tuple[list[str], str, str]:
    pattern = str(tmp / "manifests-*.jsonl")
    return [pattern, "-o", str(tmp / "out.jsonl")], pattern, "no input file matches"


def _glob_matching_only_folders(tmp: Path) -> tuple[list[str], str, str]:
    (tmp / "manifests-1").mkdir()
    pattern = str(tmp / "manifests-*")
    return [pattern, "-o", str(tmp / "out.jsonl")], pattern, "matches only folders"


def _missing_input(tmp: Path) -> tuple[list[str], str, str]:
    source = str(tmp / "missing.jsonl")
    return [str(tmp / "in.json"), source, "-o", str(tmp / "out.jsonl")], source, "no such file"


BAD_PATHS: dict[str, BadPath] = {
    "output in a missing folder": _output_in_missing_folder,
    "output is a folder": _output_is_a_folder,
    "report in a missing folder": _side_file_in_missing_folder("--report"),
    "report is a folder": _side_file_is_a_folder("--report"),
    "errors in a missing folder": _side_file_in_missing_folder("--errors"),
    "errors is a folder": _side_file_is_a_folder("--errors"),
    "output is an input": _output_is_an_input,
    "errors is the output": _errors_is_the_output,
    "errors and output both stdout": _errors_and_output_on_stdout,
    "input is a folder": _input_is_a_folder,
    "binary input": _binary_input("scan.png"),
    "binary input named .jsonl": _binary_input("scan.jsonl"),
    "not a Parquet file": _not_parquet,
    "Parquet named .jsonl": _parquet_named_jsonl,
    "not UTF-8": _not_utf8,
    "unknown column in the second input": _unknown_column_in_the_second_input,
    "corrupt gzip": _corrupt_gzip,
    "glob matching nothing": _glob_matching_nothing,
    "glob matching only folders": _glob_matching_only_folders,
    "missing input": _missing_input,
}


def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder``: size and modification time."""
    return {
        str(path.relative_to(folder)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in folder.rglob("*")
    }


@pytest.mark.parametrize("case", list(BAD_PATHS), ids=list(BAD_PATHS))
def test_a_bad_path_stops_the_run_in_one_line_before_any_screening(
    tmp_path: Path, case: str
) -> None:
    shutil.copy(SAMPLE, tmp_path / "in.json")
    (tmp_path / "out.jsonl").write_bytes(EARLIER)
    args, named, problem = BAD_PATHS[case](tmp_path)
    before = _tree(tmp_path)
    result = runner.invoke(app, ["screen", *args])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()  # one line, no traceback
    assert line.startswith("error: ") and named in line and problem in line, line
    assert result.stdout == ""
    assert _tree(tmp_path) == before  # nothing created, nothing truncated: nothing screened
    assert (tmp_path / "out.jsonl").read_bytes() == EARLIER


# `assay` without the capabilities that let root read and write any file (CAP_DAC_OVERRIDE,
# CAP_DAC_READ_SEARCH), so that file modes hold for it as for any user; tests may run as
# root. (Running as another user instead fails sooner: the interpreter may sit in root's
# home.) For a user without them, it is `assay` as it is.
WITHOUT_ROOTS_READ_ALL = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
class Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]
class Sets(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint32) for name in ("effective", "permitted", "inheritable")]
header, sets = Header(0x20080522, 0), (Sets * 2)()  # _LINUX_CAPABILITY_VERSION_3
assert libc.capget(ctypes.byref(header), sets) == 0, ctypes.get_errno()
sets[0].effective &= ~0b110
sets[0].permitted &= ~0b110
assert libc.capset(ctypes.byref(header), sets) == 0, ctypes.get_errno()
from assay.cli.main import app
sys.argv[0] = "assay"
app()
"""


def test_unreadable_input_and_unwritable_folder_are_named_before_screening(
    tmp_path: Path,
) -> None:
    shutil.copy(SAMPLE, tmp_path / "in.json")
    secret = tmp_path / "secret.json"
    shutil.copy(SAMPLE, secret)
    secret.chmod(0)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    out = locked / "out.jsonl"
    cases = [
        ([str(secret), "-o", str(tmp_path / "out.jsonl")], f"{secret}: cannot be read"),
        (
            [str(tmp_path / "in.json"), "-o", str(out)],
            f"--output {out}: cannot write in the folder {locked}",
        ),
    ]
    before = _tree(tmp_path)
    try:
        for args, named in cases:
            done = subprocess.run(
                [sys.executable, "-c", WITHOUT_ROOTS_READ_ALL, "screen", *args],
                capture_output=True,
                text=True,
                check=False,
            )
            assert done.returncode == 2, done.stderr
            (line,) = done.stderr.splitlines()
            assert line == f"error: {named}: permission denied"
            assert done.stdout == ""
            assert _tree(tmp_path) == before
    finally:
        locked.chmod(0o755)


def test_a_failure_inside_the_run_is_one_line_and_a_trace_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the disk vanished\nsecond line of the message")

    monkeypatch.setattr(cli_main, "run", broken)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["screen", str(SAMPLE), "-o", str(out)])
    assert result.exit_code == 3, result.output
    (line,) = result.stderr.splitlines()
    assert "the run stopped: RuntimeError: the disk vanished;" in line
    assert f"{out} is incomplete" in line and "--resume" in line
    (trace,) = tmp_path.glob("assay-screen-*.trace")
    assert line.endswith(f"the full trace is in {trace}")
    text = trace.read_text()
    assert text.startswith("Traceback") and "the disk vanished" in text and "broken" in text


def test_a_csv_input_that_stops_being_utf8_stops_the_run_in_one_line(tmp_path: Path) -> None:
    """Past the part of the file checked before the run, found while reading."""
    source = tmp_path / "in.csv"
    write_flat(source, synthetic_docs(300), "csv")
    assert source.stat().st_size > 100_000
    with source.open("ab") as handle:
        handle.write(b"LATE-1,sea" + b"," * 24 + b"1,caf\xe9\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["screen", str(source), "-o", str(out)])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {source}: not UTF-8 text after line "), line
    assert f"{out} holds the records before it" in line


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
    ids = [rule.id for rule in pack.rules] + [rule.id for rule in pack.correlations]
    titles = [rule.title for rule in pack.rules] + [rule.title for rule in pack.correlations]
    assert [row[0] for row in rows] == ids
    assert [row[5] for row in rows] == titles
    split = next(row for row in rows if row[0] == "split-shipment-small-parcels")
    assert split[4] == "correlation: consignor within 48h"
    assert "…" not in done.stdout
    fields = runner.invoke(app, ["rules", "fields"])
    assert "item.kg_per_litre\tnumber\tyes\t" in fields.stdout


def test_listings_as_json() -> None:
    pack = Engine().ruleset
    listed = json.loads(runner.invoke(app, ["rules", "list", "--format", "json"]).stdout)
    ids = [rule.id for rule in pack.rules] + [rule.id for rule in pack.correlations]
    assert [r["id"] for r in listed] == ids
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
