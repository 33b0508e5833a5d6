"""The ``assay`` command: a thin shell over :class:`engine.Engine`."""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import orjson
import typer
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from assay.cli.backtest import backtest
from assay.cli.db import db_app
from assay.cli.keys import keys_app
from assay.cli.options import (
    DatabaseOption,
    EngineOption,
    RulesOption,
    database_errors,
    engine_kind,
    err,
    load_rules,
    out,
)
from assay.cli.tables import FormatOption, output_format, show
from assay.engine import Engine
from assay.engine.batch.alerts import alerts_problem, seizures_in, write_alerts
from assay.engine.batch.columns import write_flat
from assay.engine.batch.outcomes import Outcome, Summary
from assay.engine.batch.readers import InputError, Meter, check_input, expand
from assay.engine.batch.report import render as render_report
from assay.engine.batch.runner import Job, JobError, run
from assay.engine.batch.writers import OutputError, check_outputs
from assay.engine.batch.writers import output_format as output_format_of
from assay.engine.correlation.evaluator import correlate
from assay.engine.correlation.rete import rete_correlate
from assay.engine.examples import run_examples
from assay.engine.fields import CATALOGUE
from assay.engine.inspections import COLUMNS as INSPECTION_COLUMNS
from assay.engine.inspections import read_inspections
from assay.fixtures.synth import generate, inspection_outcomes, read_labels, write_corpus

if TYPE_CHECKING:
    from assay.engine.store.decisions import DecisionLog

app = typer.Typer(
    help="Assay: screen cargo manifests for concealed export-controlled materials.",
    no_args_is_help=True,
    add_completion=False,
    # A traceback's locals would show a database URL's password or a new API key.
    pretty_exceptions_show_locals=False,
)
rules_app = typer.Typer(help="Check, test and list rule packs.", no_args_is_help=True)
fixtures_app = typer.Typer(help="Sample and synthetic manifests.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")
app.add_typer(fixtures_app, name="fixtures")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.command()(backtest)


def _decision_log(database_url: str | None, *, with_journal: bool = False) -> DecisionLog:
    """The decision log. SQLAlchemy and the database layer load here, for the commands that
    log or read decisions: importing them made every `assay screen` start 0.4 s later.

    ``with_journal``: with the decision journal `assay serve` on this host keeps for that
    database (found as the service finds it: ``ASSAY_*`` settings), so that a reader can wait
    for the decisions answered but not yet copied into the database."""
    from assay.engine.store.database import default_database_url  # noqa: PLC0415
    from assay.engine.store.decisions import DecisionLog  # noqa: PLC0415

    if not with_journal:
        url = database_url or default_database_url()
        with database_errors(url):
            return DecisionLog(url)
    from assay.api.settings import Settings  # noqa: PLC0415 - pydantic-settings, for this reader only

    settings = Settings(database_url=database_url) if database_url else Settings()
    journal = settings.resolved_journal_dir()
    url = settings.resolved_database_url()
    with database_errors(url):
        return DecisionLog(url, journal if journal.is_dir() else None)


def _auto_workers(paths: list[str]) -> int:
    """Default --workers: every core, unless the input is small enough that starting worker
    processes would cost more than screening it in this one."""
    if "-" in paths:
        return 1
    size = sum(Path(p).stat().st_size for p in paths)
    return max(1, os.cpu_count() or 1) if size > 4 * 1024 * 1024 else 1


