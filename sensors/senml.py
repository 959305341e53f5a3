"""SenML (RFC 8428) readings from a device: parsed and judged record by record, no I/O.

Every record is judged on its own, so one bad record never costs the valid ones beside it.
A pack whose records are all valid, the usual case, takes a fast path: msgspec decodes and
type-checks it in C. Anything the fast path does not accept goes through the record-by-record
judge, which alone decides reasons, so both paths give the same result for every payload.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType

from models.types import Reading
from sensors.units import converter

DEVICE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
READINGS_TOPIC = re.compile(r"^twin/v1/devices/([^/]+)/readings$")

# RFC 8428 section 4.5.3: times below 2**28 are relative to "now".
_RELATIVE_TIME_LIMIT = 2**28


class Reason(StrEnum):
    """Why a message or record was refused; the dead-letter table stores these names."""

    BAD_TOPIC = "bad_topic"
    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    NOT_SENML = "not_senml"
    TOO_MANY_RECORDS = "too_many_records"
    BAD_RECORD = "bad_record"
    UNKNOWN_CHANNEL = "unknown_channel"
    WRONG_DEVICE = "wrong_device"
    UNIT_MISMATCH = "unit_mismatch"
    NOT_NUMERIC = "not_numeric"
    NOT_FINITE = "not_finite"
    TIME_OUT_OF_RANGE = "time_out_of_range"
    INTERNAL_ERROR = "internal_error"  # a bug of ours met this message; it is kept here


@dataclass(frozen=True, slots=True)
class RegisteredChannel:
    """What ingest needs to know of a channel: who may write it and in which unit."""

    device_id: str
    unit: str


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on what one message may carry."""

    max_payload_bytes: int = 1_048_576
    max_records: int = 10_000
    max_future_s: float = 300.0
    max_past_s: float = 30 * 86_400.0


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: Reason
    detail: str
    record: int | None = None  # index in the SenML array; None when the whole message failed


@dataclass(slots=True)
class ParseResult:
    readings: list[Reading] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def device_from_topic(topic: str) -> str | None:
    """The device id in ``twin/v1/devices/{device_id}/readings``, or None if malformed."""
    match = READINGS_TOPIC.match(topic)
    if match is None or not DEVICE_ID.match(match.group(1)):
        return None
    return match.group(1)


def parse_senml(
    payload: bytes,
    *,
    device_id: str,
    now: float,
    registry: Mapping[str, RegisteredChannel],
    limits: Limits = Limits(),
) -> ParseResult:
    """Judge a SenML JSON array from ``device_id`` received at ``now`` (epoch seconds)."""
    if len(payload) <= limits.max_payload_bytes:
        readings = _all_valid(payload, device_id, now, registry, limits)
        if readings is not None:
            return ParseResult(readings)
    return _judge_each(payload, device_id, now, registry, limits)


class _Record(msgspec.Struct):
    """A SenML record as the fast path accepts it: each field absent or of its type (an
    integer is taken as a float, a boolean or null is not)."""

    bn: str | UnsetType = UNSET
    bt: float | UnsetType = UNSET
    bu: str | UnsetType = UNSET
    bv: float | UnsetType = UNSET
    n: str | UnsetType = UNSET
    u: str | UnsetType = UNSET
    v: float | UnsetType = UNSET
    t: float | UnsetType = UNSET


_decode_pack = msgspec.json.Decoder(list[_Record]).decode


def _all_valid(
    payload: bytes,
    device_id: str,
    now: float,
    registry: Mapping[str, RegisteredChannel],
    limits: Limits,
) -> list[Reading] | None:
    """The readings of a pack whose every record is valid, else None (no reasons: the
    record-by-record judge gives them). Mirrors ``_judge`` for valid records exactly."""
    try:
        pack = _decode_pack(payload)
    except msgspec.DecodeError:  # also ValidationError: a field of the wrong type
        return None
    if not pack or len(pack) > limits.max_records:
        return None
    earliest, latest = now - limits.max_past_s, now + limits.max_future_s
    base_name, base_time, base_unit, base_value = "", 0.0, None, 0.0
    readings: list[Reading] = []
    for record in pack:
        if record.bn is not UNSET:
            base_name = record.bn
        if record.bt is not UNSET:
            base_time = record.bt
        if record.bu is not UNSET:
            base_unit = record.bu
        if record.bv is not UNSET:
            base_value = record.bv
        value = record.v
        if value is UNSET:
            return None
        name = base_name if record.n is UNSET else base_name + record.n
        channel = registry.get(name)
        if channel is None or channel.device_id != device_id:
            return None
        unit = base_unit if record.u is UNSET else record.u
        convert = None if unit is None else converter(unit, channel.unit)
        if convert is None:
            return None
        time = base_time if record.t is UNSET else base_time + record.t
        if abs(time) < _RELATIVE_TIME_LIMIT:
            time += now
        try:
            numeric = convert(base_value + value)
        except OverflowError:
            return None
        if not (math.isfinite(numeric) and earliest <= time <= latest):
            return None  # NaN and infinite times fail the range check too
        readings.append(Reading(name, time, numeric))
    return readings


