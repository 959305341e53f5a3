"""The Store contract, run against every backend (the ``store`` fixture is in conftest.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from data import Bucket, Store, StoreError, Summary, UnknownChannelError, open_store
from models.types import (
    Alert,
    AlertState,
    Building,
    DeadLetter,
    Reading,
    Severity,
    WaveformBlock,
)


async def test_building_round_trip(store: Store, hall: Building) -> None:
    assert await store.building("hall") == hall
    assert [b.id for b in await store.buildings()] == ["hall"]
    assert await store.building("missing") is None


async def test_put_building_again_updates_without_losing_readings(
    store: Store, hall: Building
) -> None:
    await store.write_readings([Reading("tilt-a/x", 100.0, 0.5)])
    await store.put_building(replace(hall, name="Renamed Hall"))
    assert (await store.building("hall")).name == "Renamed Hall"  # type: ignore[union-attr]
    assert await store.readings("tilt-a/x", 0, 200) == [Reading("tilt-a/x", 100.0, 0.5)]


async def test_repeated_reading_is_a_no_op(store: Store) -> None:
    batch = [Reading("tilt-a/x", 100.0, 0.5), Reading("tilt-a/x", 160.0, 0.6)]
    assert await store.write_readings(batch) == 2
    assert await store.write_readings(batch) == 0
    assert await store.write_readings([Reading("tilt-a/x", 100.0, 9.9)]) == 0
    assert [r.value for r in await store.readings("tilt-a/x", 0, 1000)] == [0.5, 0.6]


async def test_range_is_half_open_and_ordered(store: Store) -> None:
    await store.write_readings([Reading("th-a/t", t, t / 10) for t in (30.0, 10.0, 20.0)])
    got = await store.readings("th-a/t", 10.0, 30.0)
    assert [r.time for r in got] == [10.0, 20.0]
    assert len(await store.readings("th-a/t", 0, 100, limit=1)) == 1


async def test_unknown_channel(store: Store) -> None:
    with pytest.raises(UnknownChannelError):
        await store.write_readings([Reading("nope/x", 1.0, 1.0)])
    with pytest.raises(UnknownChannelError):
        await store.readings("nope/x", 0, 1)


async def test_latest_per_channel(store: Store) -> None:
    await store.write_readings(
        [Reading("tilt-a/x", 1.0, 0.1), Reading("tilt-a/x", 2.0, 0.2), Reading("th-a/t", 1.5, 20)]
    )
    latest = await store.latest("hall")
    assert latest == {
        "tilt-a/x": Reading("tilt-a/x", 2.0, 0.2),
        "th-a/t": Reading("th-a/t", 1.5, 20),
    }


async def test_alerts_saved_updated_and_filtered(store: Store) -> None:
    alert = Alert(
        id="a1",
        building_id="hall",
        sensor_id="tilt-a",
        channel_id="tilt-a/x",
        rule_id="tilt-limit",
        state=AlertState.OPEN,
        severity=Severity.WARNING,
        opened_at=10.0,
        updated_at=10.0,
        value=2.5,
        worst_value=2.5,
        limit=3.0,
        standard="GB 50007-2011",
        message="tilt",
        last_seen_at=10.0,
    )
    await store.save_alert(alert)
    alert.state, alert.resolved_at = AlertState.RESOLVED, 50.0
    await store.save_alert(alert)
    assert await store.alerts() == [alert]
    assert await store.alerts(state=AlertState.OPEN) == []
    assert await store.alerts(building_id="other") == []


async def test_dead_letters_newest_first(store: Store) -> None:
    letters = [
        DeadLetter(1.0, "not_json", "twin/v1/devices/d/readings", "d", "bad", b"{"),
        DeadLetter(2.0, "unknown_channel", "twin/v1/devices/d/readings", "d", "x", b"[]"),
    ]
    await store.write_dead_letters(letters)
    assert await store.dead_letters() == letters[::-1]


async def test_data_survives_reopening(store_url: str, hall: Building) -> None:
    url = store_url
    async with open_store(url) as s:
        await s.put_building(hall)
        await s.write_readings([Reading("th-a/t", 5.0, 21.0)])
    async with open_store(url) as s:
        assert await s.readings("th-a/t", 0, 10) == [Reading("th-a/t", 5.0, 21.0)]


def test_unsupported_url_says_what_to_use() -> None:
    with pytest.raises(StoreError, match="sqlite:///"):
        open_store("mysql://x")


async def test_batch_mixing_stored_and_new_readings_stores_only_the_new(store: Store) -> None:
    base = 1_800_000_000.0
    await store.write_readings([Reading("th-a/t", base + 10, 1.0)])
    # A redelivery joined by new readings, one of them twice in the same batch.
    mixed = [
        Reading("th-a/t", base + 10, 1.0),
        Reading("th-a/t", base + 20, 3.0),
        Reading("tilt-a/x", base + 5, 0.5),
        Reading("tilt-a/x", base + 5, 0.5),
    ]
    assert await store.write_readings(mixed) == 2
    assert [r.value for r in await store.readings("th-a/t", base, base + 60)] == [1.0, 3.0]
    assert await store.series("th-a/t", base, base + 60, Bucket.MINUTE) == [
        Summary(base, 2, 2.0, 1.0, 3.0)
    ]
    assert await store.series("tilt-a/x", base, base + 60, Bucket.HOUR) == [
        Summary(base, 1, 0.5, 0.5, 0.5)
    ]


async def test_series_summarises_per_bucket(store: Store) -> None:
    base = 1_800_000_000.0  # on a whole hour
    values = [(base + 10, 1.0), (base + 20, 3.0), (base + 70, 10.0), (base + 3600 + 5, -2.0)]
    await store.write_readings([Reading("th-a/t", t, v) for t, v in values])
    # A redelivered reading must not count twice in the rollups.
    await store.write_readings([Reading("th-a/t", base + 10, 1.0)])
    raw = await store.series("th-a/t", base, base + 7200, Bucket.RAW)
    assert [(s.time, s.mean) for s in raw] == [(t, v) for t, v in values]
    minutes = await store.series("th-a/t", base, base + 7200, Bucket.MINUTE)
    assert minutes == [
        Summary(base, 2, 2.0, 1.0, 3.0),
        Summary(base + 60, 1, 10.0, 10.0, 10.0),
        Summary(base + 3600, 1, -2.0, -2.0, -2.0),
    ]
    hours = await store.series("th-a/t", base, base + 7200, Bucket.HOUR)
    assert hours == [
        Summary(base, 3, 14.0 / 3, 1.0, 10.0),
        Summary(base + 3600, 1, -2.0, -2.0, -2.0),
    ]
    assert await store.series("th-a/t", base + 3600, base + 7200, Bucket.HOUR) == hours[1:]


def test_bucket_is_chosen_from_the_range() -> None:
    assert Bucket.for_range(0, 3600) is Bucket.RAW
    assert Bucket.for_range(0, 2 * 86_400) is Bucket.MINUTE
    assert Bucket.for_range(0, 90 * 86_400) is Bucket.HOUR


async def test_dead_letters_filtered_and_counted_per_reason(store: Store) -> None:
    await store.write_dead_letters(
        [
            DeadLetter(float(i), reason, "twin/v1/devices/d/readings", "d", "x", b"")
            for i, reason in enumerate(["not_json", "not_json", "unit_mismatch"])
        ]
    )
    assert await store.dead_letter_counts() == {"not_json": 2, "unit_mismatch": 1}
    only = await store.dead_letters(reason="unit_mismatch")
    assert [d.reason for d in only] == ["unit_mismatch"]


async def test_waveform_blocks_round_trip_and_repeat_is_a_no_op(store: Store) -> None:
    blocks = [
        WaveformBlock("tilt-a", axis, 100.0 + i, 200.0, tuple(float(k) / 7 for k in range(32)))
        for i in range(2)
        for axis in ("x", "z")
    ]
    assert await store.write_waveforms(blocks) == 4
    assert await store.write_waveforms(blocks[:1]) == 0
    got = await store.waveforms("tilt-a", 100.0, 101.0)
    assert got == [blocks[0], blocks[1]]
    assert await store.waveforms("tilt-a", 0, 1000, limit=3) == blocks[:3]


async def test_old_waveform_blocks_are_pruned(store: Store) -> None:
    blocks = [WaveformBlock("tilt-a", "x", t0, 100.0, (1.0,) * 16) for t0 in (10.0, 20.0, 30.0)]
    await store.write_waveforms(blocks)
    assert await store.prune_waveforms(25.0) == 2
    assert await store.waveforms("tilt-a", 0, 100) == blocks[2:]


async def test_ping_answers_while_open_and_fails_once_closed(store_url: str) -> None:
    store = open_store(store_url)
    async with store:
        await store.ping()
    with pytest.raises(Exception, match=r"(?i)clos|not open"):
        await store.ping()
