"""`twin tokens add|list|revoke`: API tokens, run on the twin's server.

These commands open the twin's database directly (as `twin ingest` does), so they work
whether or not the twin is running, and a revocation takes effect at the next request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from data import Store, StoreError, open_store
from models.access import Role

tokens_app = typer.Typer(
    help="API tokens with roles: viewer (read), manager (act on alerts, subscriptions), "
    "admin (register buildings, sensors, devices, tokens).",
    no_args_is_help=True,
)

DbOpt = Annotated[Path | None, typer.Option(help="The twin's SQLite file (default var/twin.db).")]
DatabaseUrlOpt = Annotated[
    str | None,
    typer.Option(
        envvar="TWIN_DATABASE_URL",
        help="The twin's database, sqlite:///path or postgresql://... (instead of --db).",
    ),
]
T = TypeVar("T")


@tokens_app.command("add")
def add(
    name: Annotated[
        str, typer.Argument(help="Who holds it: a person (li.wei) or a screen (ops-wall-3).")
    ],
    role: Annotated[Role, typer.Option(help="What it may do.", case_sensitive=False)],
    db: DbOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Issue a token and print it, once: the twin keeps only its hash."""
    from twin.auth import issue_token

    try:
        record, plaintext = _run(
            db, database_url, lambda store: issue_token(store, name, role, time.time())
        )
    except ValueError as exc:  # a name the twin does not take
        _fail(str(exc))
    typer.echo(plaintext)
    typer.secho(
        f"Token {record.id} for {record.name} ({record.role.value}). Keep it now: it is shown "
        "only this once. Send it as `Authorization: Bearer <token>`, or open "
        "/viewer?token=<token> in a browser.",
        err=True,
        fg=typer.colors.YELLOW,
    )


@tokens_app.command("list")
def list_(db: DbOpt = None, database_url: DatabaseUrlOpt = None) -> None:
    """Every token (never its secret), oldest first, revoked ones included."""
    tokens = _run(db, database_url, lambda store: store.tokens())
    if not tokens:
        typer.echo("No tokens: `twin tokens add NAME --role viewer` makes one.")
        return
    width = max(len(t.name) for t in tokens)
    for t in tokens:
        state = "active" if t.revoked_at is None else f"revoked {_when(t.revoked_at)}"
        typer.echo(f"{t.id}  {t.name:<{width}}  {t.role.value:<7}  {_when(t.created_at)}  {state}")


@tokens_app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (`twin tokens list`).")],
    db: DbOpt = None,
    database_url: DatabaseUrlOpt = None,
) -> None:
    """Revoke a token: the API refuses it from the next request on."""
    from twin.auth import revoke_token

    record = _run(db, database_url, lambda store: revoke_token(store, token_id, time.time()))
    if record is None:
        _fail(f"no token {token_id!r}; `twin tokens list` shows the ids")
    typer.echo(f"Revoked {record.id} ({record.name}, {record.role.value})")


def _url(db: Path | None, database_url: str | None) -> str:
    if db is not None and database_url is not None:
        _fail("give --db or --database-url, not both")
    if database_url is not None:
        return database_url
    return f"sqlite:///{db or Path('var/twin.db')}"


def _run(db: Path | None, database_url: str | None, work: Callable[[Store], Awaitable[T]]) -> T:
    url = _url(db, database_url)

    async def main() -> T:
        async with open_store(url) as store:
            return await work(store)

    try:
        return asyncio.run(main())
    except StoreError as exc:
        _fail(str(exc))


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))


def _fail(message: str) -> NoReturn:
    typer.secho(f"Error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)
