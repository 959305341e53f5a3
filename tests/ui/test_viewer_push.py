"""Alert changes are pushed to the web viewer: the alert list updates at the next tick, not
at the next poll of the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import trimesh

from alerts.rules import load_rules
from data import open_store
from models.types import Building, Channel, Reading, Sensor, SensorKind
from twin.context import TwinContext
from twin.pipeline import Pipeline
from twin.web_viewer import web_viewer

pytestmark = pytest.mark.render


def hall() -> Building:
    tilt = Sensor(
        id="tilt-a", kind=SensorKind.TILT, device_id="dev-a", floor=1, zone="corner-ne",
        position=(20.0, 0.0, 2.0), normal=(0.0, -1.0, 0.0),
        channels=(Channel("tilt-a", "x", "mrad"), Channel("tilt-a", "y", "mrad")),
    )  # fmt: skip
    return Building(
        id="hall", name="Hall", address="", structure_type="brick", noise_zone=2,
        bounds=((0.0, 0.0, 0.0), (20.0, 10.0, 30.0)), model="test:box", sensors=(tilt,),
    )  # fmt: skip


async def until(predicate: Callable[[], bool], timeout_s: float) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polling the viewer's state
            await asyncio.sleep(0.05)


async def test_an_opened_alert_reaches_the_viewer_before_the_next_poll(tmp_path: Path) -> None:
    now = time.time()
    async with open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store:
        pipeline = await Pipeline.open(store, load_rules())
        await pipeline.add_building(hall())
        context = TwinContext(
            store=store,
            pipeline=pipeline,
            clock=time.time,
            meshes={"test:box": trimesh.creation.box(bounds=[[0, 0, 0], [20, 10, 30]])},
        )
        async with web_viewer(context, "127.0.0.1") as viewer:
            await until(lambda: viewer._frame is not None, 30)
            viewer.refresh_s = 3600.0  # no polling in this test: only a push can update it
            assert viewer.state.alerts == []
            await pipeline.detect([Reading("tilt-a/x", now, 3.6)])
            await until(lambda: len(viewer.state.alerts) == 1, 10)
