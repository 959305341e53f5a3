"""What every delivery channel shares: the ``Notifier`` protocol and the retry loop.

The channels themselves live in ``webhook`` (signed HTTP POST), ``email_notify`` (SMTP) and
``mqtt_notify`` (a QoS 1 publish). Each tries a notice a few times with exponential back-off
and hands every attempt, good or bad, to a ``RecordDelivery`` callback for the audit trail.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from alerts.notice import Notice
from models.alerting import ChannelType, Delivery, Subscription

RecordDelivery = Callable[[Delivery], Awaitable[None]]
Clock = Callable[[], float]

log = logging.getLogger(__name__)


class Notifier(Protocol):
    channel: ChannelType

    async def deliver(self, notice: Notice, contact: str, subscription: Subscription) -> bool:
        """Try to deliver, retrying with back-off; record EVERY attempt via the record
        callback; True if delivered."""
        ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Waits between attempts: ``first_s``, doubling up to ``max_s``, each within ±``jitter``
    (a fraction) so that many notifiers retrying one receiver do not arrive in step."""

    first_s: float = 1.0
    max_s: float = 60.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.first_s < 0 or self.max_s < self.first_s:
            raise ValueError("back-off needs 0 <= first_s <= max_s")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be a fraction in [0, 1)")

    def delay_s(self, attempt: int) -> float:
        """The wait after failed attempt number ``attempt`` (1 = the first)."""
        base = min(self.max_s, self.first_s * 2.0 ** min(attempt - 1, 62))
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one attempt went, in words for the delivery record."""

    ok: bool
    detail: str
    retry: bool = False  # a temporary failure: another attempt may work
    wait_s: float | None = None  # the receiver asked us to wait this long (Retry-After)


async def deliver_with_retries(
    attempt: Callable[[], Awaitable[Outcome]],
    *,
    notice: Notice,
    contact: str,
    subscription: Subscription,
    channel: ChannelType,
    record: RecordDelivery,
    max_attempts: int,
    backoff: Backoff,
    clock: Clock,
) -> bool:
    """Run ``attempt`` until it delivers, fails for good or ``max_attempts`` are spent,
    recording each try; ``attempt`` reports failures as an ``Outcome``, it does not raise."""
    for n in range(1, max_attempts + 1):
        started = clock()
        outcome = await attempt()
        await record(
            Delivery(
                time=started,
                subscription_id=subscription.id,
                incident_id=notice.incident_id,
                channel=channel,
                contact=contact,
                notice=notice.kind,
                attempt=n,
                ok=outcome.ok,
                detail=outcome.detail,
            )
        )
        if outcome.ok:
            return True
        # The contact stays out of the log: webhook URLs often carry a token.
        if not outcome.retry or n == max_attempts:
            log.warning(
                "gave up on %s notice %s of subscription %s after attempt %d: %s",
                channel,
                notice.id,
                subscription.id,
                n,
                outcome.detail,
            )
            return False
        log.info("%s notice %s, attempt %d failed: %s", channel, notice.id, n, outcome.detail)
        wait_s = backoff.delay_s(n)
        if outcome.wait_s is not None:
            wait_s = min(max(wait_s, outcome.wait_s), backoff.max_s)
        await asyncio.sleep(wait_s)
    return False


def check_attempts(max_attempts: int) -> int:
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    return max_attempts


class Retrier:
    """A channel's retry policy and audit trail, shared by its notices."""

    def __init__(
        self,
        channel: ChannelType,
        record: RecordDelivery,
        *,
        max_attempts: int,
        first_backoff_s: float,
        max_backoff_s: float,
        clock: Clock,
    ) -> None:
        self.channel = channel
        self.record = record
        self.max_attempts = check_attempts(max_attempts)
        self.backoff = Backoff(first_backoff_s, max_backoff_s)
        self.clock = clock

    async def run(
        self,
        attempt: Callable[[], Awaitable[Outcome]],
        notice: Notice,
        contact: str,
        subscription: Subscription,
    ) -> bool:
        """``deliver_with_retries`` under this policy."""
        return await deliver_with_retries(
            attempt,
            notice=notice,
            contact=contact,
            subscription=subscription,
            channel=self.channel,
            record=self.record,
            max_attempts=self.max_attempts,
            backoff=self.backoff,
            clock=self.clock,
        )
