"""The ``assay`` command: a thin shell over :class:`engine.Engine`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.console import Console
from rich.table import Table

from engine import AssayError, Engine, RuleSet
from engine.batch import screen_records, split_records, to_json_line
from engine.contracts import ErrorLine, ScreeningResult
from engine.evaluators.base import EngineKind
from engine.examples import run_examples
from engine.fields import CATALOGUE
from engine.ruleset import default_pack_dir, load_pack
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
) -> None:
    """Screen manifests: one result (or error record) per input record, in input order.

    Exit status: 0 when every record was screened, 1 when some were errors, 2 for usage
    errors.
    """
    kind = _engine_kind(engine_name)
    engine = Engine(_load(rules), kind=kind)
    sink: BinaryIO = sys.stdout.buffer if output == "-" else Path(output).open("wb")  # noqa: SIM115
    summary: list[ScreeningResult | ErrorLine] = []
    errors = 0
    try:
        for path in inputs:
            raw, jsonl = _read_input(path)
            for outcome in screen_records(engine, split_records(raw, jsonl=jsonl)):
                sink.write(to_json_line(outcome))
                if isinstance(outcome, ErrorLine):
                    errors += 1
                if len(summary) < 50:
                    summary.append(outcome)
        sink.flush()
    finally:
        if sink is not sys.stdout.buffer:
            sink.close()
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
