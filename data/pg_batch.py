"""A batch of readings as PostgreSQL wants it: binary COPY bytes and per-bucket rollups.

Pure numpy, no I/O. psycopg's ``write_row`` costs a Python call per row; here the whole
batch becomes one buffer and the rollups one group-by, whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC.
PG_EPOCH_S = 946_684_800.0
_US = 1_000_000

# COPY BINARY: signature, flags, header extension length; a tuple count of -1 ends the data.
_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" * 2
_TRAILER = b"\xff\xff"
# Each tuple: field count, then (length, value) per field; network byte order.
_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("key_len", ">i4"),
        ("key", ">i4"),
        ("time_len", ">i4"),
        ("time", ">i8"),
        ("value_len", ">i4"),
        ("value", ">f8"),
    ]
)


_ROLLUP_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("width_len", ">i4"),
        ("width", ">i4"),
        ("key_len", ">i4"),
        ("key", ">i4"),
        ("bucket_len", ">i4"),
        ("bucket", ">i8"),
        ("n_len", ">i4"),
        ("n", ">i8"),
        ("total_len", ">i4"),
        ("total", ">f8"),
        ("low_len", ">i4"),
        ("low", ">f8"),
        ("high_len", ">i4"),
        ("high", ">f8"),
    ]
)


@dataclass(frozen=True, slots=True)
class Rollup:
    """count, sum, min and max per (channel key, bucket) of one bucket width."""

    width_s: int
    keys: npt.NDArray[np.int32]
    buckets: npt.NDArray[np.int64]  # bucket starts, PostgreSQL microseconds
    n: npt.NDArray[np.int64]
    total: npt.NDArray[np.float64]
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]

    def rows(self) -> npt.NDArray[np.void]:
        """``(width_s, channel_id, bucket, n, total, min, max)`` rows for binary COPY."""
        rows = np.empty(len(self.keys), dtype=_ROLLUP_ROW)
        rows["fields"] = 7
        for name, size, column in (
            ("width", 4, self.width_s),
            ("key", 4, self.keys),
            ("bucket", 8, self.buckets),
            ("n", 8, self.n),
            ("total", 8, self.total),
            ("low", 8, self.low),
            ("high", 8, self.high),
        ):
            rows[f"{name}_len"] = size
            rows[name] = column
        return rows


def rollup_copy_bytes(rollups: list[Rollup]) -> bytes:
    """Rollups of several widths as one binary COPY of
    ``(width_s, channel_id, bucket, n, total, min, max)``."""
    return _HEADER + b"".join(r.rows().tobytes() for r in rollups) + _TRAILER


@dataclass(frozen=True, slots=True)
class ReadingBatch:
    """Readings sorted by (channel key, time), times in PostgreSQL microseconds."""

    keys: npt.NDArray[np.int32]
    micros: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    @classmethod
    def of(cls, keys: list[int], times: list[float], values: list[float]) -> ReadingBatch:
        k = np.asarray(keys, dtype=np.int32)
        # As PostgreSQL's to_timestamp(float8) rounds: rint of microseconds. Both write paths
        # must agree to the microsecond, or a redelivered reading would not be recognised.
        us = np.rint((np.asarray(times, dtype=np.float64) - PG_EPOCH_S) * _US).astype(np.int64)
        v = np.asarray(values, dtype=np.float64)
        # Sorted, the rows land in index order and the rollups group without a hash table.
        order = np.lexsort((us, k))
        return cls(k[order], us[order], v[order])

    def __len__(self) -> int:
        return len(self.keys)

    def copy_bytes(self) -> bytes:
        """The batch as one ``COPY ... (channel_id, time, value) FROM STDIN (FORMAT BINARY)``."""
        rows = np.empty(len(self.keys), dtype=_ROW)
        rows["fields"] = 3
        rows["key_len"] = 4
        rows["key"] = self.keys
        rows["time_len"] = 8
        rows["time"] = self.micros
        rows["value_len"] = 8
        rows["value"] = self.values
        return _HEADER + rows.tobytes() + _TRAILER

    def rollup(self, width_s: int) -> Rollup:
        """Aggregates per channel and ``width_s`` bucket (UTC, as ``date_trunc`` in UTC)."""
        width_us = width_s * _US
        bucket = self.micros // width_us  # floor: times before 2000 round down too
        starts = np.flatnonzero(
            np.concatenate(
                ([True], (self.keys[1:] != self.keys[:-1]) | (bucket[1:] != bucket[:-1]))
            )
        )
        counts = np.diff(np.append(starts, len(self.keys)))
        return Rollup(
            width_s=width_s,
            keys=self.keys[starts],
            buckets=bucket[starts] * width_us,
            n=counts.astype(np.int64),
            total=np.add.reduceat(self.values, starts),
            low=np.minimum.reduceat(self.values, starts),
            high=np.maximum.reduceat(self.values, starts),
        )
