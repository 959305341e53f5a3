"""Registering buildings (mesh upload) and their sensors (layout import) through the API, on a
real SQLite store and pipeline, with meshes made here in every format."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pygltflib
import pytest
import trimesh

from data import Store, open_store
from models.access import Role
from sensors.senml import parse_senml
from twin.app import create_app
from twin.context import TwinContext
from twin.pipeline import Pipeline
from twin.routes import registration

NOW = 1_800_000_000.0
HALL = ((0.0, 0.0, 0.0), (20.0, 10.0, 30.0))  # metres, Z up
# glTF is Y up: a Z-up model is stored there turned -90 degrees about X.
_Z_UP_TO_Y_UP = trimesh.transformations.rotation_matrix(-np.pi / 2, [1.0, 0.0, 0.0])


@dataclass
class Twin:
    api: httpx.AsyncClient
    context: TwinContext
    pipeline: Pipeline
    store: Store

    async def register(
        self, filename: str, data: bytes, name: str = "Old Customs House", **fields: Any
    ) -> httpx.Response:
        return await self.api.post(
            "/api/v1/buildings",
            files={"mesh": (filename, data, "application/octet-stream")},
            data={"name": name, **fields},
        )

    async def import_layout(
        self, building_id: str, body: str, content_type: str, **params: Any
    ) -> httpx.Response:
        return await self.api.post(
            f"/api/v1/buildings/{building_id}/sensors",
            content=body.encode(),
            headers={"content-type": content_type},
            params=params,
        )


@pytest.fixture
async def twin(tmp_path: Path, grant: Any) -> AsyncIterator[Twin]:
    async with open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store:
        pipeline = await Pipeline.open(store)
        context = TwinContext(
            store=store, pipeline=pipeline, clock=lambda: NOW, meshes_dir=tmp_path / "meshes"
        )
        transport = httpx.ASGITransport(app=create_app(context))
        headers = await grant(store, Role.ADMIN)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://twin", headers=headers
        ) as api:
            yield Twin(api, context, pipeline, store)


def hall() -> trimesh.Trimesh:
    return trimesh.creation.box(bounds=HALL)


def _export(mesh: trimesh.Trimesh, file_type: str, **options: Any) -> bytes:
    data = mesh.export(file_type=file_type, **options)
    return data.encode() if isinstance(data, str) else bytes(data)


def _y_up_scene() -> trimesh.Scene:
    scene = trimesh.Scene()
    scene.add_geometry(hall().apply_transform(_Z_UP_TO_Y_UP), geom_name="hall")
    return scene


def _embedded_gltf(scene: trimesh.Scene) -> bytes:
    files = scene.export(file_type="gltf", embed_buffers=True)
    assert list(files) == ["model.gltf"]  # no side files: one upload carries it all
    return bytes(files["model.gltf"])


def _mesh_files() -> Iterator[tuple[str, bytes]]:
    yield "hall.glb", bytes(_y_up_scene().export(file_type="glb"))
    yield "hall.gltf", _embedded_gltf(_y_up_scene())
    yield "hall.obj", _export(hall(), "obj")
    yield "hall.stl", _export(hall(), "stl")
    yield "hall-ascii.stl", _export(hall(), "stl_ascii")
    yield "hall.ply", _export(hall(), "ply")
    yield "hall-ascii.ply", _export(hall(), "ply", encoding="ascii")
    yield "no-extension", _export(hall(), "ply")  # the format comes from the bytes


def _gltf(
    parts: list[tuple[np.ndarray, np.ndarray | None]],
    nodes: list[pygltflib.Node],
    roots: list[int],
) -> bytes:
    """A .gltf with its buffer embedded as a data: URI; each part is (vertices, indices or
    None for a non-indexed triangle list) and becomes mesh i."""
    blob, views, accessors, meshes = b"", [], [], []
    for vertices, indices in parts:
        attributes = pygltflib.Attributes(POSITION=len(accessors))
        data = vertices.astype(np.float32).tobytes()
        views.append(pygltflib.BufferView(buffer=0, byteOffset=len(blob), byteLength=len(data)))
        accessors.append(
            pygltflib.Accessor(
                bufferView=len(views) - 1,
                componentType=pygltflib.FLOAT,
                count=len(vertices),
                type=pygltflib.VEC3,
                min=vertices.min(axis=0).tolist(),
                max=vertices.max(axis=0).tolist(),
            )
        )
        blob += data
        primitive = pygltflib.Primitive(attributes=attributes)
        if indices is not None:
            data = indices.astype(np.uint32).ravel().tobytes()
            views.append(pygltflib.BufferView(buffer=0, byteOffset=len(blob), byteLength=len(data)))
            accessors.append(
                pygltflib.Accessor(
                    bufferView=len(views) - 1,
                    componentType=pygltflib.UNSIGNED_INT,
                    count=indices.size,
                    type=pygltflib.SCALAR,
                )
            )
            primitive.indices = len(accessors) - 1
            blob += data
        meshes.append(pygltflib.Mesh(primitives=[primitive]))
    uri = "data:application/octet-stream;base64," + base64.b64encode(blob).decode()
    gltf = pygltflib.GLTF2(
        scene=0,
        scenes=[pygltflib.Scene(nodes=roots)],
        nodes=nodes,
        meshes=meshes,
        accessors=accessors,
        bufferViews=views,
        buffers=[pygltflib.Buffer(byteLength=len(blob), uri=uri)],
    )
    return gltf.gltf_to_json().encode()


def _box_arrays(extents: list[float]) -> tuple[np.ndarray, np.ndarray]:
    box = trimesh.creation.box(extents=extents)
    return np.asarray(box.vertices), np.asarray(box.faces)


@pytest.mark.parametrize(("filename", "data"), list(_mesh_files()), ids=lambda v: str(v)[:16])
async def test_every_format_registers_upright(twin: Twin, filename: str, data: bytes) -> None:
    response = await twin.register(filename, data, address="13 The Bund", structure_type="brick")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"] == "old-customs-house"
    assert response.headers["location"] == "/api/v1/buildings/old-customs-house"
    np.testing.assert_allclose(body["bounds"], HALL, atol=1e-5)
    assert body["triangles"] == 12 and body["sensors"] == []
    assert body["address"] == "13 The Bund" and body["noise_zone"] == 2
    stored = await twin.store.building("old-customs-house")
    assert stored is not None and stored.bounds == tuple(map(tuple, body["bounds"]))
    # Kept under the twin's mesh folder, named by the id, never by the client's file name.
    saved = Path(stored.model)
    assert saved.parent == (twin.context.meshes_dir).resolve()
    assert saved.name == f"old-customs-house.{body['mesh_format']}"
    assert await asyncio.to_thread(saved.read_bytes) == data
    listed = (await twin.api.get("/api/v1/buildings")).json()
    assert [b["id"] for b in listed] == ["old-customs-house"]


async def test_y_up_gltf_with_node_hierarchy_stands_upright(twin: Twin) -> None:
    # A 20 m tower authored Y up: a 12 m base and an 8 m top, placed by nested nodes.
    base, top = _box_arrays([20.0, 12.0, 10.0]), _box_arrays([6.0, 8.0, 6.0])
    nodes = [
        pygltflib.Node(translation=[5.0, 0.0, -3.0], children=[1, 2]),
        pygltflib.Node(mesh=0, translation=[0.0, 6.0, 0.0]),
        pygltflib.Node(mesh=1, translation=[0.0, 16.0, 0.0]),
    ]
    response = await twin.register("tower.gltf", _gltf([base, top], nodes, [0]), name="Tower")
    assert response.status_code == 201, response.text
    (x0, y0, z0), (x1, y1, z1) = response.json()["bounds"]
    assert (z0, z1) == pytest.approx((0.0, 20.0))  # glTF +Y is the twin's +Z
    assert (x0, x1) == pytest.approx((-5.0, 15.0))
    assert (y0, y1) == pytest.approx((-2.0, 8.0))  # glTF z in [-8, 2] is the twin's -y
    assert response.json()["triangles"] == 24


async def test_gltf_without_index_buffer(twin: Twin) -> None:
    vertices, faces = _box_arrays([4.0, 9.0, 2.0])
    soup = vertices[faces].reshape(-1, 3)  # a plain triangle list, no indices accessor
    data = _gltf([(soup, None)], [pygltflib.Node(mesh=0)], [0])
    assert b'"indices"' not in data
    response = await twin.register("soup.gltf", data, name="Soup", id="soup-1")
    assert response.status_code == 201, response.text
    body = response.json()
    np.testing.assert_allclose(body["bounds"], [[-2.0, -1.0, -4.5], [2.0, 1.0, 4.5]], atol=1e-5)
    assert body["triangles"] == 12
    assert any("merged" in r for r in body["repairs"])  # a soup repeats every corner


async def test_broken_mesh_is_repaired_and_reported(twin: Twin) -> None:
    box = hall()
    corners = box.vertices[box.faces].reshape(-1, 3)  # every face with its own corners
    faces = np.arange(len(corners)).reshape(-1, 3)
    faces[[1, 4, 7]] = faces[[1, 4, 7], ::-1]  # three faces wound inside out
    lines = [f"v {x} {y} {z}" for x, y, z in corners]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    lines += ["f 1 2 2", "f 1 2 3"]  # a degenerate face and a duplicate one
    response = await twin.register("broken.obj", "\n".join(lines).encode())
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["triangles"] == 12
    assert body["repairs"] == [
        "merged 28 duplicate vertices",
        "removed 1 degenerate (zero-area) faces",
        "removed 1 duplicate faces",
        "re-wound 3 faces to agree with their neighbours",
    ]
    # After a restart the saved file is loaded and repaired the same way.
    model = (await twin.store.building(body["id"])).model  # type: ignore[union-attr]
    twin.context.meshes.clear()
    mesh = twin.context.mesh(model)
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume == pytest.approx(20 * 10 * 30)


async def test_inside_out_mesh_is_turned_outwards(twin: Twin) -> None:
    inverted = hall()
    inverted.invert()
    response = await twin.register("inverted.ply", _export(inverted, "ply"), id="inv")
    assert response.status_code == 201, response.text
    assert response.json()["repairs"] == [
        "turned 12 faces of inside-out closed parts to face outwards"
    ]


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        ("model.bin", b"\x00\x01garbage\xff" * 10, "unknown mesh format"),
        ("model.glb", b"glTF" + b"\x00" * 40, "cannot read glb"),
        ("model.stl", b"solid x\nfacet normal 0 0 1\nendsolid", "no triangles"),
        ("model.obj", b"", "empty"),
    ],
)
async def test_unusable_mesh_is_refused_with_reason_and_advice(
    twin: Twin, filename: str, data: bytes, reason: str
) -> None:
    response = await twin.register(filename, data)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert reason in detail and "export it again" in detail
    assert await twin.store.buildings() == []
    assert not twin.context.meshes_dir.exists() or not any(twin.context.meshes_dir.iterdir())


async def test_gltf_with_external_buffer_is_refused_with_advice(twin: Twin) -> None:
    data = json.dumps(
        {
            "asset": {"version": "2.0"},
            "buffers": [{"byteLength": 36, "uri": "hall.bin"}],
            "bufferViews": [{"buffer": 0, "byteLength": 36}],
            "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3"}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
            "nodes": [{"mesh": 0}],
            "scenes": [{"nodes": [0]}],
        }
    ).encode()
    response = await twin.register("hall.gltf", data)
    assert response.status_code == 422
    assert "export a .glb instead" in response.json()["detail"]


async def test_too_many_triangles(twin: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registration, "MAX_MESH_TRIANGLES", 11)
    response = await twin.register("hall.stl", _export(hall(), "stl"))
    assert response.status_code == 422
    assert "12 triangles, more than 11" in response.json()["detail"]
    assert "decimate" in response.json()["detail"]


async def test_oversize_upload_is_refused_before_it_is_read(twin: Twin) -> None:
    limit = registration.MAX_MESH_UPLOAD_BYTES
    declared = await twin.api.post(
        "/api/v1/buildings",
        content=b"--x--\r\n",
        headers={
            "content-type": "multipart/form-data; boundary=x",
            "content-length": str(limit + 1),
        },
    )
    assert declared.status_code == 413
    assert "64 MiB" in declared.json()["detail"]

    sent = 0

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        nonlocal sent
        yield (
            b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nBig\r\n'
            b'--x\r\nContent-Disposition: form-data; name="mesh"; filename="big.stl"\r\n\r\n'
        )
        chunk = b"\0" * 2**20
        while sent <= limit + 4 * len(chunk):
            sent += len(chunk)
            yield chunk

    streamed = await twin.api.post(
        "/api/v1/buildings",
        content=chunks(),
        headers={"content-type": "multipart/form-data; boundary=x"},
    )
    assert streamed.status_code == 413
    assert sent <= limit + 2**20  # the rest was never read
    assert await twin.store.buildings() == []


async def test_duplicate_id_is_refused(twin: Twin) -> None:
    data = _export(hall(), "stl")
    assert (await twin.register("a.stl", data, name="Hall", id="hall-1")).status_code == 201
    again = await twin.register("b.stl", data, name="Another Hall", id="hall-1")
    assert again.status_code == 409
    assert "choose another id" in again.json()["detail"]
    by_name = await twin.register("c.stl", data, name="  Hall 1 ")
    assert by_name.status_code == 409  # "hall-1" again, made from the name
    assert (
        (await twin.register("d.stl", data, name="南京大楼")).json()["id"].startswith("building-")
    )


async def test_bad_form_fields(twin: Twin) -> None:
    data = _export(hall(), "stl")
    assert (await twin.register("a.stl", data, name=" ")).status_code == 422
    assert (await twin.register("a.stl", data, id="../etc")).status_code == 422
    assert (await twin.register("a.stl", data, noise_zone="7")).status_code == 422
    missing = await twin.api.post("/api/v1/buildings", data={"name": "No mesh"})
    assert missing.status_code == 422


# --- sensors ---------------------------------------------------------------------------

JSON_LAYOUT = [
    {
        "id": "th-north",
        "kind": "climate",
        "device": "gw-hall",
        "floor": 3,
        "zone": "north-facade",
        "position": [10.0, 10.4, 12.0],
    }
]
YAML_LAYOUT = """\
building: hall
sensors:
  - id: tilt-east
    kind: tilt
    device: gw-hall
    floor: 1
    zone: east-facade
    position: [20.25, 5.0, 3.0]
