"""Nothing acknowledged is lost: `twin ingest` against real Mosquitto and PostgreSQL, killed.

A publisher sends QoS 1 messages and records which ones the broker acknowledged (PUBACK).
Whatever happens to ingest, the broker or the database, every reading of an acknowledged
message must end up in PostgreSQL exactly once (the primary key makes "once" structural;
the tests check "every" and "nothing else").
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from data import open_store
from models.types import Building, Channel, Sensor, SensorKind

CHANNELS = 10
T0 = time.time() - 3600.0  # readings an hour old: inside ingest's accepted time range


def moment(index: int) -> float:
    """Message ``index``'s reading time: 0.1 s apart, so 7000 messages stay in the past."""
    return round(T0 + index / 10, 3)


def building(device: str) -> Building:
    sensor = Sensor(
        id=f"{device}-s",
        kind=SensorKind.CLIMATE,
        device_id=device,
        floor=1,
        zone="north-facade",  # not "interior": no humidity rule, detection stays quiet
        position=(0.0, 0.0, 0.0),
        normal=(0.0, 0.0, 1.0),
        channels=tuple(Channel(f"{device}-s", f"m{k}", "Cel") for k in range(CHANNELS)),
    )
    return Building(
        id=f"b-{device}",
        name="Durability Hall",
        address="",
        structure_type="brick",
        noise_zone=2,
        bounds=((0.0, 0.0, 0.0), (10.0, 10.0, 10.0)),
        model="test",
        sensors=(sensor,),
    )


