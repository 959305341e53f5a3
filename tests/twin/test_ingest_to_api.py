"""End to end on real parts: Mosquitto -> ingest -> SQLite -> detection -> alerts -> API."""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import trimesh
from prometheus_client.parser import text_string_to_metric_families

from alerts.manager import AlertManager
from alerts.rules import load_rules
from data import Store, open_store
from models.access import Role
from models.types import AlertState, Building, Channel, Reading
from sensors.mqtt import MqttEndpoint
from twin.app import create_app
from twin.context import TwinContext
from twin.pipeline import Pipeline

NOW = 1_800_000_000.0  # a fixed clock: 2027-01-15 08:00 UTC, 16:00 in Shanghai (daytime)


@dataclass
class Twin:
    store: Store
    endpoint: MqttEndpoint
    device: str
    building: Building
    ingest: object
    api: httpx.AsyncClient
    pipeline: Pipeline

    async def publish(
        self, payload: bytes | str, device: str | None = None, kind: str = "readings"
    ) -> None:
        proc = await asyncio.create_subprocess_exec(
            "mosquitto_pub", "-h", self.endpoint.host, "-p", str(self.endpoint.port), "-q", "1",
            "-t", f"twin/v1/devices/{device or self.device}/{kind}", "-m", payload,
        )  # fmt: skip
        assert await asyncio.wait_for(proc.wait(), 10) == 0

    async def wait_for(self, path: str, predicate, timeout_s: float = 5.0):  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout_s):
            while True:
                body = (await self.api.get(path)).json()
                if predicate(body):
                    return body
                await asyncio.sleep(0.05)


@pytest.fixture
async def twin(
    mosquitto: MqttEndpoint, tmp_path: Path, make_hall: Callable[[str], Building], grant: Any
) -> AsyncIterator[Twin]:
    device = f"dev-{uuid.uuid4().hex[:8]}"
    building = make_hall(device)
    async with open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store:
        alerts = AlertManager(save=store.save_alert, hold_off_s=600)
        pipeline = Pipeline(store, load_rules(), alerts)
        await pipeline.add_building(building)
        ingest = pipeline.ingest(
            mosquitto,
            spool_dir=tmp_path / "spool",
            clock=lambda: NOW,
            client_id=f"ingest-{device}",
        )
        context = TwinContext(
            store=store,
            pipeline=pipeline,
            clock=lambda: NOW,
            broker_connected=ingest.connected.is_set,
            ingest=ingest,
            mqtt_url=mosquitto.url,
            meshes={"test:box": trimesh.creation.box(bounds=[[0, 0, 0], [20, 10, 30]])},
        )
        task = asyncio.create_task(ingest.run())
        await asyncio.wait_for(ingest.connected.wait(), 10)
        transport = httpx.ASGITransport(app=create_app(context))
        headers = await grant(store, Role.VIEWER)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://twin", headers=headers
        ) as api:
            yield Twin(store, mosquitto, device, building, ingest, api, pipeline)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_published_reading_is_stored_and_visible(twin: Twin) -> None:
    d = twin.device
    await twin.publish(
        json.dumps(
            [
                {"bn": f"{d}-th/", "bt": NOW - 60, "n": "t", "u": "Cel", "v": 21.5},
                {"n": "rh", "u": "%RH", "v": 64},
            ]
        )
    )
    readings = await twin.wait_for(
        f"/api/v1/channels/{d}-th/t/readings?start={NOW - 120:.0f}&end=2027-01-15T08:00:01Z",
        lambda body: len(body) == 1,
    )
    assert readings == [{"time": "2027-01-15T07:59:00Z", "value": 21.5}]
    state = {
        s["channel_id"]: s
        for s in (await twin.api.get(f"/api/v1/buildings/{twin.building.id}/state")).json()
    }
    assert state[f"{d}-th/rh"]["value"] == 64 and state[f"{d}-th/rh"]["status"] == "ok"
    assert state[f"{d}-tilt/x"]["status"] == "no_data"


