"""MQTT: a notice's JSON body published at QoS 1, by default to the building's alert topic."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from types import TracebackType
from typing import Self

import aiomqtt

from alerts.notice import Notice
from alerts.notifiers import (
    Clock,
    Outcome,
    RecordDelivery,
    Retrier,
)
from models.alerting import ChannelType, Subscription


def default_topic(building_id: str) -> str:
    return f"twin/v1/buildings/{building_id}/alerts"


class MqttNotifier:
    """Publishes notices over one broker connection, opened at the first notice and opened
    again after a failure; use it as ``async with MqttNotifier(...) as notifier``.

    A publish counts as delivered once the broker has acknowledged it (PUBACK).
    """

    channel = ChannelType.MQTT

    def __init__(
        self,
        host: str,
        port: int,
        record: RecordDelivery,
        *,
        username: str | None = None,
        password: str | None = None,
        client_id: str = "twin-alerts",
        max_attempts: int = 3,
        first_backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        timeout_s: float = 10.0,
        clock: Clock = time.time,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.client_id = client_id  # the broker drops an older connection with the same id
        self.retrier = Retrier(
            self.channel,
            record,
            max_attempts=max_attempts,
            first_backoff_s=first_backoff_s,
            max_backoff_s=max_backoff_s,
            clock=clock,
        )
        self.timeout_s = timeout_s
        self._client: aiomqtt.Client | None = None
        self._connecting = asyncio.Lock()
        self._open = False

    async def __aenter__(self) -> Self:
        # No connection yet: a broker that is down must not stop whoever owns this notifier
        # from starting; the first notice connects, and a failure is recorded there.
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False
        if self._client is not None:
            await self._drop(self._client)

    async def deliver(self, notice: Notice, contact: str, subscription: Subscription) -> bool:
        """Publish ``notice.body`` to ``contact`` (or the building's alert topic when empty)."""
        if not self._open:
            raise RuntimeError("use the notifier inside `async with MqttNotifier(...)`")
        topic = contact or default_topic(notice.building_id)
        payload = json.dumps(notice.body)
        return await self.retrier.run(
            lambda: self._publish(topic, payload), notice, contact, subscription
        )

    async def _publish(self, topic: str, payload: str) -> Outcome:
        try:
            client = await self._connection()
        except aiomqtt.MqttError as exc:
            return Outcome(False, f"broker unreachable: {exc}", retry=True)
        try:
            # At QoS 1 aiomqtt waits for the broker's PUBACK (or raises after the timeout).
            await client.publish(topic, payload, qos=1, timeout=self.timeout_s)
        except aiomqtt.MqttError as exc:
            await self._drop(client)  # the next attempt connects afresh
            return Outcome(False, f"publish to {topic} failed: {exc}", retry=True)
        return Outcome(True, f"published to {topic}, acknowledged at QoS 1")

    async def _connection(self) -> aiomqtt.Client:
        async with self._connecting:
            if self._client is None:
                client = aiomqtt.Client(
                    self.host,
                    self.port,
                    username=self.username,
                    password=self._password,
                    identifier=self.client_id,
                    timeout=self.timeout_s,
                )
                await client.__aenter__()
                self._client = client
            return self._client

    async def _drop(self, client: aiomqtt.Client) -> None:
        if self._client is client:
            self._client = None
        with contextlib.suppress(aiomqtt.MqttError):
            await client.__aexit__(None, None, None)
