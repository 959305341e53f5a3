"""The FastAPI application over a running twin."""

from __future__ import annotations

from fastapi import FastAPI

from twin.context import TwinContext
from twin.deps import Context
from twin.routes import alerts, buildings, readings, viewer
from twin.schemas import Health


def create_app(context: TwinContext) -> FastAPI:
    """The API for ``context``; whoever built the context owns and closes its resources."""
    app = FastAPI(
        title="Heritage twin",
        summary="Live digital twin of heritage buildings: sensors, hazards, alerts, 3D model.",
        version="0.1.0",
    )
    app.state.twin = context
    app.include_router(buildings.router)
    app.include_router(readings.router)
    app.include_router(alerts.router)
    app.include_router(viewer.router)

    @app.get("/healthz", tags=["health"])
    async def healthz(context: Context) -> Health:
        try:
            await context.store.buildings()
            database = "ok"
        except Exception:
            database = "down"
        broker = "connected" if context.broker_connected() else "disconnected"
        ok = database == "ok" and broker == "connected"
        return Health(
            status="ok" if ok else "degraded",
            database=database,  # type: ignore[arg-type]
            broker=broker,  # type: ignore[arg-type]
            mqtt_url=context.mqtt_url,
        )

    return app
