"""How a twin process runs; light to import so `twin --help` stays fast."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEMO_SCENARIOS = ("night-construction", "tilt-drift")


class StartupError(RuntimeError):
    """A part of the twin could not start; the message says what to change."""


@dataclass(frozen=True)
class TwinOptions:
    """Where to listen, which broker and database, and the simulated clock."""

    host: str = "127.0.0.1"
    port: int = 8000
    db: Path = Path("var/twin.db")
    mqtt_url: str | None = None  # None: start the embedded broker on mqtt_host:mqtt_port
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    simulate: bool = True
    speed: float = 60.0
    start: float | None = None  # simulated start time; None: the simulator's default_start
    scenarios: tuple[str, ...] = DEMO_SCENARIOS
    # Alert mail: smtp://[user:password@]host[:port]?from=address[&starttls=1]; None: no mail.
    smtp_url: str | None = None
    # The API as people reach it, for the links in notices; None: http://host:port.
    public_url: str | None = None
    # Issue a fresh admin token each start and write it to demo-credentials.json beside the
    # database (the demo); `twin serve` leaves tokens to `twin tokens add`.
    demo_credentials: bool = True
    # Browser origins allowed to call the API from other sites (CORS); none by default.
    cors_origins: tuple[str, ...] = ()
