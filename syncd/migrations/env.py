"""Alembic environment: always run with a connection handed over by syncd.store.migrate."""

from alembic import context

from syncd.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only for `alembic revision --autogenerate` by developers
    from sqlalchemy import create_engine

    import os

    connection = create_engine(os.environ.get("SYNCD_DATABASE_URL", "sqlite://")).connect()

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
)
with context.begin_transaction():
    context.run_migrations()
