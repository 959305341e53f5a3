"""Webhooks: a notice's JSON body POSTed to the subscriber's URL, signed with its secret.

The signature is ``sha256=<hex HMAC-SHA256(secret, f"{timestamp}." + body)>`` in
``X-Twin-Signature``, with the Unix time in ``X-Twin-Timestamp`` (so a receiver can refuse
replays) and the notice id in ``X-Twin-Delivery`` (so it can drop retried duplicates).
Receivers check it with ``verify``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import httpx

from alerts.notice import Notice
from alerts.notifiers import (
    Clock,
    Outcome,
    RecordDelivery,
    Retrier,
)
from models.alerting import ChannelType, Subscription

SIGNATURE_PREFIX = "sha256="


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Twin-Signature`` value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return SIGNATURE_PREFIX + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """Whether ``signature`` is ``sign(secret, timestamp, body)``, compared in constant time."""
    return hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode())


def encode_body(notice: Notice) -> bytes:
    """The exact bytes a webhook sends (and signs): compact, keys sorted."""
    return json.dumps(notice.body, separators=(",", ":"), sort_keys=True).encode()


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # absent, or an HTTP date: our own back-off will do


def _connection_detail(exc: httpx.TransportError) -> str:
    # httpx says "All connection attempts failed"; the OS error at the bottom says why.
    root: BaseException = exc
    for _ in range(10):
        below = root.__cause__ or root.__context__
        if below is None:
            break
        root = below
    if isinstance(root, ConnectionRefusedError):
        return f"connection refused: {root}"
    return f"{type(exc).__name__}: {str(root) or type(root).__name__}"


class WebhookNotifier:
    """POSTs notices with the subscription's signature; the ``client`` belongs to the caller."""

    channel = ChannelType.WEBHOOK

    def __init__(
        self,
        client: httpx.AsyncClient,
        record: RecordDelivery,
        *,
        max_attempts: int = 5,
        first_backoff_s: float = 1.0,
        max_backoff_s: float = 60.0,
        timeout_s: float = 5.0,
        clock: Clock = time.time,
    ) -> None:
        self.client = client
        self.retrier = Retrier(
            self.channel,
            record,
            max_attempts=max_attempts,
            first_backoff_s=first_backoff_s,
            max_backoff_s=max_backoff_s,
            clock=clock,
        )
        self.timeout_s = timeout_s
        self.clock = clock

    async def deliver(self, notice: Notice, contact: str, subscription: Subscription) -> bool:
        """POST ``notice.body`` to ``contact``, retrying connection errors, timeouts, 5xx and
        429; any other status below 200 or from 300 up fails at once."""
        body = encode_body(notice)

        async def attempt() -> Outcome:
            # Signed per attempt: a retry an hour later must not look like a replay.
            timestamp = str(int(self.clock()))
            headers = {
                "Content-Type": "application/json",
                "X-Twin-Delivery": notice.id,
                "X-Twin-Timestamp": timestamp,
                "X-Twin-Signature": sign(subscription.secret, timestamp, body),
            }
            return await self._post(contact, body, headers)

        return await self.retrier.run(attempt, notice, contact, subscription)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> Outcome:
        try:
            response = await self.client.post(
                url, content=body, headers=headers, timeout=self.timeout_s
            )
        except httpx.TimeoutException:
            return Outcome(False, f"timeout after {self.timeout_s:g} s", retry=True)
        except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError) as exc:
            return Outcome(False, _connection_detail(exc), retry=True)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # a bad URL or scheme: no retry
            return Outcome(False, f"{type(exc).__name__}: {exc}")
        status = response.status_code
        detail = f"HTTP {status}"
        if 200 <= status < 300:
            return Outcome(True, detail)
        if status == 429 or status >= 500:
            return Outcome(False, detail, retry=True, wait_s=_retry_after_s(response))
        reason = response.text.strip()[:200]  # the receiver's own words on why it refused
        return Outcome(False, f"{detail}: {reason}" if reason else detail)
