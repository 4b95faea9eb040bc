"""Alembic migrations of the syncd schema (applied by syncd.store.open_store)."""
