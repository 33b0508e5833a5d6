"""What the ``assay`` commands share: the consoles and the common options."""

from __future__ import annotations

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
