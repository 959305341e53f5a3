"""`twin devices ...`: device credentials and the broker files, run on the twin's server.

These commands open the twin's database directly (as `twin ingest` does): a device's
password is shown once, here, and only its hash is kept.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from data import Store, StoreError, open_store
from twin.broker_config import (
    SERVICE_USER,
    BrokerFiles,
    write_broker_files,
    write_credentials,
)
from twin.devices import DeviceError, add_device, revoke_device, rotate_device

devices_app = typer.Typer(
    help="Device credentials and the Mosquitto files that enforce them.", no_args_is_help=True
)

DatabaseOpt = Annotated[
    str,
    typer.Option(
        envvar="TWIN_DATABASE_URL", help="The twin's database: sqlite:///path or postgresql://..."
    ),
]
BrokerDirOpt = Annotated[
    Path | None,
    typer.Option(help="Rewrite the Mosquitto files in this folder after the change."),
]
ReloadOpt = Annotated[
    int | None, typer.Option(help="Then send SIGHUP to this Mosquitto PID so it reloads them.")
]
_DEFAULT_DB = "sqlite:///var/twin.db"
T = TypeVar("T")


@devices_app.command("add")
def add(
    device_id: Annotated[str, typer.Argument(help="The device's id, as its sensors name it.")],
    building: Annotated[str, typer.Option(help="The building the device reports for.")],
    database_url: DatabaseOpt = _DEFAULT_DB,
    broker_dir: BrokerDirOpt = None,
    reload_pid: ReloadOpt = None,
) -> None:
    """Register a device and print its broker password (shown once; only a hash is kept)."""

    async def work(store: Store) -> str:
        _, password = await add_device(store, device_id, building, time.time())
        await _refresh(store, broker_dir, reload_pid)
        return password

    password = _run(database_url, work)
    _show_credentials(device_id, password)


@devices_app.command("rotate")
def rotate(
    device_id: str,
    database_url: DatabaseOpt = _DEFAULT_DB,
    broker_dir: BrokerDirOpt = None,
    reload_pid: ReloadOpt = None,
) -> None:
    """Give a device a new password (shown once); the old one ends at the broker's reload."""

    async def work(store: Store) -> str:
        _, password = await rotate_device(store, device_id, time.time())
        await _refresh(store, broker_dir, reload_pid)
        return password

    password = _run(database_url, work)
    _show_credentials(device_id, password)


@devices_app.command("revoke")
def revoke(
    device_id: str,
    database_url: DatabaseOpt = _DEFAULT_DB,
    broker_dir: BrokerDirOpt = None,
    reload_pid: ReloadOpt = None,
) -> None:
    """Cut a device off: it can no longer connect once the broker has reloaded its files."""

    async def work(store: Store) -> None:
        await revoke_device(store, device_id, time.time())
        await _refresh(store, broker_dir, reload_pid)

    _run(database_url, work)
    typer.echo(f"Revoked {device_id}.")
    if broker_dir is None:
        typer.echo("Rewrite the broker's files (`twin devices broker-config DIR`) and reload it.")


@devices_app.command("list")
def list_devices(database_url: DatabaseOpt = _DEFAULT_DB) -> None:
    """Every device with its building and whether it is active."""

    async def work(store: Store) -> list[str]:
        return [
            f"{d.device_id:<24} {d.building_id:<24} "
            + (
                "active"
                if d.active
                else f"revoked {time.strftime('%F %T', time.gmtime(d.revoked_at or 0))} UTC"
            )
            for d in await store.devices()
        ]

    lines = _run(database_url, work)
    typer.echo("\n".join(lines) if lines else "No devices yet: `twin devices add ID --building B`.")


@devices_app.command("broker-config")
def broker_config(
    directory: Annotated[Path, typer.Argument(help="Folder for mosquitto.conf, passwords, acl.")],
    port: Annotated[int, typer.Option(help="Port the broker listens on.")] = 1883,
    host: Annotated[str, typer.Option(help="Address the broker listens on.")] = "127.0.0.1",
    database_url: DatabaseOpt = _DEFAULT_DB,
) -> None:
    """Write Mosquitto's configuration, password file and ACL from the registered devices."""

    async def work(store: Store) -> BrokerFiles:
        return write_broker_files(directory, await store.devices(), port=port, host=host)

    files = _run(database_url, work)
    typer.echo(f"Wrote {files.config}, {files.passwords}, {files.acl}.")
    typer.echo(f"Start the broker:  mosquitto -c {files.config}")
    typer.echo(
        f"The twin connects as {SERVICE_USER!r}: --mqtt-url "
        f"mqtt://{SERVICE_USER}:<password in {directory / 'service-password'}>@{host}:{port}"
    )


async def _refresh(store: Store, broker_dir: Path | None, reload_pid: int | None) -> None:
    if broker_dir is None:
        return
    write_credentials(broker_dir, await store.devices())
    if reload_pid is not None:
        os.kill(reload_pid, signal.SIGHUP)  # Mosquitto rereads passwords and ACL on SIGHUP


def _show_credentials(device_id: str, password: str) -> None:
    typer.echo(f"Device   {device_id}")
    typer.echo(f"Password {password}")
    typer.echo("Shown once: only its hash is kept. Configure the device with it now.")
    typer.echo(f"It may publish only under twin/v1/devices/{device_id}/ (e.g. .../readings).")


def _run(database_url: str, work: Callable[[Store], Awaitable[T]]) -> T:
    async def main() -> T:
        async with open_store(database_url) as store:
            return await work(store)

    try:
        return asyncio.run(main())
    except (DeviceError, ValueError, StoreError, ProcessLookupError) as exc:
        typer.secho(f"Error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
