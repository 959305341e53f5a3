"""Storage behind one `Store` protocol: SQLite (the embedded default) and, later, PostgreSQL."""

from data.store import Store, StoreError, UnknownChannelError, open_store

__all__ = ["Store", "StoreError", "UnknownChannelError", "open_store"]
