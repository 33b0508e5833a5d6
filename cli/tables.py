"""The listings the ``assay`` commands print: a table on a terminal, plain lines when piped.

A rich table fits itself to the terminal by cutting cells (``water-denser…``), which is right
for a person reading and wrong for ``assay rules list | grep``: when standard output is not a
terminal the rows come as tab-separated lines, a header first, nothing cut. ``--format json``
prints the rows as one JSON array of objects, with numbers and true/false as they are.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import orjson
import typer
from rich.table import Table

from assay.cli.options import err, out

Format = Literal["table", "json"]
FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        help="'table' (default; tab-separated lines, nothing cut, when not on a terminal) "
        "or 'json' (an array of objects).",
    ),
]


def output_format(value: str) -> Format:
    if value not in ("table", "json"):
        err.print(f"[red]error:[/] --format must be 'table' or 'json', not {value!r}")
        raise typer.Exit(2)
    return "table" if value == "table" else "json"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _plain(value: Any) -> str:
    """A cell of a tab-separated line: tabs and line breaks inside it become spaces."""
    return " ".join(_cell(value).split()) if isinstance(value, str) else _cell(value)


def show(
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    fmt: Format,
    *,
    title: str | None = None,
    styles: Mapping[str, Mapping[Any, str]] | None = None,
) -> None:
    """Print ``records`` (one mapping per row, keyed by ``columns``) in ``fmt``. ``styles``
    colours a column's values on a terminal, e.g. ``{"passed": {False: "red"}}``."""
    if fmt == "json":
        rows = [{name: record[name] for name in columns} for record in records]
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if not out.is_terminal:
        lines = ["\t".join(columns)]
        lines += ["\t".join(_plain(record[name]) for name in columns) for record in records]
        sys.stdout.write("\n".join(lines) + "\n")
        return
    table = Table(title=title)
    for name in columns:
        table.add_column(name)
    colours = styles or {}
    for record in records:
        cells = []
        for name in columns:
            text = _cell(record[name])
            colour = colours.get(name, {}).get(record[name])
            cells.append(f"[{colour}]{text}[/]" if colour else text)
        table.add_row(*cells)
    out.print(table)
