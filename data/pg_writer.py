"""The PostgreSQL readings write path, on a blocking connection of its own.

Ingest judges the next batch on the event loop while this one is written. Written through
an asyncio connection, every round trip of the write (COPY, rollups, commit) waited for the
loop to finish its current stretch of judging, so the database and the judging took turns
instead of working side by side. Here the whole write runs in a worker thread: psycopg
releases the GIL while it waits on the socket, and the loop is never in its way.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from data.pg_batch import ReadingBatch, rollup_copy_bytes

log = logging.getLogger(__name__)

# A temporary table is private to its connection: concurrent writers never see each other's.
_STAGING = (
    "CREATE TEMP TABLE IF NOT EXISTS staging_readings "
    "(channel_id int4, time timestamptz, value float8) ON COMMIT DELETE ROWS"
)
_COPY_COLUMNS = "(channel_id, time, value) FROM STDIN (FORMAT BINARY)"
_COPY_READINGS = f"COPY readings {_COPY_COLUMNS}"
_COPY_STAGING = f"COPY staging_readings {_COPY_COLUMNS}"

_INSERT_READINGS = "INSERT INTO readings SELECT * FROM staging_readings ON CONFLICT DO NOTHING"

_MERGE = (
    "n = r.n + excluded.n, total = r.total + excluded.total, "
    "min = least(r.min, excluded.min), max = greatest(r.max, excluded.max)"
)


def _rollup(table: str, width: str) -> str:
    # Rows are locked in (channel, bucket) order so concurrent writers cannot deadlock.
    return f"""
    rollup_{table} AS (
        INSERT INTO readings_{table} AS r (channel_id, bucket, n, total, min, max)
        SELECT channel_id, date_trunc('{width}', time), count(*), sum(value), min(value),
               max(value)
        FROM inserted GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (channel_id, bucket) DO UPDATE SET {_MERGE}
    )"""


_INSERT_WITH_ROLLUPS = f"""
WITH inserted AS (
    INSERT INTO readings SELECT * FROM staging_readings
    ORDER BY channel_id, time ON CONFLICT DO NOTHING RETURNING channel_id, time, value
), {_rollup("1m", "minute").strip()}, {_rollup("1h", "hour").strip()}
SELECT count(*) FROM inserted
"""

# Rollup tables kept by the writer, and their bucket widths.
ROLLUP_WIDTHS_S = {"1m": 60, "1h": 3600}
_STAGING_ROLLUPS = (
    "CREATE TEMP TABLE IF NOT EXISTS staging_rollups (width_s int4, channel_id int4, "
    "bucket timestamptz, n int8, total float8, min float8, max float8) ON COMMIT DELETE ROWS"
)
_COPY_ROLLUPS = "COPY staging_rollups FROM STDIN (FORMAT BINARY)"


def _add_rollup(table: str, width_s: int) -> str:
    return f"""
    INSERT INTO readings_{table} AS r (channel_id, bucket, n, total, min, max)
    SELECT channel_id, bucket, n, total, min, max FROM staging_rollups
    WHERE width_s = {width_s} ORDER BY channel_id, bucket
    ON CONFLICT (channel_id, bucket) DO UPDATE SET {_MERGE}"""


# A batch's rollups, computed by the writer (data/pg_batch.py), added in (channel, bucket)
# order so concurrent writers lock rows in the same order and cannot deadlock.
_ADD_ROLLUPS = f"""
WITH minutes AS ({_add_rollup("1m", ROLLUP_WIDTHS_S["1m"]).strip()})
{_add_rollup("1h", ROLLUP_WIDTHS_S["1h"]).strip()}
"""


# Every session, this writer's and the store's: buckets are UTC, as the writer computes them
# and TimescaleDB buckets them.
SET_UTC = "SET TIME ZONE 'UTC'"


def configure_session(conn: psycopg.Connection[Any]) -> None:
    conn.execute(SET_UTC)
    conn.execute(_STAGING)
    conn.execute(_STAGING_ROLLUPS)
    conn.commit()


class ReadingWriter:
    """Writes reading batches with blocking calls; run them in a worker thread."""

    def __init__(self, url: str, *, max_connections: int, connect_timeout_s: float) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            open=False,
            configure=configure_session,
            timeout=connect_timeout_s,
        )
        self.rollups = True  # False where TimescaleDB's continuous aggregates keep them

    def open(self) -> None:
        """Raises ``PoolTimeout`` when PostgreSQL cannot be reached in time."""
        try:
            self._pool.open(wait=True, timeout=self._connect_timeout_s)
        except PoolTimeout:
            self._pool.close()
            raise

    def close(self) -> None:
        self._pool.close()

    def write(self, batch: ReadingBatch) -> int:
        """Commit the batch (and its rollups) in one transaction; returns the readings new to
        the table. A reading already stored (a redelivery) is skipped, not an error."""
        data = batch.copy_bytes()
        # Almost every batch is new: COPY it straight into the table (about half the cost of
        # staging plus ON CONFLICT, measured). A redelivered reading breaks the primary key;
        # then the whole batch goes through staging, where duplicates are dropped.
        try:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                with cur.copy(_COPY_READINGS) as copy:
                    copy.write(data)
                if self.rollups:
                    rollups = [batch.rollup(width_s) for width_s in ROLLUP_WIDTHS_S.values()]
                    with cur.copy(_COPY_ROLLUPS) as copy:
                        copy.write(rollup_copy_bytes(rollups))
                    cur.execute(_ADD_ROLLUPS)
                return len(batch)
        except psycopg.errors.UniqueViolation:
            log.debug("batch of %d readings holds some already stored; deduplicating", len(batch))
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            with cur.copy(_COPY_STAGING) as copy:
                copy.write(data)
            if self.rollups:
                cur.execute(_INSERT_WITH_ROLLUPS)
                inserted = cur.fetchone()
                return int(inserted[0]) if inserted else 0
            cur.execute(_INSERT_READINGS)
            return cur.rowcount
