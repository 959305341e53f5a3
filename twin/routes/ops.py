"""For whoever runs the twin: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from models.access import Role
from twin.access import PUBLIC, require
from twin.context import TwinContext
from twin.deps import Context
from twin.metrics import CONTENT_TYPE, exposition
from twin.schemas import Health

router = APIRouter(tags=["health"])


async def _health(context: TwinContext) -> Health:
    try:
        await context.store.ping()
        database = "ok"
    except Exception:
        database = "down"
    broker = "connected" if context.broker_connected() else "disconnected"
    return Health(
        status="ok" if database == "ok" and broker == "connected" else "degraded",
        database=database,  # type: ignore[arg-type]
        broker=broker,  # type: ignore[arg-type]
        mqtt_url=context.mqtt_url,
    )


@router.get("/healthz", dependencies=[PUBLIC])
async def healthz(context: Context) -> Health:
    """Liveness: the process answers (200), with the database and broker state in words."""
    return await _health(context)


@router.get(
    "/readyz",
    dependencies=[PUBLIC],
    responses={503: {"model": Health, "description": "database down or broker disconnected"}},
)
async def readyz(context: Context) -> Health:
    """Readiness: 200 when the database answers and ingest is connected to the broker, 503
    otherwise (readings then wait in the broker or the spool; nothing is lost)."""
    health = await _health(context)
    if health.status != "ok":
        return JSONResponse(health.model_dump(), status_code=503)  # type: ignore[return-value]
    return health


@router.get(
    "/metrics",
    dependencies=[Depends(require(Role.VIEWER))],
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text format"}},
)
async def metrics(context: Context) -> Response:
    """Readings in, rejected by reason, spool depth, open alerts and incidents, notice
    deliveries by outcome, broker connection, live-stream clients (Prometheus text format;
    scrape with a viewer token: ``authorization: {credentials: <token>}``)."""
    return Response(exposition(context), media_type=CONTENT_TYPE)
