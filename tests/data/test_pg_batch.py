"""Readings encoded for PostgreSQL: rollups against a plain group-by, times as it rounds."""

from __future__ import annotations

import struct
from collections import defaultdict

import numpy as np
import psycopg
import pytest

from data import open_store
from data.pg_batch import PG_EPOCH_S, ReadingBatch
from models.types import Building, Reading


def test_rollup_matches_a_plain_group_by() -> None:
    rng = np.random.default_rng(3)
    keys = rng.integers(1, 6, 2000).tolist()
    times = (1_800_000_000.0 + rng.uniform(-4000, 4000, 2000)).tolist()
    values = rng.normal(20, 5, 2000).tolist()
    batch = ReadingBatch.of(keys, times, values)
    for width in (60, 3600):
        expected: dict[tuple[int, float], list[float]] = defaultdict(list)
        for k, t, v in zip(keys, times, values, strict=True):
            expected[(k, t // width * width)].append(v)
        r = batch.rollup(width)
        starts = (r.buckets / 1e6 + PG_EPOCH_S).tolist()
        columns = (r.keys.tolist(), starts, r.n.tolist(), r.total, r.low, r.high)
        got = {(k, b): (n, total, lo, hi) for k, b, n, total, lo, hi in zip(*columns, strict=True)}
        assert got.keys() == expected.keys()
        for group, (n, total, lo, hi) in got.items():
            vs = expected[group]
            assert (n, lo, hi) == (len(vs), min(vs), max(vs))
            assert total == pytest.approx(sum(vs))


def test_copy_bytes_are_sorted_rows_in_network_order() -> None:
    batch = ReadingBatch.of([7, 2], [PG_EPOCH_S + 2.0, PG_EPOCH_S + 1.5], [1.25, -3.0])
    data = batch.copy_bytes()
    assert data.startswith(b"PGCOPY\n\xff\r\n\x00") and data.endswith(b"\xff\xff")
    row = struct.Struct(">hiiiqid")
    first = row.unpack_from(data, 19)
    second = row.unpack_from(data, 19 + row.size)
    assert first == (3, 4, 2, 8, 1_500_000, 8, -3.0)
    assert second == (3, 4, 7, 8, 2_000_000, 8, 1.25)
    assert len(data) == 19 + 2 * row.size + 2


async def test_times_round_as_postgresql_rounds(postgres_url: str, hall: Building) -> None:
    """The COPY path and the deduplicating path must see the same microsecond, or a
    redelivered reading would be stored twice."""
    t = 1_800_000_000.123456789
    async with open_store(postgres_url) as store:
        await store.put_building(hall)
        assert await store.write_readings([Reading("th-a/t", t, 1.0)]) == 1  # straight COPY
        again = [Reading("th-a/t", t, 1.0), Reading("th-a/t", t + 1, 2.0)]
        assert await store.write_readings(again) == 1  # deduplicated through staging
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT count(*), min(time) = to_timestamp(%s) FROM readings", (t,)
        ).fetchone()
    assert row == (2, True)
