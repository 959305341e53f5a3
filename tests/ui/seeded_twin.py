"""A twin API and web viewer over a SQLite store seeded with a known past, for UI tests.

Run as a script: ``python tests/ui/seeded_twin.py DB PORT``; prints
``READY <api> <viewer> <token>``, the token an ops screen's (role viewer).
Two hours of readings end now: climate sensors warm steadily from 10 °C to 30 °C, noise rises
from 45 to 75 dB(A); one tilt sensor reports nothing for the last hour (stale, then offline),
and one noise alarm opened 30 minutes ago.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import uvicorn

from data import Store, open_store
from models.nanjing import load_nanjing
from models.types import Alert, AlertState, Building, Reading, Severity

HOURS = 2.0
ALERT_SENSOR = "noise-1f-south"
SILENT_SENSOR = "tilt-ne"
T_START_C, T_END_C = 10.0, 30.0
LAEQ_START, LAEQ_END = 45.0, 75.0


def value_at(metric: str, fraction: float) -> float:
    """The seeded value of ``metric`` a ``fraction`` (0-1) through the two hours."""
    if metric == "t":
        return T_START_C + (T_END_C - T_START_C) * fraction
    if metric == "laeq":
        return LAEQ_START + (LAEQ_END - LAEQ_START) * fraction
    if metric == "rh":
        return 50.0
    if metric in ("x", "y"):
        return 0.2
    return 1.0


async def seed(store: Store, building: Building, now: float) -> None:
    await store.put_building(building)
    start = now - HOURS * 3600
    readings = []
    for sensor in building.sensors:
        step = sensor.expected_interval_s
        n = int(HOURS * 3600 // step)
        for i in range(n + 1):
            t = start + i * step
            if sensor.id == SILENT_SENSOR and t > now - 3600:
                break
            for ch in sensor.channels:
                readings.append(Reading(ch.id, t, value_at(ch.metric, (t - start) / (now - start))))
    await store.write_readings(readings)
    opened = now - 1800
    await store.save_alert(
        Alert(
            id="alert-noise-1",
            building_id=building.id,
            sensor_id=ALERT_SENSOR,
            channel_id=f"{ALERT_SENSOR}/laeq",
            rule_id="noise-night",
            state=AlertState.OPEN,
            severity=Severity.ALARM,
            opened_at=opened,
            updated_at=opened,
            value=70.0,
            worst_value=72.0,
            limit=50.0,
            standard="GB 3096-2008 class 2, night",
            message="Night noise above the limit",
        )
    )


async def main(db: Path, port: int) -> None:
    from models.access import Role
    from twin.app import create_app
    from twin.auth import issue_token
    from twin.context import TwinContext
    from twin.pipeline import Pipeline
    from twin.web_viewer import web_viewer

    mesh, building = load_nanjing()
    async with open_store(f"sqlite:///{db}") as store:
        await seed(store, building, time.time())
        _, token = await issue_token(store, "ops-wall-1", Role.VIEWER, time.time())
        pipeline = await Pipeline.open(store)  # takes back the seeded alerts, as a restart would
        context = TwinContext(
            store=store, pipeline=pipeline, clock=time.time, meshes={building.model: mesh}
        )
        server = uvicorn.Server(
            uvicorn.Config(create_app(context), host="127.0.0.1", port=port, log_level="warning")
        )
        async with web_viewer(context, "127.0.0.1") as viewer:
            task = asyncio.create_task(server.serve())
            while not server.started:  # noqa: ASYNC110 - a flag only
                await asyncio.sleep(0.05)
            print(f"READY http://127.0.0.1:{port} {viewer.url} {token}", flush=True)
            await task


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