async def test_bad_message_beside_good_one_costs_nothing(twin: Twin) -> None:
    d = twin.device
    await twin.publish(b"{this is not json")
    await twin.publish(
        json.dumps(
            [
                {"n": f"{d}-th/t", "u": "Cel", "v": 20.0},
                {"n": f"{d}-th/t", "u": "Cel", "v": float("nan")},
                {"n": f"{d}-th/rh", "u": "Cel", "v": 50},
                {"n": "ghost/t", "u": "Cel", "v": 1},
                {"n": f"{d}-th/rh", "u": "%RH", "v": 55, "t": -30},
            ],
            allow_nan=True,
        )
    )
    await twin.publish(json.dumps([{"n": f"{d}-th/t", "u": "Cel", "v": 5}]), device="intruder")
    letters = await twin.wait_for("/api/v1/dead-letters", lambda body: len(body) >= 5)
    reasons = sorted(
        letter["reason"]
        for letter in letters
        if d in letter["payload"] or letter["device_id"] in (d, "intruder")
    )
    assert reasons == ["not_finite", "not_json", "unit_mismatch", "unknown_channel", "wrong_device"]
    counts = (await twin.api.get("/api/v1/dead-letters/counts")).json()
    assert counts["not_json"] >= 1 and counts["wrong_device"] >= 1
    only = (await twin.api.get("/api/v1/dead-letters?reason=wrong_device")).json()
    assert {letter["reason"] for letter in only} == {"wrong_device"}
    assert await twin.store.readings(f"{d}-th/t", NOW - 1, NOW + 1) != []
    rh = await twin.store.readings(f"{d}-th/rh", NOW - 60, NOW)
    assert [r.value for r in rh] == [55.0]
    health = (await twin.api.get("/healthz")).json()
    assert health["status"] == "ok" and health["broker"] == "connected"


async def test_hazardous_reading_opens_an_alert(twin: Twin) -> None:
    d = twin.device
    await twin.publish(
        json.dumps(
            [
                {"n": f"{d}-tilt/x", "u": "mrad", "v": 3.4, "t": -120},
                {"n": f"{d}-tilt/y", "u": "mrad", "v": 0.1, "t": -120},
            ]
        )
    )
    alerts = await twin.wait_for(
        f"/api/v1/alerts?building_id={twin.building.id}", lambda body: len(body) == 1
    )
    (alert,) = alerts
    assert alert["state"] == "open" and alert["severity"] == "alarm"
    assert alert["rule_id"] == "tilt-limit" and alert["sensor_id"] == f"{d}-tilt"
    assert alert["limit"] == 3.0 and "GB 50007" in alert["message"]
    state = (await twin.api.get(f"/api/v1/buildings/{twin.building.id}/state")).json()
    assert {
        s["status"] for s in state if s["sensor_id"] == f"{d}-tilt" and s["value"] is not None
    } == {"alarm"}
    # Clear for longer than the hold-off: the alert resolves.
    await twin.publish(
        json.dumps([{"n": f"{d}-tilt/x", "u": "mrad", "v": 0.2, "t": t} for t in (-60, 0)])
    )
    await asyncio.sleep(0)
    assert (await twin.store.alerts(state=AlertState.OPEN)) != []  # 120 s < 600 s hold-off


async def test_api_errors_say_what_to_do(twin: Twin) -> None:
    assert (await twin.api.get("/api/v1/buildings/nope")).status_code == 404
    missing = await twin.api.get("/api/v1/channels/nope/x/readings")
    assert missing.status_code == 404 and "sensor/metric" in missing.json()["detail"]
    bad_time = await twin.api.get(f"/api/v1/channels/{twin.device}-th/t/readings?start=yesterday")
    assert bad_time.status_code == 422 and "ISO 8601" in bad_time.json()["detail"]
    buildings = (await twin.api.get("/api/v1/buildings")).json()
    assert [b["id"] for b in buildings] == [twin.building.id]
    detail = (await twin.api.get(f"/api/v1/buildings/{twin.building.id}")).json()
    assert detail["bounds"] == [[0, 0, 0], [20, 10, 30]]
    assert {c["id"] for s in detail["sensors"] for c in s["channels"]} >= {f"{twin.device}-tilt/x"}


async def test_series_summarises_per_bucket(twin: Twin) -> None:
    d = twin.device
    base = NOW - 7200
    await twin.store.write_readings(
        [Reading(f"{d}-th/t", base + s, v) for s, v in ((0, 10.0), (30, 20.0), (90, 30.0))]
    )
    series = (
        await twin.api.get(
            f"/api/v1/channels/{d}-th/t/series?start={base:.0f}&end={NOW:.0f}&bucket=1m"
        )
    ).json()
    assert series["bucket"] == "1m"
    assert [(p["value"], p["min"], p["max"], p["count"]) for p in series["points"]] == [
        (15.0, 10.0, 20.0, 2),
        (30.0, 30.0, 30.0, 1),
    ]
    auto = (
        await twin.api.get(f"/api/v1/channels/{d}-th/t/series?start={base:.0f}&end={NOW:.0f}")
    ).json()
    assert auto["bucket"] == "raw" and len(auto["points"]) == 3
    week = (
        await twin.api.get(f"/api/v1/channels/{d}-th/t/series?start={NOW - 5 * 86400:.0f}")
    ).json()
    assert week["bucket"] == "1m"


