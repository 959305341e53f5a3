"""A device simulator: realistic readings for every sensor of a building, with hazards injected.

``SensorModel`` is pure (time in, value out, deterministic per seed) so scenarios and tests
can ask for any moment; ``Simulator`` publishes it over MQTT on a ``SimClock``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import aiomqtt

from models.types import Building, Sensor, SensorKind
from sensors.mqtt import MqttEndpoint

log = logging.getLogger(__name__)

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY_S = 86_400.0


class SimClock:
    """Simulated time: ``speed`` times faster than the wall clock until it reaches the present,
    then the present. Starting in the past replays history quickly, then runs live."""

    def __init__(self, start: float, speed: float, wall: Callable[[], float] = time.time) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self._wall = wall
        self._wall0 = wall()

    def now(self) -> float:
        wall = self._wall()
        return min(self.start + (wall - self._wall0) * self.speed, wall)


def default_start(now: float, tz: ZoneInfo = SHANGHAI) -> float:
    """The last 21:45 local time at least an hour ago, so the first night plays early on."""
    local = datetime.fromtimestamp(now - 3600.0, tz)
    start = local.replace(hour=21, minute=45, second=0, microsecond=0)
    if start > local:
        start -= timedelta(days=1)
    return start.timestamp()


@dataclass(frozen=True, slots=True)
class Scenario:
    """A hazard injected into some sensors between two times; also the ground truth.

    ``sensor_ids`` are the sensors with the hazard (the ground truth). ``confounds`` are
    sensors the scenario also changes without a hazard (weather, traffic): a confounder-only
    scenario has no ``sensor_ids``. With ``silences`` the sensors send nothing meanwhile.
    """

    name: str
    sensor_ids: frozenset[str]
    start: float
    end: float
    effect: Callable[[Sensor, str, float, float], float]  # (sensor, metric, t, value) -> value
    confounds: frozenset[str] = frozenset()
    silences: bool = False

    def applies(self, sensor_id: str, t: float) -> bool:
        return (
            sensor_id in self.sensor_ids or sensor_id in self.confounds
        ) and self.start <= t < self.end


def night_construction(building: Building, sim_start: float, tz: ZoneInfo = SHANGHAI) -> Scenario:
    """Piling next door from 22:30 to 02:30 on the first night: loud at the street facades,
    felt by the foundation vibration sensors."""
    local = datetime.fromtimestamp(sim_start, tz)
    begin = local.replace(hour=22, minute=30, second=0, microsecond=0)
    if begin < local:
        begin += timedelta(days=1)
    affected = frozenset(
        s.id
        for s in building.sensors
        if s.kind is SensorKind.NOISE or (s.kind is SensorKind.VIBRATION and s.floor <= 1)
    )

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        return value + {"laeq": 24.0, "lmax": 30.0, "ppv": 1.6}.get(metric, 0.0)

    start = begin.timestamp()
    return Scenario("night-construction", affected, start, start + 4 * 3600.0, effect)


def tilt_drift(
    building: Building, sim_start: float, *, rate_mrad_per_h: float = 0.4, delay_s: float = 3600
) -> Scenario:
    """One corner starts to lean: its x tilt grows steadily from an hour after the start."""
    tilts = sorted(s.id for s in building.sensors if s.kind is SensorKind.TILT)
    start = sim_start + delay_s

    def effect(sensor: Sensor, metric: str, t: float, value: float) -> float:
        return value + rate_mrad_per_h * (t - start) / 3600.0 if metric == "x" else value

    return Scenario("tilt-drift", frozenset(tilts[:1]), start, math.inf, effect)


SCENARIOS: dict[str, Callable[[Building, float], Scenario]] = {
    "night-construction": night_construction,
    "tilt-drift": tilt_drift,
}


class SensorModel:
    """Baseline behaviour of each kind of sensor, plus the scenarios' effects."""

    def __init__(
        self, scenarios: Sequence[Scenario] = (), *, seed: int = 1935, tz: ZoneInfo = SHANGHAI
    ) -> None:
        self.scenarios = tuple(scenarios)
        self.seed = seed
        self.tz = tz

    def reports(self, sensor: Sensor, t: float) -> bool:
        """Whether the sensor sends anything at ``t`` (a dead device does not)."""
        return not any(sc.silences and sc.applies(sensor.id, t) for sc in self.scenarios)

    def value(self, sensor: Sensor, metric: str, t: float) -> float:
        base = self._baseline(sensor, metric, t)
        for scenario in self.scenarios:
            if scenario.applies(sensor.id, t):
                base = scenario.effect(sensor, metric, t, base)
        return round(base, 3)

    def _noise(self, key: str, t: float, scale: float) -> float:
        """Deterministic noise in [-scale, scale] for (key, minute)."""
        h = zlib.crc32(f"{self.seed}:{key}:{int(t // 60)}".encode())
        return scale * ((h / 0xFFFFFFFF) * 2.0 - 1.0)

    def _hour(self, t: float) -> float:
        local = datetime.fromtimestamp(t, self.tz)
        return local.hour + local.minute / 60.0

    def outdoor_temperature(self, t: float) -> float:
        # Warmest mid-afternoon, coolest before dawn.
        return 16.0 + 5.0 * math.sin(2 * math.pi * (self._hour(t) - 9.0) / 24.0)

    def _baseline(self, sensor: Sensor, metric: str, t: float) -> float:
        key = f"{sensor.id}/{metric}"
        hour = self._hour(t)
        daily = math.sin(2 * math.pi * (hour - 9.0) / 24.0)
        outdoor = self.outdoor_temperature(t)
        interior = sensor.zone == "interior"
        if metric == "t":
            if interior:
                return 21.0 + 1.2 * daily + 0.2 * sensor.floor + self._noise(key, t, 0.15)
            return outdoor + self._noise(key, t, 0.3)
        if metric == "rh":
            if interior:
                return 58.0 - 4.0 * daily + self._noise(key, t, 1.5)
            return min(97.0, 72.0 - 14.0 * daily + self._noise(key, t, 3.0))
        if metric in ("laeq", "lmax"):
            busy = 6.0 <= hour < 22.0
            laeq = (55.0 if busy else 43.0) - 0.3 * sensor.floor + self._noise(key, t, 2.5)
            return laeq + (12.0 + self._noise(key + "max", t, 3.0) if metric == "lmax" else 0.0)
        if metric == "ppv":
            traffic = 0.25 if 6.0 <= hour < 22.0 else 0.08
            return max(0.01, traffic + 0.05 + self._noise(key, t, 0.04))
        if metric == "f1":
            # Natural frequency softens slightly as the structure warms.
            return 1.85 * (1.0 - 0.0015 * (outdoor - 16.0)) + self._noise(key, t, 0.01)
        if metric in ("x", "y"):
            offset = self._noise(key + "offset", 0.0, 0.5)
            return offset + 0.02 * (outdoor - 16.0) + self._noise(key, t, 0.01)
        return self._noise(key, t, 1.0)


