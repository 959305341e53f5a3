"""Detection in the pipeline: covariates reach their detectors, silent devices are noticed."""

from __future__ import annotations

from pathlib import Path

from alerts.manager import AlertManager
from alerts.rules import load_rules
from data import open_store
from models.types import Alert, Building, Channel, Reading, Sensor, SensorKind

T0 = 1_780_000_000.0


def climate(sid: str, zone: str) -> Sensor:
    return Sensor(
        id=sid,
        kind=SensorKind.CLIMATE,
        device_id=f"gw-{sid}",
        floor=2,
        zone=zone,
        position=(1, 1, 4),
        normal=(0, 0, 1),
        channels=(Channel(sid, "t", "Cel"), Channel(sid, "rh", "%RH")),
        expected_interval_s=300.0,
    )


def building() -> Building:
    return Building(
        id="b", name="B", address="", structure_type="brick", noise_zone=2,
        bounds=((0, 0, 0), (10, 10, 20)), model="m",
        sensors=(climate("th-in", "interior"), climate("th-out", "west-facade")),
    )  # fmt: skip


async def test_condensation_uses_the_temperature_of_the_same_batch(tmp_path: Path) -> None:
    saved: list[Alert] = []

    async def save(alert: Alert, events: object, incident: object) -> None:
        saved.append(alert)

    async with open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store:
        from twin.pipeline import Pipeline

        pipeline = Pipeline(store, load_rules(), AlertManager(save=save))
        await pipeline.add_building(building())
        # rh listed before t at the same time: the pipeline must still feed t first.
        await pipeline.detect([Reading("th-in/rh", T0, 93.0), Reading("th-in/t", T0, 12.0)])
        assert {a.rule_id for a in saved} == {"condensation"}
        # The clock runs ahead (an accelerated demo) but no device has moved on: nothing.
        await pipeline.tick(T0 + 86_400)
        assert {a.rule_id for a in saved} == {"condensation"}
        await pipeline.detect([Reading("th-out/t", T0 + 600, 15.0)])
        await pipeline.tick(T0 + 86_400)  # two intervals on: not yet silent
        assert {a.rule_id for a in saved} == {"condensation"}
        await pipeline.detect([Reading("th-out/t", T0 + 3 * 300 + 1, 15.0)])
        await pipeline.tick(T0 + 86_400)
        silent = [a for a in saved if a.rule_id == "silent"]
        assert [a.sensor_id for a in silent] == ["th-in"] and "silent" in silent[0].message


async def test_a_building_watched_later_is_judged_and_batches_are_put_in_time_order(
    tmp_path: Path,
) -> None:
    saved: list[Alert] = []

    async def save(alert: Alert, events: object, incident: object) -> None:
        saved.append(alert)

    async with open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store:
        from twin.pipeline import Pipeline

        pipeline = Pipeline(store, load_rules(), AlertManager(save=save))
        await pipeline.add_building(building())
        await pipeline.detect([Reading("th-in/t", T0, 20.0)])
        later = Building(
            id="c", name="C", address="", structure_type="brick", noise_zone=2,
            bounds=((0, 0, 0), (10, 10, 20)), model="m", sensors=(climate("c-in", "interior"),),
        )  # fmt: skip
        await pipeline.add_building(later)
        # Listed after a temperature but older than it, the humid reading is judged first,
        # with no temperature to find a dew point from: nothing yet.
        await pipeline.detect([Reading("c-in/t", T0 + 600, 20.0), Reading("c-in/rh", T0, 93.0)])
        assert saved == []
        await pipeline.detect([Reading("c-in/rh", T0 + 900, 93.0)])
        assert [(a.building_id, a.sensor_id, a.rule_id) for a in saved] == [
            ("c", "c-in", "condensation")
        ]


def _history(rng_seed: int) -> list[Reading]:
    """Six hours of two climate sensors a minute apart: spikes, a stuck spell, a humid night
    (condensation, a detector with a covariate) and long clear spells in between."""
    import random

    rng = random.Random(rng_seed)
    readings = []
    for i in range(360):
        t = T0 + 60.0 * i
        out_t = 15.0 + rng.gauss(0, 0.2)
        if i in (40, 41 + 60, 200):
            out_t += 8.0  # isolated spikes, each followed by a clear spell past the hold-off
        if 120 <= i < 150:
            out_t = 14.5  # stuck
        readings.append(Reading("th-out/t", t, out_t))
        readings.append(Reading("th-out/rh", t, 60.0 + rng.gauss(0, 0.5)))
        humid = 250 <= i < 280
        readings.append(Reading("th-in/t", t, (12.0 if humid else 20.0) + rng.gauss(0, 0.1)))
        readings.append(Reading("th-in/rh", t, (93.0 if humid else 55.0) + rng.gauss(0, 0.5)))
    return readings


async def _alert_log(
    tmp_path: Path, batches: list[list[Reading]], *, every_clear: bool = False
) -> list[tuple[object, ...]]:
    """What the alert manager saved. ``every_clear``: pass it every clear evaluation, none
    skipped (the plain reading-by-reading behaviour the skipping must reproduce)."""
    log: list[tuple[object, ...]] = []

    async def save(alert: Alert, events: object, incident: object) -> None:
        log.append(
            (alert.sensor_id, alert.rule_id, alert.state, alert.severity, alert.opened_at,
             alert.updated_at, alert.resolved_at, alert.value)
        )  # fmt: skip

    async with open_store(f"sqlite:///{tmp_path / f'{len(batches)}.db'}") as store:
        from twin.pipeline import Pipeline

        manager = AlertManager(save=save)
        if every_clear:
            manager.clear_thresholds = lambda earliest: (float("-inf"), {})  # type: ignore[method-assign]
        pipeline = Pipeline(store, load_rules(), manager)
        await pipeline.add_building(building())
        for batch in batches:
            await pipeline.detect(batch)
    return log


async def test_large_batches_raise_and_resolve_exactly_as_reading_by_reading(
    tmp_path: Path,
) -> None:
    """Batches are judged channel by channel, skipping clear evaluations that cannot matter;
    the alerts must open, change and resolve at the same moments as one reading at a time
    with every clear evaluation passed on."""
    import random

    readings = _history(5)
    one_by_one = await _alert_log(tmp_path, [[r] for r in readings], every_clear=True)
    batches = [readings[i : i + 500] for i in range(0, len(readings), 500)]
    for batch in batches:
        random.Random(1).shuffle(batch)  # a batch arrives in any order
    large = await _alert_log(tmp_path, batches)
    rules = {(sensor, rule) for sensor, rule, *_ in one_by_one}
    assert {("th-out", "spike"), ("th-out", "stuck"), ("th-in", "condensation")} <= rules
    resolved = {(sensor, rule) for sensor, rule, state, *_ in one_by_one if state == "resolved"}
    # One resolved on its own (spike) and one on a channel judged with a covariate.
    assert {("th-out", "spike"), ("th-in", "condensation")} <= resolved
    assert large == one_by_one
