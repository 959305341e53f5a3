"""Versioned schema migrations of the PostgreSQL store, with and without TimescaleDB.

Each migration runs once, in order, inside one transaction holding an advisory lock, so
several ingest processes starting together never race. Times are ``timestamptz``.
"""

from __future__ import annotations

# Tables every installation has. Rollups have the same shape whether TimescaleDB keeps
# them (continuous aggregates) or the writer does (plain tables), so queries are shared.
CORE = """
CREATE TABLE buildings (
    id text PRIMARY KEY, name text NOT NULL, address text NOT NULL,
    structure_type text NOT NULL, noise_zone int NOT NULL, bounds jsonb NOT NULL,
    model text NOT NULL
);
CREATE TABLE sensors (
    id text PRIMARY KEY,
    building_id text NOT NULL REFERENCES buildings(id) ON DELETE CASCADE,
    ordinal int NOT NULL, kind text NOT NULL, device_id text NOT NULL, floor int NOT NULL,
    zone text NOT NULL, x float8 NOT NULL, y float8 NOT NULL, z float8 NOT NULL,
    nx float8 NOT NULL, ny float8 NOT NULL, nz float8 NOT NULL,
    expected_interval_s float8 NOT NULL
);
CREATE INDEX sensors_building ON sensors(building_id);
CREATE TABLE channels (
    key serial PRIMARY KEY, id text NOT NULL UNIQUE,
    sensor_id text NOT NULL REFERENCES sensors(id) ON DELETE CASCADE,
    metric text NOT NULL, unit text NOT NULL
);
CREATE TABLE readings (
    channel_id int NOT NULL, time timestamptz NOT NULL, value float8 NOT NULL,
    PRIMARY KEY (channel_id, time)
);
CREATE TABLE alerts (
    id text PRIMARY KEY, building_id text NOT NULL, sensor_id text NOT NULL,
    channel_id text NOT NULL, rule_id text NOT NULL, state text NOT NULL,
    severity text NOT NULL, opened_at float8 NOT NULL, updated_at float8 NOT NULL,
    value float8 NOT NULL, worst_value float8 NOT NULL, limit_value float8 NOT NULL,
    standard text NOT NULL, message text NOT NULL, resolved_at float8,
    last_seen_at float8 NOT NULL
);
CREATE INDEX alerts_opened ON alerts(opened_at);
CREATE TABLE dead_letters (
    id bigserial PRIMARY KEY, time timestamptz NOT NULL, reason text NOT NULL,
    topic text NOT NULL, device_id text NOT NULL, detail text NOT NULL, payload bytea NOT NULL
);
CREATE INDEX dead_letters_reason ON dead_letters(reason);
"""

# Without TimescaleDB: BRIN keeps retention deletes and cross-channel time scans cheap on
# an append-mostly table; rollup tables are maintained by the writer in the same
# transaction as the readings they summarise.
PLAIN = """
CREATE INDEX readings_time_brin ON readings USING brin (time);
CREATE TABLE readings_1m (
    channel_id int NOT NULL, bucket timestamptz NOT NULL, n bigint NOT NULL,
    total float8 NOT NULL, min float8 NOT NULL, max float8 NOT NULL,
    PRIMARY KEY (channel_id, bucket)
);
CREATE TABLE readings_1h (LIKE readings_1m INCLUDING ALL);
"""

TIMESCALE = """
SELECT create_hypertable('readings', 'time', chunk_time_interval => interval '1 day',
                         migrate_data => true);
ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'channel_id',
                          timescaledb.compress_orderby = 'time');
SELECT add_compression_policy('readings', interval '7 days');
SELECT add_retention_policy('readings', interval '{raw_retention_days} days');
CREATE MATERIALIZED VIEW readings_1m WITH (timescaledb.continuous) AS
    SELECT channel_id, time_bucket('1 minute', time) AS bucket, count(*) AS n,
           sum(value) AS total, min(value) AS min, max(value) AS max
    FROM readings GROUP BY channel_id, bucket WITH NO DATA;
CREATE MATERIALIZED VIEW readings_1h WITH (timescaledb.continuous) AS
    SELECT channel_id, time_bucket('1 hour', time) AS bucket, count(*) AS n,
           sum(value) AS total, min(value) AS min, max(value) AS max
    FROM readings GROUP BY channel_id, bucket WITH NO DATA;
SELECT add_continuous_aggregate_policy('readings_1m', start_offset => interval '3 days',
    end_offset => interval '1 minute', schedule_interval => interval '1 minute');
SELECT add_continuous_aggregate_policy('readings_1h', start_offset => interval '30 days',
    end_offset => interval '1 hour', schedule_interval => interval '15 minutes');
"""

