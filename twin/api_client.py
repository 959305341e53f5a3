"""A small blocking client of a running twin's API, for `twin view`, `twin snapshot`,
`twin buildings add` and `twin sensors import`."""

from __future__ import annotations

import io
import json
import time as _time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
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


# Layout files by extension, as the sensors route takes them.
LAYOUT_CONTENT_TYPES = {
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".csv": "text/csv",
}


class ApiError(OSError):
    """The twin answered with an error: its status and what it said (an OSError, as
    urllib's own HTTPError is, so callers that survive a twin going away survive this)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class TwinApi:
    """Reads a building, its mesh, frames and readings from ``base_url`` (e.g. the demo),
    sending ``token`` (``twin_...``) as a bearer token."""

    def __init__(self, base_url: str, *, token: str | None = None, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

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

    def register_building(
        self,
        mesh_path: Path,
        *,
        name: str,
        address: str = "",
        structure_type: str = "",
        noise_zone: int | None = None,
        building_id: str | None = None,
        timeout_s: float = 300.0,
    ) -> dict[str, Any]:
        """Upload a mesh file as a new building; the registered building, with ``repairs``.
        Raises ApiError when the twin refuses it, OSError when it cannot be reached."""
        fields = {"name": name, "address": address, "structure_type": structure_type}
        if noise_zone is not None:
            fields["noise_zone"] = str(noise_zone)
        if building_id:
            fields["id"] = building_id
        body, content_type = _multipart(
            {k: v for k, v in fields.items() if v}, "mesh", mesh_path.name, mesh_path.read_bytes()
        )
        result: dict[str, Any] = self._post("/api/v1/buildings", body, content_type, timeout_s)
        return result

    def import_sensors(
        self, building_id: str, layout_path: Path, *, max_distance_m: float | None = None
    ) -> dict[str, Any]:
        """Send a layout file (.json, .yaml/.yml or .csv) to add or replace a building's
        sensors; the answer lists each sensor with how far it moved (``moved_m``)."""
        content_type = LAYOUT_CONTENT_TYPES.get(layout_path.suffix.lower())
        if content_type is None:
            raise ValueError(
                f"{layout_path.name}: a layout file ends in {', '.join(LAYOUT_CONTENT_TYPES)}"
            )
        path = f"/api/v1/buildings/{_q(building_id)}/sensors"
        if max_distance_m is not None:
            path += "?" + urllib.parse.urlencode({"max_distance_m": max_distance_m})
        result: dict[str, Any] = self._post(
            path, layout_path.read_bytes(), content_type, max(self.timeout_s, 60.0)
        )
        return result

    def _post(self, path: str, body: bytes, content_type: str, timeout_s: float) -> Any:
        request = urllib.request.Request(
            self.base_url + path,
            data=body,
            method="POST",
            headers={"Content-Type": content_type, **self.headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, _detail(exc)) from None

    def _json(self, path: str, query: dict[str, str] | None = None) -> Any:
        return json.loads(self._get(path, query))

    def _get(self, path: str, query: dict[str, str] | None = None) -> bytes:
        url = self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(url, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body: bytes = response.read()
                return body
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, _detail(exc)) from None


def _multipart(
    fields: dict[str, str], file_field: str, filename: str, data: bytes
) -> tuple[bytes, str]:
    """A multipart/form-data body and its content type."""
    boundary = f"twin-{uuid.uuid4().hex}"
    safe_name = filename.replace('"', "%22").replace("\r", "").replace("\n", "")
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}";'
        f' filename="{safe_name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _detail(error: urllib.error.HTTPError) -> str:
    """What an error answer says: FastAPI's ``detail``, a string or validation errors."""
    raw = error.read()
    try:
        detail = json.loads(raw)["detail"]
    except (ValueError, KeyError, TypeError):
        return raw.decode("utf-8", errors="replace")[:500] or str(error.reason)
    if isinstance(detail, list):  # request validation: [{loc, msg, ...}]
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', ())[1:])}: {d.get('msg')}" for d in detail
        )
    return str(detail)


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
