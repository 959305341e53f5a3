"""The in-process MQTT broker `twin demo` runs when no external broker is named.

It keeps the rules the generated Mosquitto configuration keeps (``twin.broker_config``):
no anonymous clients, a device publishes only under ``twin/v1/devices/{its id}/``, and the
twin's own account reads device topics and reads and writes ``twin/v1/buildings/``. The
accounts are the store's device credentials, checked against the same PBKDF2 hashes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from amqtt.broker import Broker
from amqtt.contexts import Action
from amqtt.errors import BrokerError
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session

from models.access import DeviceCredential
from twin.broker_config import SERVICE_USER, hash_password, verify_password


class BrokerPortError(RuntimeError):
    """The embedded broker could not listen where asked."""


class BrokerAccounts:
    """Who may connect, and what each may publish or read; changes apply at once."""

    def __init__(self, service_password: str) -> None:
        self._hashes: dict[str, str] = {SERVICE_USER: hash_password(service_password)}
        self._service_hash = self._hashes[SERVICE_USER]

    def load(self, devices: Iterable[DeviceCredential]) -> None:
        """Take the store's device credentials as they now are (revoked ones drop out)."""
        hashes = {d.device_id: d.password_hash for d in devices if d.active}
        hashes[SERVICE_USER] = self._service_hash
        self._hashes = hashes

    def verify(self, username: str | None, password: str | None) -> bool:
        hashed = self._hashes.get(username or "")
        return hashed is not None and password is not None and verify_password(password, hashed)

    def allows(self, username: str | None, topic: str, action: Action) -> bool:
        if username == SERVICE_USER:
            if action is Action.PUBLISH:
                return topic.startswith("twin/v1/buildings/")
            return topic.startswith(("twin/v1/devices/", "twin/v1/buildings/"))
        # A device publishes only its own topics and reads nothing.
        return (
            action is Action.PUBLISH
            and username is not None
            and topic.startswith(f"twin/v1/devices/{username}/")
        )


class DeviceAuthPlugin(BaseAuthPlugin):
    """amqtt authentication against ``BrokerAccounts`` (given in the plugin's config)."""

    @dataclass
    class Config:
        accounts: Any = field(default=None)

    async def authenticate(self, *, session: Session) -> bool | None:
        accounts: BrokerAccounts = self._get_config_option("accounts")
        return accounts.verify(session.username, session.password)


class DeviceTopicPlugin(BaseTopicPlugin):
    """amqtt topic checks against ``BrokerAccounts``: publish, subscribe and receive."""

    @dataclass
    class Config:
        accounts: Any = field(default=None)

    async def topic_filtering(
        self,
        *,
        session: Session | None = None,
        topic: str | None = None,
        action: Action | None = None,
    ) -> bool | None:
        accounts: BrokerAccounts = self._get_config_option("accounts")
        if session is None or topic is None or action is None:
            return False
        return accounts.allows(session.username, topic, action)


@asynccontextmanager
async def embedded_broker(host: str, port: int, accounts: BrokerAccounts) -> AsyncIterator[Broker]:
    """An amqtt broker bound to ``host:port`` (never 0.0.0.0 by default) for the demo."""
    # amqtt logs every packet at INFO; the demo's console is for people.
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {
                f"{__name__}.DeviceAuthPlugin": {"accounts": accounts},
                f"{__name__}.DeviceTopicPlugin": {"accounts": accounts},
            },
        }
    )
    try:
        await broker.start()
    except BrokerError as exc:
        raise BrokerPortError(
            f"the embedded MQTT broker cannot listen on {host}:{port} ({exc.__cause__}). "
            f"Another broker may run there: pass --mqtt-port with a free port, or "
            f"--mqtt-url mqtt://{host}:{port} to use that broker."
        ) from exc
    try:
        yield broker
    finally:
        await broker.shutdown()
