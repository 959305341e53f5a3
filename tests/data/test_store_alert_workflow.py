"""The Store contract of the alert workflow (audit trail, incidents, subscriptions,
deliveries, escalations), run against every backend, and the schema migrations to it."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from data import Store, StoreError, open_store
from data.postgres_schema import migrations
from data.sqlite import SCHEMA_VERSION
from models.alerting import (
    SYSTEM,
    AlertAction,
    AlertEvent,
    ChannelType,
    Delivery,
    Escalation,
    Incident,
    IncidentState,
    Subscription,
)
from models.types import Alert, AlertState, DeadLetter, SensorKind, Severity


def alert(alert_id: str = "a1", *, opened_at: float = 10.0, **changes: object) -> Alert:
    base = Alert(
        id=alert_id,
        building_id="hall",
        sensor_id="tilt-a",
        channel_id="tilt-a/x",
        rule_id="tilt-limit",
        state=AlertState.OPEN,
        severity=Severity.WARNING,
        opened_at=opened_at,
        updated_at=opened_at,
        value=2.5,
        worst_value=2.5,
        limit=3.0,
        standard="GB 50292-2015",
        message="tilt",
        last_seen_at=opened_at,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def event(
    alert_id: str,
    time: float,
    action: AlertAction = AlertAction.OPENED,
    *,
    note: str = "",
) -> AlertEvent:
    return AlertEvent(
        alert_id=alert_id,
        time=time,
        actor=SYSTEM,
        action=action,
        from_state=None if action is AlertAction.OPENED else AlertState.OPEN,
        to_state=AlertState.OPEN,
        severity=Severity.WARNING,
        note=note,
        building_id="hall",
        incident_id="i1",
    )


def incident(
    incident_id: str = "i1",
    *,
    building_id: str = "hall",
    opened_at: float = 10.0,
    state: IncidentState = IncidentState.OPEN,
) -> Incident:
    return Incident(
        id=incident_id,
        building_id=building_id,
        zone="corner-ne",
        state=state,
        severity=Severity.WARNING,
        opened_at=opened_at,
        updated_at=opened_at,
        resolved_at=opened_at + 60 if state is IncidentState.RESOLVED else None,
    )


def subscription(subscription_id: str, name: str, **changes: object) -> Subscription:
    base = Subscription(
        id=subscription_id,
        name=name,
        channel=ChannelType.EMAIL,
        contacts=("first@example.org", "second@example.org"),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_alert_round_trips_every_workflow_field(store: Store) -> None:
    shelved = alert(
        incident_id="i1",
        state=AlertState.ACKNOWLEDGED,
        shelved_until=500.0,
        acknowledged_at=20.0,
        acknowledged_by="engineer@example.org",
        resolved_at=None,
    )
    await store.save_alert(shelved)
    assert await store.alert("a1") == shelved
    assert await store.alert("missing") is None
    # Saving again replaces every field, including one going back to None.
    unshelved = replace(shelved, shelved_until=None, severity=Severity.ALARM, worst_value=4.0)
    await store.save_alert(unshelved)
    assert await store.alert("a1") == unshelved


async def test_alerts_newest_first_and_filtered(store: Store) -> None:
    older = alert("a1", opened_at=10.0, incident_id="i1")
    newer = alert("a2", opened_at=20.0, sensor_id="th-a", rule_id="humidity", incident_id="i1")
    other = alert("a3", opened_at=15.0, incident_id="i2")
    for a in (older, newer, other):
        await store.save_alert(a)
    assert await store.alerts() == [newer, other, older]
    assert await store.alerts(incident_id="i1") == [newer, older]
    assert await store.alerts(sensor_id="th-a") == [newer]
    assert await store.alerts(rule_id="tilt-limit") == [other, older]
    assert await store.alerts(rule_id="tilt-limit", incident_id="i2") == [other]
    assert await store.alerts(incident_id="i1", limit=1) == [newer]
    assert await store.alerts(incident_id="none") == []


async def test_save_alert_writes_alert_events_and_incident(store: Store) -> None:
    opened = alert(incident_id="i1")
    events = [event("a1", 10.0), event("a1", 10.0, AlertAction.NOTE, note="checked on site")]
    await store.save_alert(opened, events, incident())
    assert await store.alert("a1") == opened
    assert await store.alert_events("a1") == events
    assert await store.incident("i1") == incident()


async def test_failed_save_alert_writes_nothing(store: Store) -> None:
    before = alert()
    await store.save_alert(before)
    # A zone of None breaks the NOT NULL constraint of the incident, written last.
    broken = replace(incident(), zone=None)  # type: ignore[arg-type]
    after = replace(before, state=AlertState.ACKNOWLEDGED, incident_id="i1")
    with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
        await store.save_alert(after, [event("a1", 11.0, AlertAction.ACKNOWLEDGED)], broken)
    # A later write must not commit what the failed one left behind.
    await store.save_alert(alert("a2"))
    assert await store.alert("a1") == before
    assert await store.alert_events() == []
    assert await store.incidents() == []


async def test_failed_save_alert_is_not_committed_by_a_concurrent_write(store: Store) -> None:
    # The SQLite store shares one connection between tasks: another task's commit must not
    # take the failing save's first statements with it.
    broken = replace(incident(), zone=None)  # type: ignore[arg-type]
    letter = DeadLetter(1.0, "not_json", "twin/v1/devices/d/readings", "d", "bad", b"{")
    failed, _ = await asyncio.gather(
        store.save_alert(alert(), [event("a1", 10.0)], broken),
        store.write_dead_letters([letter]),
        return_exceptions=True,
    )
    assert isinstance(failed, sqlite3.IntegrityError | psycopg.IntegrityError)
    assert await store.dead_letters() == [letter]
    assert await store.alerts() == []
    assert await store.alert_events() == []


async def test_alert_events_oldest_first_in_saved_order(store: Store) -> None:
    # Saved order wins over the times the events carry.
    first = [event("a1", 30.0), event("a1", 20.0, AlertAction.NOTE)]
    second = [event("a2", 25.0), event("a1", 40.0, AlertAction.ACKNOWLEDGED)]
    await store.save_alert(alert("a1"), first)
    await store.save_alert(alert("a2"), second)
    assert await store.alert_events() == first + second
    assert await store.alert_events("a1") == [*first, second[1]]
    assert await store.alert_events("a1", limit=2) == first
    assert await store.alert_events(since=25.0) == [first[0], *second]
    assert await store.alert_events("a1", since=25.0) == [first[0], second[1]]
    assert await store.alert_events("missing") == []


async def test_incidents_newest_first_and_filtered(store: Store) -> None:
    old = incident("i1", opened_at=10.0, state=IncidentState.RESOLVED)
    new = incident("i2", opened_at=30.0)
    elsewhere = incident("i3", opened_at=20.0, building_id="tower")
    for i, inc in enumerate((old, new, elsewhere)):
        await store.save_alert(alert(f"a{i}", incident_id=inc.id), incident=inc)
    assert await store.incidents() == [new, elsewhere, old]
    assert await store.incidents(building_id="hall") == [new, old]
    assert await store.incidents(state=IncidentState.OPEN) == [new, elsewhere]
    assert await store.incidents(building_id="hall", state=IncidentState.RESOLVED) == [old]
    assert await store.incidents(limit=1) == [new]
    assert await store.incident("missing") is None
    resolved = replace(new, state=IncidentState.RESOLVED, updated_at=90.0, resolved_at=90.0)
    await store.save_alert(alert("a1", incident_id="i2"), incident=resolved)
    assert await store.incident("i2") == resolved


async def test_subscriptions_put_listed_replaced_and_deleted(store: Store) -> None:
    hook = subscription(
        "s1",
        "Site office",
        channel=ChannelType.WEBHOOK,
        contacts=("https://example.org/hook",),
        building_id="hall",
        min_severity=Severity.ALARM,
        kinds=(SensorKind.TILT, SensorKind.VIBRATION),
        escalate_after_s=60.0,
        max_reminders=0,
        secret="s3cret",
        enabled=False,
    )
    mail_b = subscription("s3", "Engineers")
    mail_a = subscription("s2", "Engineers", channel=ChannelType.MQTT, contacts=("",))
    for s in (hook, mail_b, mail_a):
        await store.put_subscription(s)
    assert await store.subscription("s1") == hook
    assert await store.subscription("missing") is None
    assert await store.subscriptions() == [mail_a, mail_b, hook]  # by name, then id
    renamed = replace(hook, name="Archive", enabled=True, kinds=())
    await store.put_subscription(renamed)
    assert await store.subscriptions() == [renamed, mail_a, mail_b]
    assert await store.delete_subscription("s1") is True
    assert await store.delete_subscription("s1") is False
    assert await store.subscriptions() == [mail_a, mail_b]


async def test_deleting_a_subscription_deletes_its_escalations(store: Store) -> None:
    await store.put_subscription(subscription("s1", "One"))
    await store.put_subscription(subscription("s2", "Two"))
    kept = Escalation("s2", "i1", 1, 100.0, Severity.WARNING, ("a1",))
    await store.save_escalation(Escalation("s1", "i1", 1, 100.0, Severity.WARNING, ("a1",)))
    await store.save_escalation(Escalation("s1", "i2", 2, None, Severity.ALARM))
    await store.save_escalation(kept)
    assert await store.delete_subscription("s1") is True
    assert await store.escalations() == [kept]


async def test_escalations_upserted_listed_and_deleted(store: Store) -> None:
    first = Escalation("s1", "i1", 1, 100.0, Severity.WARNING, ("a1",))
    other = Escalation("s1", "i0", 3, None, Severity.ALARM, ())
    await store.save_escalation(first)
    await store.save_escalation(other)
    assert await store.escalations() == [other, first]  # by subscription, then incident
    later = Escalation("s1", "i1", 2, None, Severity.ALARM, ("a1", "a2"))
    await store.save_escalation(later)
    assert await store.escalations() == [other, later]
    await store.delete_escalation("s1", "i1")
    await store.delete_escalation("s1", "missing")  # nothing to delete is no error
    assert await store.escalations() == [other]


async def test_deliveries_newest_first_and_filtered(store: Store) -> None:
    def delivery(sub: str, inc: str, attempt: int, ok: bool) -> Delivery:
        # One time for all: the log is ordered by when it was written.
        return Delivery(
            time=50.0,
            subscription_id=sub,
            incident_id=inc,
            channel=ChannelType.WEBHOOK,
            contact="https://example.org/hook",
            notice="opened",
            attempt=attempt,
            ok=ok,
            detail="HTTP 200" if ok else "timed out",
        )

    log = [
        delivery("s1", "i1", 1, False),
        delivery("s1", "i1", 2, True),
        delivery("s2", "i1", 1, True),
        delivery("s1", "i2", 1, True),
    ]
    await store.write_deliveries(log[:2])
    await store.write_deliveries(log[2:])
    await store.write_deliveries([])
    assert await store.deliveries() == log[::-1]
    assert await store.deliveries(subscription_id="s1") == [log[3], log[1], log[0]]
    assert await store.deliveries(incident_id="i1") == [log[2], log[1], log[0]]
    assert await store.deliveries(subscription_id="s1", incident_id="i1") == [log[1], log[0]]
    assert await store.deliveries(limit=2) == [log[3], log[2]]
    assert await store.deliveries(subscription_id="nobody") == []


# The version 1 alerts table, as the SQLite store created it before the alert workflow.
_V1_ALERTS = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE channels (
    key INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, sensor_id TEXT NOT NULL,
    metric TEXT NOT NULL, unit TEXT NOT NULL
);
CREATE TABLE alerts (
    id TEXT PRIMARY KEY, building_id TEXT NOT NULL, sensor_id TEXT NOT NULL,
    channel_id TEXT NOT NULL, rule_id TEXT NOT NULL, state TEXT NOT NULL,
    severity TEXT NOT NULL, opened_at REAL NOT NULL, updated_at REAL NOT NULL,
    value REAL NOT NULL, worst_value REAL NOT NULL, limit_value REAL NOT NULL,
    standard TEXT NOT NULL, message TEXT NOT NULL, resolved_at REAL, last_seen_at REAL NOT NULL
);
INSERT INTO alerts VALUES ('a1', 'hall', 'tilt-a', 'tilt-a/x', 'tilt-limit', 'open', 'warning',
    10.0, 10.0, 2.5, 2.5, 3.0, 'GB 50292-2015', 'tilt', NULL, 10.0);
"""