@dataclass
class Publisher:
    """A QoS 1 device that remembers which messages the broker acknowledged."""

    port: int
    device: str
    acked_mids: set[int] = field(default_factory=set)
    sent: dict[int, int] = field(default_factory=dict)  # paho mid -> message index
    # Never held while calling paho: paho holds its own locks while it runs on_publish.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"pub-{self.device}",
            clean_session=False,  # resend unacknowledged messages after a broker restart
        )
        self.client.max_inflight_messages_set(100)
        self.client.on_publish = self._on_publish
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        with self.lock:
            self.acked_mids.add(mid)

    @property
    def acked(self) -> set[int]:
        """Indexes of the tracked messages the broker acknowledged."""
        with self.lock:
            return {index for mid, index in self.sent.items() if mid in self.acked_mids}

    def payload(self, index: int) -> str:
        return json.dumps(
            [{"bt": moment(index), "n": f"{self.device}-s/m{k}", "u": "Cel", "v": index % 97}
             for k in range(CHANNELS)]
        )  # fmt: skip

    def publish(self, index: int) -> None:
        topic = f"twin/v1/devices/{self.device}/readings"
        info = self.client.publish(topic, self.payload(index), qos=1)
        with self.lock:
            self.sent[info.mid] = index

    def publish_many(self, count: int, rate_per_s: float, start: int = 0) -> None:
        for i in range(start, start + count):
            self.publish(i)
            time.sleep(1.0 / rate_per_s)

    def wait_until_acknowledged(self, timeout_s: float = 30) -> None:
        """Let the broker acknowledge what was sent (a broker restart may hold some back)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if self.acked_mids.issuperset(self.sent):
                    return
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def expected_rows(self) -> set[tuple[str, float]]:
        return {(f"{self.device}-s/m{k}", moment(i)) for i in self.acked for k in range(CHANNELS)}


class IngestProcess:
    """`twin ingest` as its own process, killed and restarted by the tests."""

    def __init__(
        self,
        database_url: str,
        mqtt_port: int,
        workdir: Path,
        spool_max_mb: float = 64,
        share_group: str = "",
    ) -> None:
        self.args = [
            sys.executable, "-m", "twin", "ingest", "--database-url", database_url,
            "--mqtt-url", f"mqtt://127.0.0.1:{mqtt_port}",
            "--client-id", f"ingest-{uuid.uuid4().hex[:6]}",
            "--spool-dir", str(workdir / "spool"), "--spool-max-mb", str(spool_max_mb),
            "--share-group", share_group, "-v",
        ]  # fmt: skip
        self.log = workdir / "ingest.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        starts = self._starts()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                self.args, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        deadline = time.monotonic() + 60
        while self._starts() == starts:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            assert time.monotonic() < deadline, "ingest did not start"
            time.sleep(0.1)

    def _starts(self) -> int:
        return self.log.read_text().count("Ingesting from") if self.log.exists() else 0

    def kill(self) -> None:
        assert self.proc is not None and self.proc.poll() is None, "ingest died on its own"
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def stored_rows(database_url: str) -> set[tuple[str, float]]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT c.id, extract(epoch FROM r.time)::float8 FROM readings r "
            "JOIN channels c ON c.key = r.channel_id"
        ).fetchall()
    return {(cid, round(t, 3)) for cid, t in rows}


def wait_until_stored(
    database_url: str, publisher: Publisher, timeout_s: float = 60
) -> set[tuple[str, float]]:
    publisher.wait_until_acknowledged()
    expected = publisher.expected_rows()
    deadline = time.monotonic() + timeout_s
    while True:
        stored = stored_rows(database_url)
        if expected <= stored or time.monotonic() > deadline:
            return stored
        time.sleep(0.25)


@dataclass
class Rig:
    database_url: str
    broker: Any
    ingest: IngestProcess
    publisher: Publisher
    workdir: Path

    def assert_nothing_acknowledged_lost(self) -> None:
        stored = wait_until_stored(self.database_url, self.publisher)
        expected = self.publisher.expected_rows()
        assert len(self.publisher.acked) > 0
        missing = expected - stored
        assert not missing, f"{len(missing)} acknowledged readings lost, e.g. {sorted(missing)[:3]}"
        published = {
            (f"{self.publisher.device}-s/m{k}", moment(i))
            for i in self.publisher.sent.values() for k in range(CHANNELS)
        }  # fmt: skip
        assert stored <= published, "rows that were never published"


@pytest.fixture
def rig(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    postgres_url: str,
    mosquitto_factory: Callable[..., Any],
) -> Iterator[Rig]:
    options = getattr(request, "param", {})
    broker = mosquitto_factory(persistent=True)
    broker.start()
    device = f"dev-{uuid.uuid4().hex[:6]}"

    async def register() -> None:
        async with open_store(postgres_url) as store:
            await store.put_building(building(device))

    asyncio.run(register())
    ingest = IngestProcess(postgres_url, broker.port, tmp_path, **options)
    ingest.start()
    publisher = Publisher(broker.port, device)
    try:
        yield Rig(postgres_url, broker, ingest, publisher, tmp_path)
    finally:
        publisher.close()
        ingest.stop()


def in_background(publisher: Publisher, count: int, rate_per_s: float) -> threading.Thread:
    thread = threading.Thread(target=publisher.publish_many, args=(count, rate_per_s), daemon=True)
    thread.start()
    return thread


def test_sigkill_ingest_three_times_mid_stream(rig: Rig) -> None:
    publishing = in_background(rig.publisher, 3000, rate_per_s=600)
    for _ in range(3):
        time.sleep(1.2)
        rig.ingest.kill()
        time.sleep(0.3)
        rig.ingest.start()
    publishing.join(timeout=60)
    rig.assert_nothing_acknowledged_lost()


def test_broker_restart_mid_stream(rig: Rig) -> None:
    publishing = in_background(rig.publisher, 2000, rate_per_s=500)
    time.sleep(1.5)
    rig.broker.stop()
    time.sleep(1.0)
    rig.broker.start()
    publishing.join(timeout=60)
    rig.assert_nothing_acknowledged_lost()
    assert rig.ingest.alive()


def test_database_down_for_30_s_under_load(rig: Rig, postgres: Any) -> None:
    publishing = in_background(rig.publisher, 7000, rate_per_s=200)
    time.sleep(2.0)
    postgres.stop()
    try:
        time.sleep(30.0)
        assert rig.ingest.alive()
        assert list((rig.workdir / "spool").glob("*.json")), "nothing was spooled"
    finally:
        postgres.start()
    publishing.join(timeout=60)
    rig.assert_nothing_acknowledged_lost()
    assert rig.ingest.alive()
    deadline = time.monotonic() + 30
    while list((rig.workdir / "spool").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not list((rig.workdir / "spool").glob("*.json")), "spool not replayed"


@pytest.mark.parametrize("rig", [{"spool_max_mb": 0.02}], indirect=True)
def test_full_spool_holds_back_acknowledgements(rig: Rig, postgres: Any) -> None:
    publishing = in_background(rig.publisher, 1500, rate_per_s=300)
    time.sleep(1.0)
    postgres.stop()
    try:
        time.sleep(6.0)
        assert rig.ingest.alive()
    finally:
        postgres.start()
    publishing.join(timeout=60)
    rig.assert_nothing_acknowledged_lost()
    assert "spool full" in rig.ingest.log.read_text()


def test_flood_of_invalid_messages_beside_valid_ones(rig: Rig) -> None:
    device = rig.publisher.device
    topic = f"twin/v1/devices/{device}/readings"
    bad = {
        "not_json": b"{nope",
        "not_senml": b'{"n": "x"}',
        "unknown_channel": json.dumps([{"n": "ghost/t", "u": "Cel", "v": 1}]).encode(),
        "unit_mismatch": json.dumps([{"n": f"{device}-s/m0", "u": "Pa", "v": 1}]).encode(),
        "not_finite": f'[{{"n":"{device}-s/m1","u":"Cel","v":NaN}}]'.encode(),
    }
    for i in range(200):
        rig.publisher.publish(i)
        for payload in bad.values():
            rig.publisher.client.publish(topic, payload, qos=1)
    rig.assert_nothing_acknowledged_lost()
    with psycopg.connect(rig.database_url) as conn:
        deadline = time.monotonic() + 30
        while True:
            counts = dict(
                conn.execute("SELECT reason, count(*) FROM dead_letters GROUP BY 1").fetchall()
            )
            if sum(counts.values()) >= 1000 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert counts == {
        "not_json": 200,
        "not_senml": 200,
        "unknown_channel": 200,
        "unit_mismatch": 200,
        "not_finite": 200,
    }


def test_two_instances_share_the_load_and_store_each_reading_once(rig: Rig) -> None:
    rig.ingest.stop()
    group = [
        IngestProcess(rig.database_url, rig.broker.port, rig.workdir / f"i{n}", share_group="twin")
        for n in range(2)
    ]
    for instance in group:
        instance.log.parent.mkdir()
        instance.start()
    try:
        rig.publisher.publish_many(600, rate_per_s=400)
        rig.assert_nothing_acknowledged_lost()
    finally:
        for instance in group:
            instance.stop()
    # Both did part of the work (Mosquitto deals a shared group's messages round robin).
    handled = [int(i.log.read_text().split("Stopped: ")[1].split(" messages")[0]) for i in group]
    assert min(handled) > 0 and sum(handled) == 600, handled
