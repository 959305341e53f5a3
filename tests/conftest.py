"""Shared fixtures: a real Mosquitto on a private loopback port for the whole session."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Iterator

import pytest

from data import Store
from models.access import Role
from sensors.mqtt import MqttEndpoint
from twin.auth import issue_token
from twin.localservices import Mosquitto, Postgres, ServiceError, free_port


@pytest.fixture(scope="session")
def port_factory() -> Callable[[], int]:
    """Hands out free loopback ports."""
    return free_port


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MqttEndpoint]:
    """A Mosquitto broker of this test session, stopped (by PID) at the end."""
    try:
        broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    except ServiceError as exc:
        pytest.fail(f"{exc} (./scripts/test installs it)")
    broker.start()
    try:
        yield broker.endpoint
    finally:
        broker.stop()


@pytest.fixture
def mosquitto_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Mosquitto]]:
    """Makes private brokers (e.g. persistent ones a test restarts); all stopped afterwards."""
    made: list[Mosquitto] = []

    def make(*, persistent: bool = False) -> Mosquitto:
        broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"), persistent=persistent)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.stop()


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server of this test session, stopped and removed at the end."""
    try:
        server = Postgres()
    except ServiceError as exc:
        pytest.fail(f"{exc} (./scripts/test installs it)")
    server.start()
    try:
        yield server
    finally:
        try:
            server.stop()
        finally:
            server.remove()


@pytest.fixture
def postgres_url(postgres: Postgres) -> str:
    """A fresh, empty database on the session's server."""
    return postgres.create_database(f"twin_{uuid.uuid4().hex[:12]}")


Grant = Callable[..., Awaitable[dict[str, str]]]


@pytest.fixture
def grant() -> Grant:
    """``await grant(store, role=Role.ADMIN)``: issues a token of ``role`` on ``store`` and
    returns the headers that send it (``Authorization: Bearer ...``)."""

    async def make(
        store: Store, role: Role = Role.ADMIN, name: str | None = None
    ) -> dict[str, str]:
        _, token = await issue_token(store, name or f"test-{role.value}", role, time.time())
        return {"Authorization": f"Bearer {token}"}

    return make
