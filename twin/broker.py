"""The in-process MQTT broker `twin demo` runs when no external broker is named."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from amqtt.broker import Broker


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
    await broker.start()
    try:
        yield broker
    finally:
        await broker.shutdown()
