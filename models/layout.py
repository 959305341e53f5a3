"""Sensor layout files: parse and validate them, then snap each sensor onto the mesh."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trimesh
import trimesh.proximity
import yaml

from models.types import Channel, Sensor, SensorKind, Vec3

# What each kind measures unless a layout entry lists its own ``channels``.
DEFAULT_CHANNELS: Mapping[SensorKind, tuple[tuple[str, str], ...]] = {
    SensorKind.VIBRATION: (("ppv", "mm/s"), ("f1", "Hz")),
    SensorKind.TILT: (("x", "mrad"), ("y", "mrad"), ("t", "Cel")),
    SensorKind.CLIMATE: (("t", "Cel"), ("rh", "%RH")),
    SensorKind.NOISE: (("laeq", "dB"), ("lmax", "dB")),
}
# How often each kind reports unless an entry says otherwise (feeds "gone silent").
DEFAULT_INTERVAL_S: Mapping[SensorKind, float] = {
    SensorKind.VIBRATION: 60.0,
    SensorKind.TILT: 600.0,
    SensorKind.CLIMATE: 300.0,
    SensorKind.NOISE: 60.0,
}
# A sensor on a roof or ceiling slab may name the storey below it.
FLOOR_TOLERANCE_M = 0.35

ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_METRIC_PATTERN = re.compile(r"^[A-Za-z0-9_]{1,32}$")
_REQUIRED = ("id", "kind", "device", "floor", "zone", "position")
_KNOWN = frozenset({*_REQUIRED, "channels", "expected_interval_s"})

LAYOUT_FORMATS = ("yaml", "json", "csv")
# CSV layouts: one sensor a row; ``position`` is split into x, y, z; ``channels`` (optional)
# reads ``metric:unit`` pairs separated by ``;``, e.g. ``t:Cel;rh:%RH``; empty optional cells
# take the kind's defaults.
CSV_COLUMNS = ("id", "kind", "device", "floor", "zone", "x", "y", "z")
CSV_OPTIONAL_COLUMNS = ("channels", "expected_interval_s")


class LayoutError(ValueError):
    """A layout that cannot be used; the message names the offending sensor."""


@dataclass(frozen=True, slots=True)
class SensorSpec:
    """One validated layout entry before it is placed on a mesh."""

    id: str
    kind: SensorKind
    device: str
    floor: int
    zone: str
    position: Vec3
    channels: tuple[tuple[str, str], ...]
    expected_interval_s: float


def nanjing_layout_path() -> Path:
    """The packaged layout of the Nanjing Building."""
    return Path(__file__).parent / "layouts" / "nanjing.yaml"


def load_layout(source: str | Path) -> list[SensorSpec]:
    """Read a YAML layout file: a list of entries, or a mapping with a ``sensors`` list."""
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LayoutError(f"cannot read layout {str(path)!r}: {exc}") from exc
    return parse_layout_text(text, "yaml", source=str(path))


def parse_layout_text(
    text: str, fmt: str, *, source: str = "layout", building_id: str | None = None
) -> list[SensorSpec]:
    """Validate a layout written as YAML, JSON or CSV (``fmt``, one of LAYOUT_FORMATS).

    YAML and JSON hold a list of entries, or a mapping with a ``sensors`` list and
    optionally the ``building`` it is for, which must then be ``building_id`` when given.
    CSV has a header row naming CSV_COLUMNS (see ``_csv_entries``).
    """
    if fmt == "csv":
        try:
            return parse_layout(_csv_entries(text, source))
        except csv.Error as exc:  # e.g. a cell over the csv module's field size limit
            raise LayoutError(f"cannot read layout {source!r} as csv: {exc}") from exc
    if fmt not in LAYOUT_FORMATS:
        raise LayoutError(f"unknown layout format {fmt!r}; expected one of {LAYOUT_FORMATS}")
    try:
        document = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    # JSONDecodeError is a ValueError; deep nesting overflows either parser's recursion.
    except (ValueError, RecursionError, yaml.YAMLError) as exc:
        raise LayoutError(f"cannot read layout {source!r} as {fmt}: {exc}"[:500]) from exc
    if isinstance(document, dict):
        unknown = set(document) - {"building", "sensors"}
        if unknown:
            raise LayoutError(f"layout {source!r} has unknown keys {sorted(map(str, unknown))}")
        named = document.get("building")
        if building_id is not None and named is not None and named != building_id:
            raise LayoutError(f"layout {source!r} is for building {named!r}, not {building_id!r}")
        document = document.get("sensors")
    if not isinstance(document, list):
        raise LayoutError(f"layout {source!r} must hold a list of sensors")
    return parse_layout(document)


def parse_layout(entries: Sequence[Mapping[str, Any]]) -> list[SensorSpec]:
    """Validate parsed layout entries (from YAML, JSON or CSV rows)."""
    specs: list[SensorSpec] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        spec = _parse_entry(index, entry)
        if spec.id in seen:
            raise LayoutError(f"sensor {spec.id!r}: duplicate id")
        seen.add(spec.id)
        specs.append(spec)
    if not specs:
        raise LayoutError("layout has no sensors")
    return specs


def place_sensors(
    specs: Sequence[SensorSpec],
    mesh: trimesh.Trimesh,
    *,
    max_distance_m: float = 1.0,
    storey_at: Callable[[float], int] | None = None,
) -> list[Sensor]:
    """Snap every sensor to the nearest mesh surface point, taking that face's normal.

    Sensors farther than ``max_distance_m`` are refused, all of them named in one error.
    With ``storey_at`` (z -> storey level) each sensor's floor is checked too.
    """
    if not specs:
        return []
    points = np.array([s.position for s in specs], dtype=np.float64)
    if len(mesh.faces) == 0:
        raise LayoutError("cannot place sensors: the mesh has no triangles")
    closest, distance, triangle_id = trimesh.proximity.closest_point(mesh, points)
    too_far = [
        f"sensor {spec.id!r}: position is {dist:.2f} m from the building surface"
        f" (limit {max_distance_m:.2f} m)"
        for spec, dist in zip(specs, distance, strict=True)
        if dist > max_distance_m
    ]
    if too_far:
        raise LayoutError("; ".join(too_far))
    normals = np.asarray(mesh.face_normals)[triangle_id]
    sensors = []
    for spec, point, normal in zip(specs, closest, normals, strict=True):
        if storey_at is not None:
            _check_floor(spec, float(point[2]), storey_at)
        sensors.append(
            Sensor(
                id=spec.id,
                kind=spec.kind,
                device_id=spec.device,
                floor=spec.floor,
                zone=spec.zone,
                position=_vec3(np.round(point, 3)),
                normal=_vec3(normal),
                channels=tuple(Channel(spec.id, m, u) for m, u in spec.channels),
                expected_interval_s=spec.expected_interval_s,
            )
        )
    return sensors


def _vec3(v: np.ndarray) -> Vec3:
    # + 0.0 turns -0.0 into 0.0, which would otherwise leak into stored rows and JSON
    return (float(v[0]) + 0.0, float(v[1]) + 0.0, float(v[2]) + 0.0)


def _check_floor(spec: SensorSpec, z: float, storey_at: Callable[[float], int]) -> None:
    try:
        allowed = {storey_at(z), storey_at(z - FLOOR_TOLERANCE_M)}
    except ValueError as exc:
        raise LayoutError(f"sensor {spec.id!r}: {exc}") from exc
    if spec.floor not in allowed:
        expected = " or ".join(str(level) for level in sorted(allowed))
        raise LayoutError(
            f"sensor {spec.id!r}: floor {spec.floor} does not match its height"
            f" z={z:.2f} m (storey {expected})"
        )


def _parse_entry(index: int, entry: Mapping[str, Any]) -> SensorSpec:
    if not isinstance(entry, Mapping):
        raise LayoutError(f"sensor #{index}: entry must be a mapping, not {type(entry).__name__}")
    sensor_id = entry.get("id")
    if not isinstance(sensor_id, str) or not ID_PATTERN.match(sensor_id):
        raise LayoutError(f"sensor #{index}: id {sensor_id!r} must match {ID_PATTERN.pattern}")

    def fail(reason: str) -> LayoutError:
        return LayoutError(f"sensor {sensor_id!r}: {reason}")

    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        raise fail(f"missing {', '.join(missing)}")
    unknown = set(entry) - _KNOWN
    if unknown:
        raise fail(f"unknown keys {sorted(unknown)}")
    try:
        kind = SensorKind(entry["kind"])
    except ValueError:
        raise fail(f"unknown kind {entry['kind']!r}") from None
    device = entry["device"]
    if not isinstance(device, str) or not ID_PATTERN.match(device):
        raise fail(f"device id {device!r} must match {ID_PATTERN.pattern}")
    floor = entry["floor"]
    if isinstance(floor, bool) or not isinstance(floor, int):
        raise fail(f"floor {floor!r} must be an integer")
    zone = entry["zone"]
    if not isinstance(zone, str) or not zone.strip():
        raise fail(f"zone {zone!r} must be a non-empty string")
    return SensorSpec(
        id=sensor_id,
        kind=kind,
        device=device,
        floor=floor,
        zone=zone,
        position=_position(entry["position"], fail),
        channels=_channels(entry.get("channels"), kind, fail),
        expected_interval_s=_interval(entry.get("expected_interval_s"), kind, fail),
    )


def _csv_entries(text: str, source: str) -> list[dict[str, Any]]:
    """Layout entries from CSV rows, with cells turned into the YAML layout's types."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        raise LayoutError(
            f"layout {source!r}: CSV header lacks {', '.join(missing)}; columns are"
            f" {', '.join(CSV_COLUMNS + CSV_OPTIONAL_COLUMNS)}"
        )
    unknown = sorted(set(header) - set(CSV_COLUMNS) - set(CSV_OPTIONAL_COLUMNS))
    if unknown:
        raise LayoutError(f"layout {source!r}: unknown CSV columns {unknown}")
    return [_csv_entry(row, reader.line_num) for row in reader]


