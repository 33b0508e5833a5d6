"""``assay db``: the store's schema (``upgrade``, ``current``), over :mod:`engine.store.schema`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from assay.cli.options import DatabaseOption, database_errors, out

if TYPE_CHECKING:
    from sqlalchemy import Engine

db_app = typer.Typer(
    help="The Assay database's schema: upgrade it, say where it stands.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

T = TypeVar("T")


def _say(text: str) -> None:
    out.print(text, markup=False, highlight=False, soft_wrap=True)


def _on_database(database_url: str | None, action: Callable[[Engine, str], T]) -> T:
    """``action`` on the database (default: the service's) and its URL as shown; its failures
    end the command in one line with the password hidden (:func:`database_errors`)."""
    # The database layer loads for `assay db` only, not for every `assay` command.
    from assay.engine.store.database import connect, default_database_url  # noqa: PLC0415
    from assay.engine.store.redact import shown_url  # noqa: PLC0415

    url = database_url or default_database_url()
    with database_errors(url):
        engine = connect(url)
        try:
            return action(engine, shown_url(url))
        finally:
            engine.dispose()


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOption = None) -> None:
    """Bring the schema to this release's newest revision (`assay serve` does it at start):
    creates it in an empty database, adopts one made before migrations. Safe to run while
    workers start: one upgrades, the others wait."""
    from assay.engine.store.schema import upgrade  # noqa: PLC0415

    done = _on_database(database_url, lambda engine, shown: (shown, upgrade(engine)))
    _say(f"{done[0]}: {done[1].describe()}")


@db_app.command("current")
def db_current(database_url: DatabaseOption = None) -> None:
    """Where the schema stands; changes nothing. Exit status 0 when it is at this release's
    newest revision, 1 when it needs `assay db upgrade` (or this release is older than it)."""
    from assay.engine.store.schema import state  # noqa: PLC0415

    shown, found = _on_database(database_url, lambda engine, shown: (shown, state(engine)))
    _say(f"{shown}: {found.describe()}")
    raise typer.Exit(0 if found.current else 1)