"""
CSV_LAYOUT = """\
id,kind,device,floor,zone,x,y,z,channels,expected_interval_s
vib-roof,vibration,gw-roof,8,roof,10,5,30.5,ppv:mm/s;f1:Hz,30
noise-south,noise,gw-hall,1,south-facade,5,0,2,,
"""


@pytest.fixture
async def hall_twin(twin: Twin) -> Twin:
    response = await twin.register("hall.stl", _export(hall(), "stl"), name="Hall", id="hall")
    assert response.status_code == 201, response.text
    return twin


def _senml(device: str, name: str, unit: str, value: float, registry: Any) -> list[str]:
    payload = json.dumps([{"n": name, "u": unit, "v": value, "t": NOW}]).encode()
    result = parse_senml(payload, device_id=device, now=NOW, registry=registry)
    return [r.reason.value for r in result.rejections]


async def test_sensors_import_in_json_yaml_and_csv(hall_twin: Twin) -> None:
    twin = hall_twin
    registry = twin.pipeline.registry()
    assert _senml("gw-hall", "th-north/t", "Cel", 21.0, registry) == ["unknown_channel"]

    done = await twin.import_layout("hall", json.dumps(JSON_LAYOUT), "application/json")
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["added"] == ["th-north"] and body["replaced"] == []
    (th,) = body["sensors"]
    assert th["moved_m"] == pytest.approx(0.4)
    assert th["position"] == [10.0, 10.0, 12.0] and th["normal"] == [0.0, 1.0, 0.0]
    # Ingest takes the new sensor's readings at once, from its device only.
    registry = twin.pipeline.registry()
    assert {"th-north/t", "th-north/rh"} <= set(registry)
    assert _senml("gw-hall", "th-north/t", "Cel", 21.0, registry) == []
    assert _senml("intruder", "th-north/t", "Cel", 21.0, registry) == ["wrong_device"]

    done = await twin.import_layout("hall", YAML_LAYOUT, "application/yaml; charset=utf-8")
    assert done.status_code == 200, done.text
    assert [(s["id"], s["moved_m"]) for s in done.json()["sensors"]] == [("tilt-east", 0.25)]

    done = await twin.import_layout("hall", CSV_LAYOUT, "text/csv")
    assert done.status_code == 200, done.text
    vib, noise = done.json()["sensors"]
    assert (vib["id"], vib["moved_m"], vib["position"]) == ("vib-roof", 0.5, [10.0, 5.0, 30.0])
    assert [c["id"] for c in vib["channels"]] == ["vib-roof/ppv", "vib-roof/f1"]
    assert vib["expected_interval_s"] == 30.0
    assert (noise["moved_m"], [c["metric"] for c in noise["channels"]]) == (0.0, ["laeq", "lmax"])
    assert {"vib-roof/ppv", "noise-south/laeq", "tilt-east/x"} <= set(twin.pipeline.registry())

    stored = await twin.store.building("hall")
    assert stored is not None
    assert [s.id for s in stored.sensors] == ["th-north", "tilt-east", "vib-roof", "noise-south"]
    state = (await twin.api.get("/api/v1/buildings/hall/state")).json()
    assert {s["channel_id"] for s in state} >= {"th-north/rh", "vib-roof/f1"}


async def test_import_replaces_sensors_by_id(hall_twin: Twin) -> None:
    twin = hall_twin
    await twin.import_layout("hall", json.dumps(JSON_LAYOUT), "application/json")
    moved = [{**JSON_LAYOUT[0], "position": [0.0, 5.0, 12.0], "zone": "west-facade"}]
    done = await twin.import_layout("hall", json.dumps(moved), "application/json")
    assert done.json()["replaced"] == ["th-north"] and done.json()["added"] == []
    (sensor,) = (await twin.api.get("/api/v1/buildings/hall")).json()["sensors"]
    assert sensor["zone"] == "west-facade" and sensor["position"] == [0.0, 5.0, 12.0]


async def test_sensors_too_far_from_the_surface_are_refused_by_name(hall_twin: Twin) -> None:
    twin = hall_twin
    layout = [
        JSON_LAYOUT[0],
        {**JSON_LAYOUT[0], "id": "th-sky", "position": [10.0, 5.0, 35.0]},
        {**JSON_LAYOUT[0], "id": "th-street", "position": [10.0, -3.0, 1.0]},
    ]
    refused = await twin.import_layout("hall", json.dumps(layout), "application/json")
    assert refused.status_code == 422
    detail = refused.json()["detail"]
    assert "'th-sky': position is 5.00 m" in detail and "'th-street': position is 3.00 m" in detail
    assert "th-north" not in detail and "max_distance_m" in detail
    stored = await twin.store.building("hall")
    assert stored is not None and stored.sensors == ()  # nothing imported
    assert "th-north/t" not in twin.pipeline.registry()
    allowed = await twin.import_layout(
        "hall", json.dumps(layout), "application/json", max_distance_m=6
    )
    assert allowed.status_code == 200
    assert [s["moved_m"] for s in allowed.json()["sensors"]] == [0.4, 5.0, 3.0]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "needle"),
    [
        ("[]", "application/json", 422, "no sensors"),
        ("{not json", "application/json", 422, "cannot read layout"),
        (YAML_LAYOUT.replace("hall", "other"), "text/yaml", 422, "is for building 'other'"),
        ("id,kind\nx,noise\n", "text/csv", 422, "CSV header lacks device"),
        (CSV_LAYOUT.replace(",8,", ",eight,"), "text/csv", 422, "'vib-roof': floor 'eight'"),
        (json.dumps(JSON_LAYOUT), "text/plain", 415, "send one of"),
    ],
)
async def test_bad_layouts_are_refused(
    hall_twin: Twin, body: str, content_type: str, status: int, needle: str
) -> None:
    response = await hall_twin.import_layout("hall", body, content_type)
    assert response.status_code == status
    assert needle in response.json()["detail"]


async def test_layout_limits_and_ownership(hall_twin: Twin) -> None:
    twin = hall_twin
    missing = await twin.import_layout("nowhere", json.dumps(JSON_LAYOUT), "application/json")
    assert missing.status_code == 404
    huge = "[" + " " * registration.MAX_LAYOUT_BYTES + "]"
    assert (await twin.import_layout("hall", huge, "application/json")).status_code == 413
    await twin.import_layout("hall", json.dumps(JSON_LAYOUT), "application/json")
    await twin.register("annex.stl", _export(hall(), "stl"), name="Annex")
    taken = await twin.import_layout("annex", json.dumps(JSON_LAYOUT), "application/json")
    assert taken.status_code == 409
    assert "['th-north'] belong to building 'hall'" in taken.json()["detail"]
