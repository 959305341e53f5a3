"""What the API needs from the running twin, built once by whoever starts it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from data import Store
from twin.hub import LiveHub
from twin.metrics import NoticeCounts

if TYPE_CHECKING:
    import trimesh

    from alerts.dispatch import Dispatcher
    from sensors.ingest import Ingest
    from twin.pipeline import Pipeline
    from viewer.web import WebViewer


@dataclass
class TwinContext:
    """Shared, long-lived parts of a running twin, kept in the app's state."""

    store: Store
    pipeline: Pipeline
    clock: Callable[[], float]
    broker_connected: Callable[[], bool] = lambda: False
    mqtt_url: str = ""
    # Meshes by the building's ``model`` (``procedural:nanjing`` or a mesh file path).
    meshes: dict[str, trimesh.Trimesh] = field(default_factory=dict)
    # VTK is not thread-safe: one render at a time.
    render_lock: threading.Lock = field(default_factory=threading.Lock)
    # The web viewer served beside the API, while it runs (twin.web_viewer).
    viewer: WebViewer | None = None
    # Where uploaded building meshes are kept (next to the default database, var/twin.db).
    meshes_dir: Path = Path("var/meshes")
    # Registering a building or its sensors reads, checks and writes the registry: one at a time.
    registry_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Alert events for the live stream (twin.hub).
    hub: LiveHub = field(default_factory=LiveHub)
    # Who hears about incidents, while notices are being sent (twin.alerting).
    dispatcher: Dispatcher | None = None
    # The MQTT consumer feeding this twin, where it runs in this process (for /metrics).
    ingest: Ingest | None = None
    # Notice delivery attempts by channel and outcome (for /metrics).
    notices: NoticeCounts = field(default_factory=NoticeCounts)

    def __post_init__(self) -> None:
        # Every alert transition goes to the live stream, whoever runs this twin.
        self.pipeline.alerts.listeners.append(self.hub.alert_changed)

    def mesh(self, model: str) -> trimesh.Trimesh:
        """The mesh a building's ``model`` names, loaded on first use."""
        if model not in self.meshes:
            if model == "procedural:nanjing":
                from models.nanjing import build_nanjing_mesh

                self.meshes[model] = build_nanjing_mesh()
            else:
                from models.mesh import load_mesh, repair_mesh

                # Repaired as it was at registration, so sensors sit where they were snapped.
                mesh = load_mesh(model)
                repair_mesh(mesh)
                self.meshes[model] = mesh
        return self.meshes[model]
