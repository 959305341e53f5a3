"""`twin bench detect`: streaming detection throughput and waveform feature extraction.

Readings come from the simulator for every channel of the Nanjing Building, each sensor at
its reporting interval (in time order, covariates fed as the pipeline feeds them), and go
through all detectors each channel has, on one core. Generation happens before the clock
starts; only detection is timed (CPU time of this process, so other load matters less).
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import numpy as np

from alerts.catalogue import detectors_for
from alerts.detectors import Detector
from alerts.features import waveform_features
from alerts.rules import load_rules
from models.types import Building
from sensors.simulator import SensorModel

Stream = list[tuple[str, float, float]]  # (channel id, time, value) in time order


def simulated_stream(building: Building, start: float, hours: float, step_s: float) -> Stream:
    """Every channel of the building for ``hours``, each sensor at its own reporting interval
    (the mix ingest sees), on a grid of ``step_s``."""
    model = SensorModel(seed=11)
    out: Stream = []
    for t in np.arange(start, start + hours * 3600.0, step_s).tolist():
        for sensor in building.sensors:
            if round(t) % max(1, round(sensor.expected_interval_s)):
                continue
            out += [(ch.id, t, model.value(sensor, ch.metric, t)) for ch in sensor.channels]
    return out


def _detect_once(building: Building, stream: Stream, warm: Stream) -> tuple[float, int]:
    detectors = detectors_for(load_rules(), building)
    consumers: dict[str, list[Detector]] = defaultdict(list)
    for ds in detectors.values():
        for d in ds:
            for cid in d.covariates:
                consumers[cid].append(d)
    # Warm-up data first, so baselines are learned and the timed part is the steady state.
    for cid, t, x in warm:
        for c in consumers.get(cid, ()):
            c.feed(cid, t, x)
        for d in detectors.get(cid, ()):
            d.update(t, x)
    empty: tuple[Detector, ...] = ()
    begin = time.process_time()
    for cid, t, x in stream:
        for c in consumers.get(cid, empty):
            c.feed(cid, t, x)
        for d in detectors.get(cid, empty):
            d.update(t, x)
    return time.process_time() - begin, len(stream)


def bench_detect(
    *,
    runs: int = 5,
    hours: float = 12.0,
    blocks: int = 2000,
    block_samples: int = 1024,
    rate_hz: float = 200.0,
    progress: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Median readings/s through every detector of each channel, and waveform blocks/s."""
    from models.nanjing import load_nanjing

    _, building = load_nanjing()
    start = 1_780_000_000.0 - 1_780_000_000.0 % 60.0
    # Three days of readings teach the baselines (time of day, temperature).
    warm = simulated_stream(building, start, 72.0, 60.0)
    stream = simulated_stream(building, start + 72 * 3600.0, hours, 60.0)
    per_channel = [len(ds) for ds in detectors_for(load_rules(), building).values()]
    rates = []
    for i in range(runs):
        seconds, n = _detect_once(building, stream, warm)
        rates.append(n / seconds)
        progress(f"detect run {i + 1}/{runs}: {n / seconds:,.0f} readings/s")
    rng = np.random.default_rng(5)
    t = np.arange(block_samples) / rate_hz
    samples = 0.3 * np.sin(2 * np.pi * 1.85 * t) + 0.05 * rng.standard_normal(
        (blocks, block_samples)
    )
    block_rates = []
    for i in range(runs):
        begin = time.process_time()
        waveform_features(samples, rate_hz)
        block_rates.append(blocks / (time.process_time() - begin))
        progress(f"waveform run {i + 1}/{runs}: {block_rates[-1]:,.0f} blocks/s")
    return {
        "readings_per_s": statistics.median(rates),
        "readings_timed": len(stream),
        "channels": len(per_channel),
        "detectors_per_channel_mean": float(np.mean(per_channel)),
        "detectors_per_channel_max": max(per_channel),
        "waveform_blocks_per_s": statistics.median(block_rates),
        "waveform_block": f"{block_samples} samples at {rate_hz:g} Hz, {blocks} blocks per call",
        "runs": runs,
    }
