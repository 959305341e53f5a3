"""Processes of `twin bench ingest`: QoS 1 publishers and a plain draining subscriber.

They run under ``multiprocessing`` (spawn), so they must be importable top-level functions.
Payloads are SenML built from per-channel templates, so publishing costs little Python.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

OUTSTANDING_MAX = 2000  # unacknowledged publishes per publisher: bounds paho's queue
VARIANTS = 16
TIME_STEP_S = 1e-4  # spacing of synthetic reading times (4 decimals survive float8)


@dataclass(frozen=True, slots=True)
class PublishPlan:
    """What one publisher sends in one phase."""

    port: int
    topic_prefix: str  # "twin/v1/devices" for ingest, another prefix for the raw subscriber
    devices: tuple[str, ...]  # device ids this publisher owns (no other publisher writes them)
    metrics: tuple[str, ...]  # metrics of each device's sensor "<device>-s"
    batched: bool  # one message per device carrying every metric, or one record per message
    duration_s: float
    rate_msgs_per_s: float | None = None  # None: as fast as the broker acknowledges
    base_time: float | None = None  # synthetic reading times from here; None: publish time


@dataclass(frozen=True, slots=True)
class PublishResult:
    messages: int
    readings: int
    started: float  # epoch seconds of the first publish
    finished: float  # epoch seconds when the broker had acknowledged the last one


def _templates(plan: PublishPlan) -> list[tuple[str, list[tuple[bytes, bytes]], int]]:
    """(topic, variants of (payload before the time, payload after it), readings) per
    message kind. Values are noise in a narrow band, cycled through VARIANTS versions, so
    detectors stay quiet (constant values would open a "stuck" alert on every channel)."""
    rng = random.Random(7)
    out = []
    for device in plan.devices:
        topic = f"{plan.topic_prefix}/{device}/readings"
        if plan.batched:
            variants = []
            for _ in range(VARIANTS):
                v = [round(20 + rng.random() * 0.5, 3) for _ in plan.metrics]
                rest = ",".join(
                    f'{{"n":"{m}","v":{x}}}' for m, x in zip(plan.metrics[1:], v[1:], strict=True)
                )
                first = f'"bn":"{device}-s/","bu":"Cel","n":"{plan.metrics[0]}","v":{v[0]}'
                head = f'[{{{first},"bt":'
                variants.append((head.encode(), f"}},{rest}]".encode()))
            out.append((topic, variants, len(plan.metrics)))
        else:
            for m in plan.metrics:
                variants = [
                    (
                        f'[{{"n":"{device}-s/{m}","u":"Cel","v":{20 + rng.random() * 0.5:.3f},'
                        '"t":'.encode(),
                        b"}]",
                    )
                    for _ in range(VARIANTS)
                ]
                out.append((topic, variants, 1))
    return out


def publish(plan: PublishPlan, go: Event, results: Queue[Any], published: Any, hold: Event) -> None:
    """Publish per ``plan`` once ``go`` is set, adding to ``published`` (readings) and
    pausing while ``hold`` is set; put a PublishResult on ``results``."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    acked = [0]
    lock = threading.Lock()

    def on_publish(*_: Any) -> None:
        with lock:
            acked[0] += 1

    client.on_publish = on_publish
    client.connect("127.0.0.1", plan.port)
    client.loop_start()
    kinds = _templates(plan)
    go.wait()
    started = time.time()
    deadline = time.monotonic() + plan.duration_s
    sent = readings = 0
    last_t = 0.0
    interval = 1.0 / plan.rate_msgs_per_s if plan.rate_msgs_per_s else 0.0
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        variant = (sent // len(kinds)) % VARIANTS
        for topic, variants, n in kinds:
            head, tail = variants[variant]
            if plan.base_time is None:
                # Live time, strictly increasing per publisher so keys never collide.
                t = max(round(time.time(), 4), round(last_t + TIME_STEP_S, 4))
                last_t = t
            else:
                t = round(plan.base_time + (sent // len(kinds)) * TIME_STEP_S, 4)
            client.publish(topic, head + repr(t).encode() + tail, qos=1)
            sent += 1
            readings += n
            if interval:
                next_at += interval
                pause = next_at - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
            while sent - acked[0] > OUTSTANDING_MAX:
                time.sleep(0.0005)
        with published.get_lock():
            published.value += sum(n for _, _, n in kinds)
        while hold.is_set() and time.monotonic() < deadline:
            time.sleep(0.002)  # the consumer's backlog is full: keep it bounded
        if plan.base_time is not None and sent // len(kinds) * TIME_STEP_S > 3000:
            break  # never run past the phase's hour of synthetic time
    while acked[0] < sent:
        time.sleep(0.001)
    finished = time.time()
    client.disconnect()
    client.loop_stop()
    results.put(PublishResult(sent, readings, started, finished))


def drain(port: int, topic_filter: str, ready: Event, counts: Any, last_at: Any) -> None:
    """A plain QoS 1 subscriber (paho acknowledges itself): counts messages, nothing else."""
    client = paho.Client(CallbackAPIVersion.VERSION2, protocol=paho.MQTTv311)

    def on_connect(c: paho.Client, *_: Any) -> None:
        c.subscribe(topic_filter, qos=1)

    def on_subscribe(*_: Any) -> None:
        ready.set()

    received = 0

    def on_message(c: paho.Client, userdata: Any, message: paho.MQTTMessage) -> None:
        nonlocal received
        received += 1
        if received % 500 == 0:
            counts.value = received
            last_at.value = time.time()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    while True:  # the parent terminates this process when it has what it needs
        client.loop(timeout=0.05)
        if counts.value != received:
            counts.value = received
            last_at.value = time.time()


def forget_session(port: int, client_id: str) -> None:
    """End a stopped subscriber's persistent session (a clean start, then a disconnect with
    no session expiry), so the broker stops queueing every later message for it."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.connect("127.0.0.1", port, clean_start=True)
    deadline = time.monotonic() + 10
    while not client.is_connected() and time.monotonic() < deadline:
        client.loop(timeout=0.1)
    client.disconnect()
