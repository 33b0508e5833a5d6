"""The ``assay`` command: a thin shell over :class:`engine.Engine`."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import orjson
import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from api.settings import Settings
from engine import AssayError, Engine, RuleSet
from engine.batch import screen_record, split_records, to_json_line
from engine.contracts import ErrorLine, ScreeningResult
from engine.evaluators.base import EngineKind
from engine.examples import run_examples
from engine.fields import CATALOGUE
from engine.replay import replay as replay_decisions
from engine.ruleset import default_pack_dir, load_pack
from engine.store.database import default_database_url
from engine.store.decisions import DecisionLog, decision_row
from fixtures.synth import write_corpus

app = typer.Typer(
    help="Assay: screen cargo manifests for concealed export-controlled materials.",
    no_args_is_help=True,
    add_completion=False,
)
rules_app = typer.Typer(help="Check, test and list rule packs.", no_args_is_help=True)
fixtures_app = typer.Typer(help="Sample and synthetic manifests.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(fixtures_app, name="fixtures")

err = Console(stderr=True, soft_wrap=True)  # messages carry file:line:col; never wrap them
out = Console()

RulesOption = Annotated[
    Path | None,
    typer.Option("--rules", help="Rule pack directory (default: the pack shipped with Assay)."),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="ASSAY_DATABASE_URL",
        help="Decision log database (default: SQLite in ASSAY_DATA_DIR or ~/.local/share/assay).",
    ),
]
EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        envvar="ASSAY_ENGINE",
        help="Evaluator: 'compiled' (default, fast) or 'rete' (durable_rules).",
    ),
]


def _engine_kind(value: str) -> EngineKind:
    if value not in ("compiled", "rete"):
        err.print(f"[red]error:[/] --engine must be 'compiled' or 'rete', not {value!r}")
        raise typer.Exit(2)
    return "compiled" if value == "compiled" else "rete"


def _load(rules: Path | None) -> RuleSet:
    try:
        return load_pack(rules if rules is not None else default_pack_dir())
    except AssayError as exc:
        err.print(str(exc), markup=False, highlight=False)
        err.print(f"[red]{len(exc.problems)} problem(s) in the rule pack[/]")
        raise typer.Exit(2) from None


def _read_input(path: str) -> tuple[bytes, bool | None]:
    if path == "-":
        return sys.stdin.buffer.read(), None
    file = Path(path)
    if not file.is_file():
        err.print(f"[red]error:[/] no such input file: {path}")
        raise typer.Exit(2)
    jsonl = True if file.suffix in (".jsonl", ".ndjson") else None
    return file.read_bytes(), jsonl


@app.command()
def screen(
    inputs: Annotated[
        list[str], typer.Argument(help="JSON manifest, JSON array or JSONL files; '-' for stdin.")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="JSONL output; '-' for stdout.")
    ] = "-",
    rules: RulesOption = None,
    engine_name: EngineOption = "compiled",
    log: Annotated[
        bool, typer.Option("--log", help="Append every decision to the decision log.")
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Screen manifests: one result (or error record) per input record, in input order.

    Exit status: 0 when every record was screened, 1 when some were errors, 2 for usage
    errors.
    """
    kind = _engine_kind(engine_name)
    engine = Engine(_load(rules), kind=kind)
    decisions = DecisionLog(database_url or default_database_url()) if log else None
    sink: BinaryIO = sys.stdout.buffer if output == "-" else Path(output).open("wb")  # noqa: SIM115
    summary: list[ScreeningResult | ErrorLine] = []
    errors = 0
    pending: list[bytes] = []
    rows: list[dict[str, Any]] = []

    def flush() -> None:
        # Log first, then write: an output line always has its decision stored.
        if decisions is not None and rows:
            decisions.append(rows)
            rows.clear()
        sink.writelines(pending)
        pending.clear()

    try:
        for path in inputs:
            raw, jsonl = _read_input(path)
            for record in split_records(raw, jsonl=jsonl):
                outcome = screen_record(engine, record)
                if isinstance(outcome, ErrorLine):
                    errors += 1
                elif decisions is not None:
                    data = orjson.dumps(record.data)
                    rows.append(decision_row(data, outcome, request_id=None, source="cli"))
                pending.append(to_json_line(outcome))
                if len(pending) >= 500:
                    flush()
                if len(summary) < 50:
                    summary.append(outcome)
        flush()
        sink.flush()
    finally:
        if sink is not sys.stdout.buffer:
            sink.close()
        if decisions is not None:
            decisions.close()
        engine.close()
    table_to = out if output != "-" and out.is_terminal else (err if err.is_terminal else None)
    if table_to is not None:
        table_to.print(_summary_table(summary))
    raise typer.Exit(1 if errors else 0)


