"""Private Mosquitto and PostgreSQL servers on loopback ports, for tests and benchmarks.

Each runs from its own temporary directory on a free port and is stopped by PID (or
``pg_ctl``), never by name. PostgreSQL refuses to run as root, so as root it runs as the
``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sensors.mqtt import MqttEndpoint


class ServiceError(RuntimeError):
    """A local server is missing or would not start; the message says what to install."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


class Mosquitto:
    """A private Mosquitto broker on a free loopback port, started and stopped by PID."""

    def __init__(self, workdir: Path, *, persistent: bool = False) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise ServiceError("Mosquitto is not installed: apt-get install mosquitto")
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        self.endpoint = MqttEndpoint("127.0.0.1", self.port)
        # Unlimited queues and in-flight windows: tests count every message, the broker's
        # defaults (1000 queued, 20 in flight) would drop or throttle them.
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
            "user root",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if persistent:
            lines += ["persistence true", f"persistence_location {workdir}/", "autosave_interval 1"]
        else:
            lines.append("persistence false")
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.workdir / "log").open("ab") as log:
            self.proc = subprocess.Popen([self.binary, "-c", str(self.conf)], stderr=log)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()  # SIGTERM: Mosquitto saves its persistence file on the way out
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


class Postgres:
    """A private PostgreSQL server (as the ``postgres`` user when run as root)."""

    def __init__(self) -> None:  # creates a new cluster in a temporary directory
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        if not found:
            raise ServiceError("PostgreSQL is not installed: apt-get install postgresql")
        self.bindir = Path(found[-1]).parent
        self.port = free_port()
        self.datadir = Path(tempfile.mkdtemp(prefix="twin-pg-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.datadir, "postgres", "postgres")
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.datadir} "
            "-c fsync=on -c max_connections=100"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-o",
            options,
            "-l",
            str(self.datadir / "log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def remove(self) -> None:
        shutil.rmtree(self.datadir, ignore_errors=True)
