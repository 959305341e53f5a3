"""The durable subscriber's queue stays bounded even when the broker overruns the window."""

from __future__ import annotations

import asyncio
import time
import uuid

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from sensors.mqtt import Delivery, DurableSubscriber, MqttEndpoint

WINDOW = 20
MESSAGES = 3000


def _publish(endpoint: MqttEndpoint, topic: str, count: int) -> None:
    client = paho.Client(CallbackAPIVersion.VERSION2)
    client.max_inflight_messages_set(100)
    client.connect(endpoint.host, endpoint.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, str(i).encode(), qos=1) for i in range(count)]
        for info in infos:
            info.wait_for_publish(timeout=30)
    finally:
        client.disconnect()
        client.loop_stop()


async def test_a_slow_consumer_that_keeps_acknowledging_holds_at_most_two_windows(
    mosquitto: MqttEndpoint,
) -> None:
    """Mosquitto 2.0.11 sends past the Receive Maximum once acknowledgements flow (this
    test's consumer saw hundreds waiting with a window of 20 before the queue bounded
    itself); every message still arrives, exactly as published."""
    topic = f"inbox/{uuid.uuid4().hex[:8]}"
    subscriber = DurableSubscriber(
        mosquitto, [topic], client_id=f"inbox-{uuid.uuid4().hex[:8]}", receive_maximum=WINDOW
    )
    async with subscriber:
        await asyncio.wait_for(subscriber.connected.wait(), 10)
        await asyncio.sleep(0.3)  # the subscription is in place
        publishing = asyncio.create_task(asyncio.to_thread(_publish, mosquitto, topic, MESSAGES))
        received: list[bytes] = []
        taken: list[Delivery] = []
        peak = 0
        deadline = time.monotonic() + 60
        while len(received) < MESSAGES and time.monotonic() < deadline:
            peak = max(peak, subscriber.waiting)
            delivery = subscriber.next_nowait()
            if delivery is None:
                await asyncio.sleep(0.001)
                continue
            received.append(delivery.payload)
            taken.append(delivery)
            if len(taken) == 10:  # acknowledged in runs, as ingest does after each commit
                for d in taken:
                    subscriber.ack(d)
                taken.clear()
                await asyncio.sleep(0.002)  # slower than the publisher: a backlog forms
        for d in taken:
            subscriber.ack(d)
        await publishing
    assert received == [str(i).encode() for i in range(MESSAGES)]
    assert peak <= 2 * WINDOW, f"{peak} messages waited"
