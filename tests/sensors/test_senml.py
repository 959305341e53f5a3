"""SenML parsing and validation: each record judged alone, garbage never raises."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sensors.senml import (
    Limits,
    Reason,
    RegisteredChannel,
    _judge_each,
    device_from_topic,
    parse_senml,
)

NOW = 1_800_000_000.0
REGISTRY = {
    "th-2f-in/t": RegisteredChannel("gw-2f", "Cel"),
    "th-2f-in/rh": RegisteredChannel("gw-2f", "%RH"),
    "tilt-ne/x": RegisteredChannel("tilt-dev", "mrad"),
}


def parse(records: object, device: str = "gw-2f", limits: Limits = Limits()):  # noqa: B008
    payload = records if isinstance(records, bytes) else json.dumps(records).encode()
    return parse_senml(payload, device_id=device, now=NOW, registry=REGISTRY, limits=limits)


def test_base_name_and_time_resolve_like_the_design_example() -> None:
    result = parse(
        [
            {"bn": "th-2f-in/", "bt": NOW - 10, "n": "t", "u": "Cel", "v": 21.4},
            {"n": "rh", "u": "%RH", "v": 63, "t": 5},
        ]
    )
    assert result.rejections == []
    assert [(r.channel_id, r.time, r.value) for r in result.readings] == [
        ("th-2f-in/t", NOW - 10, 21.4),
        ("th-2f-in/rh", NOW - 5, 63.0),
    ]


def test_record_without_time_is_now_and_relative_times_count_from_now() -> None:
    result = parse(
        [
            {"n": "th-2f-in/t", "u": "Cel", "v": 20},
            {"n": "th-2f-in/rh", "u": "%RH", "v": 50, "t": -30},
        ]
    )
    assert [r.time for r in result.readings] == [NOW, NOW - 30]


def test_bad_record_costs_nothing_beside_it() -> None:
    result = parse(
        [
            {"n": "th-2f-in/t", "u": "Cel", "v": 20.5},
            {"n": "nope/t", "u": "Cel", "v": 1},
            {"n": "th-2f-in/rh", "u": "Cel", "v": 60},
            {"n": "th-2f-in/rh", "u": "%RH", "v": "wet"},
            "not a record",
            {"n": "tilt-ne/x", "u": "mrad", "v": 0.3},
            {"n": "th-2f-in/rh", "u": "%RH", "v": 61, "t": NOW + 86_400},
            {"n": "th-2f-in/rh", "u": "%RH", "v": 62},
        ]
    )
    assert [r.channel_id for r in result.readings] == ["th-2f-in/t", "th-2f-in/rh"]
    assert [(j.record, j.reason) for j in result.rejections] == [
        (1, Reason.UNKNOWN_CHANNEL),
        (2, Reason.UNIT_MISMATCH),
        (3, Reason.NOT_NUMERIC),
        (4, Reason.BAD_RECORD),
        (5, Reason.WRONG_DEVICE),
        (6, Reason.TIME_OUT_OF_RANGE),
    ]


def test_nan_and_infinity_are_refused() -> None:
    payload = (
        b'[{"n":"th-2f-in/t","u":"Cel","v":NaN},{"n":"th-2f-in/t","u":"Cel","v":Infinity},'
        b'{"n":"th-2f-in/t","u":"Cel","v":1e999},{"n":"th-2f-in/rh","u":"%RH","v":50}]'
    )
    result = parse(payload)
    assert [j.reason for j in result.rejections] == [Reason.NOT_FINITE] * 3
    assert len(result.readings) == 1


def test_units_convert_to_the_registered_one() -> None:
    result = parse([{"n": "th-2f-in/t", "u": "K", "v": 294.15}])
    assert result.readings[0].value == 21.0
    tilt = parse([{"n": "tilt-ne/x", "u": "rad", "v": 0.0005}], device="tilt-dev")
    assert abs(tilt.readings[0].value - 0.5) < 1e-12


def test_missing_unit_is_refused() -> None:
    result = parse([{"n": "th-2f-in/t", "v": 20}])
    assert result.rejections[0].reason is Reason.UNIT_MISMATCH


def test_whole_message_failures() -> None:
    assert parse(b"{not json").rejections[0].reason is Reason.NOT_JSON
    assert parse(b"\xff\xfe").rejections[0].reason is Reason.NOT_JSON
    assert parse({"n": "x"}).rejections[0].reason is Reason.NOT_SENML
    assert parse([]).rejections[0].reason is Reason.NOT_SENML
    big = parse(b"[" + b" " * 2000 + b"]", limits=Limits(max_payload_bytes=1000))
    assert big.rejections[0].reason is Reason.TOO_LARGE
    many = parse([{"n": "th-2f-in/t", "u": "Cel", "v": 1}] * 11, limits=Limits(max_records=10))
    assert many.rejections[0].reason is Reason.TOO_MANY_RECORDS and many.readings == []


def test_device_from_topic() -> None:
    assert device_from_topic("twin/v1/devices/gw-2f/readings") == "gw-2f"
    assert device_from_topic("twin/v1/devices/gw 2f/readings") is None
    assert device_from_topic("twin/v1/devices/gw/x/readings") is None
    assert device_from_topic("other") is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
senml_keys = st.sampled_from(["bn", "bt", "bu", "bv", "n", "u", "v", "t", "vs", "vb"])
records = st.dictionaries(senml_keys, json_values | st.sampled_from(list(REGISTRY)), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(payload: bytes) -> None:
    result = parse(payload)
    assert result.readings == [] or all(r.channel_id in REGISTRY for r in result.readings)


@settings(max_examples=300, deadline=None)
@given(st.lists(records | json_values, max_size=8))
def test_arbitrary_senml_like_packs_are_judged_record_by_record(pack: list[object]) -> None:
    result = parse(pack)
    judged = {j.record for j in result.rejections}
    # Every record is either a reading or a rejection, never lost and never both.
    assert len(result.readings) + len(judged) == len(pack) or (not pack and result.rejections)
    for reading in result.readings:
        assert reading.channel_id in REGISTRY


def test_an_integer_too_long_to_convert_is_refused_not_raised() -> None:
    payload = b'[{"n":"th-2f-in/t","u":"Cel","v":' + b"1" * 5000 + b"}]"
    assert parse(payload).rejections[0].reason is Reason.NOT_JSON


# Values that are valid, of the wrong type, or at the edges of what a float holds.
_FIELD_VALUES = st.one_of(
    st.sampled_from(["th-2f-in/", "t", "rh", "tilt-ne/x", "", "Cel", "K", "%RH", "mrad"]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([NOW, NOW - 100.0, -5.0, 0, True, None, [], {}, 1e308]),
)
_RECORDS = st.lists(
    st.dictionaries(
        st.sampled_from(["bn", "bt", "bu", "bv", "n", "u", "v", "t", "vs"]), _FIELD_VALUES
    ),
    max_size=6,
)


@given(
    st.one_of(
        _RECORDS,
        # Mostly valid packs, so the fast path is taken and compared too.
        st.lists(
            st.fixed_dictionaries(
                {"n": st.sampled_from(["th-2f-in/t", "th-2f-in/rh"]), "u": st.just("Cel")},
                optional={"v": st.floats(-50, 50) | st.integers(-50, 50), "t": st.integers(-9, 9)},
            ),
            min_size=1,
            max_size=5,
        ),
    )
)
@settings(max_examples=400, deadline=None)
def test_fast_path_and_record_by_record_judge_agree(records: list[dict[str, object]]) -> None:
    payload = json.dumps(records).encode()  # NaN and Infinity literals included, as json allows
    fast = parse(payload)
    judged = _judge_each(payload, "gw-2f", NOW, REGISTRY, Limits())
    assert fast == judged