@app.command()
def screen(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="Files or globs: JSON Lines, JSON (one manifest or an array), CSV or Parquet, "
            "optionally gzipped; '-' for stdin."
        ),
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Output file; '-' (default) for stdout.")
    ] = "-",
    output_format: Annotated[
        str | None,
        typer.Option("--format", help="jsonl, csv or parquet (default: from the file name)."),
    ] = None,
    input_format: Annotated[
        str | None, typer.Option("--input-format", help="jsonl, json, csv or parquet.")
    ] = None,
    errors_file: Annotated[
        Path | None,
        typer.Option(
            "--errors",
            help="Also copy the error records here (JSON Lines); the output keeps them too.",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Processes (default: all cores for big inputs)."),
    ] = None,
    dask: Annotated[
        str | None, typer.Option("--dask", help="Run on a Dask cluster: scheduler address.")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue an interrupted run into the same output.")
    ] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write a self-contained HTML report.")
    ] = None,
    rules: RulesOption = None,
    engine_name: EngineOption = "compiled",
    log: Annotated[
        bool, typer.Option("--log", help="Append every decision to the decision log.")
    ] = False,
    database_url: DatabaseOption = None,
    alerts: Annotated[
        Path | None,
        typer.Option(
            "--alerts",
            help="Also run the pack's correlation rules over the inputs in filed_at order "
            "(partitioned by entity, on --workers or --dask; the same alerts whatever they "
            "say) and write one JSON line per alert here.",
        ),
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes",
            help="With --alerts: inspection outcomes, CSV or JSONL "
            "(manifest_id,result,pattern,notes, as for `assay backtest`); each seizure counts "
            "for the repeat-offender rules from its manifest's filed_at.",
        ),
    ] = None,
) -> None:
    """Screen manifests: one output record (result or error) per input record, in input order.

    Exit status: 0 when every record was screened, 1 when some were errors, 2 for usage
    errors (found before any record is screened: nothing is written), 3 when the run
    stopped before its end (one line says why and where the full trace is).
    """
    kind = engine_kind(engine_name)
    if output_format not in (None, "jsonl", "csv", "parquet"):
        err.print(f"[red]error:[/] --format must be jsonl, csv or parquet, not {output_format!r}")
        raise typer.Exit(2)
    if input_format not in (None, "jsonl", "json", "csv", "parquet"):
        err.print("[red]error:[/] --input-format must be jsonl, json, csv or parquet")
        raise typer.Exit(2)
    try:  # every path, before the pack compiles and long before any record is screened
        paths = expand(inputs)
        for path in paths:
            check_input(path, input_format)  # type: ignore[arg-type]
        check_outputs(
            {
                "--output": output,
                "--errors": str(errors_file) if errors_file is not None else None,
                "--report": str(report) if report is not None else None,
                "--alerts": str(alerts) if alerts is not None else None,
            },
            paths,
        )
    except (InputError, OutputError) as exc:
        _usage_error(exc)
    seized = _seizures(outcomes, alerts is not None)
    ruleset = load_rules(rules)
    if alerts is not None and (why := alerts_problem(paths, ruleset)) is not None:
        err.print(f"[red]error:[/] {escape(why)}")
        raise typer.Exit(2)
    job = Job(
        inputs=paths,
        output=output,
        output_format=output_format_of(output, output_format),  # type: ignore[arg-type]
        sources=dict(ruleset.sources),
        engine=kind,
        input_format=input_format,  # type: ignore[arg-type]
        errors=str(errors_file) if errors_file is not None else None,
        workers=workers if workers is not None else _auto_workers(paths),
        dask=dask,
        resume=resume,
        keep_inputs=log,
        ruleset=ruleset,
    )
    decisions = _decision_log(database_url) if log else None
    sample: list[bytes] = []
    live = Progress(
        TextColumn("[bold]screening"),
        BarColumn(),
        TextColumn(
            "{task.fields[records]:>10,} records  {task.fields[rate]:>8,.0f} rec/s  "
            "{task.fields[items]:>9,.0f} items/s"
        ),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = live.add_task("screen", total=None, records=0, rate=0.0, items=0.0)

    def observe(outcomes: Sequence[Outcome], summary: Summary, meter: Meter) -> None:
        if len(sample) < 50:
            sample.extend(o.json for o in outcomes[: 50 - len(sample)])
        seconds = summary.seconds or 1e-9
        live.update(
            task,
            total=meter.total or None,
            completed=meter.done,
            records=summary.records,
            rate=summary.records / seconds,
            items=summary.items / seconds,
        )

    with _stops_in_one_line(output), live:
        try:
            summary = run(job, observe, decisions)
        finally:
            if decisions is not None:
                decisions.close()
    if report is not None:
        with _stops_in_one_line(None):
            title = f"Assay screening report: {', '.join(inputs)}"
            report.write_text(render_report(summary, title, ruleset.label), encoding="utf-8")
    _print_summary(summary, sample, output)
    if alerts is not None:
        with _stops_in_one_line(None):
            found = write_alerts(
                paths,
                input_format,  # type: ignore[arg-type]
                ruleset,
                str(alerts),
                kind,
                seized,
                workers=job.workers,
                dask=dask,
            )
        for rule_id, why in found.delegated.items():
            err.print(
                f"correlation rule {escape(rule_id)} runs in Python, not durable_rules: "
                f"{escape(why)}",
                highlight=False,
            )
        err.print(
            f"{found.alerts:,} alert(s) from {found.rules} correlation rule(s) over "
            f"{found.manifests:,} manifests in filed_at order"
            + (f" ({found.skipped:,} without filed_at skipped)" if found.skipped else "")
            + f" -> {escape(str(alerts))}"
            + escape(found.outcomes_note()),
            highlight=False,
        )
    raise typer.Exit(1 if summary.errors else 0)


def _seizures(outcomes: Path | None, alerts: bool) -> frozenset[str] | None:
    """The seized manifest ids of ``--outcomes`` (None when not given); a usage error (exit
    2, before anything is screened) when it is given without --alerts or cannot be read."""
    if outcomes is None:
        return None
    if not alerts:
        err.print("[red]error:[/] --outcomes feeds the correlation rules: give --alerts FILE too")
        raise typer.Exit(2)
    if not outcomes.is_file():
        err.print(f"[red]error:[/] --outcomes {escape(str(outcomes))}: no such file")
        raise typer.Exit(2)
    read = read_inspections(outcomes)
    for problem in read.errors:
        err.print(f"[yellow]skipped[/] {escape(problem)}", highlight=False)
    return seizures_in(read.outcomes)


def _seizures_on_record(url: str) -> frozenset[str]:
    """The manifests whose latest recorded inspection outcome is a seizure, in the database
    at ``url``: the repeat-offender rules' seizure stream in a replay."""
    from assay.engine.store.database import open_database  # noqa: PLC0415 - database layer
    from assay.engine.store.inspections import InspectionStore  # noqa: PLC0415 - ditto

    db = open_database(url)
    try:
        return seizures_in(InspectionStore(db).latest())
    finally:
        db.dispose()


def _usage_error(exc: Exception, after: str = "") -> NoReturn:
    """One line (the path and the problem, in the exception's message; then ``after``),
    exit status 2."""
    text = f"{_first_line(exc)}; {after}" if after else _first_line(exc)
    err.print(f"[red]error:[/] {escape(text)}", highlight=False)
    raise typer.Exit(2) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def _stops_in_one_line(output: str | None) -> Iterator[None]:
    """A run that stops, said in one line, never a traceback on the terminal: a usage error
    (:class:`JobError`, before anything is written) with exit status 2; an input found
    unreadable only while reading it (stdin, a CSV file that stops being UTF-8 past its
    head) the same, and what it leaves of ``output``; anything else names the exception, what
    it leaves and the file that holds the full trace, exit status 3. ``output`` None: the
    output is complete (the report is being written)."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except JobError as exc:
        _usage_error(exc)
    except InputError as exc:
        left = f"{output} holds the records before it" if output not in (None, "-") else ""
        _usage_error(exc, left)
    except Exception as exc:
        if output is None:
            left = "the output is complete, the report is not"
        elif output == "-":
            left = "the output is incomplete"
        else:
            left = (
                f"{output} is incomplete: once the cause is fixed, the same command with "
                "--resume continues it"
            )
        where = _write_trace()
        trace = f"the full trace is in {where}" if where else "its trace could not be written"
        problem = f"{type(exc).__name__}: {_first_line(exc)}"
        err.print(
            f"[red]error:[/] {escape(f'the run stopped: {problem}; {left}; {trace}')}",
            highlight=False,
        )
        raise typer.Exit(3) from None


def _write_trace() -> str | None:
    """The exception being handled, with its trace, in a new file in the temporary folder;
    the file's path (None if it could not be written)."""
    try:
        with tempfile.NamedTemporaryFile(
            "w", prefix="assay-screen-", suffix=".trace", delete=False, encoding="utf-8"
        ) as handle:
            traceback.print_exc(file=handle)
    except OSError:
        return None
    return handle.name


def _say(text: str) -> None:
    err.print(text, markup=False, highlight=False)


def _print_summary(summary: Summary, sample: list[bytes], output: str) -> None:
    rate = summary.items / summary.seconds if summary.seconds else 0.0
    lanes = ", ".join(
        f"{lane} {summary.channels.get(lane, 0):,}" for lane in ("green", "yellow", "red")
    )
    _say(
        f"{summary.records:,} records read = {summary.results:,} screened + {summary.errors:,} "
        f"errors; {summary.items:,} goods items in {summary.seconds:.1f} s ({rate:,.0f} items/s); "
        f"lanes: {lanes}"
    )
    if summary.patterns:
        patterns = ", ".join(f"{p} {n:,}" for p, n in summary.patterns.most_common())
        _say(f"flags by pattern: {patterns}")
        top_rules = ", ".join(f"{r} {n:,}" for r, n in summary.rules.most_common(10))
        _say(f"flags by rule (top 10): {top_rules}")
    table_to = out if output != "-" and out.is_terminal else (err if err.is_terminal else None)
    if table_to is not None and sample:
        table_to.print(_summary_table(sample))


def _summary_table(sample: list[bytes]) -> Table:
    table = Table(title="Screening results")
    table.add_column("manifest")
    table.add_column("channel")
    table.add_column("score", justify="right")
    table.add_column("flags")
    for raw in sample:
        document = orjson.loads(raw)
        if "error" in document:
            error = document["error"]
            name = error.get("manifest_id") or f"#{error['position']}"
            table.add_row(name, "[magenta]error[/]", "", error["reason"])
            continue
        fired = ", ".join(dict.fromkeys(f["rule_id"] for f in document["flags"])) or "-"
        lane = document["channel"]
        table.add_row(
            document["manifest_id"], f"[{lane}]{lane}[/]", str(document["risk_score"]), fired
        )
    return table


@rules_app.command("check")
def rules_check(
    directory: Annotated[Path | None, typer.Argument(help="Pack directory.")] = None,
) -> None:
    """Validate a rule pack: syntax, names, types, templates, and every rule's examples."""
    ruleset = load_rules(directory)
    failed = [o for o in run_examples(ruleset) if not o.passed]
    for outcome in failed:
        err.print(outcome.describe(), markup=False, highlight=False)
    if failed:
        err.print(f"[red]{len(failed)} example(s) failed[/]")
        raise typer.Exit(1)
    out.print(
        f"ok: {ruleset.label} ({ruleset.sha256[:12]}), {len(ruleset.rules)} rules"
        + (f" and {len(ruleset.correlations)} correlation rules" if ruleset.correlations else "")
        + ", all examples pass"
    )


@rules_app.command("test")
def rules_test(
    directory: Annotated[Path | None, typer.Argument(help="Pack directory.")] = None,
    engine_name: EngineOption = "compiled",
    format_name: FormatOption = "table",
) -> None:
    """Run every rule's examples and print whether each passed (exit 1 if any failed)."""
    kind = engine_kind(engine_name)
    fmt = output_format(format_name)
    ruleset = load_rules(directory)
    engine = Engine(ruleset, kind=kind)
    try:
        correlator = rete_correlate if kind == "rete" else correlate
        outcomes = run_examples(ruleset, engine._active.evaluator, correlator)
    finally:
        engine.close()
    records = [
        {
            "rule_id": o.rule_id,
            "expect": "hit" if o.expect_hit else "miss",
            "passed": o.passed,
            "note": o.note or "",
        }
        for o in outcomes
    ]
    columns = ("rule_id", "expect", "passed", "note")
    title = f"{ruleset.label} examples ({kind})"
    show(records, columns, fmt, title=title, styles={"passed": {True: "green", False: "red"}})
    failed = sum(not o.passed for o in outcomes)
    if fmt == "table":  # on stderr when piped: standard output holds the rows alone
        (out if out.is_terminal else err).print(f"{len(outcomes) - failed} passed, {failed} failed")
    raise typer.Exit(1 if failed else 0)


@rules_app.command("list")
def rules_list(
    directory: Annotated[Path | None, typer.Argument(help="Pack directory.")] = None,
    format_name: FormatOption = "table",
) -> None:
    """List the rules of a pack."""
    fmt = output_format(format_name)
    ruleset = load_rules(directory)
    columns = ("id", "pattern", "severity", "score", "scope", "title")
    records = [{name: getattr(rule, name) for name in columns} for rule in ruleset.rules]
    # Correlation rules read many manifests of one entity: their scope says over what.
    records += [
        {
            "id": rule.id,
            "pattern": rule.pattern,
            "severity": rule.severity,
            "score": rule.score,
            "scope": f"correlation: {rule.grouping}",
            "title": rule.title,
        }
        for rule in ruleset.correlations
    ]
    show(records, columns, fmt, title=f"{ruleset.label} ({ruleset.sha256[:12]})")


@rules_app.command("fields")
def rules_fields(format_name: FormatOption = "table") -> None:
    """The fields and derived features a condition can read."""
    fmt = output_format(format_name)
    records = [
        {"name": f.path, "type": f.type, "derived": f.derived, "meaning": f.doc} for f in CATALOGUE
    ]
    show(records, ("name", "type", "derived", "meaning"), fmt, title="Fields and derived features")


@fixtures_app.command("generate")
def fixtures_generate(
    manifests: Annotated[int, typer.Option("--manifests", "-n", min=1, help="How many.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same corpus.")] = 1,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Manifests: .jsonl, .csv or .parquet.")
    ] = Path("corpus.jsonl"),
    labels: Annotated[
        Path | None,
        typer.Option("--labels", help="JSONL labels (default: OUTPUT with .labels.jsonl)."),
    ] = None,
    concealment_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.15,
    honest_heavy_rate: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.05,
    outcomes: Annotated[
        Path | None,
        typer.Option(
            "--outcomes",
            help="Also write inspection outcomes (CSV): every concealment seized, 5% of the"
            " rest inspected at random.",
        ),
    ] = None,
) -> None:
    """Write a reproducible labelled synthetic corpus: clean, honest-heavy and concealment
    manifests, with a label per manifest (kind, patterns present, scenario). CSV and Parquet
    use the flat layout (one row per goods item)."""
    labels_path = labels if labels is not None else output.with_suffix(".labels.jsonl")
    fmt = output_format_of(str(output))
    rates = {"concealment_rate": concealment_rate, "honest_heavy_rate": honest_heavy_rate}
    if fmt == "jsonl":
        count, items = write_corpus(output, labels_path, manifests, seed, **rates)
    else:
        documents: list[dict[str, Any]] = []
        with labels_path.open("wb") as handle:
            for document, label in generate(manifests, seed, **rates):
                documents.append(document)
                handle.write(orjson.dumps(label.to_json()) + b"\n")
        write_flat(output, documents, fmt)
        count, items = len(documents), sum(len(d["items"]) for d in documents)
    err.print(f"wrote {count} manifests ({items} goods items) to {output}, labels to {labels_path}")
    if outcomes is not None:
        with outcomes.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=INSPECTION_COLUMNS, extrasaction="ignore")
            writer.writeheader()
            written = 0
            for row in inspection_outcomes(read_labels(labels_path), seed):
                writer.writerow(row)
                written += 1
        err.print(f"wrote {written} inspection outcomes to {outcomes}")


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
    from assay.api.settings import Settings  # noqa: PLC0415 - the service's stack loads for `serve` only
    from assay.api.transport import run_server, server_config  # noqa: PLC0415 - ditto
    from assay.engine.store.writer import Ingester  # noqa: PLC0415 - ditto

    engine_kind(engine_name)
    if rules is not None:
        load_rules(rules)  # a broken pack stops here, with its problems, not in every worker
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
    shown = _upgrade_at_start(log_url)  # before the writer and workers start
    writer = Ingester(settings.resolved_journal_dir(), log_url)  # copies every worker's journal
    err.print(f"Assay on http://{host}:{port}, {workers} worker(s), decision log {shown}")
    err.print(f"Workbench on http://{host}:{port}/ui (an author, reviewer or screening key)")
    try:
        run_server(
            server_config(
                "assay.api.app:create_app",
                settings,
                host=host,
                port=port,
                workers=workers,
                factory=True,
            )
        )
    finally:
        writer.close()


