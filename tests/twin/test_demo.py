"""`twin demo` as a user runs it: starts, serves, takes a mosquitto_pub reading, stops on Ctrl-C."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

STARTUP_TIMEOUT_S = 90.0


class Demo:
    def __init__(
        self,
        proc: subprocess.Popen[str],
        api: str,
        mqtt_port: int,
        credentials: Path,
        startup: str,
    ) -> None:
        self.proc, self.api, self.mqtt_port = proc, api, mqtt_port
        self.startup = startup  # what it printed until "Press Ctrl-C"
        self.credentials = credentials
        # What a user of the demo does: take the admin token from the credentials file.
        self.token = json.loads(credentials.read_text())["admin_token"]
        self.http = httpx.Client(
            base_url=api, timeout=30, headers={"Authorization": f"Bearer {self.token}"}
        )
        # Keep reading what the demo prints, so a full pipe can never block it.
        self.output: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)

    def printed(self) -> str:
        self._reader.join(timeout=5)
        return "".join(self.output)

    def poll(self, path: str, predicate: Callable[[Any], bool], timeout_s: float) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            body = self.http.get(path).json()
            if predicate(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"{path} never satisfied the check; last: {str(body)[:500]}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, port_factory: Callable[[], int]
) -> Iterator[Demo]:
    port, mqtt_port = port_factory(), port_factory()
    db = tmp_path_factory.mktemp("demo") / "twin.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "twin",
            "demo",
            "--port",
            str(port),
            "--mqtt-port",
            str(mqtt_port),
            "--db",
            str(db),
            "--speed",
            "600",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines = []
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Press Ctrl-C" in line or not line:
            break
    if "Press Ctrl-C" not in "".join(lines):
        proc.kill()
        pytest.fail("twin demo did not start:\n" + "".join(lines) + proc.stdout.read())
    output = "".join(lines)
    assert f"http://127.0.0.1:{port}" in output and f"mqtt://127.0.0.1:{mqtt_port}" in output
    credentials = db.parent / "demo-credentials.json"
    running = Demo(proc, f"http://127.0.0.1:{port}", mqtt_port, credentials, output)
    try:
        yield running
    finally:
        running.http.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        running.printed()  # the reader has reached the end of the output
        proc.stdout.close()


def test_serves_the_nanjing_building_with_its_sensors(demo: Demo) -> None:
    (building,) = demo.http.get("/api/v1/buildings").json()
    assert building["id"] == "nanjing-building"
    assert len(building["sensors"]) >= 40
    assert {s["kind"] for s in building["sensors"]} == {"vibration", "tilt", "climate", "noise"}
    assert demo.http.get("/healthz").json()["status"] == "ok"


def test_prints_an_admin_token_and_writes_it_for_its_owner_only(demo: Demo) -> None:
    assert demo.credentials.stat().st_mode & 0o777 == 0o600
    written = json.loads(demo.credentials.read_text())
    assert written["api_url"] == demo.api
    assert written["mqtt_url"] == f"mqtt://127.0.0.1:{demo.mqtt_port}"
    assert written["viewer_url"] == f"{demo.api}/viewer?token={demo.token}"
    assert demo.token.startswith("twin_") and demo.token in demo.startup
    # Without it the API says what to do; with it, an admin may list the tokens.
    anonymous = httpx.get(f"{demo.api}/api/v1/buildings", timeout=30)
    assert anonymous.status_code == 401 and "twin tokens add" in anonymous.json()["detail"]
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    (token,) = demo.http.get("/api/v1/tokens").json()
    assert token["name"] == "demo-admin" and token["role"] == "admin"


def test_readings_keep_arriving_and_an_alert_opens(demo: Demo) -> None:
    def fresh(state: list[dict[str, Any]]) -> bool:
        return sum(s["status"] != "no_data" for s in state) > 80

    demo.poll("/api/v1/buildings/nanjing-building/state", fresh, timeout_s=30)
    alerts = demo.poll("/api/v1/alerts", lambda body: len(body) > 0, timeout_s=60)
    assert alerts[0]["message"] and alerts[0]["standard"]


def test_a_mosquitto_pub_reading_shows_up_within_two_seconds(demo: Demo) -> None:
    record = [{"n": "th-3f-in/rh", "u": "%RH", "v": 42.4242}]
    building = demo.http.get("/api/v1/buildings/nanjing-building").json()
    sensor = next(s for s in building["sensors"] if s["id"] == "th-3f-in")
    subprocess.run(
        [
            "mosquitto_pub",
            "-h",
            "127.0.0.1",
            "-p",
            str(demo.mqtt_port),
            "-q",
            "1",
            # The demo's broker knows each device by its own password, as Mosquitto would.
            "-u",
            sensor["device_id"],
            "-P",
            json.loads(demo.credentials.read_text())["devices"][sensor["device_id"]],
            "-t",
            f"twin/v1/devices/{sensor['device_id']}/readings",
            "-m",
            json.dumps(record),
        ],
        check=True,
        timeout=10,
    )
    sent = time.monotonic()
    demo.poll(
        f"/api/v1/channels/th-3f-in/rh/readings?start={time.time() - 3 * 86400:.0f}&limit=100000",
        lambda body: any(r["value"] == 42.4242 for r in body),
        timeout_s=2.0,
    )
    assert time.monotonic() - sent < 2.0


def test_snapshot_shows_the_building_coloured(demo: Demo) -> None:
    response = demo.http.get("/api/v1/buildings/nanjing-building/snapshot.png?metric=t")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")).astype(int)
    assert image.shape == (720, 1280, 3)
    # Coloured pixels: channels far apart (grey, white and black have equal channels).
    saturated = (image.max(axis=2) - image.min(axis=2)) > 60
    assert saturated.mean() > 0.02, f"only {saturated.mean():.1%} of the image is coloured"
    bad = demo.http.get("/api/v1/buildings/nanjing-building/snapshot.png?metric=co2")
    assert bad.status_code == 422 and "known" in bad.json()["detail"]


def test_ctrl_c_stops_cleanly(demo: Demo, tmp_path: Path) -> None:
    demo.proc.send_signal(signal.SIGINT)
    try:
        code = demo.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        demo.proc.kill()
        code = demo.proc.wait()
    rest = demo.printed()
    assert code == 0, f"exit {code} after Ctrl-C; it printed:\n{rest[-3000:]}"
    assert "Stopping" in rest and "Traceback" not in rest
