"""Stored readings reach detection in order, several batches at once, never much later."""

from __future__ import annotations

import asyncio
from pathlib import Path

from models.types import DeadLetter, Reading, WaveformBlock
from sensors.ingest import JUDGE_EVERY_S, Ingest
from sensors.mqtt import MqttEndpoint


async def _no_store(
    readings: list[Reading], letters: list[DeadLetter], blocks: list[WaveformBlock]
) -> list[Reading]:
    raise AssertionError("not stored in this test")


async def test_small_batches_are_judged_together_in_order_and_a_full_one_at_once(
    tmp_path: Path,
) -> None:
    judged: list[list[float]] = []
    first = asyncio.Event()

    async def after_store(readings: list[Reading]) -> None:
        judged.append([r.time for r in readings])
        first.set()

    ingest = Ingest(
        MqttEndpoint("127.0.0.1"),  # never connected here
        registry=dict,
        store=_no_store,
        spool_dir=tmp_path,
        after_store=after_store,
        batch_max=100,
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    for k in range(3):
        await ingest._pass_on([Reading("c/x", 10.0 * k + i, 1.0) for i in range(10)])
    assert judged == []  # gathered, not yet judged
    await asyncio.wait_for(first.wait(), timeout=5)
    assert judged == [[float(t) for t in range(30)]]
    assert loop.time() - started < JUDGE_EVERY_S + 0.5  # judged soon, not whenever
    await ingest._pass_on([Reading("c/x", 100.0 + i, 1.0) for i in range(100)])
    assert len(judged) == 2 and len(judged[1]) == 100  # a full batch waits for no timer
