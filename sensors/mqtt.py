"""MQTT for ingest: paho-mqtt with manual acknowledgement behind an asyncio queue.

aiomqtt 2.x acknowledges QoS 1 messages inside paho before our code sees them, so a crash
between receipt and commit would lose readings the broker believes delivered. Here paho
runs with ``manual_ack=True`` in its own thread; deliveries cross into asyncio through
``call_soon_threadsafe`` and are acknowledged only when the caller says they are durable.
The broker bounds what is in flight: MQTT 5's Receive Maximum, or for MQTT 3.1.1 (the demo's
embedded broker) the broker's own in-flight setting. Mosquitto 2.0.11 (Debian 12) lets a
subscriber that keeps acknowledging drift past that window, so the queue bounds itself too.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import unquote, urlsplit

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger(__name__)

# Mosquitto 2.0.11 lets a subscriber that keeps acknowledging run past its Receive Maximum:
# with a window of 100, 3,816 messages were waiting or unacknowledged after 65,611 (acks in
# runs of 50). So paho's thread pauses while this many windows wait to be taken; TCP then
# holds the rest at the broker, and memory stays bounded whatever the broker does.
INBOX_WINDOWS = 2
INBOX_PAUSE_S = 0.005


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

    def client(self, identifier: str | None = None) -> aiomqtt.Client:
        """An aiomqtt client for publishing (devices, simulator, alert events)."""
        return aiomqtt.Client(
            self.host,
            self.port,
            username=self.username,
            password=self.password,
            identifier=identifier,
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One received message, to be acknowledged once what it carries is durable."""

    topic: str
    payload: bytes
    mid: int
    qos: int


class DurableSubscriber:
    """A persistent MQTT session whose QoS 1 messages are acknowledged by the caller.

    ``async with DurableSubscriber(...) as sub: async for d in sub: ...; sub.ack(d)``.
    The session survives disconnects and restarts (fixed client id, no clean start, a
    session expiry), so the broker keeps what was not acknowledged and redelivers it.
    """

    def __init__(
        self,
        endpoint: MqttEndpoint,
        topics: Sequence[str],
        *,
        client_id: str,
        share_group: str | None = None,
        receive_maximum: int = 1000,
        session_expiry_s: int = 7 * 86_400,
        mqtt5: bool = True,
    ) -> None:
        if share_group and not mqtt5:
            raise ValueError("shared subscriptions need MQTT 5")
        self.endpoint = endpoint
        self.mqtt5 = mqtt5
        self.topics = [f"$share/{share_group}/{t}" if share_group else t for t in topics]
        self.client_id = client_id
        self.receive_maximum = receive_maximum
        self.session_expiry_s = session_expiry_s
        self.connected = asyncio.Event()
        # paho's thread appends, the event loop pops (deque operations are thread-safe). The
        # loop is woken once per burst, not once per message: waking it costs more than the
        # message at high rates.
        self._inbox: deque[Delivery] = deque()
        self._ready = asyncio.Event()
        self._wake_pending = False
        self._wake_lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None
        self._closing = False

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5 if self.mqtt5 else paho.MQTTv311,
            # MQTT 3.1.1 has no session expiry: a persistent session is clean_session off.
            clean_session=None if self.mqtt5 else False,
            manual_ack=True,
        )
        if self.endpoint.username:
            client.username_pw_set(self.endpoint.username, self.endpoint.password)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        if self.mqtt5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self.session_expiry_s
            properties.ReceiveMaximum = self.receive_maximum
            client.connect_async(
                self.endpoint.host, self.endpoint.port, clean_start=False, properties=properties
            )
        else:
            client.connect_async(self.endpoint.host, self.endpoint.port)
        client.loop_start()
        self._client = client
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            self._closing = True
            self._client.disconnect()
            # paho's thread may sit in a reconnect back-off; do not let it hold up shutdown.
            try:
                await asyncio.wait_for(asyncio.to_thread(self._client.loop_stop), timeout=10)
            except TimeoutError:
                log.warning("the MQTT network thread did not stop within 10 s")
            self._client = None
        self.connected.clear()

    def __aiter__(self) -> AsyncIterator[Delivery]:
        return self._deliveries()

    async def _deliveries(self) -> AsyncIterator[Delivery]:
        while True:
            yield await self.next()

    async def next(self) -> Delivery:
        """The next delivery, waiting for one."""
        while True:
            if self._inbox:
                return self._inbox.popleft()
            self._ready.clear()
            if not self._inbox:  # nothing slipped in between the check and the clear
                await self._ready.wait()

    @property
    def waiting(self) -> int:
        """Deliveries received and not yet taken."""
        return len(self._inbox)

    def next_nowait(self) -> Delivery | None:
        """The next delivery if one is already here."""
        return self._inbox.popleft() if self._inbox else None

    def ack(self, delivery: Delivery) -> None:
        """Tell the broker this delivery is durable; it will not be sent again."""
        if delivery.qos > 0 and self._client is not None:
            self._client.ack(delivery.mid, delivery.qos)

    # paho calls these from its network thread.

    def _on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker %s refused the connection: %s", self.endpoint.url, reason)
            return
        client.subscribe([(topic, 1) for topic in self.topics])
        log.info("subscribed to %s on %s", ", ".join(self.topics), self.endpoint.url)
        self._call(self.connected.set)

    def _on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        if not self._closing:
            log.warning("disconnected from %s (%s); reconnecting", self.endpoint.url, reason)
        self._call(self.connected.clear)

    def _on_message(self, client: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        self._inbox.append(
            Delivery(message.topic, bytes(message.payload), message.mid, message.qos)
        )
        with self._wake_lock:
            wake, self._wake_pending = not self._wake_pending, True
        if wake:
            self._call(self._wake)
        while len(self._inbox) >= INBOX_WINDOWS * self.receive_maximum and not self._closing:
            time.sleep(INBOX_PAUSE_S)

    def _wake(self) -> None:
        with self._wake_lock:
            self._wake_pending = False
        self._ready.set()

    def _call(self, callback: Any, *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)
