"""Registering a building from an uploaded mesh, and its sensors from a layout file."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Coroutine
from dataclasses import replace
from hashlib import sha256
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

import numpy as np
import trimesh
from fastapi import (
    APIRouter,
    Depends,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi.routing import APIRoute
from starlette.types import Message

from models.access import Role
from models.layout import LayoutError, SensorSpec, parse_layout_text, place_sensors
from models.mesh import FORMATS, MeshError, load_mesh, repair_mesh, sniff_format
from models.types import Building, Sensor, Vec3
from twin.access import require
from twin.context import TwinContext
from twin.deps import BuildingDep, Context
from twin.schemas import (
    BuildingPublic,
    BuildingRegistered,
    SensorPlaced,
    SensorPublic,
    SensorsImported,
)

MAX_MESH_UPLOAD_BYTES = 64 * 1024 * 1024  # the whole multipart body
MAX_MESH_TRIANGLES = 2_000_000  # twice the 1M-triangle facade the viewer bench renders
MAX_LAYOUT_BYTES = 4 * 1024 * 1024
MAX_SNAP_DISTANCE_M = 10.0
BUILDING_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# GB 3096 acoustic environment classes 0-4 (4 stands for 4a/4b); 2: mixed residential and
# commercial, the most common class for a heritage building in a city centre.
DEFAULT_NOISE_ZONE = 2
LAYOUT_MEDIA_TYPES = {
    "application/json": "json",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
    "text/csv": "csv",
}


def _body_limit(max_bytes: int, advice: str) -> type[APIRoute]:
    """A route class that answers 413 once the request body passes ``max_bytes``: at once
    when Content-Length says so, else as the bytes arrive, so no oversize body is buffered
    (FastAPI parses a form before any dependency could look)."""

    def too_large() -> HTTPException:
        return HTTPException(413, f"request body over {max_bytes // 2**20} MiB: {advice}")

    class BodyLimitedRoute(APIRoute):
        # The API's guard (twin.access.Guard) takes this route's limit instead of its own.
        max_body_bytes = max_bytes

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def limited(request: Request) -> Response:
                declared = request.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise too_large()
                receive, received = request.receive, 0

                async def counted() -> Message:
                    nonlocal received
                    message = await receive()
                    received += len(message.get("body", b""))
                    if received > max_bytes:
                        raise too_large()
                    return message

                return await handler(Request(request.scope, counted))

            return limited

    return BodyLimitedRoute


_meshes = APIRouter(
    prefix="/api/v1/buildings",
    tags=["buildings"],
    dependencies=[Depends(require(Role.ADMIN))],
    route_class=_body_limit(
        MAX_MESH_UPLOAD_BYTES, "simplify (decimate) the model or drop its textures, then retry"
    ),
)
_layouts = APIRouter(
    prefix="/api/v1/buildings",
    tags=["buildings"],
    dependencies=[Depends(require(Role.ADMIN))],
    route_class=_body_limit(MAX_LAYOUT_BYTES, "split the layout into several imports"),
)


@_meshes.post(
    "",
    status_code=201,
    responses={
        409: {"description": "a building with this id exists"},
        413: {"description": f"upload over {MAX_MESH_UPLOAD_BYTES // 2**20} MiB"},
        422: {"description": "the mesh cannot be used: the reason and what to do"},
    },
)
async def register_building(
    context: Context,
    response: Response,
    mesh: Annotated[
        UploadFile,
        File(description="glTF (.gltf with embedded buffers) or GLB, OBJ, STL or PLY"),
    ],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    address: Annotated[str, Form(max_length=500)] = "",
    structure_type: Annotated[str, Form(max_length=200)] = "unknown",
    noise_zone: Annotated[
        int, Form(ge=0, le=4, description="GB 3096 acoustic zone class, 0-4")
    ] = DEFAULT_NOISE_ZONE,
    building_id: Annotated[
        str | None,
        Form(alias="id", pattern=BUILDING_ID_PATTERN, description="default: made from name"),
    ] = None,
) -> BuildingRegistered:
    """Register a building from its 3D model: metres, Z up (glTF's Y up is turned to Z up).

    Repairs trimesh can make (duplicate vertices, degenerate or duplicate faces, winding,
    inside-out parts) are made and listed in ``repairs``. The file is kept in the twin's
    mesh folder, named by the building id; the client's file name only hints the format.
    """
    if not name.strip():
        raise HTTPException(422, "name must not be blank")
    building_id = building_id or _slug(name)
    await _refuse_taken(context.store.building, building_id)
    data = await mesh.read()
    fmt = _mesh_format(mesh.filename, data)
    try:
        repaired, repairs = await asyncio.to_thread(_load_and_repair, data, fmt)
    except MeshError as exc:
        raise HTTPException(
            422, f"the mesh cannot be used: {exc}. {_mesh_advice(exc, fmt)}"
        ) from None
    lo, hi = (_vec3(corner) for corner in repaired.bounds)
    async with context.registry_lock:
        await _refuse_taken(context.store.building, building_id)
        path = await asyncio.to_thread(
            _write_atomically, context.meshes_dir / f"{building_id}.{fmt}", data
        )
        building = Building(
            id=building_id,
            name=name.strip(),
            address=address.strip(),
            structure_type=structure_type.strip() or "unknown",
            noise_zone=noise_zone,
            bounds=(lo, hi),
            model=str(path),
        )
        try:
            await context.pipeline.add_building(building)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        context.meshes[building.model] = repaired
    response.headers["Location"] = f"/api/v1/buildings/{building_id}"
    return BuildingRegistered(
        **BuildingPublic.of(building).model_dump(),
        mesh_format=fmt,
        triangles=len(repaired.faces),
        repairs=repairs,
    )


@_layouts.post(
    "/{building_id}/sensors",
    responses={
        409: {"description": "a sensor id belongs to another building"},
        413: {"description": f"layout over {MAX_LAYOUT_BYTES // 2**20} MiB"},
        415: {"description": "not JSON, YAML or CSV"},
        422: {"description": "the layout is invalid or sensors are too far from the surface"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/yaml": {"schema": {"type": "string"}},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def import_sensors(
    building: BuildingDep,
    context: Context,
    request: Request,
    max_distance_m: Annotated[
        float, Query(gt=0, le=MAX_SNAP_DISTANCE_M, description="farthest snap allowed")
    ] = 1.0,
) -> SensorsImported:
    """Add or replace (by id) sensors of a building from a layout, snapped onto its surface.

    The body is a layout as JSON (``application/json``), YAML (``application/yaml``) or CSV
    (``text/csv``). JSON and YAML: a list of sensors, or ``{building, sensors}``, each
    ``{id, kind, device, floor, zone, position: [x, y, z]}`` with optional ``channels:
    [{metric, unit}]`` and ``expected_interval_s``. CSV: a header row and one sensor a row,
    columns ``id,kind,device,floor,zone,x,y,z`` and optional ``channels`` (``t:Cel;rh:%RH``)
    and ``expected_interval_s``. Positions are metres in the building's Z-up frame; each
    sensor moves to the nearest surface point (``moved_m`` says how far) and sensors farther
    than ``max_distance_m`` are refused by name.
    """
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = LAYOUT_MEDIA_TYPES.get(media_type)
    if fmt is None:
        raise HTTPException(
            415,
            f"layout content type {media_type or 'missing'!r}; send one of"
            f" {', '.join(LAYOUT_MEDIA_TYPES)}",
        )
    try:
        text = (await request.body()).decode("utf-8-sig")
        specs = parse_layout_text(text, fmt, source="request body", building_id=building.id)
    except UnicodeDecodeError:
        raise HTTPException(422, "the layout is not UTF-8 text: save it as UTF-8") from None
    except LayoutError as exc:
        raise HTTPException(422, f"{exc}; fix the layout and import it again") from None
    mesh = await asyncio.to_thread(context.mesh, building.model)
    try:
        placed = await asyncio.to_thread(
            place_sensors,
            specs,
            mesh,
            max_distance_m=max_distance_m,
            storey_at=_storeys(building.model),
        )
    except LayoutError as exc:
        raise HTTPException(
            422,
            f"{exc}; correct these positions (metres, Z up, in the mesh's frame) or pass a"
            f" larger max_distance_m (at most {MAX_SNAP_DISTANCE_M:g})",
        ) from None
    async with context.registry_lock:
        current = await context.store.building(building.id)
        if current is None:
            raise HTTPException(404, f"building {building.id!r} was removed meanwhile")
        await _refuse_foreign_sensors(context, current.id, placed)
        sensors, replaced = _merge(current.sensors, placed)
        await context.pipeline.add_building(replace(current, sensors=sensors))
    return SensorsImported(
        building_id=building.id,
        added=[s.id for s in placed if s.id not in replaced],
        replaced=[s.id for s in placed if s.id in replaced],
        sensors=[
            SensorPlaced(**SensorPublic.of(s).model_dump(), moved_m=_moved_m(spec, s))
            for spec, s in zip(specs, placed, strict=True)
        ],
    )


router = APIRouter()
router.include_router(_meshes)
router.include_router(_layouts)


def _slug(name: str) -> str:
    """A building id from its name: ``Nanjing Building`` -> ``nanjing-building``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64].strip("-")
    # A name with no Latin letters (南京大楼) still gets a stable id.
    return slug or f"building-{sha256(name.encode()).hexdigest()[:8]}"


