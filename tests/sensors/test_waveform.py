"""Waveform blocks: parsed and judged as a whole, garbage never raises."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from models.types import WaveformBlock
from sensors.senml import Reason, Rejection
from sensors.waveform import RegisteredVibrationSensor, device_from_waveform_topic, parse_waveform

NOW = 1_800_000_000.0
SENSORS = {"vib-roof": RegisteredVibrationSensor("acc-roof")}


def block(**changes: object) -> bytes:
    body: dict[str, object] = {
        "sensor": "vib-roof", "axis": "z", "t0": NOW - 5, "rate_hz": 200,
        "unit": "mm/s", "samples": [0.5, -0.25] * 16,
    }  # fmt: skip
    body.update(changes)
    return json.dumps(body).encode()


def parse(payload: bytes, device: str = "acc-roof") -> WaveformBlock | Rejection:
    return parse_waveform(payload, device_id=device, now=NOW, sensors=SENSORS)


def test_a_valid_block() -> None:
    parsed = parse(block())
    assert parsed == WaveformBlock("vib-roof", "z", NOW - 5, 200.0, (0.5, -0.25) * 16)
    assert parsed.duration_s == 32 / 200


def test_metres_per_second_convert_to_mm_per_second() -> None:
    parsed = parse(block(unit="m/s", samples=[0.001] * 16))
    assert isinstance(parsed, WaveformBlock) and parsed.samples[0] == 1.0


def reason(payload: bytes, device: str = "acc-roof") -> Reason:
    parsed = parse(payload, device)
    assert isinstance(parsed, Rejection)
    return parsed.reason


def test_refusals_name_their_reason() -> None:
    assert reason(b"{") is Reason.NOT_JSON
    assert reason(b"[]") is Reason.BAD_RECORD
    assert reason(block(axis="w")) is Reason.BAD_RECORD
    assert reason(block(sensor="vib-ghost")) is Reason.UNKNOWN_CHANNEL
    assert reason(block(), device="acc-other") is Reason.WRONG_DEVICE
    assert reason(block(rate_hz=0)) is Reason.BAD_RECORD
    assert reason(block(unit="g")) is Reason.UNIT_MISMATCH
    assert reason(block(samples=[1.0] * 8)) is Reason.BAD_RECORD
    assert reason(block(samples=[1.0] * 15 + ["x"])) is Reason.NOT_NUMERIC
    assert reason(block(samples=[1.0] * 15 + [10**400])) is Reason.NOT_FINITE
    assert reason(block(t0=NOW + 86_400)) is Reason.TIME_OUT_OF_RANGE


def test_topic() -> None:
    assert device_from_waveform_topic("twin/v1/devices/acc-roof/waveform") == "acc-roof"
    assert device_from_waveform_topic("twin/v1/devices/acc-roof/readings") is None


field_values = (
    st.none()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.lists(st.floats(), max_size=40)
)
blocks = st.dictionaries(
    st.sampled_from(["sensor", "axis", "t0", "rate_hz", "unit", "samples"]), field_values
)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200) | blocks.map(lambda d: json.dumps(d).encode()))
def test_garbage_never_raises(payload: bytes) -> None:
    assert isinstance(parse(payload), WaveformBlock | Rejection)


def test_an_integer_too_long_to_convert_is_refused_not_raised() -> None:
    assert reason(block(t0=0).replace(b'"t0": 0', b'"t0": ' + b"9" * 5000)) is Reason.NOT_JSON
