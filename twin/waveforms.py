"""Readings derived from vibration waveform blocks: per-axis PPV, RMS and dominant frequency."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from alerts.features import waveform_features
from models.types import Channel, Reading, WaveformBlock

# metric prefix -> unit; each is suffixed with the block's axis, e.g. ``vib-roof/ppv_z``.
DERIVED = {"ppv": "mm/s", "rms": "mm/s", "f1": "Hz"}


def derived_channels(block: WaveformBlock) -> list[Channel]:
    return [Channel(block.sensor_id, f"{name}_{block.axis}", u) for name, u in DERIVED.items()]


def derive_readings(blocks: Sequence[WaveformBlock]) -> list[Reading]:
    """One reading per derived channel per block, at the block's start time.

    Blocks of the same rate and length go through one batched Welch call.
    """
    groups: dict[tuple[float, int], list[WaveformBlock]] = defaultdict(list)
    for block in blocks:
        groups[(block.rate_hz, len(block.samples))].append(block)
    readings = []
    for (rate_hz, _), group in groups.items():
        features = waveform_features(np.array([b.samples for b in group]), rate_hz)
        for i, block in enumerate(group):
            for name in DERIVED:
                value = float(features[name][i])
                if math.isfinite(value):  # f1 is NaN when a block shows no spectral peak
                    readings.append(
                        Reading(f"{block.sensor_id}/{name}_{block.axis}", block.t0, value)
                    )
    return readings
