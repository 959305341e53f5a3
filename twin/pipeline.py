"""The pipeline: accepted readings go to storage, then to detection and the alert manager."""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from operator import attrgetter, itemgetter
from typing import Any, NamedTuple

from alerts.catalogue import detectors_for
from alerts.detectors import Detector, Watchdog
from alerts.manager import AlertManager
from alerts.rules import Rules, load_rules
from data import WAVEFORM_RETENTION_S, Store, is_outage
from models.alerting import IncidentState
from models.types import (
    Alert,
    AlertState,
    Building,
    DeadLetter,
    Finding,
    Reading,
    Sensor,
    SensorKind,
    WaveformBlock,
)
from sensors.ingest import Ingest
from sensors.mqtt import MqttEndpoint
from sensors.senml import RegisteredChannel
from sensors.waveform import RegisteredVibrationSensor
from twin.waveforms import derive_readings, derived_channels

log = logging.getLogger(__name__)

_reading_time = attrgetter("time")


class _Route(NamedTuple):
    """What a reading of one channel goes to: detectors using it as a covariate, its own
    detectors, and the building and sensor their alerts belong to."""

    consumers: tuple[Detector, ...]
    detectors: tuple[Detector, ...]
    building_id: str
    sensor_id: str


# (reading time, building, sensor, rule, finding or None for a clear evaluation)
_Verdict = tuple[float, str, str, str, Finding | None]
_verdict_time = itemgetter(0)


def _in_order(readings: list[Reading]) -> tuple[list[float], list[float]]:
    """Times and values of one channel's readings, in time order."""
    ts = [r.time for r in readings]
    if ts != sorted(ts):  # rarely: a channel's readings almost always arrive in order
        readings = sorted(readings, key=_reading_time)
        ts = [r.time for r in readings]
    return ts, [r.value for r in readings]