def _csv_entry(row: dict[str | None, Any], line: int) -> dict[str, Any]:
    name = f"sensor {row.get('id')!r}" if row.get("id") else f"CSV line {line}"

    def convert(column: str, kind: Callable[[str], Any], what: str) -> Any:
        cell = (row.get(column) or "").strip()
        try:
            return kind(cell)
        except ValueError:
            raise LayoutError(f"{name}: {column} {cell!r} must be {what}") from None

    if None in row or any(cell is None for cell in row.values()):
        raise LayoutError(f"{name}: the row has a different number of cells than the header")
    entry: dict[str, Any] = {k: row[k].strip() for k in ("id", "kind", "device", "zone")}
    entry["floor"] = convert("floor", int, "an integer")
    entry["position"] = [convert(axis, float, "a number") for axis in ("x", "y", "z")]
    if (row.get("expected_interval_s") or "").strip():
        entry["expected_interval_s"] = convert("expected_interval_s", float, "a number")
    if (row.get("channels") or "").strip():
        entry["channels"] = convert("channels", _csv_channels, "metric:unit pairs split by ';'")
    return entry


def _csv_channels(cell: str) -> list[dict[str, str]]:
    channels = []
    for pair in cell.split(";"):
        metric, sep, unit = pair.partition(":")
        if not sep:
            raise ValueError(pair)
        channels.append({"metric": metric.strip(), "unit": unit.strip()})
    return channels


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _position(value: Any, fail: Callable[[str], LayoutError]) -> Vec3:
    coords = [_number(v) for v in value] if isinstance(value, list | tuple) else []
    if len(coords) != 3 or any(c is None for c in coords):
        raise fail(f"position {value!r} must be three finite numbers [x, y, z]")
    x, y, z = (float(c) for c in coords if c is not None)
    return (x, y, z)