async def test_waveform_block_is_kept_raw_and_its_features_become_readings(twin: Twin) -> None:
    d = twin.device
    t0 = NOW - 30
    samples = [round(1.2 * math.sin(2 * math.pi * 2.5 * k / 200), 6) for k in range(1024)]
    block = {"sensor": f"{d}-vib", "axis": "z", "t0": t0, "rate_hz": 200, "unit": "mm/s"}
    await twin.publish(json.dumps({**block, "samples": samples}), kind="waveform")
    await twin.publish(json.dumps({**block, "samples": samples[:4]}), kind="waveform")
    ppv = await twin.wait_for(
        f"/api/v1/channels/{d}-vib/ppv_z/readings?start={t0 - 1:.0f}&end={NOW:.0f}",
        lambda body: isinstance(body, list) and len(body) == 1,
    )
    assert abs(ppv[0]["value"] - 1.2) < 0.01
    f1 = (await twin.api.get(f"/api/v1/channels/{d}-vib/f1_z/readings?start={t0 - 1:.0f}")).json()
    assert abs(f1[0]["value"] - 2.5) < 0.8  # Welch resolution: 200 Hz / 256 samples
    (raw,) = await twin.store.waveforms(f"{d}-vib", t0 - 1, NOW)
    assert raw.rate_hz == 200 and len(raw.samples) == 1024
    detail = (await twin.api.get(f"/api/v1/buildings/{twin.building.id}")).json()
    vib = next(s for s in detail["sensors"] if s["id"] == f"{d}-vib")
    assert {c["metric"] for c in vib["channels"]} == {"ppv", "ppv_z", "rms_z", "f1_z"}
    letters = await twin.wait_for(
        "/api/v1/dead-letters?reason=bad_record", lambda body: any(d in x["payload"] for x in body)
    )
    assert "samples" in letters[0]["detail"]


async def test_a_batch_the_store_refuses_is_set_aside_and_ingest_goes_on(
    twin: Twin, tmp_path: Path
) -> None:
    d = twin.device
    # A channel the pipeline accepts but the store never registered: the store refuses the
    # batch (a data error, not an outage). It shares one message with a valid record.
    ghost_sensor = replace(
        twin.building.sensors[1], id=f"{d}-ghost", channels=(Channel(f"{d}-ghost", "t", "Cel"),)
    )
    twin.pipeline.watch(replace(twin.building, id=f"ghost-{d}", sensors=(ghost_sensor,)))
    await twin.publish(
        json.dumps(
            [
                {"n": f"{d}-ghost/t", "u": "Cel", "v": 1},
                {"n": f"{d}-th/t", "u": "Cel", "v": 19.5, "t": -5},
            ]
        )
    )
    readings = await twin.wait_for(
        f"/api/v1/channels/{d}-th/t/readings?start={NOW - 10:.0f}&end={NOW:.0f}",
        lambda body: len(body) == 1,
    )
    assert readings[0]["value"] == 19.5
    (kept,) = (tmp_path / "spool" / "failed").glob("*.json")
    assert f"{d}-ghost/t" in kept.read_text() and f"{d}-th/t" not in kept.read_text()
    assert "UnknownChannelError" in kept.with_suffix(".why.txt").read_text()


async def test_times_that_are_no_times_are_refused(twin: Twin) -> None:
    for bad in ("nan", "inf", "1e20", "-5"):
        response = await twin.api.get(f"/api/v1/channels/{twin.device}-th/t/readings?start={bad}")
        assert response.status_code == 422, bad


async def test_metrics_and_readiness_tell_what_happened(twin: Twin) -> None:
    d = twin.device
    await twin.publish(b"{this is not json")
    await twin.publish(json.dumps([{"n": f"{d}-tilt/x", "u": "mrad", "v": 3.4, "t": -60}]))
    await twin.wait_for("/api/v1/alerts", lambda body: len(body) == 1)
    text = (await twin.api.get("/metrics")).text
    figures = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert figures[("twin_readings_stored_total", ())] >= 1
    assert figures[("twin_rejected_total", (("reason", "not_json"),))] == 1
    assert figures[("twin_open_alerts", (("severity", "alarm"), ("state", "open")))] == 1
    assert figures[("twin_open_incidents", ())] == 1
    assert figures[("twin_broker_connected", ())] == 1
    assert figures[("twin_spool_segments", ())] == 0
    ready = await twin.api.get("/readyz")
    assert ready.status_code == 200 and ready.json()["broker"] == "connected"
    anonymous = await twin.api.get("/metrics", headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def test_not_ready_while_the_broker_is_away(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store:
        pipeline = await Pipeline.open(store, load_rules())
        context = TwinContext(store=store, pipeline=pipeline, clock=lambda: NOW)
        transport = httpx.ASGITransport(app=create_app(context))
        async with httpx.AsyncClient(transport=transport, base_url="http://twin") as api:
            ready = await api.get("/readyz")
            assert ready.status_code == 503
            assert ready.json() == {
                "status": "degraded",
                "database": "ok",
                "broker": "disconnected",
                "mqtt_url": "",
            }
            assert (await api.get("/healthz")).status_code == 200
