"""Delivery channels against real servers: HTTP on loopback, aiosmtpd, Mosquitto."""

from __future__ import annotations

import asyncio
import email
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import aiomqtt
import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from hypothesis import assume, given
from hypothesis import strategies as st

from alerts.email_notify import EmailNotifier, SmtpSettings, compose
from alerts.mqtt_notify import MqttNotifier, default_topic
from alerts.notice import Notice
from alerts.notifiers import Backoff
from alerts.webhook import WebhookNotifier, encode_body, sign, verify
from models.alerting import ChannelType, Delivery, Subscription
from sensors.mqtt import MqttEndpoint

SECRET = "s3cret-webhook-key"
NOW = 1_700_000_000.0
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # a PNG signature and some bytes to carry
FAST_S = 0.01  # back-off in tests


def notice(building_id: str = "nanjing-drum-tower", png: bytes | None = PNG) -> Notice:
    return Notice(
        id=uuid.uuid4().hex,
        subscription_id="sub-1",
        incident_id="inc-7",
        building_id=building_id,
        kind="opened",
        subject="ALARM: tilt at the north-east pier",
        text="Tilt 3.2 mrad at tilt-ne exceeds 3.0 mrad (GB 50007-2011).",
        body={"incident_id": "inc-7", "severity": "alarm", "snapshot_url": "/s/inc-7.png"},
        snapshot_png=png,
    )


def subscription(channel: ChannelType, contact: str) -> Subscription:
    return Subscription(
        id="sub-1", name="site office", channel=channel, contacts=(contact,), secret=SECRET
    )


class Recorder:
    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []

    async def __call__(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)

    @property
    def oks(self) -> list[bool]:
        return [d.ok for d in self.deliveries]


# --- Webhook ---------------------------------------------------------------------------------


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class HttpReceiver:
    """A minimal HTTP/1.1 server: one request per connection, answered with the next of
    ``statuses`` (the last one repeats), or never answered when ``hang`` is set."""

    statuses: list[int] = field(default_factory=lambda: [200])
    hang: bool = False
    requests: list[Request] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1]
            pairs = (line.split(":", 1) for line in head[1:] if line)
            headers = {name.strip().lower(): value.strip() for name, value in pairs}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Request(path, headers, body))
            if self.hang:
                await self.released.wait()
                return
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            reason = b"refused: bad payload" if status == 400 else b""
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: {len(reason)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + reason
            )
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False) as client:  # no proxy for loopback
        yield client


