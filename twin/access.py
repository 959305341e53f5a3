"""Who may call which route: every route declares it, and one ASGI guard checks it first.

A route declares its role with a dependency, on the router or the route::

    router = APIRouter(dependencies=[Depends(require(Role.VIEWER))])
    async def acknowledge(..., token: ManagerToken) -> ...    # the caller's token record
    @app.get("/healthz", dependencies=[PUBLIC])                 # open to anyone

`create_app` refuses to build an app with a route that declares nothing. The `Guard`
middleware finds the route a request is for and, before anything reads its body, refuses
an oversize body (413) and a caller without the route's role (401, 403): FastAPI parses
JSON and forms before it resolves any dependency, so a dependency alone would check too late.
The dependencies still check too (cheaply: the guard leaves the token in the scope), so a
route stays protected in any app.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, HTTPException, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, compile_path, get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from data import Store
from models.access import ApiToken, Role
from twin.auth import COOKIE, AccessDenied, authorize

SCOPE_TOKEN = "twin.token"  # the guard leaves the caller's ApiToken here
MAX_BODY_BYTES = 1024 * 1024  # every request body, unless its route says otherwise


@dataclass(frozen=True, slots=True)
class Access:
    """What a route needs: a role (None: nothing, it is public); ``browser`` pages also take
    the token once as ``?token=`` and keep it in an HttpOnly cookie."""

    role: Role | None
    browser: bool = False


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    bearerFormat="twin_<id>_<secret>",
    description="`twin tokens add NAME --role viewer|manager|admin` makes one",
)
_cookie = APIKeyCookie(
    name=COOKIE,
    auto_error=False,
    scheme_name="cookie",
    description="set by opening /viewer?token=<token> in a browser",
)


class Require:
    """Dependency: the caller's token, if its role is at least ``access.role``."""

    def __init__(self, access: Access) -> None:
        self.access = access

    async def __call__(
        self,
        request: Request,
        # Declared for the OpenAPI document (both ways of sending a token); read below.
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        cookie: Annotated[str | None, Depends(_cookie)],
    ) -> ApiToken:
        needed = self.access.role
        token = request.scope.get(SCOPE_TOKEN)
        if isinstance(token, ApiToken) and (needed is None or token.role.allows(needed)):
            return token
        try:
            return await authorize(_store(request.scope), request.headers, needed)
        except AccessDenied as exc:
            raise HTTPException(exc.status, exc.detail, headers=_challenge(exc)) from None


class Public:
    """Dependency that marks a route as open to anyone (health, docs): ``dependencies=[PUBLIC]``."""

    access = Access(None)

    def __call__(self) -> None:
        return None


public = Public()
PUBLIC = Depends(public)


@cache
def require(role: Role, *, browser: bool = False) -> Require:
    """The dependency of a route that needs ``role`` (one object per role, so FastAPI
    resolves it once per request)."""
    return Require(Access(role, browser))


ViewerToken = Annotated[ApiToken, Depends(require(Role.VIEWER))]
ManagerToken = Annotated[ApiToken, Depends(require(Role.MANAGER))]
AdminToken = Annotated[ApiToken, Depends(require(Role.ADMIN))]


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def _declared(dependant: Dependant) -> Access | None:
    """The highest role among a route's dependencies, else public if it is marked so, else
    None (it declared nothing)."""
    found = [c.access for c in _calls(dependant) if isinstance(c, Require | Public)]
    roles = [a for a in found if a.role is not None]
    if roles:
        top = max(roles, key=lambda a: a.role.rank if a.role is not None else -1)
        return Access(top.role, browser=any(a.browser for a in roles))
    return Access(None) if found else None


@dataclass(frozen=True)
class DeclaredRoute:
    """A route as the guard sees it: where it is, what it needs, how big a body it takes."""

    path: str
    methods: frozenset[str]
    access: Access | None  # None: declared nothing
    max_body_bytes: int | None  # None: the app's default
    regex: re.Pattern[str]

    def matches(self, scope: Scope) -> bool:
        # No methods: a mount or the like, which takes every method.
        allowed = not self.methods or scope["method"] in self.methods
        return allowed and bool(self.regex.match(get_route_path(scope)))


