"""A seeded twin (API and web viewer) in a subprocess, shared by the UI tests of one module."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).parent
STARTUP_TIMEOUT_S = 90.0


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


seeded = _load("seeded_twin")


@dataclass(frozen=True)
class SeededTwin:
    api: str
    viewer: str
    started_at: float  # the seeded history ends at about this moment
    token: str  # a viewer's API token
    data: ModuleType = seeded  # what was seeded: value_at(), ALERT_SENSOR, ...


@pytest.fixture(scope="module")
def seeded_twin(
    tmp_path_factory: pytest.TempPathFactory, port_factory: Callable[[], int]
) -> Iterator[SeededTwin]:
    """A fresh twin per test module: the trame state is shared by every browser, so one
    module's clicks must not leak into the next."""
    db = tmp_path_factory.mktemp("seeded") / "twin.db"
    started = time.time()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "seeded_twin.py"), str(db), str(port_factory())],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    ready = None
    while time.monotonic() < deadline and ready is None:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("READY "):
            ready = line.split()
    if ready is None:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        pytest.fail("seeded twin did not start:\n" + "".join(lines))
    # Keep draining its output, so a chatty server never blocks on a full pipe.
    drain = threading.Thread(target=proc.stdout.read, daemon=True)
    drain.start()
    try:
        yield SeededTwin(ready[1], ready[2], started, ready[3])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        drain.join(timeout=10)
        proc.stdout.close()
