"""The demo's in-process broker keeps the generated Mosquitto configuration's rules: no
anonymous clients, devices publish only as themselves, revoked devices are refused."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import aiomqtt
import pytest

from models.access import DeviceCredential
from twin.broker import BrokerAccounts, embedded_broker
from twin.broker_config import SERVICE_USER, hash_password
from twin.localservices import free_port

NOW = 1_800_000_000.0


def device(device_id: str, password: str, revoked: bool = False) -> DeviceCredential:
    return DeviceCredential(
        device_id, "hall", hash_password(password), NOW, revoked_at=NOW if revoked else None
    )


async def until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polling what the broker delivers
            await asyncio.sleep(0.02)


async def test_the_demo_broker_keeps_the_device_rules() -> None:
    port = free_port()
    accounts = BrokerAccounts("service-secret")
    accounts.load([device("dev-a", "pass-a"), device("dev-b", "pass-b")])

    def client(user: str | None, password: str | None, name: str) -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1", port, username=user, password=password, identifier=name, timeout=5
        )

    heard: list[tuple[str, bytes]] = []
    async with (
        embedded_broker("127.0.0.1", port, accounts),
        client(SERVICE_USER, "service-secret", "twin") as twin,
    ):
        await twin.subscribe("twin/v1/devices/#", qos=1)

        async def collect() -> None:
            async for message in twin.messages:
                heard.append((str(message.topic), bytes(message.payload)))  # type: ignore[arg-type]

        listening = asyncio.create_task(collect())
        async with client("dev-a", "pass-a", "dev-a") as dev_a:
            await dev_a.publish("twin/v1/devices/dev-b/readings", b"forged", qos=1)
            await dev_a.publish("twin/v1/devices/dev-a/readings", b"own", qos=1)
            await until(lambda: len(heard) >= 1)
            await asyncio.sleep(0.2)
        assert heard == [("twin/v1/devices/dev-a/readings", b"own")]
        for user, password in ((None, None), ("dev-a", "pass-b"), ("ghost", "pass-a")):
            with pytest.raises(aiomqtt.MqttError):
                async with client(user, password, f"x-{user}"):
                    pass
        accounts.load([device("dev-a", "pass-a"), device("dev-b", "pass-b", revoked=True)])
        with pytest.raises(aiomqtt.MqttError):
            async with client("dev-b", "pass-b", "dev-b"):
                pass
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