def senml_pack(
    model: SensorModel, sensors: Sequence[Sensor], times: Sequence[float]
) -> list[dict[str, object]]:
    """One SenML pack with every channel of ``sensors`` due at each of ``times``: a sensor
    reports when the time is a multiple of its ``expected_interval_s``."""
    records: list[dict[str, object]] = []
    bt = times[0]
    for t in times:
        for sensor in sensors:
            if round(t) % max(1, round(sensor.expected_interval_s)) or not model.reports(sensor, t):
                continue
            for ch in sensor.channels:
                record: dict[str, object] = {
                    "n": ch.id,
                    "u": ch.unit,
                    "v": model.value(sensor, ch.metric, t),
                }
                if t != bt:
                    record["t"] = round(t - bt, 3)
                records.append(record)
    if records:
        records[0]["bt"] = bt
    return records


class Simulator:
    """Publishes readings for every device of a building on a simulated clock until cancelled."""

    def __init__(
        self,
        building: Building,
        endpoint: MqttEndpoint,
        clock: SimClock,
        *,
        scenarios: Sequence[Scenario] = (),
        interval_s: float | None = None,
        tick_s: float = 0.5,
        max_steps_per_tick: int = 120,
        credentials: Mapping[str, str] | None = None,
    ) -> None:
        self.building = building
        self.endpoint = endpoint
        # Device id -> broker password: each device then connects as itself, as real ones
        # must where the broker checks identities; None: one connection speaks for all.
        self.credentials = credentials
        self.clock = clock
        self.model = SensorModel(scenarios)
        # The simulated clock steps at the shortest reporting interval of any sensor.
        self.interval_s = interval_s or min(
            (s.expected_interval_s for s in building.sensors), default=60.0
        )
        self.tick_s = tick_s
        self.max_steps_per_tick = max_steps_per_tick
        self.published = 0
        self._devices: dict[str, list[Sensor]] = defaultdict(list)
        for sensor in building.sensors:
            self._devices[sensor.device_id].append(sensor)
        self._next = math.ceil(clock.now() / self.interval_s) * self.interval_s

    def due_times(self) -> list[float]:
        """Reading times that have come due on the simulated clock since the last call."""
        now = self.clock.now()
        times: list[float] = []
        while self._next <= now and len(times) < self.max_steps_per_tick:
            times.append(self._next)
            self._next += self.interval_s
        return times

    async def run(self) -> None:
        while True:
            try:
                async with AsyncExitStack() as stack:
                    clients = await self._connect(stack)
                    log.info("simulator publishing to %s", self.endpoint.url)
                    while True:
                        times = self.due_times()
                        if times:
                            for device_id, sensors in self._devices.items():
                                pack = senml_pack(self.model, sensors, times)
                                if not pack:
                                    continue
                                await clients[device_id].publish(
                                    f"twin/v1/devices/{device_id}/readings",
                                    json.dumps(pack, separators=(",", ":")),
                                    qos=1,
                                )
                                self.published += len(pack)
                        await asyncio.sleep(self.tick_s)
            except aiomqtt.MqttError as exc:
                log.warning("simulator lost the broker (%s); retrying", exc)
                await asyncio.sleep(1.0)

    async def _connect(self, stack: AsyncExitStack) -> dict[str, aiomqtt.Client]:
        """A connection per device when each has credentials, else one for all."""
        if self.credentials is None:
            shared = await stack.enter_async_context(self.endpoint.client())
            return dict.fromkeys(self._devices, shared)
        return {
            device_id: await stack.enter_async_context(
                replace(
                    self.endpoint, username=device_id, password=self.credentials[device_id]
                ).client(identifier=f"sim-{device_id}")
            )
            for device_id in self._devices
        }