async def _refuse_taken(lookup: Callable[[str], Any], building_id: str) -> None:
    if await lookup(building_id) is not None:
        raise HTTPException(
            409,
            f"building {building_id!r} exists: choose another id (form field 'id'), or import"
            f" sensors with POST /api/v1/buildings/{building_id}/sensors",
        )


def _mesh_format(filename: str | None, data: bytes) -> str:
    """The upload's format: its file name's extension when that is one, else its bytes."""
    suffix = PurePosixPath(filename or "").suffix.lower().lstrip(".")
    if suffix in FORMATS:
        return suffix
    try:
        return sniff_format(data)
    except MeshError as exc:
        raise HTTPException(
            422, f"the mesh cannot be used: {exc}. {_mesh_advice(exc, None)}"
        ) from None


def _load_and_repair(data: bytes, fmt: str) -> tuple[trimesh.Trimesh, list[str]]:
    mesh = load_mesh(data, file_type=fmt, max_triangles=MAX_MESH_TRIANGLES)
    return mesh, repair_mesh(mesh)


def _mesh_advice(exc: MeshError, fmt: str | None) -> str:
    reason = str(exc)
    if "triangles, more than" in reason:
        return "Simplify (decimate) the model below that, e.g. in Blender, and upload it again."
    if fmt == "gltf":
        return (
            "A .gltf must carry its buffers inside (data: URIs); one that refers to .bin or"
            " texture files cannot be uploaded alone: export a .glb instead."
        )
    return (
        "Check that the file opens in a 3D tool (e.g. Blender), export it again as GLB, OBJ,"
        " STL or PLY with triangle faces, and upload that."
    )