WAVEFORMS = """
CREATE TABLE waveforms (
    sensor_id text NOT NULL, axis text NOT NULL, t0 timestamptz NOT NULL,
    rate_hz float8 NOT NULL, samples float8[] NOT NULL,
    PRIMARY KEY (sensor_id, axis, t0)
);
CREATE INDEX waveforms_t0_brin ON waveforms USING brin (t0);
"""

# The alert workflow. Alerts from before it get no incident, shelf or acknowledger; the
# bigserial ids keep audit trail and delivery log in the order they were written.
ALERT_WORKFLOW = """
ALTER TABLE alerts ADD COLUMN incident_id text NOT NULL DEFAULT '',
    ADD COLUMN shelved_until float8, ADD COLUMN acknowledged_at float8,
    ADD COLUMN acknowledged_by text NOT NULL DEFAULT '';
CREATE INDEX alerts_incident ON alerts(incident_id);
CREATE TABLE alert_events (
    id bigserial PRIMARY KEY, alert_id text NOT NULL, time float8 NOT NULL,
    actor text NOT NULL, action text NOT NULL, from_state text, to_state text NOT NULL,
    severity text NOT NULL, note text NOT NULL, building_id text NOT NULL,
    incident_id text NOT NULL
);
CREATE INDEX alert_events_alert ON alert_events(alert_id, id);
CREATE INDEX alert_events_time ON alert_events(time);
CREATE TABLE incidents (
    id text PRIMARY KEY, building_id text NOT NULL, zone text NOT NULL, state text NOT NULL,
    severity text NOT NULL, opened_at float8 NOT NULL, updated_at float8 NOT NULL,
    resolved_at float8
);
CREATE INDEX incidents_opened ON incidents(opened_at);
CREATE TABLE subscriptions (
    id text PRIMARY KEY, name text NOT NULL, channel text NOT NULL, contacts text NOT NULL,
    building_id text, min_severity text NOT NULL, kinds text NOT NULL,
    escalate_after_s float8 NOT NULL, max_reminders int NOT NULL, secret text NOT NULL,
    enabled boolean NOT NULL
);
CREATE TABLE deliveries (
    id bigserial PRIMARY KEY, time float8 NOT NULL, subscription_id text NOT NULL,
    incident_id text NOT NULL, channel text NOT NULL, contact text NOT NULL,
    notice text NOT NULL, attempt int NOT NULL, ok boolean NOT NULL, detail text NOT NULL
);
CREATE INDEX deliveries_subscription ON deliveries(subscription_id, id);
CREATE INDEX deliveries_incident ON deliveries(incident_id, id);
CREATE TABLE escalations (
    subscription_id text NOT NULL, incident_id text NOT NULL, step int NOT NULL,
    next_at float8, severity text NOT NULL, alert_ids text NOT NULL,
    PRIMARY KEY (subscription_id, incident_id)
);
"""

# Access: API tokens with roles and devices' broker credentials, secrets only as hashes.
ACCESS = """
CREATE TABLE api_tokens (
    id text PRIMARY KEY, name text NOT NULL, role text NOT NULL,
    secret_sha256 text NOT NULL, created_at float8 NOT NULL, revoked_at float8
);
CREATE TABLE devices (
    device_id text PRIMARY KEY, building_id text NOT NULL, password_hash text NOT NULL,
    created_at float8 NOT NULL, revoked_at float8
);
"""

RAW_RETENTION_DAYS = 400


def migrations(timescale: bool) -> list[tuple[int, str]]:
    """The ordered (version, SQL) steps for this installation."""
    rollups = TIMESCALE.format(raw_retention_days=RAW_RETENTION_DAYS) if timescale else PLAIN
    return [(1, CORE), (2, rollups), (3, WAVEFORMS), (4, ALERT_WORKFLOW), (5, ACCESS)]