def _sqlite_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        (version,) = db.execute("SELECT version FROM schema_version").fetchone()
    db.close()
    return int(version)


async def test_sqlite_version_1_file_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as db:
        db.executescript(_V1_ALERTS)
    db.close()
    async with open_store(f"sqlite:///{path}") as store:
        assert await store.alert("a1") == alert()  # no incident, shelf or acknowledger
        await store.save_alert(alert(incident_id="i1"), [event("a1", 20.0)], incident())
        await store.put_subscription(subscription("s1", "One"))
        assert await store.alerts(incident_id="i1") == [alert(incident_id="i1")]
        assert [s.id for s in await store.subscriptions()] == ["s1"]
    assert _sqlite_version(path) == SCHEMA_VERSION
    async with open_store(f"sqlite:///{path}") as store:  # a migrated file opens as it is
        assert await store.alert_events("a1") == [event("a1", 20.0)]


async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as db:
        db.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL);")
        db.execute("INSERT INTO schema_version VALUES (99)")
    db.close()
    with pytest.raises(StoreError, match="schema 99"):
        async with open_store(f"sqlite:///{path}"):
            pass


async def test_postgres_version_3_database_is_migrated(postgres_url: str) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        await conn.execute(
            "CREATE TABLE schema_migrations "
            "(version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for version, statements in migrations(timescale=False):
            if version <= 3:
                await conn.execute(statements.encode())
                await conn.execute(
                    "INSERT INTO schema_migrations (version) VALUES (%s)", (version,)
                )
        await conn.execute(
            "INSERT INTO alerts VALUES ('a1', 'hall', 'tilt-a', 'tilt-a/x', 'tilt-limit', 'open', "
            "'warning', 10.0, 10.0, 2.5, 2.5, 3.0, 'GB 50292-2015', 'tilt', NULL, 10.0)"
        )
    async with open_store(postgres_url) as store:
        assert await store.alert("a1") == alert()
        await store.save_alert(alert(incident_id="i1"), [event("a1", 20.0)], incident())
        assert await store.alert_events("a1") == [event("a1", 20.0)]
