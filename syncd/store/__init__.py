"""The local database: opening it, migrating it, and transactions.

SQLite (WAL, foreign keys on) in the XDG data dir is the embedded default; any SQLAlchemy URL
works, and PostgreSQL is tested. The schema is in :mod:`syncd.store.schema`; changes to it are
Alembic migrations in syncd/migrations, applied when the store is opened.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, ProgrammingError

from syncd.store.migrate import HEAD_REVISION, upgrade


class StoreError(Exception):
    """The database cannot be opened or used; ``str()`` is for the user."""


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction: committed on success, rolled back on any exception."""
        with self.engine.begin() as conn:
            yield conn

    def connect(self) -> Connection:
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA cache_size=-16384")  # 16 MiB (default 2): first syncs fill big random-key indexes
    cur.close()


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open (creating if needed) the database at ``url`` and bring its schema up to date."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"database_url {url!r} is not a database URL (e.g. sqlite:////path/syncd.db "
                         "or postgresql+psycopg://user@host/db)") from None
    kwargs: dict[str, object] = {}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except ModuleNotFoundError as err:
        raise StoreError(f"the database driver for {parsed.drivername} is not installed ({err.name}); "
                         "for PostgreSQL: pip install 'syncd[postgres]'") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    store = Store(engine)
    if migrate:
        try:
            if current_revision(store) != HEAD_REVISION:
                _migrate(store, parsed.database if engine.dialect.name == "sqlite" else None)
        except OperationalError as err:
            engine.dispose()
            raise StoreError(f"cannot open the database {parsed.render_as_string(hide_password=True)}: "
                             f"{str(err.orig).strip()}") from None
    return store


_PG_MIGRATION_LOCK = 0x73796E6364  # "syncd": one advisory lock id for schema changes


def _migrate(store: Store, sqlite_path: str | None) -> None:
    """Upgrade the schema; two processes starting at once (daemon and CLI) must not both try."""
    if store.dialect == "postgresql":
        with store.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None or \
                    conn.execute(text("SELECT version_num FROM alembic_version")).scalar() != HEAD_REVISION:
                upgrade(conn)
        return
    lock_path = f"{sqlite_path}.migrate-lock" if sqlite_path and sqlite_path != ":memory:" else None
    lock = open(lock_path, "a+") if lock_path else None  # noqa: SIM115 - held across the upgrade
    try:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        if current_revision(store) != HEAD_REVISION:
            with store.engine.begin() as conn:
                upgrade(conn)
    finally:
        if lock is not None:
            lock.close()


def current_revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError):
            return None
