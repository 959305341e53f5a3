"""JSON shapes of the API, named by role; field names follow the domain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from data import Bucket, Summary
from models.types import Alert, Building, DeadLetter, Reading, Sensor

Vec = tuple[float, float, float]


def iso(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


class ChannelPublic(BaseModel):
    id: str
    metric: str
    unit: str


class SensorPublic(BaseModel):
    id: str
    kind: str
    device_id: str
    floor: int
    zone: str
    position: Vec
    normal: Vec
    expected_interval_s: float
    channels: list[ChannelPublic]

    @classmethod
    def of(cls, s: Sensor) -> SensorPublic:
        return cls(
            id=s.id,
            kind=s.kind.value,
            device_id=s.device_id,
            floor=s.floor,
            zone=s.zone,
            position=s.position,
            normal=s.normal,
            expected_interval_s=s.expected_interval_s,
            channels=[ChannelPublic(id=c.id, metric=c.metric, unit=c.unit) for c in s.channels],
        )


class BuildingPublic(BaseModel):
    id: str
    name: str
    address: str
    structure_type: str
    noise_zone: int
    bounds: tuple[Vec, Vec]
    sensors: list[SensorPublic]

    @classmethod
    def of(cls, b: Building) -> BuildingPublic:
        return cls(
            id=b.id,
            name=b.name,
            address=b.address,
            structure_type=b.structure_type,
            noise_zone=b.noise_zone,
            bounds=b.bounds,
            sensors=[SensorPublic.of(s) for s in b.sensors],
        )


class ReadingPublic(BaseModel):
    time: datetime
    value: float

    @classmethod
    def of(cls, r: Reading) -> ReadingPublic:
        return cls(time=iso(r.time), value=r.value)


class SummaryPublic(BaseModel):
    """One bucket of a series: its start, the mean as ``value``, min, max and count."""

    time: datetime
    value: float
    min: float
    max: float
    count: int

    @classmethod
    def of(cls, s: Summary) -> SummaryPublic:
        return cls(time=iso(s.time), value=s.mean, min=s.min, max=s.max, count=s.count)


class SeriesPublic(BaseModel):
    channel_id: str
    bucket: Bucket
    points: list[SummaryPublic]


ChannelStatus = Literal["ok", "stale", "no_data", "warning", "alarm"]


class ChannelState(BaseModel):
    channel_id: str
    sensor_id: str
    metric: str
    unit: str
    time: datetime | None
    value: float | None
    status: ChannelStatus


class AlertPublic(BaseModel):
    id: str
    building_id: str
    sensor_id: str
    channel_id: str
    rule_id: str
    state: str
    severity: str
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None
    value: float
    worst_value: float
    limit: float
    standard: str
    message: str
    incident_id: str
    acknowledged_at: datetime | None
    acknowledged_by: str
    shelved_until: datetime | None

    @classmethod
    def of(cls, a: Alert) -> AlertPublic:
        return cls(
            id=a.id,
            building_id=a.building_id,
            sensor_id=a.sensor_id,
            channel_id=a.channel_id,
            rule_id=a.rule_id,
            state=a.state.value,
            severity=a.severity.value,
            opened_at=iso(a.opened_at),
            updated_at=iso(a.updated_at),
            resolved_at=iso(a.resolved_at) if a.resolved_at is not None else None,
            value=a.value,
            worst_value=a.worst_value,
            limit=a.limit,
            standard=a.standard,
            message=a.message,
            incident_id=a.incident_id,
            acknowledged_at=iso(a.acknowledged_at) if a.acknowledged_at is not None else None,
            acknowledged_by=a.acknowledged_by,
            shelved_until=iso(a.shelved_until) if a.shelved_until is not None else None,
        )


class DeadLetterPublic(BaseModel):
    time: datetime
    reason: str
    topic: str
    device_id: str
    detail: str
    payload: str  # the first bytes, decoded with replacement characters

    @classmethod
    def of(cls, d: DeadLetter) -> DeadLetterPublic:
        return cls(
            time=iso(d.time),
            reason=d.reason,
            topic=d.topic,
            device_id=d.device_id,
            detail=d.detail,
            payload=d.payload.decode("utf-8", errors="replace"),
        )


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    database: Literal["ok", "down"]
    broker: Literal["connected", "disconnected"]
    mqtt_url: str


class BuildingRegistered(BuildingPublic):
    """A building just registered from an uploaded mesh, with what was done to the mesh."""

    mesh_format: str
    triangles: int
    repairs: list[str]  # what trimesh repaired, in words; empty when nothing needed it


class SensorPlaced(SensorPublic):
    """A sensor snapped onto the building surface; ``moved_m`` is how far it was moved."""

    moved_m: float


class SensorsImported(BaseModel):
    building_id: str
    added: list[str]
    replaced: list[str]
    sensors: list[SensorPlaced]  # the imported ones, in the layout's order
