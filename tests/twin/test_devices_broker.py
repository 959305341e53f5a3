"""Device identity at the broker: a real Mosquitto running the configuration the twin wrote.
Device A cannot publish as device B, anonymous clients and wrong passwords are refused,
a revoked device is cut off after the reload, and the twin's own account reads it all."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import aiomqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from data import Store, open_store
from models.types import Building
from twin.broker_config import (
    SERVICE_USER,
    BrokerFiles,
    hash_password,
    verify_password,
    write_broker_files,
    write_credentials,
)
from twin.cli import app
from twin.devices import DeviceError, add_device, revoke_device, rotate_device
from twin.localservices import free_port, wait_for_port

NOW = 1_800_000_000.0


def test_our_hashes_are_mosquittos_and_mosquittos_are_ours(tmp_path: Path) -> None:
    passwords = tmp_path / "pw"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwords), "dev-1", "s3cret pass"], check=True
    )
    theirs = passwords.read_text().strip().split(":", 1)[1]
    assert verify_password("s3cret pass", theirs)
    assert not verify_password("s3cret pasS", theirs)
    assert hash_password("x").startswith("$7$") and not verify_password("x", "$6$a$b")


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_a_hash_accepts_its_password_only(password: str, other: str) -> None:
    hashed = hash_password(password)
    assert verify_password(password, hashed)
    assert verify_password(other, hashed) == (other == password)


@pytest.fixture
async def store(tmp_path: Path, make_hall: Callable[[str], Building]) -> AsyncIterator[Store]:
    async with open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store:
        await store.put_building(make_hall("dev-a"))
        yield store


class Broker:
    def __init__(self, files: BrokerFiles, port: int, proc: subprocess.Popen[bytes]) -> None:
        self.files, self.port, self.proc = files, port, proc

    def client(self, user: str | None, password: str | None, name: str) -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1", self.port, username=user, password=password, identifier=name, timeout=5
        )

    def reload(self) -> None:
        self.proc.send_signal(signal.SIGHUP)


@contextlib.contextmanager
def mosquitto(directory: Path, files_for: Callable[[int], BrokerFiles]) -> Iterator[Broker]:
    port = free_port()
    files = files_for(port)
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    with (directory / "log").open("ab") as log:
        proc = subprocess.Popen([binary, "-c", str(files.config)], stderr=log)
    try:
        wait_for_port(port)
        yield Broker(files, port, proc)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def collect(client: aiomqtt.Client, into: list[tuple[str, bytes]]) -> None:
    async for message in client.messages:
        into.append((str(message.topic), bytes(message.payload)))  # type: ignore[arg-type]


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polling what the broker delivers
            await asyncio.sleep(0.02)


async def test_devices_speak_only_for_themselves(store: Store, tmp_path: Path) -> None:
    _, password_a = await add_device(store, "dev-a", "hall-dev-a", NOW)
    _, password_b = await add_device(store, "dev-b", "hall-dev-a", NOW)
    run_as_root = ["user root"] if os.geteuid() == 0 else []
    devices = await store.devices()
    broker_dir = tmp_path / "broker"

    def files_for(port: int) -> BrokerFiles:
        return write_broker_files(broker_dir, devices, port=port, extra=run_as_root)

    with mosquitto(tmp_path, files_for) as broker:
        assert oct(broker.files.passwords.stat().st_mode & 0o777) == "0o600"
        heard: list[tuple[str, bytes]] = []
        twin = broker.client(SERVICE_USER, broker.files.service_password, "twin-ingest")
        async with twin:
            await twin.subscribe("twin/v1/devices/#", qos=1)
            listening = asyncio.create_task(collect(twin, heard))
            async with broker.client("dev-a", password_a, "dev-a") as dev_a:
                await dev_a.publish("twin/v1/devices/dev-b/readings", b"forged", qos=1)
                await dev_a.publish("twin/v1/devices/dev-a/readings", b"own", qos=1)
                await until(lambda: len(heard) >= 1)
                await asyncio.sleep(0.2)
                # The forged message was sent first: had it passed, it would be here first.
                assert heard == [("twin/v1/devices/dev-a/readings", b"own")]
                await dev_a.publish("twin/v1/buildings/hall-dev-a/alerts", b"fake alert", qos=1)

            for user, password in ((None, None), ("dev-a", password_b), ("ghost", password_a)):
                with pytest.raises(aiomqtt.MqttError):
                    async with broker.client(user, password, f"x-{user}"):
                        pass

            async with broker.client("dev-b", password_b, "dev-b") as dev_b:
                await dev_b.publish("twin/v1/devices/dev-b/readings", b"before", qos=1)
                await until(lambda: len(heard) == 2)
                await revoke_device(store, "dev-b", NOW + 60)
                write_credentials(broker_dir, await store.devices())
                broker.reload()
                await asyncio.sleep(0.5)
                # Still connected from before the revocation: its messages go nowhere.
                with contextlib.suppress(aiomqtt.MqttError):
                    await dev_b.publish("twin/v1/devices/dev-b/readings", b"after", qos=1)
                await asyncio.sleep(0.3)
            assert [p for _, p in heard] == [b"own", b"before"]
            with pytest.raises(aiomqtt.MqttError):
                async with broker.client("dev-b", password_b, "dev-b-again"):
                    pass
            async with broker.client("dev-a", password_a, "dev-a-again") as dev_a:
                await dev_a.publish("twin/v1/devices/dev-a/readings", b"still fine", qos=1)
                await until(lambda: len(heard) == 3)
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening


async def test_rotation_and_revocation_rules(store: Store) -> None:
    device, first = await add_device(store, "dev-a", "hall-dev-a", NOW)
    with pytest.raises(DeviceError, match="rotate"):
        await add_device(store, "dev-a", "hall-dev-a", NOW)
    with pytest.raises(DeviceError, match="no building"):
        await add_device(store, "dev-z", "nowhere", NOW)
    with pytest.raises(DeviceError, match="own broker account"):
        await add_device(store, SERVICE_USER, "hall-dev-a", NOW)
    with pytest.raises(ValueError, match="letters"):
        await add_device(store, "dev/a", "hall-dev-a", NOW)
    rotated, second = await rotate_device(store, "dev-a", NOW + 1)
    assert second != first and verify_password(second, rotated.password_hash)
    assert not verify_password(first, rotated.password_hash)
    await revoke_device(store, "dev-a", NOW + 2)
    with pytest.raises(DeviceError, match="revoked"):
        await rotate_device(store, "dev-a", NOW + 3)
    again, _ = await add_device(store, "dev-a", "hall-dev-a", NOW + 4)  # a revoked id may return
    assert again.active and device.device_id == again.device_id


def test_the_cli_shows_the_password_once_and_keeps_only_its_hash(
    tmp_path: Path, make_hall: Callable[[str], Building]
) -> None:
    db = tmp_path / "twin.db"

    async def seed() -> None:
        async with open_store(f"sqlite:///{db}") as store:
            await store.put_building(make_hall("dev-c"))

    asyncio.run(seed())
    url = ["--database-url", f"sqlite:///{db}"]
    runner = CliRunner()
    added = runner.invoke(app, ["devices", "add", "dev-c", "--building", "hall-dev-c", *url])
    assert added.exit_code == 0, added.output
    password = next(
        line.split()[1] for line in added.stdout.splitlines() if line.startswith("Password")
    )
    assert password not in db.read_bytes().decode(errors="replace")
    listed = runner.invoke(app, ["devices", "list", *url])
    assert "dev-c" in listed.stdout and "active" in listed.stdout
    config = runner.invoke(app, ["devices", "broker-config", str(tmp_path / "b"), *url])
    assert config.exit_code == 0 and "mosquitto -c" in config.stdout
    assert "dev-c:$7$" in (tmp_path / "b" / "passwords").read_text()
    revoked = runner.invoke(
        app, ["devices", "revoke", "dev-c", *url, "--broker-dir", str(tmp_path / "b")]
    )
    assert revoked.exit_code == 0, revoked.output
    assert "dev-c" not in (tmp_path / "b" / "passwords").read_text()
    unknown = runner.invoke(app, ["devices", "add", "dev-d", "--building", "nowhere", *url])
    assert unknown.exit_code == 2 and "twin buildings add" in unknown.output