def _write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all; returns the absolute path."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _storeys(model: str) -> Callable[[float], int] | None:
    """The storey check of a building whose storeys the twin knows (the Nanjing Building)."""
    if model != "procedural:nanjing":
        return None
    from models.nanjing import storey_at

    return storey_at


async def _refuse_foreign_sensors(
    context: TwinContext, building_id: str, placed: list[Sensor]
) -> None:
    # Channel ids are global (``sensor/metric``): one building cannot take another's.
    ids = {s.id for s in placed}
    for other in await context.store.buildings():
        taken = sorted(ids & {s.id for s in other.sensors}) if other.id != building_id else []
        if taken:
            raise HTTPException(
                409,
                f"sensor ids {taken} belong to building {other.id!r}: rename them in the layout",
            )


def _merge(
    current: tuple[Sensor, ...], placed: list[Sensor]
) -> tuple[tuple[Sensor, ...], set[str]]:
    """Current sensors with those of the same id replaced in place, new ones appended."""
    new = {s.id: s for s in placed}
    replaced = {s.id for s in current} & set(new)
    kept = tuple(new.get(s.id, s) for s in current)
    return kept + tuple(s for s in placed if s.id not in replaced), replaced


def _vec3(corner: np.ndarray) -> Vec3:
    # Rounded to a micrometre against turning noise (10.000000000000002); + 0.0 turns -0.0
    # into 0.0 for the stored row and the JSON.
    x, y, z = (round(float(c), 6) + 0.0 for c in corner)
    return (x, y, z)


def _moved_m(spec: SensorSpec, sensor: Sensor) -> float:
    return round(float(np.linalg.norm(np.subtract(spec.position, sensor.position))), 3)
