"""The MQTT ingest consumer: device messages in, judged readings out in batches.

Storage and detection are not imported here: the composition root passes the callables
that receive accepted readings and dead letters.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import aiomqtt

from models.types import DeadLetter, Reading
from sensors.senml import Limits, Reason, RegisteredChannel, device_from_topic, parse_senml

log = logging.getLogger(__name__)

READINGS_SUBSCRIPTION = "twin/v1/devices/+/readings"
DEAD_LETTER_PAYLOAD_BYTES = 1024
MAX_DEAD_LETTERS_PER_MESSAGE = 20

ReadingSink = Callable[[list[Reading]], Awaitable[None]]
DeadLetterSink = Callable[[list[DeadLetter]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    """Where a broker listens, from ``mqtt://[user:password@]host[:port]``."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> MqttEndpoint:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ValueError(f"MQTT URL {url!r} must look like mqtt://host:1883")
        return cls(
            host=parts.hostname,
            port=parts.port or 1883,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def client(
        self, identifier: str | None = None, *, clean_session: bool = True
    ) -> aiomqtt.Client:
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=identifier,
            clean_session=clean_session,
        )


@dataclass(slots=True)
class IngestCounters:
    messages: int = 0
    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


class Ingest:
    """Subscribes to device readings and hands judged batches to the sinks until cancelled."""

    def __init__(
        self,
        endpoint: MqttEndpoint,
        *,
        registry: Callable[[], Mapping[str, RegisteredChannel]],
        on_readings: ReadingSink,
        on_rejected: DeadLetterSink,
        clock: Callable[[], float] = time.time,
        limits: Limits = Limits(),  # noqa: B008 - frozen, shared safely
        client_id: str = "twin-ingest",
        batch_max: int = 5000,
        batch_interval_s: float = 0.05,
        reconnect_s: float = 1.0,
    ) -> None:
        self.endpoint = endpoint
        self.registry = registry
        self.on_readings = on_readings
        self.on_rejected = on_rejected
        self.clock = clock
        self.limits = limits
        self.client_id = client_id
        self.batch_max = batch_max
        self.batch_interval_s = batch_interval_s
        self.reconnect_s = reconnect_s
        self.counters = IngestCounters()
        self.connected = asyncio.Event()
        self._pending: list[Reading] = []
        self._flush_lock = asyncio.Lock()

    async def run(self) -> None:
        """Consume until cancelled, reconnecting when the broker goes away."""
        flusher = asyncio.create_task(self._flush_periodically())
        try:
            while True:
                try:
                    await self._consume()
                except aiomqtt.MqttError as exc:
                    self.connected.clear()
                    log.warning(
                        "broker %s unreachable (%s); retrying in %.0f s",
                        self.endpoint.url,
                        exc,
                        self.reconnect_s,
                    )
                    await asyncio.sleep(self.reconnect_s)
        finally:
            flusher.cancel()
            self.connected.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("final flush failed; %d readings not stored", len(self._pending))

    async def _consume(self) -> None:
        async with self.endpoint.client(self.client_id) as client:
            await client.subscribe(READINGS_SUBSCRIPTION, qos=1)
            self.connected.set()
            log.info("ingest subscribed to %s on %s", READINGS_SUBSCRIPTION, self.endpoint.url)
            async for message in client.messages:
                payload = message.payload
                body = payload if isinstance(payload, bytes) else str(payload).encode()
                await self.handle(message.topic.value, body)

    async def handle(self, topic: str, payload: bytes) -> None:
        """Judge one message: valid records join the batch, refused ones become dead letters."""
        self.counters.messages += 1
        now = self.clock()
        device_id = device_from_topic(topic)
        if device_id is None:
            await self._reject(
                now, topic, "", Reason.BAD_TOPIC, "topic is not a readings topic", payload
            )
            return
        result = parse_senml(
            payload, device_id=device_id, now=now, registry=self.registry(), limits=self.limits
        )
        if result.rejections:
            for r in result.rejections:
                self._count(r.reason)
            # A flood of bad records in one message is kept as a sample plus a count.
            letters = [
                _dead_letter(now, topic, device_id, r.reason, _where(r.record) + r.detail, payload)
                for r in result.rejections[:MAX_DEAD_LETTERS_PER_MESSAGE]
            ]
            if (extra := len(result.rejections) - MAX_DEAD_LETTERS_PER_MESSAGE) > 0:
                last = result.rejections[-1]
                letters.append(
                    _dead_letter(
                        now, topic, device_id, last.reason, f"{extra} more records refused", payload
                    )
                )
            await self._send(letters)
        if result.readings:
            self.counters.accepted += len(result.readings)
            self._pending.extend(result.readings)
            if len(self._pending) >= self.batch_max:
                try:
                    await self.flush()
                except Exception:
                    log.exception("writing a batch of readings failed; will retry")

    async def flush(self) -> None:
        """Hand the pending batch to the reading sink."""
        async with self._flush_lock:
            if not self._pending:
                return
            batch, self._pending = self._pending, []
            try:
                await self.on_readings(batch)
            except Exception:
                # Keep the batch for the next attempt rather than drop it.
                self._pending[:0] = batch
                raise

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.batch_interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("writing a batch of readings failed")

    async def _reject(
        self, now: float, topic: str, device_id: str, reason: Reason, detail: str, payload: bytes
    ) -> None:
        self._count(reason)
        await self._send([_dead_letter(now, topic, device_id, reason, detail, payload)])

    def _count(self, reason: Reason) -> None:
        self.counters.rejected[reason] = self.counters.rejected.get(reason, 0) + 1

    async def _send(self, letters: list[DeadLetter]) -> None:
        try:
            await self.on_rejected(letters)
        except Exception:
            # Losing the record of a rejection must not stop the valid readings.
            log.exception("recording %d dead letters failed", len(letters))


def _where(record: int | None) -> str:
    return "" if record is None else f"record {record}: "


def _dead_letter(
    now: float, topic: str, device_id: str, reason: Reason, detail: str, payload: bytes
) -> DeadLetter:
    return DeadLetter(
        time=now,
        reason=reason.value,
        topic=topic[:256],
        device_id=device_id,
        detail=detail[:500],
        payload=payload[:DEAD_LETTER_PAYLOAD_BYTES],
    )
