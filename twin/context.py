"""What the API needs from the running twin, built once by whoever starts it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from data import Store

if TYPE_CHECKING:
    import trimesh

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

    def mesh(self, model: str) -> trimesh.Trimesh:
        """The mesh a building's ``model`` names, loaded on first use."""
        if model not in self.meshes:
            if model == "procedural:nanjing":
                from models.nanjing import build_nanjing_mesh

                self.meshes[model] = build_nanjing_mesh()
            else:
                from models.mesh import load_mesh

                self.meshes[model] = load_mesh(model)
        return self.meshes[model]
