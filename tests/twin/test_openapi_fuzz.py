"""Schemathesis over the OpenAPI document: generated requests (valid and invalid) to every
documented operation of a served twin, with an admin's token. No answer may be a 5xx, and
every documented answer must match its schema.

Left out: ``GET /api/v1/stream`` (Server-Sent Events: the answer never ends, so there is no
body to check; tests/twin/test_alert_workflow.py reads it) and ``GET /viewer`` (a redirect
to the trame app, which this twin does not run: it would answer 503 by design; tests/ui
covers it), and ``GET /readyz`` (no broker here, so it answers 503 by design;
tests/twin/test_ingest_to_api.py checks both answers). Each operation gets a bounded
number of examples, so the whole run stays short.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import trimesh
import uvicorn
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from alerts.manager import AlertManager
from alerts.rules import load_rules
from data import open_store
from data.sqlite import SqliteStore
from models.access import Role
from models.types import Alert, AlertState, Building, Channel, Reading, Sensor, SensorKind, Severity
from twin.app import create_app
from twin.auth import issue_token
from twin.context import TwinContext
from twin.pipeline import Pipeline

# The suite runs a fixed, quick sample; TWIN_FUZZ_EXAMPLES=200 explores further, at random.
EXPLORE = int(os.environ.get("TWIN_FUZZ_EXAMPLES", "0"))
EXCLUDED = {"/api/v1/stream", "/viewer", "/readyz"}


def _hall() -> Building:
    sensor = Sensor(
        id="tilt-a",
        kind=SensorKind.TILT,
        device_id="dev-1",
        floor=1,
        zone="corner-ne",
        position=(20.0, 0.0, 2.0),
        normal=(0.0, -1.0, 0.0),
        channels=(Channel("tilt-a", "x", "mrad"),),
    )
    return Building(
        id="hall",
        name="Hall",
        address="1 Test Road",
        structure_type="brick",
        noise_zone=2,
        bounds=((0.0, 0.0, 0.0), (20.0, 10.0, 30.0)),
        model="test:box",
        sensors=(sensor,),
    )


class FuzzedTwin(threading.Thread):
    """A twin API over a small seeded SQLite store, served from its own event loop."""

    def __init__(self, db: Path, port: int) -> None:
        super().__init__(daemon=True)
        self.db, self.url = db, f"http://127.0.0.1:{port}"
        self.port = port
        self.server: uvicorn.Server | None = None
        self.token = ""
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by the fixture
            self.failure = exc

    async def _serve(self) -> None:
        now = time.time()
        async with open_store(f"sqlite:///{self.db}") as store:
            await store.put_building(_hall())
            await store.write_readings([Reading("tilt-a/x", now - 60 * i, 0.5) for i in range(30)])
            await store.save_alert(
                Alert(
                    id="alert-1",
                    building_id="hall",
                    sensor_id="tilt-a",
                    channel_id="tilt-a/x",
                    rule_id="tilt-limit",
                    state=AlertState.OPEN,
                    severity=Severity.WARNING,
                    opened_at=now - 600,
                    updated_at=now - 600,
                    value=2.5,
                    worst_value=2.5,
                    limit=3.0,
                    standard="GB 50007-2011",
                    message="tilt",
                )
            )
            _, self.token = await issue_token(store, "fuzzer", Role.ADMIN, now)
            pipeline = await Pipeline.open(store)
            box = trimesh.creation.box(bounds=[[0, 0, 0], [20, 10, 30]])
            context = TwinContext(
                store=store,
                pipeline=pipeline,
                clock=time.time,
                meshes={"test:box": box},
                meshes_dir=self.db.parent / "meshes",
            )
            config = uvicorn.Config(
                create_app(context), host="127.0.0.1", port=self.port, log_level="critical"
            )
            self.server = uvicorn.Server(config)
            await self.server.serve()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, port_factory: Any) -> Iterator[FuzzedTwin]:
    twin = FuzzedTwin(tmp_path_factory.mktemp("fuzz") / "twin.db", port_factory())
    twin.start()
    deadline = time.monotonic() + 30
    while not (twin.server and twin.server.started):
        assert twin.is_alive() and time.monotonic() < deadline, f"no server: {twin.failure!r}"
        time.sleep(0.05)
    yield twin
    twin.server.should_exit = True
    twin.join(timeout=15)
    assert not twin.is_alive() and twin.failure is None


def _document() -> dict[str, Any]:
    """The app's OpenAPI document; building the app opens nothing (the store stays shut)."""
    store = SqliteStore(Path("unused.db"))
    pipeline = Pipeline(store, load_rules(), AlertManager(save=store.save_alert))
    return create_app(TwinContext(store=store, pipeline=pipeline, clock=time.time)).openapi()


schema = schemathesis.openapi.from_dict(_document()).exclude(path=sorted(EXCLUDED))


@schema.parametrize()
@settings(
    max_examples=EXPLORE or 12,
    derandomize=not EXPLORE,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_within_its_schema(case: Any, fuzzed: FuzzedTwin) -> None:
    case.call_and_validate(
        base_url=fuzzed.url,
        headers={"Authorization": f"Bearer {fuzzed.token}"},
        checks=[not_a_server_error, response_schema_conformance],
        timeout=60,
    )