async def serving(receiver: HttpReceiver) -> tuple[asyncio.Server, str]:
    server = await asyncio.start_server(receiver.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/hooks/twin"


@pytest.fixture
async def receiver() -> AsyncIterator[Callable[..., Any]]:
    made: list[tuple[HttpReceiver, asyncio.Server]] = []

    async def make(**options: Any) -> tuple[HttpReceiver, str]:
        receiver = HttpReceiver(**options)
        server, url = await serving(receiver)
        made.append((receiver, server))
        return receiver, url

    yield make
    for receiver, server in made:
        receiver.released.set()
        server.close()
        await server.wait_closed()


async def test_webhook_posts_the_signed_body(receiver: Any, http_client: httpx.AsyncClient) -> None:
    server, url = await receiver()
    record = Recorder()
    sent = notice()
    notifier = WebhookNotifier(http_client, record, clock=lambda: NOW, first_backoff_s=FAST_S)
    assert await notifier.deliver(sent, url, subscription(ChannelType.WEBHOOK, url))

    [request] = server.requests
    assert request.path == "/hooks/twin"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-twin-delivery"] == sent.id
    assert request.headers["x-twin-timestamp"] == "1700000000"
    signed = hmac.new(SECRET.encode(), b"1700000000." + request.body, hashlib.sha256)
    assert request.headers["x-twin-signature"] == f"sha256={signed.hexdigest()}"  # the wire format
    assert verify(SECRET, "1700000000", request.body, request.headers["x-twin-signature"])
    assert not verify(
        "another key", "1700000000", request.body, request.headers["x-twin-signature"]
    )
    assert request.body == encode_body(sent) and json.loads(request.body) == sent.body
    assert b"PNG" not in request.body  # the snapshot goes by URL, not in the body

    [delivery] = record.deliveries
    assert delivery == Delivery(
        NOW, "sub-1", "inc-7", ChannelType.WEBHOOK, url, "opened", 1, True, "HTTP 200"
    )


async def test_webhook_retries_5xx_and_429_until_delivered(
    receiver: Any, http_client: httpx.AsyncClient
) -> None:
    server, url = await receiver(statuses=[503, 429, 200])
    record = Recorder()
    notifier = WebhookNotifier(http_client, record, first_backoff_s=FAST_S)
    assert await notifier.deliver(notice(), url, subscription(ChannelType.WEBHOOK, url))
    assert len(server.requests) == 3
    assert [(d.attempt, d.ok, d.detail) for d in record.deliveries] == [
        (1, False, "HTTP 503"),
        (2, False, "HTTP 429"),
        (3, True, "HTTP 200"),
    ]
    # every retry carries the same notice id, so the receiver can drop duplicates
    assert len({r.headers["x-twin-delivery"] for r in server.requests}) == 1


async def test_webhook_gives_up_at_once_on_400(
    receiver: Any, http_client: httpx.AsyncClient
) -> None:
    server, url = await receiver(statuses=[400])
    record = Recorder()
    notifier = WebhookNotifier(http_client, record, first_backoff_s=FAST_S)
    assert not await notifier.deliver(notice(), url, subscription(ChannelType.WEBHOOK, url))
    assert len(server.requests) == 1
    assert [d.detail for d in record.deliveries] == ["HTTP 400: refused: bad payload"]


async def test_webhook_gives_up_after_max_attempts_of_5xx(
    receiver: Any, http_client: httpx.AsyncClient
) -> None:
    server, url = await receiver(statuses=[500])
    record = Recorder()
    notifier = WebhookNotifier(http_client, record, max_attempts=3, first_backoff_s=FAST_S)
    assert not await notifier.deliver(notice(), url, subscription(ChannelType.WEBHOOK, url))
    assert len(server.requests) == 3 and record.oks == [False, False, False]


async def test_webhook_to_a_dead_port_records_every_attempt(
    http_client: httpx.AsyncClient, port_factory: Callable[[], int]
) -> None:
    url = f"http://127.0.0.1:{port_factory()}/hook"
    record = Recorder()
    notifier = WebhookNotifier(http_client, record, max_attempts=3, first_backoff_s=FAST_S)
    assert not await notifier.deliver(notice(), url, subscription(ChannelType.WEBHOOK, url))
    assert [d.attempt for d in record.deliveries] == [1, 2, 3]
    assert record.oks == [False] * 3
    assert all(d.detail.startswith("connection refused") for d in record.deliveries)


async def test_webhook_to_a_server_that_never_answers_times_out(
    receiver: Any, http_client: httpx.AsyncClient
) -> None:
    server, url = await receiver(hang=True)
    record = Recorder()
    notifier = WebhookNotifier(
        http_client, record, max_attempts=2, timeout_s=0.2, first_backoff_s=FAST_S
    )
    assert not await notifier.deliver(notice(), url, subscription(ChannelType.WEBHOOK, url))
    assert len(server.requests) == 2
    assert [d.detail for d in record.deliveries] == ["timeout after 0.2 s"] * 2


async def test_a_failing_record_callback_is_not_swallowed(
    receiver: Any, http_client: httpx.AsyncClient
) -> None:
    _, url = await receiver()

    async def broken(delivery: Delivery) -> None:
        raise RuntimeError("store down")

    notifier = WebhookNotifier(http_client, broken, first_backoff_s=FAST_S)
    with pytest.raises(RuntimeError, match="store down"):
        await notifier.deliver(notice(), url, subscription(ChannelType.WEBHOOK, url))


@given(
    secret=st.text(max_size=40),
    timestamp=st.integers(min_value=0, max_value=2**40).map(str),
    body=st.binary(max_size=200),
    other_timestamp=st.integers(min_value=0, max_value=2**40).map(str),
    other_body=st.binary(max_size=200),
)
def test_only_the_signed_timestamp_and_body_verify(
    secret: str, timestamp: str, body: bytes, other_timestamp: str, other_body: bytes
) -> None:
    signature = sign(secret, timestamp, body)
    assert signature.startswith("sha256=") and len(signature) == len("sha256=") + 64
    assert verify(secret, timestamp, body, signature)
    assume(other_timestamp != timestamp and other_body != body)
    assert not verify(secret, other_timestamp, body, signature)
    assert not verify(secret, timestamp, other_body, signature)
    assert not verify(secret + "x", timestamp, body, signature)
    assert not verify(secret, timestamp, body, signature[:-1])


def test_backoff_doubles_up_to_its_cap_with_a_little_jitter() -> None:
    backoff = Backoff(first_s=1.0, max_s=10.0, jitter=0.1)
    for attempt, base in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (80, 10.0)]:
        assert 0.9 * base <= backoff.delay_s(attempt) <= 1.1 * base