def _summary_table(outcomes: list[ScreeningResult | ErrorLine]) -> Table:
    table = Table(title="Screening results")
    table.add_column("manifest")
    table.add_column("channel")
    table.add_column("score", justify="right")
    table.add_column("flags")
    colours = {"green": "green", "yellow": "yellow", "red": "red"}
    for outcome in outcomes:
        if isinstance(outcome, ErrorLine):
            e = outcome.error
            table.add_row(e.manifest_id or f"#{e.position}", "[magenta]error[/]", "", e.reason)
            continue
        rules_fired = ", ".join(dict.fromkeys(f.rule_id for f in outcome.flags)) or "-"
        colour = colours[outcome.channel]
        table.add_row(
            outcome.manifest_id,
            f"[{colour}]{outcome.channel}[/]",
            str(outcome.risk_score),
            rules_fired,
        )
    return table


@rules_app.command("check")
def rules_check(
    directory: Annotated[Path | None, typer.Argument(help="Pack directory.")] = None,
) -> None:
    """Validate a rule pack: syntax, names, types, templates, and every rule's examples."""
    ruleset = _load(directory)
    failed = [o for o in run_examples(ruleset) if not o.passed]
    for outcome in failed:
        err.print(outcome.describe(), markup=False, highlight=False)
    if failed:
        err.print(f"[red]{len(failed)} example(s) failed[/]")
        raise typer.Exit(1)
    out.print(
        f"ok: {ruleset.label} ({ruleset.sha256[:12]}), {len(ruleset.rules)} rules, "
        "all examples pass"
    )


@rules_app.command("test")
def rules_test(
    directory: Annotated[Path | None, typer.Argument(help="Pack directory.")] = None,
    engine_name: EngineOption = "compiled",
) -> None:
    """Run every rule's examples and print a pass/fail table."""
    kind = _engine_kind(engine_name)
    ruleset = _load(directory)
    engine = Engine(ruleset, kind=kind)
    try:
        outcomes = run_examples(ruleset, engine._active.evaluator)
    finally:
        engine.close()
    table = Table(title=f"{ruleset.label} examples ({kind})")
    table.add_column("rule")
    table.add_column("expect")
    table.add_column("result")
    table.add_column("note")
    for outcome in outcomes:
        mark = "[green]pass[/]" if outcome.passed else "[red]FAIL[/]"
        table.add_row(
            outcome.rule_id, "hit" if outcome.expect_hit else "miss", mark, outcome.note or ""
        )
    out.print(table)
    failed = sum(not o.passed for o in outcomes)
    out.print(f"{len(outcomes) - failed} passed, {failed} failed")
    raise typer.Exit(1 if failed else 0)


@rules_app.command("list")
def rules_list(
    directory: Annotated[Path | None, typer.Argument(help="Pack directory.")] = None,
) -> None:
    """List the rules of a pack."""
    ruleset = _load(directory)
    table = Table(title=f"{ruleset.label} ({ruleset.sha256[:12]})")
    for column in ("id", "pattern", "severity", "score", "scope", "title"):
        table.add_column(column)
    for rule in ruleset.rules:
        table.add_row(rule.id, rule.pattern, rule.severity, str(rule.score), rule.scope, rule.title)
    out.print(table)


@rules_app.command("fields")
def rules_fields() -> None:
    """The fields and derived features a condition can read."""
    table = Table(title="Fields and derived features")
    for column in ("name", "type", "derived", "meaning"):
        table.add_column(column)
    for spec in CATALOGUE:
        table.add_row(spec.path, spec.type, "yes" if spec.derived else "", spec.doc)
    out.print(table)