def _channels(
    value: Any, kind: SensorKind, fail: Callable[[str], LayoutError]
) -> tuple[tuple[str, str], ...]:
    if value is None:
        return DEFAULT_CHANNELS[kind]
    if not isinstance(value, list) or not value:
        raise fail("channels must be a non-empty list of {metric, unit}")
    channels = []
    for item in value:
        if not isinstance(item, Mapping) or set(item) != {"metric", "unit"}:
            raise fail(f"channel {item!r} must be a mapping with exactly metric and unit")
        metric, unit = item["metric"], item["unit"]
        if not isinstance(metric, str) or not _METRIC_PATTERN.match(metric):
            raise fail(f"metric {metric!r} must match {_METRIC_PATTERN.pattern}")
        if not isinstance(unit, str) or not unit.strip():
            raise fail(f"unit {unit!r} of metric {metric!r} must be a non-empty string")
        channels.append((metric, unit))
    metrics = [m for m, _ in channels]
    if len(set(metrics)) != len(metrics):
        raise fail(f"duplicate metrics in {metrics}")
    return tuple(channels)


def _interval(value: Any, kind: SensorKind, fail: Callable[[str], LayoutError]) -> float:
    if value is None:
        return DEFAULT_INTERVAL_S[kind]
    interval = _number(value)
    if interval is None or interval <= 0:
        raise fail(f"expected_interval_s {value!r} must be a positive number")
    return interval