# --- E-mail ----------------------------------------------------------------------------------


class Inbox:
    """An aiosmtpd handler keeping what it accepts; ``data_replies`` answer DATA in turn."""

    def __init__(self, data_replies: list[str] | None = None) -> None:
        self.data_replies = data_replies or []
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        self.envelopes.append(envelope)
        return "250 2.0.0 queued"

    def messages(self) -> list[EmailMessage]:
        return [
            email.message_from_bytes(e.original_content or b"", policy=default_policy)
            for e in self.envelopes
        ]


@pytest.fixture
def smtp(port_factory: Callable[[], int]) -> Iterator[Callable[..., tuple[Inbox, SmtpSettings]]]:
    controllers: list[Controller] = []

    def start(data_replies: list[str] | None = None) -> tuple[Inbox, SmtpSettings]:
        inbox = Inbox(data_replies)
        controller = Controller(inbox, hostname="127.0.0.1", port=port_factory())
        controller.start()
        controllers.append(controller)
        return inbox, SmtpSettings("127.0.0.1", controller.port, "twin@example.org", timeout_s=5)

    yield start
    for controller in controllers:
        controller.stop()


async def test_email_carries_subject_text_and_snapshot(smtp: Any) -> None:
    inbox, settings = smtp()
    record = Recorder()
    sent = notice()
    notifier = EmailNotifier(settings, record, first_backoff_s=FAST_S)
    contact = "warden@example.org"
    assert await notifier.deliver(sent, contact, subscription(ChannelType.EMAIL, contact))

    [envelope] = inbox.envelopes
    assert envelope.mail_from == "twin@example.org" and envelope.rcpt_tos == [contact]
    [message] = inbox.messages()
    assert message["Subject"] == sent.subject and message["To"] == contact
    assert message["X-Twin-Delivery"] == sent.id
    text = message.get_body(("plain",))
    assert text is not None and text.get_content().strip() == sent.text
    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "image/png"
    assert attachment.get_filename() == "nanjing-drum-tower-inc-7.png"
    assert attachment.get_content() == PNG
    assert [(d.channel, d.ok, d.detail) for d in record.deliveries] == [
        (ChannelType.EMAIL, True, "250 2.0.0 queued")
    ]


def test_email_without_a_snapshot_is_plain_text() -> None:
    message = compose(notice(png=None), "twin@example.org", "warden@example.org")
    assert message.get_content_type() == "text/plain"
    assert not list(message.iter_attachments())


async def test_email_retries_a_temporary_failure(smtp: Any) -> None:
    inbox, settings = smtp(data_replies=["451 4.3.0 try again later"])
    record = Recorder()
    notifier = EmailNotifier(settings, record, first_backoff_s=FAST_S)
    contact = "warden@example.org"
    assert await notifier.deliver(notice(), contact, subscription(ChannelType.EMAIL, contact))
    assert len(inbox.envelopes) == 1
    assert [(d.attempt, d.ok) for d in record.deliveries] == [(1, False), (2, True)]
    assert record.deliveries[0].detail.startswith("451 4.3.0 try again later")


async def test_email_gives_up_on_a_refused_recipient(smtp: Any) -> None:
    inbox, settings = smtp()
    record = Recorder()
    notifier = EmailNotifier(settings, record, first_backoff_s=FAST_S)
    contact = "nobody@example.org"
    assert not await notifier.deliver(notice(), contact, subscription(ChannelType.EMAIL, contact))
    assert not inbox.envelopes
    [delivery] = record.deliveries
    assert "550 5.1.1 no such user" in delivery.detail


async def test_email_to_a_closed_port_records_every_attempt(
    port_factory: Callable[[], int],
) -> None:
    settings = SmtpSettings("127.0.0.1", port_factory(), "twin@example.org", password="hunter2")
    record = Recorder()
    notifier = EmailNotifier(settings, record, max_attempts=2, first_backoff_s=FAST_S)
    contact = "warden@example.org"
    assert not await notifier.deliver(notice(), contact, subscription(ChannelType.EMAIL, contact))
    assert [(d.attempt, d.ok) for d in record.deliveries] == [(1, False), (2, False)]
    assert all(d.detail.startswith("connection failed") for d in record.deliveries)
    assert "hunter2" not in repr(settings)


