"""The pipeline: accepted readings go to storage, then to detection and the alert manager."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

from alerts.catalogue import detectors_for
from alerts.detectors import Detector, Watchdog
from alerts.manager import AlertManager
from alerts.rules import Rules
from data import Store
from models.types import Building, DeadLetter, Reading
from sensors.senml import RegisteredChannel

log = logging.getLogger(__name__)


class Pipeline:
    """Holds the channel registry and each channel's detectors for the registered buildings."""

    def __init__(self, store: Store, rules: Rules, alerts: AlertManager) -> None:
        self.store = store
        self.rules = rules
        self.alerts = alerts
        self._registry: dict[str, RegisteredChannel] = {}
        self._owner: dict[str, tuple[str, str]] = {}  # channel id -> (building id, sensor id)
        self._detectors: dict[str, list[Detector]] = {}
        self._consumers: dict[str, list[Detector]] = {}  # covariate channel -> detectors using it
        self._watchdogs: list[tuple[str, str, Watchdog]] = []  # (building, sensor, detector)
        self._reading_clock = float("-inf")  # time of the newest reading judged

    async def add_building(self, building: Building) -> None:
        """Register a building in the store and start watching its channels."""
        await self.store.put_building(building)
        self.watch(building)

    def watch(self, building: Building) -> None:
        """Accept and judge readings for a building already in the store."""
        for sensor in building.sensors:
            for ch in sensor.channels:
                self._registry[ch.id] = RegisteredChannel(sensor.device_id, ch.unit)
                self._owner[ch.id] = (building.id, sensor.id)
        made = detectors_for(self.rules, building)
        self._detectors.update(made)
        for detectors in made.values():
            for detector in detectors:
                for cid in detector.covariates:
                    self._consumers.setdefault(cid, []).append(detector)
                if isinstance(detector, Watchdog):
                    _, sensor_id = self._owner[detector.channel_id]
                    self._watchdogs.append((building.id, sensor_id, detector))

    def registry(self) -> Mapping[str, RegisteredChannel]:
        return self._registry

    async def store_batch(
        self, readings: Sequence[Reading], dead_letters: Sequence[DeadLetter]
    ) -> None:
        """Make one ingest batch durable: its readings and its dead letters."""
        if readings:
            await self.store.write_readings(readings)
        if dead_letters:
            for letter in dead_letters:
                log.info("rejected from %s: %s (%s)", letter.topic, letter.reason, letter.detail)
            await self.store.write_dead_letters(dead_letters)

    async def detect(self, batch: Sequence[Reading]) -> None:
        """Run stored readings through their channels' detectors and the alert manager."""
        # At equal times covariates go first, as ``Detector.scan`` assumes.
        consumers = self._consumers
        ordered = sorted(batch, key=lambda r: (r.time, r.channel_id not in consumers))
        if ordered:
            self._reading_clock = max(self._reading_clock, ordered[-1].time)
        for reading in ordered:
            for consumer in consumers.get(reading.channel_id, ()):
                consumer.feed(reading.channel_id, reading.time, reading.value)
            detectors = self._detectors.get(reading.channel_id)
            if not detectors:
                continue
            building_id, sensor_id = self._owner[reading.channel_id]
            for detector in detectors:
                finding = detector.update(reading.time, reading.value)
                await self.alerts.observe(
                    building_id, sensor_id, detector.rule_id, reading.time, finding
                )

    async def watch_clock(self, now: Callable[[], float], every_s: float = 1.0) -> None:
        """Tick forever, so devices that stop reporting are noticed without a reading."""
        while True:
            await asyncio.sleep(every_s)
            await self.tick(now())

    async def tick(self, now: float) -> None:
        """Let detectors that watch the clock (silent devices) judge the present.

        The present is the newest reading seen, if that is earlier than ``now``: a device is
        silent when the others have moved on without it. An accelerated demo clock or a lagging
        ingest then raises nothing, at the price of no alert when every device stops at once.
        """
        now = min(now, self._reading_clock)
        for building_id, sensor_id, watchdog in self._watchdogs:
            finding = watchdog.tick(now)
            if finding is not None:
                await self.alerts.observe(building_id, sensor_id, watchdog.rule_id, now, finding)
