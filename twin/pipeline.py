"""The pipeline: accepted readings go to storage, then to detection and the alert manager."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from alerts.detectors import Detector
from alerts.manager import AlertManager
from alerts.rules import Rules, detectors_for
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

    async def add_building(self, building: Building) -> None:
        """Register a building in the store and start watching its channels."""
        await self.store.put_building(building)
        for sensor in building.sensors:
            for ch in sensor.channels:
                self._registry[ch.id] = RegisteredChannel(sensor.device_id, ch.unit)
                self._owner[ch.id] = (building.id, sensor.id)
        self._detectors.update(detectors_for(self.rules, building))

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
        for reading in sorted(batch, key=lambda r: r.time):
            detectors = self._detectors.get(reading.channel_id)
            if not detectors:
                continue
            building_id, sensor_id = self._owner[reading.channel_id]
            for detector in detectors:
                finding = detector.update(reading.time, reading.value)
                await self.alerts.observe(
                    building_id, sensor_id, detector.rule_id, reading.time, finding
                )
