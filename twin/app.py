"""The FastAPI application over a running twin."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from models.mesh import MeshError
from twin.access import MAX_BODY_BYTES, PUBLIC, Guard, undeclared
from twin.context import TwinContext
from twin.routes import (
    alerts,
    buildings,
    incidents,
    ops,
    readings,
    registration,
    stream,
    subscriptions,
    tokens,
    viewer,
)


def create_app(
    context: TwinContext,
    *,
    cors_origins: Sequence[str] = (),
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The API for ``context``; whoever built the context owns and closes its resources.

    Every route declares who may call it (`twin.access`); building an app with a route that
    does not is refused. Browsers of other origins are refused unless ``cors_origins``
    names them; request bodies stop at ``max_body_bytes`` unless a route allows more.
    """
    app = FastAPI(
        title="Heritage twin",
        summary="Live digital twin of heritage buildings: sensors, hazards, alerts, 3D model.",
        version="0.1.0",
        # Served below as routes that declare themselves public, like every other route.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
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
    app.include_router(tokens.router)
    app.include_router(ops.router)

    @app.exception_handler(MeshError)
    async def unloadable_mesh(request: Request, exc: MeshError) -> JSONResponse:
        return JSONResponse(
            {"detail": f"this building's 3D model cannot be loaded: {exc}"}, status_code=422
        )

    generated = app.openapi

    def openapi() -> dict[str, Any]:
        return _document_errors(generated())

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False, dependencies=[PUBLIC])
    async def openapi_json() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[PUBLIC])
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")

    @app.get("/redoc", include_in_schema=False, dependencies=[PUBLIC])
    async def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} - ReDoc")

    missing = undeclared(app.routes)
    if missing:
        raise RuntimeError(
            f"routes without a declared role: {'; '.join(missing)}: give each a dependency "
            "Depends(require(Role.X)) or dependencies=[PUBLIC] (twin/access.py)"
        )
    app.add_middleware(Guard, max_body_bytes=max_body_bytes)
    if cors_origins:  # outermost, so preflight requests are answered before the guard
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID"],
        )
    return app


_ERROR = {"$ref": "#/components/schemas/ErrorDetail"}


def _document_errors(document: dict[str, Any]) -> dict[str, Any]:
    """Say in the OpenAPI document how errors look (in place; idempotent). A 422 carries
    either FastAPI's list of validation errors or, from the twin's own checks, a sentence
    saying what is wrong; 401, 403 and 413 carry a sentence saying what to do."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorDetail"] = {
        "title": "ErrorDetail",
        "type": "object",
        "properties": {"detail": {"title": "Detail", "type": "string"}},
        "required": ["detail"],
    }
    if "HTTPValidationError" in schemas:
        schemas["HTTPValidationError"]["properties"]["detail"] = {
            "title": "Detail",
            "anyOf": [
                {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}},
                {"type": "string"},
            ],
        }
    refusals = {
        "401": "no valid token: send Authorization: Bearer <token>",
        "403": "the token's role may not do this",
        "413": "request body too large",
    }
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            wanted = ["401", "403"] if operation.get("security") else []
            wanted += ["413"] if "requestBody" in operation else []
            responses = operation.setdefault("responses", {})
            for status in wanted:
                responses.setdefault(
                    status,
                    {
                        "description": refusals[status],
                        "content": {"application/json": {"schema": _ERROR}},
                    },
                )
    return document
