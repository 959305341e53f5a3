"""`twin buildings add` and `twin sensors import` as a user runs them, against a twin API served
by uvicorn on a loopback port over a real SQLite store."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trimesh
import uvicorn

from data import open_store
from models.access import Role
from twin.api_client import ApiError, TwinApi
from twin.app import create_app
from twin.auth import issue_token
from twin.context import TwinContext
from twin.pipeline import Pipeline


class ServedTwin(threading.Thread):
    """The API over a fresh SQLite store, served from its own event loop in a thread."""

    def __init__(self, db: Path, port: int) -> None:
        super().__init__(daemon=True)
        self.db, self.port = db, port
        self.url = f"http://127.0.0.1:{port}"
        self.server: uvicorn.Server | None = None
        self.pipeline: Pipeline | None = None
        self.failure: BaseException | None = None
        self.token = ""  # an admin's, issued before the API serves
        self.viewer_token = ""

    def run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by the fixture
            self.failure = exc

    async def _serve(self) -> None:
        async with open_store(f"sqlite:///{self.db}") as store:
            self.pipeline = await Pipeline.open(store)
            _, self.token = await issue_token(store, "registrar", Role.ADMIN, time.time())
            _, self.viewer_token = await issue_token(store, "ops", Role.VIEWER, time.time())
            context = TwinContext(
                store=store,
                pipeline=self.pipeline,
                clock=time.time,
                meshes_dir=self.db.parent / "meshes",
            )
            config = uvicorn.Config(
                create_app(context), host="127.0.0.1", port=self.port, log_level="warning"
            )
            self.server = uvicorn.Server(config)
            await self.server.serve()


@pytest.fixture
def served(
    tmp_path: Path, port_factory: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ServedTwin]:
    """A served twin; the commands run with its admin token in TWIN_TOKEN."""
    twin = ServedTwin(tmp_path / "twin.db", port_factory())
    twin.start()
    deadline = time.monotonic() + 30
    while not (twin.server and twin.server.started):
        assert twin.is_alive() and time.monotonic() < deadline, f"no server: {twin.failure!r}"
        time.sleep(0.05)
    monkeypatch.setenv("TWIN_TOKEN", twin.token)
    yield twin
    twin.server.should_exit = True
    twin.join(timeout=15)
    assert not twin.is_alive() and twin.failure is None


def twin_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_add_building_then_import_sensors(served: ServedTwin, tmp_path: Path) -> None:
    box = trimesh.creation.box(bounds=[[0, 0, 0], [20, 10, 30]])
    box.invert()  # inside out: the twin turns it and says so
    mesh = tmp_path / "Customs House.ply"
    mesh.write_bytes(bytes(box.export(file_type="ply")))

    added = twin_cli(
        "buildings", "add", str(mesh), "--name", "Old Customs House",
        "--address", "13 The Bund", "--structure-type", "steel frame", "--api", served.url,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert "Registered 'old-customs-house' (Old Customs House)" in added.stdout
    assert "12 triangles from ply, 20.00 x 10.00 x 30.00 m" in added.stdout
    assert "turned 12 faces of inside-out closed parts to face outwards" in added.stdout
    assert "twin sensors import old-customs-house" in added.stdout

    layout = tmp_path / "sensors.csv"
    layout.write_text(
        "id,kind,device,floor,zone,x,y,z\n"
        "th-n,climate,gw-1,3,north-facade,10,10.4,12\n"
        "vib-roof,vibration,gw-1,8,roof,10,5,30\n"
    )
    imported = twin_cli("sensors", "import", "old-customs-house", str(layout), "--api", served.url)
    assert imported.returncode == 0, imported.stderr
    assert "2 sensors added, 0 replaced" in imported.stdout
    assert "th-n      moved 0.400 m to (10.00, 10.00, 12.00)" in imported.stdout
    assert "vib-roof  moved 0.000 m" in imported.stdout
    assert served.pipeline is not None and "th-n/rh" in served.pipeline.registry()

    again = twin_cli(
        "buildings", "add", str(mesh), "--name", "Old Customs House", "--api", served.url
    )
    assert again.returncode == 1
    assert "could not register the building" in again.stderr
    assert "choose another id" in again.stderr and "HTTP 409" in again.stderr

    layout.write_text("id,kind,device,floor,zone,x,y,z\nsky,noise,gw-1,9,roof,10,5,40\n")
    far = twin_cli("sensors", "import", "old-customs-house", str(layout), "--api", served.url)
    assert far.returncode == 1
    assert "'sky': position is 10.00 m from the building surface" in far.stderr
    assert "max_distance_m" in far.stderr


def test_errors_say_what_to_do(served: ServedTwin, tmp_path: Path) -> None:
    junk = tmp_path / "scan.stl"
    junk.write_bytes(b"\x00 not a mesh" * 20)
    refused = twin_cli("buildings", "add", str(junk), "--name", "Scan", "--api", served.url)
    assert refused.returncode == 1
    assert "HTTP 422" in refused.stderr and "export it again" in refused.stderr

    layout = tmp_path / "layout.txt"
    layout.write_text("[]")
    wrong = twin_cli("sensors", "import", "scan", str(layout), "--api", served.url)
    assert wrong.returncode == 1 and "ends in .json, .yaml, .yml, .csv" in wrong.stderr

    nowhere = twin_cli(
        "buildings", "add", str(junk), "--name", "Scan", "--api", "http://127.0.0.1:9"
    )
    assert nowhere.returncode == 1
    assert "cannot reach the twin" in nowhere.stderr and "twin serve" in nowhere.stderr


def test_registering_needs_an_admins_token(
    served: ServedTwin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mesh = tmp_path / "hall.ply"
    mesh.write_bytes(bytes(trimesh.creation.box(extents=[4.0, 4.0, 4.0]).export(file_type="ply")))
    monkeypatch.delenv("TWIN_TOKEN")
    anonymous = twin_cli("buildings", "add", str(mesh), "--name", "Hall", "--api", served.url)
    assert anonymous.returncode == 1
    assert "HTTP 401" in anonymous.stderr and "pass --token" in anonymous.stderr
    viewer = twin_cli(
        "buildings", "add", str(mesh), "--name", "Hall", "--api", served.url,
        "--token", served.viewer_token,
    )  # fmt: skip
    assert viewer.returncode == 1
    assert "HTTP 403" in viewer.stderr and "needs the admin role" in viewer.stderr
    admin = twin_cli(
        "buildings", "add", str(mesh), "--name", "Hall", "--api", served.url,
        "--token", served.token,
    )  # fmt: skip
    assert admin.returncode == 0, admin.stderr


def test_api_client_reports_the_twins_reason(served: ServedTwin, tmp_path: Path) -> None:
    mesh = tmp_path / "hall.obj"
    mesh.write_bytes(trimesh.creation.box(extents=[4.0, 4.0, 4.0]).export(file_type="obj").encode())
    client = TwinApi(served.url, token=served.token)
    building = client.register_building(mesh, name="Hall", noise_zone=4, building_id="hall-7")
    assert building["id"] == "hall-7" and building["noise_zone"] == 4
    assert client.building("hall-7").bounds == ((-2.0, -2.0, -2.0), (2.0, 2.0, 2.0))
    with pytest.raises(ApiError) as refused:
        client.register_building(mesh, name="Hall", noise_zone=9)
    assert refused.value.status == 422 and "noise_zone" in refused.value.detail
