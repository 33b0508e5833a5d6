"""``assay keys``: API keys of the service, one role each, stored hashed."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING, Annotated

import typer

from assay.cli.options import DatabaseOption, database_errors, err
from assay.cli.tables import FormatOption, output_format, show
from assay.engine.store.roles import ROLES, Role

if TYPE_CHECKING:
    from assay.engine.store.keys import KeyStore

keys_app = typer.Typer(
    help="API keys of the service (one role each).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # a new key is a local of keys_create
)


def _url(database_url: str | None) -> str:
    # The database layer loads for `assay keys` only, not for every `assay` command.
    from assay.engine.store.database import default_database_url  # noqa: PLC0415

    return database_url or default_database_url()


def _key_store(url: str) -> KeyStore:
    from assay.engine.store.database import open_database  # noqa: PLC0415 - as above
    from assay.engine.store.keys import KeyStore  # noqa: PLC0415

    return KeyStore(open_database(url))


def _operator() -> str:
    """Who runs the command, for the audit trail: the system user, marked as such."""
    return f"{getpass.getuser()} (command line)"


def _role(value: str) -> Role:
    for role in ROLES:
        if value == role:
            return role
    raise typer.BadParameter(
        f"must be one of {', '.join(ROLES)}, not {value!r}", param_hint="--role"
    )


@keys_app.command("create")
def keys_create(
    role: Annotated[
        str, typer.Option(help="screening, author, reviewer or admin.", show_default=False)
    ],
    name: Annotated[str | None, typer.Option(help="Who holds the key (default: the role).")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create a key; it is printed once, alone on the last line, and stored only hashed."""
    from assay.engine.store.people import name_problem  # noqa: PLC0415 - ditto

    checked = _role(role)
    holder = name or checked
    problem = name_problem(holder)
    if problem is not None:
        raise typer.BadParameter(problem, param_hint="--name")
    url = _url(database_url)
    with database_errors(url):
        key = _key_store(url).create(checked, holder, by=_operator())
    err.print(f"created a {checked} key for {holder!r}; it is shown only now:")
    print(key)


@keys_app.command("list")
def keys_list(database_url: DatabaseOption = None, format_name: FormatOption = "table") -> None:
    """Every key: id, holder, role, created, revoked (the keys themselves are not stored)."""
    fmt = output_format(format_name)
    url = _url(database_url)
    with database_errors(url):
        found = _key_store(url).all()
    records = [
        {
            "id": info.id,
            "name": info.name,
            "role": info.role,
            "created": info.created_at.isoformat(timespec="seconds"),
            "revoked": info.revoked_at.isoformat(timespec="seconds") if info.revoked_at else None,
        }
        for info in found
    ]
    show(records, ("id", "name", "role", "created", "revoked"), fmt)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id, from `assay keys list`.")],
    database_url: DatabaseOption = None,
) -> None:
    """Revoke a key: it stops working within 5 seconds on every worker."""
    url = _url(database_url)
    with database_errors(url):
        revoked = _key_store(url).revoke(key_id, by=_operator())
    if not revoked:
        err.print(f"[red]no key with id {key_id} (or it is already revoked)[/red]")
        raise typer.Exit(1)
    err.print(f"revoked key {key_id}")