@fixtures_app.command("generate")
def fixtures_generate(
    manifests: Annotated[int, typer.Option("--manifests", "-n", min=1, help="How many.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same corpus.")] = 1,
    output: Annotated[Path, typer.Option("--output", "-o", help="JSONL manifests.")] = Path(
        "corpus.jsonl"
    ),
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="JSONL labels (default: OUTPUT with .labels.jsonl)."),
    ] = None,
    concealment_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.15,
    honest_heavy_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.05,
) -> None:
    """Write a reproducible labelled synthetic corpus: clean, honest-heavy and concealment
    manifests, with a label per manifest (kind, patterns present, scenario)."""
    labels_path = labels if labels is not None else output.with_suffix(".labels.jsonl")
    count, items = write_corpus(
        output,
        labels_path,
        manifests,
        seed,
        concealment_rate=concealment_rate,
        honest_heavy_rate=honest_heavy_rate,
    )
    err.print(f"wrote {count} manifests ({items} goods items) to {output}, labels to {labels_path}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="ASSAY_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="ASSAY_PORT")] = 8000,
    workers: Annotated[int, typer.Option(envvar="ASSAY_WORKERS", min=1)] = 1,
    rules: RulesOption = None,
    engine_name: EngineOption = "compiled",
    database_url: DatabaseOption = None,
) -> None:
    """Run the screening service (uvicorn). Every setting also reads ASSAY_* variables."""
    _engine_kind(engine_name)
    if rules is not None:
        _load(rules)  # a broken pack stops here, with its problems, not in every worker
        os.environ["ASSAY_RULES"] = str(rules.resolve())
    os.environ["ASSAY_ENGINE"] = engine_name
    if database_url:
        os.environ["ASSAY_DATABASE_URL"] = database_url
    settings = Settings()
    if workers > 1:
        shared = settings.data_dir / "prometheus"
        shutil.rmtree(shared, ignore_errors=True)
        shared.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    log_url = settings.resolved_database_url()
    err.print(f"Assay on http://{host}:{port}, {workers} worker(s), decision log {log_url}")
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http="httptools",
        access_log=settings.access_log,
        log_level="warning",
    )


@app.command()
def replay(
    since: Annotated[
        datetime, typer.Option(help="Replay decisions logged from this time (ISO 8601, UTC).")
    ],
    rules: RulesOption = None,
    until: Annotated[datetime | None, typer.Option(help="...up to this time (exclusive).")] = None,
    engine_name: EngineOption = "compiled",
    database_url: DatabaseOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write every change as JSON lines.")
    ] = None,
) -> None:
    """Re-screen logged decisions with another rule pack and report what would change."""
    engine = Engine(_load(rules), kind=_engine_kind(engine_name))
    decisions = DecisionLog(database_url or default_database_url())
    try:
        start = since if since.tzinfo else since.replace(tzinfo=UTC)
        end = until if until is None or until.tzinfo else until.replace(tzinfo=UTC)
        report = replay_decisions(decisions.between(start, end), engine)
    finally:
        decisions.close()
        engine.close()
    table = Table(title=f"Replay with {engine.ruleset.label} ({engine.ruleset.sha256[:12]})")
    table.add_column("what")
    table.add_column("manifests", justify="right")
    for label, value in (
        ("replayed", report.replayed),
        ("unchanged", report.unchanged),
        ("newly flagged", report.count("newly flagged")),
        ("no longer flagged", report.count("no longer flagged")),
        ("flags changed", report.count("flags changed")),
        ("channel moved only", report.count("channel moved")),
        ("unreadable inputs", report.unreadable),
    ):
        table.add_row(label, str(value))
    for (before, after), count in sorted(report.moves.items()):
        if before != after:
            table.add_row(f"channel {before} -> {after}", str(count))
    for rule_id, count in report.rule_gains.most_common():
        table.add_row(f"now fires: {rule_id}", str(count))
    for rule_id, count in report.rule_losses.most_common():
        table.add_row(f"no longer fires: {rule_id}", str(count))
    out.print(table)
    if output is not None:
        with output.open("wb") as sink:
            for change in report.changes:
                sink.write(orjson.dumps({"kind": change.kind, **asdict(change)}) + b"\n")