def _judge_run(
    route: _Route,
    ts: list[float],
    xs: list[float],
    thresholds: tuple[float, dict[tuple[str, str], float]],
    verdicts: list[_Verdict],
) -> None:
    """One channel's readings (in time order) through each of its detectors, keeping the
    findings, and the clear evaluations from when they could resolve an alert
    (``thresholds``: see ``AlertManager.clear_thresholds``)."""
    building_id, sensor_id = route.building_id, route.sensor_id
    default, unresolved = thresholds
    n = len(ts)
    for detector in route.detectors:
        rule_id = detector.rule_id
        threshold = unresolved.get((sensor_id, rule_id), default) if unresolved else default
        # Before ``one_by_one``, only findings matter: run at full speed between them.
        one_by_one = n if threshold > ts[-1] else bisect_left(ts, threshold)
        start = 0
        while start < one_by_one:
            i, finding = detector.run_until_finding(ts, xs, start, one_by_one)
            if finding is None:
                break
            verdicts.append((ts[i], building_id, sensor_id, rule_id, finding))
            start = i + 1
        if one_by_one < n:
            update = detector.update
            for j in range(one_by_one, n):
                verdicts.append((ts[j], building_id, sensor_id, rule_id, update(ts[j], xs[j])))


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
        # Everything ``detect`` needs of a channel, found with one lookup per reading.
        self._routes: dict[str, _Route] = {}
        # Channels that are a covariate, or have a detector that takes one: judged in time
        # order across channels. Every other channel is judged on its own.
        self._linked: set[str] = set()
        self._reading_clock = float("-inf")  # time of the newest reading judged
        self._buildings: dict[str, Building] = {}
        self._sensors: dict[tuple[str, str], Sensor] = {}  # (building, sensor id) -> sensor
        self._vibration: dict[str, RegisteredVibrationSensor] = {}

    @classmethod
    async def open(cls, store: Store, rules: Rules | None = None) -> Pipeline:
        """A pipeline over ``store``: its open alerts taken back, its buildings watched."""
        pipeline = cls(store, rules or load_rules(), AlertManager(save=store.save_alert))
        pipeline.alerts.load = store.alert
        pipeline.alerts.zone_of = pipeline.zone_of
        pipeline.alerts.restore(
            await pipeline.unresolved_alerts(),
            await store.incidents(state=IncidentState.OPEN, limit=1_000_000),
        )
        for building in await store.buildings():
            pipeline.watch(building)
        return pipeline

    async def unresolved_alerts(self) -> list[Alert]:
        """Open and acknowledged alerts, as the store has them."""
        return [
            alert
            for state in (AlertState.OPEN, AlertState.ACKNOWLEDGED)
            for alert in await self.store.alerts(state=state, limit=1_000_000)
        ]

    def zone_of(self, building_id: str, sensor_id: str) -> str:
        """The structural zone a sensor sits in ("" if unknown)."""
        sensor = self.sensor(building_id, sensor_id)
        return sensor.zone if sensor else ""

    def sensor(self, building_id: str, sensor_id: str) -> Sensor | None:
        return self._sensors.get((building_id, sensor_id))

    def ingest(self, endpoint: MqttEndpoint, **options: Any) -> Ingest:
        """An ingest consumer that stores and judges through this pipeline."""
        return Ingest(
            endpoint,
            registry=self.registry,
            store=self.store_batch,
            vibration_sensors=self.vibration_sensors,
            after_store=self.detect,
            is_outage=is_outage,
            **options,
        )

    async def add_building(self, building: Building) -> None:
        """Register a building in the store and start watching its channels."""
        await self.store.put_building(building)
        self.watch(building)

    def watched(self, building_id: str) -> Building | None:
        """The building as this pipeline last took it in, if it watches it."""
        return self._buildings.get(building_id)

    def watch(self, building: Building) -> None:
        """Accept and judge readings for a building already in the store."""
        for sensor in building.sensors:
            for ch in sensor.channels:
                self._registry[ch.id] = RegisteredChannel(sensor.device_id, ch.unit)
                self._owner[ch.id] = (building.id, sensor.id)
        self._buildings[building.id] = building
        for sensor in building.sensors:
            self._sensors[(building.id, sensor.id)] = sensor
            if sensor.kind is SensorKind.VIBRATION:
                self._vibration[sensor.id] = RegisteredVibrationSensor(sensor.device_id)
        # Channels already watched keep their detectors and what those have learned.
        made = {
            cid: detectors
            for cid, detectors in detectors_for(self.rules, building).items()
            if cid not in self._detectors
        }
        self._detectors.update(made)
        for detectors in made.values():
            for detector in detectors:
                for cid in detector.covariates:
                    self._consumers.setdefault(cid, []).append(detector)
                if isinstance(detector, Watchdog):
                    _, sensor_id = self._owner[detector.channel_id]
                    self._watchdogs.append((building.id, sensor_id, detector))
        self._routes = {
            cid: _Route(
                tuple(self._consumers.get(cid, ())),
                tuple(self._detectors.get(cid, ())),
                *(self._owner[cid] if cid in self._detectors else ("", "")),
            )
            for cid in self._consumers.keys() | self._detectors.keys()
        }
        self._linked = set(self._consumers) | {
            cid for cid, ds in self._detectors.items() if any(d.covariates for d in ds)
        }

    def registry(self) -> Mapping[str, RegisteredChannel]:
        return self._registry

    def vibration_sensors(self) -> Mapping[str, RegisteredVibrationSensor]:
        return self._vibration

    async def store_batch(
        self,
        readings: Sequence[Reading],
        dead_letters: Sequence[DeadLetter],
        waveforms: Sequence[WaveformBlock] = (),
    ) -> list[Reading]:
        """Make one ingest batch durable: readings, dead letters, raw waveform blocks and the
        readings derived from them. Returns every reading stored, derived ones included."""
        if waveforms:
            await self.store.write_waveforms(waveforms)
            await self._register_derived_channels(waveforms)
            # Welch over many blocks is CPU work: keep it off the event loop.
            readings = [*readings, *await asyncio.to_thread(derive_readings, waveforms)]
        if readings:
            await self.store.write_readings(readings)
        if dead_letters:
            for letter in dead_letters:
                log.info("rejected from %s: %s (%s)", letter.topic, letter.reason, letter.detail)
            await self.store.write_dead_letters(dead_letters)
        return list(readings)

    async def _register_derived_channels(self, waveforms: Sequence[WaveformBlock]) -> None:
        """Add the per-axis feature channels of a vibration sensor on its first block."""
        missing = {
            ch for b in waveforms for ch in derived_channels(b) if ch.id not in self._registry
        }
        if not missing:
            return
        for building in list(self._buildings.values()):
            sensors = tuple(
                replace(
                    s,
                    channels=s.channels
                    + tuple(
                        sorted(
                            (ch for ch in missing if ch.sensor_id == s.id), key=lambda c: c.metric
                        )
                    ),
                )
                for s in building.sensors
            )
            if sensors != building.sensors:
                await self.add_building(replace(building, sensors=sensors))

    async def detect(self, batch: Sequence[Reading]) -> None:
        """Run stored readings through their channels' detectors and the alert manager.

        A channel that no covariate links to another is judged on its own, its readings in
        one run per detector (``run_until_finding``); linked channels are judged reading by
        reading in time order, covariates first. Only findings, and the clear evaluations that
        could resolve an alert, go to the alert manager, in time order.
        """
        if not batch:
            return
        linked, routes = self._linked, self._routes
        alone: defaultdict[str, list[Reading]] = defaultdict(list)
        together: list[Reading] = []
        if linked:
            for reading in batch:
                if reading.channel_id in linked:
                    together.append(reading)
                else:
                    alone[reading.channel_id].append(reading)
        else:
            for reading in batch:
                alone[reading.channel_id].append(reading)
        together = self._in_time_order(together)
        runs = [(routes.get(cid), *_in_order(readings)) for cid, readings in alone.items()]
        firsts = [ts[0] for _, ts, _ in runs]
        lasts = [ts[-1] for _, ts, _ in runs]
        if together:
            firsts.append(together[0].time)
            lasts.append(together[-1].time)
        earliest = min(firsts)
        self._reading_clock = max(self._reading_clock, max(lasts))
        thresholds = self.alerts.clear_thresholds(earliest)
        verdicts: list[_Verdict] = []
        for route, ts, xs in runs:
            if route is not None:
                _judge_run(route, ts, xs, thresholds, verdicts)
        if together:
            self._judge_in_time_order(together, thresholds, verdicts)
        verdicts.sort(key=_verdict_time)  # stable: a channel's own order is kept
        is_open, observe = self.alerts.is_open, self.alerts.observe
        for t, building_id, sensor_id, rule_id, finding in verdicts:
            if finding is None and not is_open(sensor_id, rule_id):
                continue  # its alert resolved earlier in this batch
            await observe(building_id, sensor_id, rule_id, t, finding)

    def _judge_in_time_order(
        self,
        batch: list[Reading],
        thresholds: tuple[float, dict[tuple[str, str], float]],
        verdicts: list[_Verdict],
    ) -> None:
        """Linked channels' readings, already in time order (covariates first at equal times),
        reading by reading: a covariate reaches its detectors before the readings after it.
        Findings are kept, and clear evaluations as ``_judge_run`` keeps them."""
        default, unresolved = thresholds
        for reading in batch:
            route = self._routes.get(reading.channel_id)
            if route is None:
                continue
            t, x = reading.time, reading.value
            for consumer in route.consumers:
                consumer.feed(reading.channel_id, t, x)
            for detector in route.detectors:
                finding = detector.update(t, x)
                rule_id = detector.rule_id
                if finding is None and t < unresolved.get((route.sensor_id, rule_id), default):
                    continue  # nothing to open, update or resolve
                verdicts.append((t, route.building_id, route.sensor_id, rule_id, finding))

    def _in_time_order(self, batch: Sequence[Reading]) -> list[Reading]:
        """The batch by time, covariates first at equal times (as ``Detector.scan`` assumes).

        A stable sort by time alone, of the covariates followed by the rest: no key tuple per
        reading, and no partition at all where no detector has covariates.
        """
        consumers = self._consumers
        if consumers:
            covariates = [r for r in batch if r.channel_id in consumers]
            if covariates:
                rest = [r for r in batch if r.channel_id not in consumers]
                return sorted(covariates + rest, key=_reading_time)
        return sorted(batch, key=_reading_time)

    async def watch_clock(self, now: Callable[[], float], every_s: float = 1.0) -> None:
        """Tick forever, so devices that stop reporting are noticed without a reading, and
        drop raw waveform blocks past their retention once an hour."""
        pruned_at = float("-inf")
        while True:
            await asyncio.sleep(every_s)
            moment = now()
            try:
                await self.tick(moment)
            except Exception:  # e.g. saving an alert while the store is down: try next tick
                log.exception("checking for silent devices failed")
            if moment - pruned_at >= 3600.0:
                pruned_at = moment
                try:
                    await self.store.prune_waveforms(moment - WAVEFORM_RETENTION_S)
                except Exception as exc:  # the store may be down; ingest spools meanwhile
                    log.warning("pruning old waveform blocks failed: %s", exc)

    async def tick(self, now: float) -> None:
        """Let detectors that watch the clock (silent devices) judge the present.

        The present is the newest reading seen, if that is earlier than ``now``: a device is
        silent when the others have moved on without it. An accelerated demo clock or a lagging
        ingest then raises nothing, at the price of no alert when every device stops at once.
        """
        await self.alerts.tick(now)  # shelves expire on the twin's clock, readings or not
        now = min(now, self._reading_clock)
        for building_id, sensor_id, watchdog in self._watchdogs:
            finding = watchdog.tick(now)
            if finding is not None:
                await self.alerts.observe(building_id, sensor_id, watchdog.rule_id, now, finding)
