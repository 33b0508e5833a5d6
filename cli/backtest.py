"""``assay backtest``: what a candidate ruleset would have done on past manifests."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from assay.cli.options import (
    DatabaseOption,
    EngineOption,
    database_errors,
    engine_kind,
    err,
    load_rules,
    out,
)
from assay.engine import AssayError, Engine, RuleSet
from assay.engine.backtest import Backtest
from assay.engine.batch.readers import InputError, Meter, expand, read_inputs
from assay.engine.inspections import read_inspections
from assay.engine.performance import DEFAULT_ALARM_AT


def resolve(which: str, option: str, database_url: str | None) -> RuleSet:
    """A ruleset named on the command line: a stored version's id, ``active``, or a pack
    directory."""
    if not (which.isdigit() or which == "active"):
        path = Path(which)
        if not path.is_dir():
            err.print(f"[red]error:[/] {option} {which!r} is neither a version id nor a directory")
            raise typer.Exit(2)
        return load_rules(path)
    # The database layer loads when a stored version is named, not for every `assay` command.
    from assay.engine.store.database import default_database_url, open_database  # noqa: PLC0415
    from assay.engine.store.rulesets import GovernanceError, RuleStore  # noqa: PLC0415

    url = database_url or default_database_url()
    with database_errors(url):
        db = open_database(url)
    try:
        store = RuleStore(db)
        with database_errors(url):
            return store.compile(store.version_id(which))
    except GovernanceError as exc:
        err.print(f"[red]error:[/] {option} {which}: {exc.message}")
        raise typer.Exit(2) from None
    except AssayError as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(2) from None
    finally:
        db.dispose()


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _print(report: dict[str, Any]) -> None:
    candidate, baseline = report["candidate"], report["baseline"]
    corpus, outcomes = report["corpus"], report["outcomes"]
    out.print(
        f"Back-test of {candidate['name']}@{candidate['version']} ({candidate['sha256'][:12]})"
        f" on {corpus['manifests']:,} manifests ({corpus['invalid']:,} invalid records);"
        f" {outcomes['matched']:,} with an inspection outcome, {outcomes['seizures']:,} seizures"
    )
    rules = Table(title="Per rule")
    for column in ("rule", "pattern", "hits", "share", "inspected", "precision", "recall", "yield"):
        rules.add_column(column, justify="left" if column in ("rule", "pattern") else "right")
    if baseline is not None:
        rules.add_column("baseline hits", justify="right")
    for row in report["rules"]:
        cells = [
            row["rule_id"] + (" [red]⚠ no find[/]" if row["alarm"] else ""),
            row["pattern"],
            f"{row['hits']:,}",
            _percent(row["share"]),
            f"{row['inspected']:,}",
            _percent(row["precision"]),
            _percent(row["recall"]),
            _percent(row["yield"]),
        ]
        if baseline is not None:
            cells.append(f"{row['baseline_hits']:,}")
        rules.add_row(*cells)
    out.print(rules)
    patterns = Table(title="Per pattern")
    for column in ("pattern", "hits", "share", "precision", "recall (own seizures)"):
        patterns.add_column(column, justify="left" if column == "pattern" else "right")
    for row in report["patterns"]:
        patterns.add_row(
            row["pattern"],
            f"{row['hits']:,}",
            _percent(row["share"]),
            _percent(row["precision"]),
            _percent(row["pattern_recall"]),
        )
    out.print(patterns)
    lanes = Table(title="Channel mix (the inspection rate it would cause)")
    lanes.add_column("ruleset")
    for column in ("green", "yellow", "red", "red rate"):
        lanes.add_column(column, justify="right")
    for side, mix in report["channels"].items():
        lanes.add_row(
            side,
            *(f"{mix[c]:,}" for c in ("green", "yellow", "red")),
            _percent(mix["inspection_rate"]),
        )
    out.print(lanes)
    if "changes" in report:
        changes = report["changes"]
        out.print(
            f"Against {baseline['name']}@{baseline['version']} ({baseline['sha256'][:12]}):"
            f" {changes['newly_flagged']:,} newly flagged, {changes['no_longer_flagged']:,} no"
            f" longer flagged, {changes['flags_changed']:,} with other flags; channel moves"
            f" {changes['channel_moves'] or 'none'}"
        )
        for kind in ("newly_flagged", "no_longer_flagged"):
            for entry in changes["listed"][kind][:5]:
                said = entry["explanations"][0] if entry["explanations"] else ""
                out.print(f"  {kind.replace('_', ' ')}: {entry['manifest_id']}: {said}")
    if "correlation" in report:
        _print_correlation(report["correlation"])
    for row in report["rules"]:
        if row["alarm"]:
            out.print(f"[red]⚠ {row['rule_id']}[/]: {row['alarm']}")


def _print_correlation(section: dict[str, Any]) -> None:
    stream = section["stream"]
    against = "changes" in section
    table = Table(title="Correlation rules")
    table.add_column("rule", overflow="fold")
    columns = ["alerts", *(("baseline", "new", "gone") if against else ())]
    for column in (*columns, "manifests", "confirmed / inspected", "precision"):
        table.add_column(column, justify="right")
    for row in section["rules"]:
        cells = [
            row["rule_id"] + ("" if row["in_candidate"] else " (baseline only)"),
            f"{row['alerts']:,}",
        ]
        if against:
            cells += [
                f"{row['baseline_alerts']:,}",
                f"{row['newly_raised']:,}",
                f"{row['no_longer_raised']:,}",
            ]
        cells += [
            f"{row['manifests']:,}",
            f"{row['confirmed']:,} / {row['inspected']:,}",
            _percent(row["precision"]),
        ]
        table.add_row(*cells)
    out.print(table)
    out.print(
        f"Correlation: {stream['manifests']:,} manifests in filed_at order"
        f" ({stream['without_filed_at']:,} without filed_at left out), {stream['seizures']:,}"
        " seizures as the repeat offenders' history; an alert is confirmed when any of its"
        " manifests has a seizure or irregularity outcome"
    )
    if against:
        changes = section["changes"]
        out.print(
            f"Alerts against the baseline: {changes['newly_raised']:,} newly raised,"
            f" {changes['no_longer_raised']:,} no longer raised"
        )
        for kind in ("newly_raised", "no_longer_raised"):
            for alert in changes["listed"][kind][:5]:
                out.print(f"  {kind.replace('_', ' ')}: {alert['explanation']}", markup=False)


def backtest(
    candidate: Annotated[
        str,
        typer.Option(help="The ruleset to test: a stored version id, 'active', or a directory."),
    ],
    corpus: Annotated[
        list[str],
        typer.Option(help="Past manifests: JSONL, JSON, CSV or Parquet files (globs; repeat)."),
    ],
    baseline: Annotated[
        str | None,
        typer.Option(help="Compare with this ruleset: a version id, 'active', or a directory."),
    ] = None,
    outcomes: Annotated[
        Path | None,
        typer.Option(help="Inspection outcomes: CSV or JSONL (manifest_id,result,pattern,notes)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the whole report as JSON.")
    ] = None,
    alarm_at: Annotated[
        int, typer.Option(min=1, help="Flag rules inspected this often with no find.")
    ] = DEFAULT_ALARM_AT,
    engine_name: EngineOption = "compiled",
    database_url: DatabaseOption = None,
) -> None:
    """Screen past manifests with a candidate ruleset: hits, share flagged, channel mix and,
    with inspection outcomes, precision, recall and yield per rule and pattern; against a
    baseline, the manifests newly flagged and no longer flagged."""
    kind = engine_kind(engine_name)
    try:
        paths = expand(corpus)
    except InputError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    known = {}
    if outcomes is not None:
        if not outcomes.is_file():
            err.print(f"[red]error:[/] --outcomes {outcomes}: no such file")
            raise typer.Exit(2)
        read = read_inspections(outcomes)
        for problem in read.errors:
            err.print(f"[yellow]skipped[/] {problem}", markup=True, highlight=False)
        known = read.outcomes
        err.print(f"{len(known):,} outcomes read, {len(read.errors):,} lines skipped")
    tested = Engine(resolve(candidate, "--candidate", database_url), kind=kind)
    against = (
        Engine(resolve(baseline, "--baseline", database_url), kind=kind)
        if baseline is not None
        else None
    )
    meter = Meter()
    live = Progress(
        TextColumn("[bold]back-testing"),
        BarColumn(),
        TextColumn("{task.fields[records]:>10,} records  {task.fields[rate]:>8,.0f} rec/s"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = live.add_task("backtest", total=None, records=0, rate=0.0)
    started = time.monotonic()

    def progress(records: int) -> None:
        rate = records / max(time.monotonic() - started, 1e-9)
        live.update(task, total=meter.total, completed=meter.done, records=records, rate=rate)

    try:
        run = Backtest(tested, against, known, alarm_at=alarm_at)
        with live:
            run.run(read_inputs(paths, meter=meter), progress=progress)
        report = run.report()
    except InputError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    finally:
        tested.close()
        if against is not None:
            against.close()
    _print(report)
    if output is not None:
        output.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
        err.print(f"report written to {output}")