def test_smtp_settings_refuse_both_tls_modes() -> None:
    with pytest.raises(ValueError, match="starttls"):
        SmtpSettings("mail", 465, "twin@example.org", starttls=True, use_tls=True)


# --- MQTT ------------------------------------------------------------------------------------


async def next_payload(subscriber: aiomqtt.Client) -> Any:
    async with asyncio.timeout(5):
        async for message in subscriber.messages:
            assert isinstance(message.payload, bytes)
            return json.loads(message.payload)
    raise AssertionError("the subscription ended")


@pytest.mark.mosquitto
async def test_mqtt_publishes_to_the_building_topic(mosquitto: MqttEndpoint) -> None:
    building = f"b-{uuid.uuid4().hex[:8]}"  # a topic of this test's own
    sent = notice(building)
    record = Recorder()
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as subscriber:
        await subscriber.subscribe(default_topic(building), qos=1)
        async with MqttNotifier(
            mosquitto.host,
            mosquitto.port,
            record,
            client_id=f"alerts-{building}",
            first_backoff_s=FAST_S,
        ) as notifier:
            assert await notifier.deliver(sent, "", subscription(ChannelType.MQTT, ""))
            assert await notifier.deliver(sent, "", subscription(ChannelType.MQTT, ""))
        assert await next_payload(subscriber) == sent.body
        assert await next_payload(subscriber) == sent.body  # over the same connection
    assert [(d.channel, d.ok) for d in record.deliveries] == [(ChannelType.MQTT, True)] * 2


@pytest.mark.mosquitto
async def test_mqtt_publishes_to_the_contact_topic(mosquitto: MqttEndpoint) -> None:
    topic = f"site/{uuid.uuid4().hex[:8]}/alarms"
    sent = notice()
    record = Recorder()
    async with aiomqtt.Client(mosquitto.host, mosquitto.port) as subscriber:
        await subscriber.subscribe(topic, qos=1)
        async with MqttNotifier(
            mosquitto.host, mosquitto.port, record, first_backoff_s=FAST_S
        ) as notifier:
            assert await notifier.deliver(sent, topic, subscription(ChannelType.MQTT, topic))
        assert await next_payload(subscriber) == sent.body


async def test_mqtt_broker_down_records_every_attempt(port_factory: Callable[[], int]) -> None:
    record = Recorder()
    async with MqttNotifier(
        "127.0.0.1", port_factory(), record, first_backoff_s=FAST_S
    ) as notifier:
        assert not await notifier.deliver(notice(), "", subscription(ChannelType.MQTT, ""))
    assert [(d.attempt, d.ok) for d in record.deliveries] == [(1, False), (2, False), (3, False)]
    assert all(d.detail.startswith("broker unreachable") for d in record.deliveries)


@pytest.mark.mosquitto
async def test_mqtt_reconnects_after_the_broker_comes_back(
    mosquitto_factory: Callable[..., Any],
) -> None:
    broker = mosquitto_factory()
    broker.start()
    building = f"b-{uuid.uuid4().hex[:8]}"
    sub = subscription(ChannelType.MQTT, "")
    record = Recorder()
    async with MqttNotifier(
        "127.0.0.1", broker.port, record, max_attempts=2, timeout_s=2, first_backoff_s=FAST_S
    ) as notifier:
        assert await notifier.deliver(notice(building), "", sub)
        await asyncio.to_thread(broker.stop)
        assert not await notifier.deliver(notice(building), "", sub)
        await asyncio.to_thread(broker.start)
        async with aiomqtt.Client("127.0.0.1", broker.port) as subscriber:
            await subscriber.subscribe(default_topic(building), qos=1)
            sent = notice(building)
            assert await notifier.deliver(sent, "", sub)
            assert await next_payload(subscriber) == sent.body
    assert record.oks == [True, False, False, True]
    # the first failure is on the old connection, the second a fresh attempt to connect
    assert record.deliveries[1].detail.startswith(f"publish to {default_topic(building)} failed")
    assert record.deliveries[2].detail.startswith("broker unreachable")


async def test_mqtt_notifier_outside_its_context_refuses() -> None:
    notifier = MqttNotifier("127.0.0.1", 1, Recorder())
    with pytest.raises(RuntimeError, match="async with"):
        await notifier.deliver(notice(), "", subscription(ChannelType.MQTT, ""))