def _route_contexts(routes: Sequence[BaseRoute]) -> Iterator[Any]:
    """Every route with the path and dependencies it has in the app. FastAPI up to 0.15x
    copies included routes into the app's list; later versions keep included routers and
    resolve them through `iter_route_contexts`."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        yield from routes
        return
    yield from iter_route_contexts(routes)


def declared_routes(routes: Sequence[BaseRoute]) -> list[DeclaredRoute]:
    """The app's routes (``app.routes``) with what each declared."""
    table = []
    for route in _route_contexts(routes):
        original = getattr(route, "original_route", route)
        path = getattr(route, "path", None)
        if path is None:
            continue
        access = _declared(route.dependant) if isinstance(original, APIRoute) else None
        table.append(
            DeclaredRoute(
                path=path,
                methods=frozenset(getattr(route, "methods", None) or ()),
                access=access,
                max_body_bytes=getattr(original, "max_body_bytes", None),
                # A mount's own regex also takes the paths below it.
                regex=getattr(route, "path_regex", None) or compile_path(path)[0],
            )
        )
    return table


def undeclared(routes: Sequence[BaseRoute]) -> list[str]:
    """``METHODS path`` of every route that declares no access."""
    return [
        f"{','.join(sorted(r.methods))} {r.path}"
        for r in declared_routes(routes)
        if r.access is None
    ]


def _store(scope: Scope) -> Store:
    store: Store = scope["app"].state.twin.store
    return store


def _challenge(exc: AccessDenied) -> dict[str, str]:
    return {"WWW-Authenticate": 'Bearer realm="twin"'} if exc.status == 401 else {}


class BodyTooLarge(HTTPException):
    """A request body over its route's limit (an HTTPException, so FastAPI passes it on
    while it reads a body and answers 413)."""

    def __init__(self, max_bytes: int) -> None:
        size = f"{max_bytes // 2**20} MiB" if max_bytes >= 2**20 else f"{max_bytes} bytes"
        super().__init__(413, f"request body over {size}")


class Guard:
    """Pure ASGI middleware in front of the routes: body size limits and access.

    A route may set a larger body limit of its own with a ``max_body_bytes`` attribute (the
    registration routes take 64 MiB meshes). Bodies are counted as they stream in, so an
    oversize body is never buffered whole, whatever Content-Length says or omits.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._table: list[DeclaredRoute] = []
        self._built_for = -1  # how many routes the app had when the table was built

    def _route(self, scope: Scope) -> DeclaredRoute | None:
        """The route the router will choose for this request (None: 404 or 405)."""
        routes = scope["app"].routes
        if len(routes) != self._built_for:  # built on the first request, again if routes come
            self._table, self._built_for = declared_routes(routes), len(routes)
        return next((r for r in self._table if r.matches(scope)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._route(scope)
        limit = (route.max_body_bytes if route else None) or self.max_body_bytes
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _send_json(send, 413, BodyTooLarge(limit).detail)
            return
        if route is not None:
            # Undeclared routes cannot be built into an app (create_app); fail closed anyway.
            access = route.access or Access(Role.ADMIN)
            if access.role is not None and not await self._admit(scope, send, access, headers):
                return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge as exc:  # read by code that does not answer HTTPExceptions
            if started:
                raise
            await _send_json(send, 413, exc.detail)

    async def _admit(self, scope: Scope, send: Send, access: Access, headers: Headers) -> bool:
        """Put the caller's token in the scope, or answer the refusal; False when refused."""
        store = _store(scope)
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        try:
            if access.browser and "token" in query:
                # A browser opening a page with ?token=: keep it in a cookie, drop it from the
                # address bar, and reload from this page so the cookie goes with it.
                # Stripped as verifying strips it: what goes into the cookie is then exactly
                # a valid token, URL-safe characters only.
                plaintext = query.pop("token").strip()
                await authorize(store, {"authorization": f"Bearer {plaintext}"}, access.role)
                await _send_login(send, scope, plaintext, query)
                return False
            scope[SCOPE_TOKEN] = await authorize(store, headers, access.role)
            return True
        except AccessDenied as exc:
            await _send_json(send, exc.status, exc.detail, _challenge(exc))
            return False


async def _send_json(
    send: Send, status: int, detail: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _send_login(send: Send, scope: Scope, token: str, query: dict[str, str]) -> None:
    """Set the token cookie (a valid token is URL-safe text) and send the browser on to the
    same page without ``?token=``."""
    target = scope.get("root_path", "") + scope["path"] + (f"?{urlencode(query)}" if query else "")
    secure = "; Secure" if scope.get("scheme") == "https" else ""
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict{secure}"
    link = html.escape(target, quote=True)
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<meta http-equiv='refresh' content='0;url={link}'><title>Signed in</title></head>"
        f"<body><a href='{link}'>Continue</a></body></html>"
    ).encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (b"set-cookie", cookie.encode("latin-1")),
        (b"cache-control", b"no-store"),
        (b"referrer-policy", b"no-referrer"),  # the token must not leave in a Referer
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
