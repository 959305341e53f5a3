"""A small blocking client of a running twin's API, for `twin view` and `twin snapshot`."""

from __future__ import annotations

import io
import json
import time as _time
import urllib.parse
import urllib.request
from datetime import datetime
from typing import TYPE_CHECKING, Any

from models.types import (
    Alert,
    AlertState,
    Building,
    Channel,
    Reading,
    Sensor,
    SensorKind,
    Severity,
)
from viewer.state import Frame, SensorState

if TYPE_CHECKING:
    import trimesh


class TwinApi:
    """Reads a building, its mesh, frames and readings from ``base_url`` (e.g. the demo)."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def building(self, building_id: str | None = None) -> Building:
        """The building ``building_id``, or the first registered one."""
        if building_id is None:
            listed = self._json("/api/v1/buildings")
            if not listed:
                raise LookupError(f"{self.base_url} has no buildings registered")
            return _building(listed[0])
        return _building(self._json(f"/api/v1/buildings/{_q(building_id)}"))

    def mesh(self, building_id: str) -> trimesh.Trimesh:
        import trimesh

        data = self._get(f"/api/v1/buildings/{_q(building_id)}/mesh.ply")
        loaded: Any = trimesh.load(io.BytesIO(data), file_type="ply", process=False)
        return loaded

    def frame(self, building_id: str, metric: str, at: float | None = None) -> Frame:
        query = {"metric": metric} | ({"at": str(at)} if at is not None else {})
        body = self._json(f"/api/v1/buildings/{_q(building_id)}/frame", query)
        sensors = body["sensors"]
        return Frame(
            time=datetime.fromisoformat(body["time"]).timestamp(),
            metric=metric,
            values={s["id"]: s["value"] for s in sensors if s["value"] is not None},
            states={s["id"]: SensorState(s["state"]) for s in sensors},
            health={s["id"]: s["zone_health"] for s in sensors},
            alerts=[_alert(a) for a in body["alerts"]],
        )

    def readings(self, channel_id: str, start: float, end: float) -> list[Reading]:
        query = {"start": str(start), "end": str(end), "limit": "100000"}
        path = f"/api/v1/channels/{urllib.parse.quote(channel_id, safe='/')}/readings"
        rows = self._json(path, query)
        return [
            Reading(channel_id, datetime.fromisoformat(r["time"]).timestamp(), r["value"])
            for r in rows
        ]

    def snapshot(self, building_id: str, query: dict[str, str]) -> bytes:
        return self._get(f"/api/v1/buildings/{_q(building_id)}/snapshot.png", query)

    def _json(self, path: str, query: dict[str, str] | None = None) -> Any:
        return json.loads(self._get(path, query))

    def _get(self, path: str, query: dict[str, str] | None = None) -> bytes:
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
            body: bytes = response.read()
            return body


def _q(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _ts(text: str | None) -> float | None:
    return None if text is None else datetime.fromisoformat(text).timestamp()


def _building(b: dict[str, Any]) -> Building:
    sensors = tuple(
        Sensor(
            id=s["id"],
            kind=SensorKind(s["kind"]),
            device_id=s["device_id"],
            floor=s["floor"],
            zone=s["zone"],
            position=tuple(s["position"]),
            normal=tuple(s["normal"]),
            channels=tuple(Channel(s["id"], c["metric"], c["unit"]) for c in s["channels"]),
            expected_interval_s=s["expected_interval_s"],
        )
        for s in b["sensors"]
    )
    lo, hi = b["bounds"]
    return Building(
        id=b["id"],
        name=b["name"],
        address=b["address"],
        structure_type=b["structure_type"],
        noise_zone=b["noise_zone"],
        bounds=(tuple(lo), tuple(hi)),
        model=f"api:{b['id']}",
        sensors=sensors,
    )


def _alert(a: dict[str, Any]) -> Alert:
    opened = _ts(a["opened_at"]) or _time.time()
    return Alert(
        id=a["id"],
        building_id=a["building_id"],
        sensor_id=a["sensor_id"],
        channel_id=a["channel_id"],
        rule_id=a["rule_id"],
        state=AlertState(a["state"]),
        severity=Severity(a["severity"]),
        opened_at=opened,
        updated_at=_ts(a["updated_at"]) or opened,
        value=a["value"],
        worst_value=a["worst_value"],
        limit=a["limit"],
        standard=a["standard"],
        message=a["message"],
        resolved_at=_ts(a["resolved_at"]),
    )