def _upgrade_at_start(url: str) -> str:
    """The schema brought to the newest revision before `assay serve`'s writer and workers
    start; the URL as shown. A database that cannot be reached is said in one line and the
    service starts without it; one a newer release upgraded ends the command."""
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415 - the database layer, for `serve`

    from assay.engine.store.database import open_database  # noqa: PLC0415 - ditto
    from assay.engine.store.redact import database_problem, shown_url  # noqa: PLC0415 - ditto
    from assay.engine.store.schema import SchemaError  # noqa: PLC0415 - ditto

    shown = shown_url(url)
    try:
        open_database(url).dispose()
    except SchemaError as exc:
        _say(f"error: {shown}: {exc}")
        raise typer.Exit(2) from None
    except (SQLAlchemyError, OSError) as exc:
        _say(
            f"warning: the database {shown} cannot be reached ({database_problem(exc, url)}): "
            "screening starts without it, decisions wait in the journal, /readyz says so"
        )
    return shown


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
    wait: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds to wait for a running service to copy the decisions it has answered "
            "into the database.",
        ),
    ] = 5.0,
) -> None:
    """Re-screen logged decisions with another rule pack and report what would change."""
    from assay.engine.replay import replay as replay_decisions  # noqa: PLC0415 - database layer

    engine = Engine(load_rules(rules), kind=engine_kind(engine_name))
    decisions = _decision_log(database_url, with_journal=True)
    try:
        with database_errors(decisions.url):
            if not decisions.caught_up(timeout=wait):
                err.print(
                    "[yellow]Some decisions are still in the service's journal"
                    f" ({decisions.journal}) and not in the database: this replay leaves them"
                    " out. The decision writer copies them while `assay serve` runs.[/yellow]"
                )
            start = since if since.tzinfo else since.replace(tzinfo=UTC)
            end = until if until is None or until.tzinfo else until.replace(tzinfo=UTC)
            seized = _seizures_on_record(decisions.url) if engine.ruleset.correlations else ()
            report = replay_decisions(decisions.between(start, end), engine, seized)
    finally:
        decisions.close()
        engine.close()
    rows: list[tuple[str, int]] = [
        ("replayed", report.replayed),
        ("unchanged", report.unchanged),
        ("newly flagged", report.count("newly flagged")),
        ("no longer flagged", report.count("no longer flagged")),
        ("flags changed", report.count("flags changed")),
        ("channel moved only", report.count("channel moved")),
        ("unreadable inputs", report.unreadable),
    ]
    rows += [
        (f"channel {before} -> {after}", count)
        for (before, after), count in sorted(report.moves.items())
        if before != after
    ]
    rows += [(f"now fires: {rule_id}", n) for rule_id, n in report.rule_gains.most_common()]
    rows += [(f"no longer fires: {rule_id}", n) for rule_id, n in report.rule_losses.most_common()]
    alerts = report.alerts_by_rule()
    rows += [
        (f"correlation alerts: {rule.id}", alerts[rule.id]) for rule in engine.ruleset.correlations
    ]
    title = f"Replay with {engine.ruleset.label} ({engine.ruleset.sha256[:12]})"
    records = [{"what": what, "manifests": count} for what, count in rows]
    show(records, ("what", "manifests"), "table", title=title)
    if output is not None:
        with output.open("wb") as sink:
            for change in report.changes:
                sink.write(orjson.dumps({"kind": change.kind, **asdict(change)}) + b"\n")
