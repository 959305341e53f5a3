"""Tokens, how the API takes them, body limits, CORS, the demo's credentials and
`twin tokens`: against a real SQLite store and the ASGI app (or the CLI as a subprocess)."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from data import Store, open_store
from models.access import Role
from twin.app import create_app
from twin.auth import (
    COOKIE,
    AccessDenied,
    authenticate,
    issue_token,
    new_token,
    revoke_token,
    split_token,
    verify,
)
from twin.context import TwinContext
from twin.credentials import write_demo_credentials, write_private_json
from twin.pipeline import Pipeline

LIMIT = 4096  # the app's body limit in these tests


@dataclass
class Api:
    store: Store
    app: FastAPI
    client: httpx.AsyncClient
    tokens: dict[Role, str]

    def bearer(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store:
        context = TwinContext(store=store, pipeline=await Pipeline.open(store), clock=time.time)
        app = create_app(context, max_body_bytes=LIMIT)
        tokens = {
            role: (await issue_token(store, f"a-{role.value}", role, time.time()))[1]
            for role in Role
        }
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://twin") as client:
            yield Api(store, app, client, tokens)


def test_a_token_is_random_and_only_its_hash_is_kept() -> None:
    record, plaintext = new_token("li.wei", Role.MANAGER, 10.0)
    other, second = new_token("li.wei", Role.MANAGER, 10.0)
    assert plaintext != second and record.id != other.id
    token_id, secret = split_token(plaintext) or ("", "")
    assert token_id == record.id and len(token_id) == 10
    assert len(secret) >= 43  # 32 random bytes, URL-safe base64
    assert secret not in repr(record) and record.secret_sha256 != secret
    assert len(record.secret_sha256) == 64
    assert split_token("twin_abc") is None and split_token("Bearer twin_a_b") is None
    with pytest.raises(ValueError, match="token name"):
        new_token("li wei", Role.VIEWER, 10.0)


async def test_verify_takes_the_token_and_nothing_like_it(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store:
        record, plaintext = await issue_token(store, "li.wei", Role.MANAGER, 10.0)
        assert await verify(store, plaintext) == record
        assert await authenticate(store, f"Bearer {plaintext}") == record
        token_id, secret = split_token(plaintext) or ("", "")
        for wrong in (f"twin_{token_id}_{secret[:-1]}x", f"twin_0000000000_{secret}", "nope"):
            with pytest.raises(AccessDenied) as refused:
                await verify(store, wrong)
            assert refused.value.status == 401 and "twin tokens add" in refused.value.detail
        with pytest.raises(AccessDenied, match="needs an API token"):
            await authenticate(store, None)
        revoked = await revoke_token(store, record.id, 20.0)
        assert revoked is not None and revoked.revoked_at == 20.0
        assert (await revoke_token(store, record.id, 30.0)) == revoked  # the first time stays
        assert await revoke_token(store, "unknown", 30.0) is None
        with pytest.raises(AccessDenied, match="revoked"):
            await verify(store, plaintext)


async def test_refusals_say_what_to_do(api: Api) -> None:
    anonymous = await api.client.get("/api/v1/alerts")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="twin"'
    detail = anonymous.json()["detail"]
    assert "Authorization: Bearer <token>" in detail
    assert "`twin tokens add NAME --role viewer`" in detail
    low = await api.client.get("/api/v1/deliveries", headers=api.bearer(Role.VIEWER))
    assert low.status_code == 403 and "www-authenticate" not in low.headers
    assert "needs the manager role" in low.json()["detail"]
    assert "is viewer" in low.json()["detail"]
    assert (await api.client.get("/healthz")).status_code == 200
    assert (await api.client.get("/docs")).status_code == 200
    document = (await api.client.get("/openapi.json")).json()
    assert set(document["components"]["securitySchemes"]) == {"token", "cookie"}


async def test_the_cookie_a_browser_page_set_opens_the_api_too(api: Api) -> None:
    client = api.client
    landing = await client.get("/viewer/district", params={"token": api.tokens[Role.VIEWER]})
    assert landing.status_code == 200 and "url=/viewer/district'" in landing.text
    assert client.cookies[COOKIE] == api.tokens[Role.VIEWER]  # kept, as a browser would
    page = await client.get("/viewer/district")
    assert page.status_code == 200 and "District overview" in page.text
    assert (await client.get("/api/v1/alerts")).status_code == 200
    # A header wins over the cookie, and a bad header is not rescued by a good cookie.
    bad = await client.get("/api/v1/alerts", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    # ?token= is for the browser pages only; elsewhere it is no way in.
    client.cookies.clear()
    query = await client.get("/api/v1/alerts", params={"token": api.tokens[Role.ADMIN]})
    assert query.status_code == 401


async def test_a_revoked_token_stops_working_at_once(api: Api) -> None:
    headers = api.bearer(Role.ADMIN)
    made = await api.client.post(
        "/api/v1/tokens", json={"name": "ops-wall-3", "role": "viewer"}, headers=headers
    )
    assert made.status_code == 201
    issued = made.json()
    assert issued["token"].startswith(f"twin_{issued['id']}_") and issued["role"] == "viewer"
    wall = {"Authorization": f"Bearer {issued['token']}"}
    assert (await api.client.get("/api/v1/buildings", headers=wall)).status_code == 200
    listed = (await api.client.get("/api/v1/tokens", headers=headers)).json()
    assert "ops-wall-3" in {t["name"] for t in listed}
    assert all("token" not in t and "secret_sha256" not in t for t in listed)
    gone = await api.client.delete(f"/api/v1/tokens/{issued['id']}", headers=headers)
    assert gone.status_code == 200 and gone.json()["revoked_at"] is not None
    refused = await api.client.get("/api/v1/buildings", headers=wall)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert (await api.client.delete("/api/v1/tokens/nope", headers=headers)).status_code == 404


async def test_bodies_over_the_limit_are_refused_declared_or_streamed(api: Api) -> None:
    headers = api.bearer(Role.MANAGER) | {"content-type": "application/json"}
    declared = await api.client.post(
        "/api/v1/subscriptions", content=b" " * (LIMIT + 1), headers=headers
    )
    assert declared.status_code == 413 and "over 4096 bytes" in declared.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(3):
            yield b" " * (LIMIT // 2)

    streamed = await api.client.post("/api/v1/subscriptions", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    # Before the token is even looked at: an anonymous oversize body is refused the same.
    anonymous = await api.client.post("/api/v1/subscriptions", content=b" " * (LIMIT + 1))
    assert anonymous.status_code == 413
    small = await api.client.post("/api/v1/subscriptions", json={"name": "x"}, headers=headers)
    assert small.status_code == 422  # read and judged
    # The registration routes keep their own, larger limits.
    layout = await api.client.post(
        "/api/v1/buildings/nope/sensors",
        content=b"[]" + b" " * (2 * LIMIT),
        headers=api.bearer(Role.ADMIN) | {"content-type": "application/json"},
    )
    assert layout.status_code == 404


async def test_refused_callers_never_reach_the_body(api: Api) -> None:
    # Broken JSON from a caller without the role is refused for the role, not the JSON.
    broken = {"content-type": "application/json"}
    for headers, status in ((broken, 401), (broken | api.bearer(Role.VIEWER), 403)):
        answer = await api.client.post("/api/v1/subscriptions", content=b"{", headers=headers)
        assert answer.status_code == status


async def test_cors_is_closed_unless_origins_are_named(api: Api, tmp_path: Path) -> None:
    preflight = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    closed = await api.client.options("/api/v1/alerts", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    read = await api.client.get(
        "/api/v1/alerts", headers=api.bearer(Role.VIEWER) | {"Origin": "https://evil.example"}
    )
    assert "access-control-allow-origin" not in read.headers

    context = TwinContext(store=api.store, pipeline=await Pipeline.open(api.store), clock=time.time)
    app = create_app(context, cors_origins=["https://ops.example.org"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://twin"
    ) as client:
        ops = await client.options(
            "/api/v1/alerts", headers=preflight | {"Origin": "https://ops.example.org"}
        )
        assert ops.status_code == 200
        assert ops.headers["access-control-allow-origin"] == "https://ops.example.org"
        other = await client.options("/api/v1/alerts", headers=preflight)
        assert "access-control-allow-origin" not in other.headers


async def test_each_demo_start_has_a_new_admin_token_the_old_one_revoked(tmp_path: Path) -> None:
    async with open_store(f"sqlite:///{tmp_path / 'twin.db'}") as store:
        kept = (await issue_token(store, "li.wei", Role.MANAGER, 1.0))[0]
        args = {"api_url": "http://127.0.0.1:8000", "mqtt_url": "mqtt://127.0.0.1:1883"}
        path, first = await write_demo_credentials(store, tmp_path, now=2.0, **args)
        path.chmod(0o644)  # as if someone loosened it: the next start writes 0600 again
        _, second = await write_demo_credentials(store, tmp_path, now=3.0, **args)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        written = json.loads(path.read_text())
        assert written == args | {
            "admin_token": second,
            "viewer_url": f"http://127.0.0.1:8000/viewer?token={second}",
            "devices": {},
        }
        with pytest.raises(AccessDenied, match="revoked"):
            await verify(store, first)
        assert (await verify(store, second)).role is Role.ADMIN
        assert await store.token(kept.id) == kept  # other tokens are left alone
    leftovers = await asyncio.to_thread(lambda: [p.name for p in tmp_path.glob(".*")])
    assert leftovers == []  # no temporary file left behind


def test_private_json_is_never_readable_by_others(tmp_path: Path) -> None:
    path = tmp_path / "secret.json"
    old_umask = os.umask(0)  # the most permissive process: the file must still be 0600
    try:
        write_private_json(path, {"a": 1})
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and json.loads(path.read_text()) == {"a": 1}


def tokens_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "twin", "tokens", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "TWIN_DATABASE_URL"} | {"COLUMNS": "200"},
    )


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "twin.db"


def test_tokens_add_list_revoke(db: Path) -> None:
    added = tokens_cli("add", "li.wei", "--role", "manager", "--db", str(db))
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip()  # the token alone on stdout, for scripts
    assert token.startswith("twin_") and "\n" not in token
    assert "shown only this once" in added.stderr
    token_id = token.split("_")[1]

    listed = tokens_cli("list", "--db", str(db))
    assert listed.returncode == 0, listed.stderr
    assert token_id in listed.stdout and "li.wei" in listed.stdout and "manager" in listed.stdout
    assert token.split("_", 2)[2] not in listed.stdout and "active" in listed.stdout

    revoked = tokens_cli("revoke", token_id, "--db", str(db))
    assert revoked.returncode == 0 and f"Revoked {token_id} (li.wei, manager)" in revoked.stdout

    async def check() -> None:
        async with open_store(f"sqlite:///{db}") as store:
            with pytest.raises(AccessDenied, match="revoked"):
                await verify(store, token)

    asyncio.run(check())
    assert "revoked" in tokens_cli("list", "--db", str(db)).stdout


def test_tokens_commands_refuse_what_they_cannot_do(db: Path) -> None:
    bad_role = tokens_cli("add", "li.wei", "--role", "owner", "--db", str(db))
    assert bad_role.returncode != 0 and "owner" in bad_role.stderr
    bad_name = tokens_cli("add", "li wei", "--role", "viewer", "--db", str(db))
    assert bad_name.returncode == 1 and "token name" in bad_name.stderr
    unknown = tokens_cli("revoke", "nope", "--db", str(db))
    assert unknown.returncode == 1 and "twin tokens list" in unknown.stderr
    both = tokens_cli("list", "--db", str(db), "--database-url", f"sqlite:///{db}")
    assert both.returncode == 1 and "not both" in both.stderr


async def test_serve_says_how_to_make_a_token_until_there_is_one(tmp_path: Path) -> None:
    from twin.runtime import access_lines
    from twin.settings import TwinOptions

    options = TwinOptions(db=tmp_path / "twin.db", simulate=False, demo_credentials=False)
    async with open_store(f"sqlite:///{options.db}") as store:
        (line,) = await access_lines(options, store, "http://127.0.0.1:8000", "mqtt://x:1883", {})
        assert f"`twin tokens add NAME --role admin --db {options.db}`" in line
        await issue_token(store, "li.wei", Role.ADMIN, time.time())
        assert (
            await access_lines(options, store, "http://127.0.0.1:8000", "mqtt://x:1883", {}) == []
        )
    assert not (tmp_path / "demo-credentials.json").exists()  # serve writes none


async def test_a_route_added_without_a_role_needs_an_admin(api: Api) -> None:
    from starlette.responses import PlainTextResponse

    async def raw(scope: object, receive: object, send: object) -> None:
        await PlainTextResponse("inside")(scope, receive, send)  # type: ignore[arg-type]

    assert (await api.client.get("/healthz")).status_code == 200  # the guard has seen the app
    api.app.mount("/raw", raw)  # a mount cannot declare a role: the guard asks for the highest
    assert (await api.client.get("/raw/x")).status_code == 401
    assert (await api.client.get("/raw/x", headers=api.bearer(Role.MANAGER))).status_code == 403
    assert (await api.client.get("/raw/x", headers=api.bearer(Role.ADMIN))).text == "inside"
