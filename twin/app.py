"""The FastAPI application over a running twin."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from models.mesh import MeshError
from twin.context import TwinContext
from twin.deps import Context
from twin.routes import (
    alerts,
    buildings,
    incidents,
    readings,
    registration,
    stream,
    subscriptions,
    viewer,
)
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
    app.include_router(registration.router)
    app.include_router(readings.router)
    app.include_router(alerts.router)
    app.include_router(incidents.router)
    app.include_router(subscriptions.router)
    app.include_router(stream.router)
    app.include_router(viewer.router)

    @app.exception_handler(MeshError)
    async def unloadable_mesh(request: Request, exc: MeshError) -> JSONResponse:
        return JSONResponse(
            {"detail": f"this building's 3D model cannot be loaded: {exc}"}, status_code=422
        )

    @app.get("/healthz", tags=["health"])
    async def healthz(context: Context) -> Health:
        try:
            await context.store.ping()
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
