"""What the ``assay`` commands share: the consoles and the common options."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from assay.engine import AssayError, RuleSet
from assay.engine.evaluators.base import EngineKind
from assay.engine.ruleset import default_pack_dir, load_pack

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
        help="Assay database (default: SQLite in ASSAY_DATA_DIR or ~/.local/share/assay).",
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


def engine_kind(value: str) -> EngineKind:
    if value not in ("compiled", "rete"):
        err.print(f"[red]error:[/] --engine must be 'compiled' or 'rete', not {value!r}")
        raise typer.Exit(2)
    return "compiled" if value == "compiled" else "rete"


def load_rules(rules: Path | None) -> RuleSet:
    """The pack in ``rules`` (default: the shipped one); its problems end the command."""
    try:
        return load_pack(rules if rules is not None else default_pack_dir())
    except AssayError as exc:
        err.print(str(exc), markup=False, highlight=False)
        err.print(f"[red]{len(exc.problems)} problem(s) in the rule pack[/]")
        raise typer.Exit(2) from None


def _database_failure(exc: Exception) -> bool:
    # Loaded once a command has failed: `assay screen` without --log never imports them.
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    from assay.engine.store.journal import DecisionLogError  # noqa: PLC0415
    from assay.engine.store.schema import SchemaError  # noqa: PLC0415

    return isinstance(exc, SQLAlchemyError | SchemaError | DecisionLogError | OSError)


@contextlib.contextmanager
def database_errors(url: str) -> Iterator[None]:
    """The database at ``url`` failing inside the block (unreachable, refusing, upgraded by
    a newer release, a folder it cannot create) ends the command in one line, exit 2, with
    the password hidden: never a traceback, which would show the URL among its locals."""
    try:
        yield
    except Exception as exc:
        if not _database_failure(exc):
            raise
        from assay.engine.store.redact import database_problem, shown_url  # noqa: PLC0415

        err.print(
            f"error: the database {shown_url(url)}: {database_problem(exc, url)}",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(2) from None
