"""The in-process MQTT broker `twin demo` runs when no external broker is named."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from amqtt.broker import Broker
from amqtt.errors import BrokerError


class BrokerPortError(RuntimeError):
    """The embedded broker could not listen where asked."""


@asynccontextmanager
async def embedded_broker(host: str, port: int) -> AsyncIterator[Broker]:
    """An amqtt broker bound to ``host:port`` (never 0.0.0.0 by default) for the demo."""
    # amqtt logs every packet at INFO; the demo's console is for people.
    logging.getLogger("amqtt").setLevel(logging.WARNING)
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
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
