"""Every route against every role: the table of who may call what, and the API keeping to it.

ROLES is the access policy in one place. A route the app serves that is missing here, or
that declares another role than the one written here, fails `test_every_route_is_in_the_
table`, naming it; each route is then called with no token, with bad ones and with each
role's token. Requests go straight to the ASGI app and only the response's status is read,
so the live stream (which never ends) is tested like any other route, and bodies are empty
JSON objects: access is decided before a body is read, so a refusal never turns into 422.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from data import Store, open_store
from models.access import Role
from twin.access import declared_routes
from twin.app import create_app
from twin.auth import issue_token, revoke_token
from twin.context import TwinContext
from twin.pipeline import Pipeline

PUBLIC = None
# "METHOD path": the role it needs (None: public).
ROLES: dict[str, Role | None] = {
    "GET /healthz": PUBLIC,
    "GET /readyz": PUBLIC,
    "GET /metrics": Role.VIEWER,
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /redoc": PUBLIC,
    # ops staff read everything but subscriptions and deliveries
    "GET /api/v1/buildings": Role.VIEWER,
    "GET /api/v1/buildings/{building_id}": Role.VIEWER,
    "GET /api/v1/buildings/{building_id}/state": Role.VIEWER,
    "GET /api/v1/buildings/{building_id}/snapshot.png": Role.VIEWER,
    "GET /api/v1/buildings/{building_id}/frame": Role.VIEWER,
    "GET /api/v1/buildings/{building_id}/mesh.ply": Role.VIEWER,
    "GET /api/v1/channels/{channel_id:path}/readings": Role.VIEWER,
    "GET /api/v1/channels/{channel_id:path}/series": Role.VIEWER,
    "GET /api/v1/alerts": Role.VIEWER,
    "GET /api/v1/alerts/{alert_id}": Role.VIEWER,
    "GET /api/v1/dead-letters": Role.VIEWER,
    "GET /api/v1/dead-letters/counts": Role.VIEWER,
    "GET /api/v1/incidents": Role.VIEWER,
    "GET /api/v1/incidents/{incident_id}": Role.VIEWER,
    "GET /api/v1/stream": Role.VIEWER,
    "GET /viewer": Role.VIEWER,
    "GET /viewer/district": Role.VIEWER,
    # facility managers act on alerts and decide who hears about them
    "POST /api/v1/alerts/{alert_id}/acknowledge": Role.MANAGER,
    "POST /api/v1/alerts/{alert_id}/resolve": Role.MANAGER,
    "POST /api/v1/alerts/{alert_id}/shelve": Role.MANAGER,
    "POST /api/v1/alerts/{alert_id}/unshelve": Role.MANAGER,
    "POST /api/v1/alerts/{alert_id}/notes": Role.MANAGER,
    "POST /api/v1/incidents/{incident_id}/acknowledge": Role.MANAGER,
    "POST /api/v1/incidents/{incident_id}/resolve": Role.MANAGER,
    "GET /api/v1/subscriptions": Role.MANAGER,
    "POST /api/v1/subscriptions": Role.MANAGER,
    "GET /api/v1/subscriptions/{subscription_id}": Role.MANAGER,
    "PUT /api/v1/subscriptions/{subscription_id}": Role.MANAGER,
    "DELETE /api/v1/subscriptions/{subscription_id}": Role.MANAGER,
    "GET /api/v1/deliveries": Role.MANAGER,
    # admins register buildings, sensors and tokens
    "POST /api/v1/buildings": Role.ADMIN,
    "POST /api/v1/buildings/{building_id}/sensors": Role.ADMIN,
    "GET /api/v1/tokens": Role.ADMIN,
    "POST /api/v1/tokens": Role.ADMIN,
    "DELETE /api/v1/tokens/{token_id}": Role.ADMIN,
}


@dataclass
class Callers:
    app: FastAPI
    tokens: dict[str, str]  # who -> Authorization header value


@pytest.fixture
async def callers(tmp_path: Path) -> AsyncIterator[Callers]:
    async with open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store:
        pipeline = await Pipeline.open(store)
        context = TwinContext(store=store, pipeline=pipeline, clock=time.time)
        tokens = {role.value: f"Bearer {await _token(store, role)}" for role in Role}
        revoked, plaintext = await issue_token(store, "gone", Role.ADMIN, time.time())
        await revoke_token(store, revoked.id, time.time())
        tokens["revoked"] = f"Bearer {plaintext}"
        yield Callers(create_app(context), tokens)


async def _token(store: Store, role: Role) -> str:
    _, plaintext = await issue_token(store, f"a-{role.value}", role, time.time())
    return plaintext


def _concrete(path: str) -> str:
    """The route's path with every parameter filled (``{channel_id:path}`` with a slash)."""
    return re.sub(r"\{(\w+)(:path)?\}", lambda m: "nope/x" if m.group(2) else "nope", path)


async def status_of(app: FastAPI, method: str, path: str, headers: dict[str, str]) -> int:
    """The status the app starts its answer with; the request is then dropped."""
    loop = asyncio.get_running_loop()
    started: asyncio.Future[int] = loop.create_future()
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"{}", "more_body": False}
        await asyncio.Event().wait()  # the client stays connected until it is dropped
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start" and not started.done():
            started.set_result(message["status"])

    raw = {"content-type": "application/json", **headers}
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in raw.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("twin", 80),
    }
    task = asyncio.create_task(app(scope, receive, send))  # type: ignore[arg-type]
    try:
        await asyncio.wait({task, started}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        assert started.done(), f"{method} {path} answered nothing: {task}"
        return started.result()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def test_every_route_is_in_the_table(callers: Callers) -> None:
    declared: dict[str, Role | None] = {}
    for route in declared_routes(callers.app.routes):
        assert route.access is not None, f"{route.path} declares no role"
        for method in route.methods:
            declared[f"{method} {route.path}"] = route.access.role
    # The table the guard works from has every operation the OpenAPI document has.
    documented = {
        f"{method.upper()} {path}"
        for path, operations in callers.app.openapi()["paths"].items()
        for method in operations
    }
    assert documented <= {route.replace(":path}", "}") for route in declared}
    for route, role in declared.items():
        assert route in ROLES, (
            f"{route} is not in ROLES: add it with the role it declares "
            f"({role.value if role else 'public'})"
        )
        assert ROLES[route] == role, f"{route} declares {role}, the table says {ROLES[route]}"
    assert set(ROLES) == set(declared), f"routes gone: {sorted(set(ROLES) - set(declared))}"


@pytest.mark.parametrize("route", list(ROLES))
async def test_route_answers_each_caller_by_its_role(callers: Callers, route: str) -> None:
    method, path = route.split(" ", 1)
    path = _concrete(path)
    needed = ROLES[route]

    async def status(authorization: str | None) -> int:
        headers = {"authorization": authorization} if authorization else {}
        return await status_of(callers.app, method, path, headers)

    refused_outright = [
        None,
        "Bearer nope",
        "Bearer twin_0123456789_not-the-secret-of-any-token-at-all",
        "Basic YWRtaW46YWRtaW4=",
        callers.tokens["revoked"],
    ]
    for authorization in refused_outright:
        got = await status(authorization)
        if needed is None:
            assert got not in (401, 403), f"public {route} refused {authorization}: {got}"
        else:
            assert got == 401, f"{route} with {authorization!r}: {got}, not 401"
    for role in Role:
        got = await status(callers.tokens[role.value])
        if needed is None or role.allows(needed):
            assert got not in (401, 403), f"{route} refused a {role.value}: {got}"
        else:
            assert got == 403, f"{route} let a {role.value} through: {got}, not 403"
