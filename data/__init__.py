"""Storage behind one `Store` protocol: SQLite (the embedded default) and PostgreSQL."""

from data.store import (
    WAVEFORM_RETENTION_S,
    Bucket,
    Store,
    StoreError,
    Summary,
    UnknownChannelError,
    is_outage,
    open_store,
)

__all__ = [
    "WAVEFORM_RETENTION_S",
    "Bucket",
    "Store",
    "StoreError",
    "Summary",
    "UnknownChannelError",
    "is_outage",
    "open_store",
]
