"""Storage behind one `Store` protocol: SQLite (the embedded default) and PostgreSQL."""

from data.store import Bucket, Store, StoreError, Summary, UnknownChannelError, open_store

__all__ = ["Bucket", "Store", "StoreError", "Summary", "UnknownChannelError", "open_store"]