def _judge_each(
    payload: bytes,
    device_id: str,
    now: float,
    registry: Mapping[str, RegisteredChannel],
    limits: Limits,
) -> ParseResult:
    """Judge every record on its own, with the reason for each one refused."""
    result = ParseResult()
    if len(payload) > limits.max_payload_bytes:
        result.rejections.append(
            Rejection(Reason.TOO_LARGE, f"{len(payload)} bytes > {limits.max_payload_bytes}")
        )
        return result
    try:
        pack = json.loads(payload)
    # ValueError covers JSONDecodeError and integers too long to convert (over 4300 digits).
    except (ValueError, RecursionError) as exc:
        result.rejections.append(Rejection(Reason.NOT_JSON, str(exc)[:200]))
        return result
    if not isinstance(pack, list) or not pack:
        result.rejections.append(
            Rejection(Reason.NOT_SENML, "a SenML pack is a non-empty JSON array of records")
        )
        return result
    if len(pack) > limits.max_records:
        result.rejections.append(
            Rejection(Reason.TOO_MANY_RECORDS, f"{len(pack)} records > {limits.max_records}")
        )
        return result

    base = _Base()
    for index, record in enumerate(pack):
        outcome = _judge(record, base, device_id, now, registry, limits)
        if isinstance(outcome, Reading):
            result.readings.append(outcome)
        else:
            reason, detail = outcome
            result.rejections.append(Rejection(reason, detail, index))
    return result


@dataclass(slots=True)
class _Base:
    """Base fields carry over from a record to every later one (RFC 8428 section 4.1)."""

    name: str = ""
    time: float = 0.0
    unit: str | None = None
    value: float = 0.0


_NUMERIC = (int, float)


def _number(x: Any) -> bool:
    # A tuple, not ``int | float``: the union would be rebuilt on every call (hot path).
    return type(x) is float or (isinstance(x, _NUMERIC) and not isinstance(x, bool))


def _float(x: int | float) -> float:
    """JSON integers are unbounded; one too big for a float becomes inf and is refused later."""
    try:
        return float(x)
    except OverflowError:
        return math.inf


def _judge(
    record: Any,
    base: _Base,
    device_id: str,
    now: float,
    registry: Mapping[str, RegisteredChannel],
    limits: Limits,
) -> Reading | tuple[Reason, str]:
    if not isinstance(record, dict):
        return Reason.BAD_RECORD, "a SenML record is a JSON object"
    # Base fields first: they apply to this record too, even if the record is refused later.
    if "bn" in record:
        if not isinstance(record["bn"], str):
            return Reason.BAD_RECORD, "bn must be a string"
        base.name = record["bn"]
    if "bt" in record:
        if not _number(record["bt"]):
            return Reason.BAD_RECORD, "bt must be a number"
        base.time = _float(record["bt"])
    if "bu" in record:
        if not isinstance(record["bu"], str):
            return Reason.BAD_RECORD, "bu must be a string"
        base.unit = record["bu"]
    if "bv" in record:
        if not _number(record["bv"]):
            return Reason.BAD_RECORD, "bv must be a number"
        base.value = _float(record["bv"])

    name = record.get("n", "")
    if not isinstance(name, str):
        return Reason.BAD_RECORD, "n must be a string"
    full_name = base.name + name
    if "v" not in record:
        if any(k in record for k in ("vs", "vb", "vd")):
            return Reason.NOT_NUMERIC, f"{full_name}: only numeric values (v) are accepted"
        if "n" not in record and "u" not in record and "t" not in record:
            return Reason.BAD_RECORD, "record carries only base fields"  # nothing to store
        return Reason.BAD_RECORD, f"{full_name}: record has no value"
    value = record["v"]
    if not _number(value):
        return Reason.NOT_NUMERIC, f"{full_name}: v must be a number"

    channel = registry.get(full_name)
    if channel is None:
        return Reason.UNKNOWN_CHANNEL, f"no channel named {full_name!r}"[:200]
    if channel.device_id != device_id:
        return Reason.WRONG_DEVICE, f"{full_name} belongs to another device, not {device_id}"

    unit = record.get("u", base.unit)
    if not isinstance(unit, str):
        return Reason.UNIT_MISMATCH, f"{full_name}: no unit given, expected {channel.unit}"
    convert = converter(unit, channel.unit)
    if convert is None:
        return Reason.UNIT_MISMATCH, f"{full_name}: unit {unit!r}, expected {channel.unit}"[:200]

    t = record.get("t", 0.0)
    if not _number(t):
        return Reason.BAD_RECORD, f"{full_name}: t must be a number"
    time = base.time + _float(t)
    if abs(time) < _RELATIVE_TIME_LIMIT:
        time += now
    try:
        numeric = convert(base.value + _float(value))
    except OverflowError:
        numeric = math.inf
    if not (math.isfinite(numeric) and math.isfinite(time)):
        return Reason.NOT_FINITE, f"{full_name}: value and time must be finite"
    if time > now + limits.max_future_s or time < now - limits.max_past_s:
        return Reason.TIME_OUT_OF_RANGE, f"{full_name}: time {time:.0f} too far from now {now:.0f}"
    return Reading(full_name, time, numeric)
