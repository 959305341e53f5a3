"""E-mail: a notice as a plain-text message, with the building snapshot attached, over SMTP."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr

import aiosmtplib

from alerts.notice import Notice
from alerts.notifiers import (
    Clock,
    Outcome,
    RecordDelivery,
    Retrier,
)
from models.alerting import ChannelType, Subscription


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to send mail. ``starttls`` upgrades a plain connection (port 587);
    ``use_tls`` speaks TLS from the start (port 465); neither sends in the clear."""

    host: str
    port: int
    sender: str
    username: str = ""
    password: str = field(default="", repr=False)
    starttls: bool = False
    use_tls: bool = False
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.starttls and self.use_tls:
            raise ValueError("choose starttls (upgrade) or use_tls (TLS from the start)")
        if not 0 < self.port < 65536:
            raise ValueError(f"SMTP port {self.port} is out of range")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")


def compose(notice: Notice, sender: str, recipient: str) -> EmailMessage:
    """The message for one notice, the snapshot PNG attached when there is one."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = notice.subject
    message["Date"] = formatdate(localtime=False)
    # The sender's domain: without one make_msgid asks DNS for this host's name, which can stall.
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message["Message-ID"] = make_msgid(domain=domain)
    message["X-Twin-Delivery"] = notice.id  # the same on every retry: lets filters drop them
    message.set_content(notice.text)
    if notice.snapshot_png:
        message.add_attachment(
            notice.snapshot_png,
            maintype="image",
            subtype="png",
            filename=f"{notice.building_id}-{notice.incident_id}.png",
        )
    return message


def _outcome(exc: aiosmtplib.SMTPException) -> Outcome:
    """Temporary (connection, timeout, a 4xx reply) or not (5xx, TLS not offered)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        replies = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return Outcome(False, f"recipient refused: {replies}", retry=all(c < 500 for c in codes))
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return Outcome(False, f"{exc.code} {exc.message}", retry=400 <= exc.code < 500)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError):
        return Outcome(False, f"timeout: {exc}", retry=True)
    if isinstance(exc, ConnectionError):  # connect failures and a dropped connection
        return Outcome(False, f"connection failed: {exc}", retry=True)
    return Outcome(False, f"{type(exc).__name__}: {exc}")


class EmailNotifier:
    """Sends each notice as its own SMTP session; nothing stays open between notices."""

    channel = ChannelType.EMAIL

    def __init__(
        self,
        settings: SmtpSettings,
        record: RecordDelivery,
        *,
        max_attempts: int = 3,
        first_backoff_s: float = 2.0,
        max_backoff_s: float = 60.0,
        clock: Clock = time.time,
    ) -> None:
        self.settings = settings
        self.retrier = Retrier(
            self.channel,
            record,
            max_attempts=max_attempts,
            first_backoff_s=first_backoff_s,
            max_backoff_s=max_backoff_s,
            clock=clock,
        )

    async def deliver(self, notice: Notice, contact: str, subscription: Subscription) -> bool:
        """Mail ``notice`` to ``contact``; retries connection failures and 4xx replies."""
        message = compose(notice, self.settings.sender, contact)
        return await self.retrier.run(
            lambda: self._send(message, contact), notice, contact, subscription
        )

    async def _send(self, message: EmailMessage, recipient: str) -> Outcome:
        s = self.settings
        try:
            _refused, reply = await aiosmtplib.send(
                message,
                sender=s.sender,
                recipients=[recipient],
                hostname=s.host,
                port=s.port,
                username=s.username or None,
                password=s.password or None,
                start_tls=s.starttls,
                use_tls=s.use_tls,
                timeout=s.timeout_s,
            )
        except aiosmtplib.SMTPException as exc:
            return _outcome(exc)
        except OSError as exc:  # e.g. a TLS handshake or a name that does not resolve
            return Outcome(False, f"connection failed: {exc}", retry=True)
        return Outcome(True, f"250 {reply}".strip())
