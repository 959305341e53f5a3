"""Vibration waveform blocks from a device (DESIGN.md wire format), parsed and judged; no I/O.

``{"sensor": "vib-roof", "axis": "z", "t0": <epoch s>, "rate_hz": 200, "unit": "mm/s",
"samples": [...]}`` on ``twin/v1/devices/{device_id}/waveform``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from models.types import WaveformBlock
from sensors.senml import DEVICE_ID, Limits, Reason, Rejection
from sensors.units import converter

WAVEFORM_TOPIC = re.compile(r"^twin/v1/devices/([^/]+)/waveform$")
AXES = frozenset({"x", "y", "z"})
MIN_SAMPLES = 16
MAX_SAMPLES = 65_536
MAX_RATE_HZ = 20_000.0


@dataclass(frozen=True, slots=True)
class RegisteredVibrationSensor:
    """What waveform ingest needs to know of a sensor: which device may send its blocks."""

    device_id: str


def device_from_waveform_topic(topic: str) -> str | None:
    match = WAVEFORM_TOPIC.match(topic)
    if match is None or not DEVICE_ID.match(match.group(1)):
        return None
    return match.group(1)


def parse_waveform(
    payload: bytes,
    *,
    device_id: str,
    now: float,
    sensors: Mapping[str, RegisteredVibrationSensor],
    limits: Limits = Limits(),  # noqa: B008 - frozen, shared safely
) -> WaveformBlock | Rejection:
    """One block, or the reason it is refused."""
    if len(payload) > limits.max_payload_bytes:
        return Rejection(Reason.TOO_LARGE, f"{len(payload)} bytes > {limits.max_payload_bytes}")
    try:
        block = json.loads(payload)
    # ValueError covers JSONDecodeError and integers too long to convert (over 4300 digits).
    except (ValueError, RecursionError) as exc:
        return Rejection(Reason.NOT_JSON, str(exc)[:200])
    if not isinstance(block, dict):
        return Rejection(Reason.BAD_RECORD, "a waveform block is a JSON object")
    sensor_id, axis, t0 = block.get("sensor"), block.get("axis"), block.get("t0")
    rate_hz, unit, samples = block.get("rate_hz"), block.get("unit"), block.get("samples")
    if not isinstance(sensor_id, str) or not isinstance(axis, str) or axis not in AXES:
        return Rejection(Reason.BAD_RECORD, "sensor must be a string and axis one of x, y, z")
    registered = sensors.get(sensor_id)
    if registered is None:
        return Rejection(Reason.UNKNOWN_CHANNEL, f"no vibration sensor named {sensor_id!r}"[:200])
    if registered.device_id != device_id:
        return Rejection(Reason.WRONG_DEVICE, f"{sensor_id} belongs to another device")
    start, rate = _float(t0), _float(rate_hz)
    if start is None or rate is None or not 0 < rate <= MAX_RATE_HZ:
        return Rejection(
            Reason.BAD_RECORD, f"t0 must be a number and 0 < rate_hz <= {MAX_RATE_HZ:g}"
        )
    convert = converter(unit, "mm/s") if isinstance(unit, str) else None
    if convert is None:
        return Rejection(Reason.UNIT_MISMATCH, f"unit {unit!r}: expected mm/s or m/s"[:200])
    if not isinstance(samples, list) or not MIN_SAMPLES <= len(samples) <= MAX_SAMPLES:
        return Rejection(
            Reason.BAD_RECORD, f"samples must be a list of {MIN_SAMPLES} to {MAX_SAMPLES} numbers"
        )
    numbers = [_float(x) for x in samples]
    if any(x is None for x in numbers):
        return Rejection(Reason.NOT_NUMERIC, "every sample must be a number")
    values = tuple(convert(x) for x in numbers if x is not None)
    if not (math.isfinite(start) and all(math.isfinite(v) for v in values)):
        return Rejection(Reason.NOT_FINITE, "t0 and every sample must be finite")
    if start > now + limits.max_future_s or start < now - limits.max_past_s:
        return Rejection(Reason.TIME_OUT_OF_RANGE, f"t0 {start:.0f} too far from now {now:.0f}")
    return WaveformBlock(sensor_id, axis, start, rate, values)


def _float(x: object) -> float | None:
    """A JSON number as a float (inf if too big for one); None for anything else."""
    if not isinstance(x, int | float) or isinstance(x, bool):
        return None
    try:
        return float(x)
    except OverflowError:
        return math.inf
