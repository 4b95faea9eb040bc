"""The local database: opening it, migrating it, and transactions.

SQLite (WAL, foreign keys on) in the XDG data dir is the embedded default; any SQLAlchemy URL
works, and PostgreSQL is tested. The schema is in :mod:`syncd.store.schema`; changes to it are
Alembic migrations in syncd/migrations, applied when the store is opened.

Several processes may use one database at once (the daemon, `syncd sync`, workers):

* :meth:`Store.begin` is a write transaction. On SQLite it starts with ``BEGIN IMMEDIATE``, so
  it queues for the write lock up front (within the busy timeout) and everything it reads is
  current until it commits; a deferred transaction that reads and then writes fails at once
  with SQLITE_BUSY when another process committed in between.
* :meth:`Store.connect` is for reading; readers never wait for writers (WAL).
* :func:`serialize` makes one kind of write transaction run one at a time across processes
  (PostgreSQL: an advisory transaction lock; SQLite writers are serial already).

The database file and its folder are private to the user (0600/0700) whatever the umask, and
a database that is not syncd's is refused rather than given syncd's tables.
"""

from __future__ import annotations

import fcntl
import hashlib
import math
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, ProgrammingError

from syncd.store.migrate import HEAD_REVISION, KNOWN_REVISIONS, create, upgrade


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
        """One write transaction: committed on success, rolled back on any exception."""
        with self.engine.connect() as conn:
            conn.execution_options(syncd_write=True)
            with conn.begin():
                yield conn

    def connect(self) -> Connection:
        """A connection for reading."""
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()


def serialize(conn: Connection, name: str) -> None:
    """Until this write transaction ends, no other process runs one that serializes on ``name``.

    A member's store (one PostgreSQL schema of a team database) has its own locks: members
    never queue behind each other's planning or drafting."""
    if conn.dialect.name == "postgresql":
        schema = conn.get_execution_options().get("syncd_schema")
        key = lock_key(f"{schema}:{name}" if schema else name)
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks."""
    return int.from_bytes(hashlib.sha256(f"syncd:{name}".encode()).digest()[:8], "big", signed=True)


def _sqlite_connect(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_conn.isolation_level = None  # the driver never begins on its own: _sqlite_begin does
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=15000")
    cur.execute("PRAGMA cache_size=-16384")  # 16 MiB (default 2): first syncs fill big random-key indexes
    try:
        cur.execute("SELECT exp(0)")
    except dbapi_conn.OperationalError:  # a SQLite built without its math functions: Python's exp
        dbapi_conn.create_function("exp", 1, math.exp, deterministic=True)
    cur.close()


def _sqlite_begin(conn: Connection) -> None:
    # SQLAlchemy's recipe for pysqlite: emit BEGIN ourselves, IMMEDIATE for write transactions.
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("syncd_write") else "BEGIN")


def open_store(url: str, *, migrate: bool = True, schema: str | None = None) -> Store:
    """Open (creating if needed) the database at ``url`` and bring its schema up to date.

    ``schema`` (PostgreSQL only): keep everything in that schema, made if needed, with the
    search path set to it alone, so the same tables and migrations serve one member of a team
    database (syncd.team) and the code that uses them never knows."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(f"database_url {url!r} is not a database URL (e.g. sqlite:////path/syncd.db "
                         "or postgresql+psycopg://user@host/db)") from None
    kwargs: dict[str, object] = {}
    sqlite_path: Path | None = None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.database.startswith("file:"):
            sqlite_path = Path(parsed.database).expanduser()
            _prepare_sqlite_file(sqlite_path)
    elif parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs["pool_pre_ping"] = True
        if schema is not None:
            _check_schema_name(schema)
            kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
            kwargs["execution_options"] = {"syncd_schema": schema}
    elif schema is not None:
        raise StoreError("a team database is PostgreSQL; set database_url to a postgresql:// URL")
    try:
        engine = create_engine(parsed, **kwargs)
    except ModuleNotFoundError as err:
        raise StoreError(f"the database driver for {parsed.drivername} is not installed ({err.name}); "
                         "for PostgreSQL: pip install 'syncd[postgres]'") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    store = Store(engine)
    if migrate:
        try:
            if schema is not None:
                _make_schema(store, schema)
            revision, marked = _identity(store)
            if revision != HEAD_REVISION or not marked:
                _migrate(store, sqlite_path, _where(parsed, sqlite_path))
        except DBAPIError as err:
            engine.dispose()
            raise StoreError(f"cannot open the database {_where(parsed, sqlite_path)}: "
                             f"{database_problem(err)}") from None
        except StoreError:
            engine.dispose()
            raise
        if sqlite_path is not None:
            _make_private(sqlite_path)  # -wal and -shm exist now
    return store


def _check_schema_name(schema: str) -> None:
    import re

    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
        raise StoreError(f"{schema!r} is not a schema name (lower-case letters, digits and _)")


def _make_schema(store: Store, schema: str) -> None:
    with store.engine.connect() as conn, conn.begin():
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(f"schema:{schema}")})
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


# --- SQLite files: private, writable, and ours ------------------------------------------------------


def _prepare_sqlite_file(path: Path) -> None:
    """Create the folder (0700) and the file (0600) ourselves, so the umask never widens them, and
    turn 'cannot write there' into a sentence before SQLite turns it into SQL."""
    folder = path.parent
    try:
        if not folder.is_dir():
            folder.mkdir(parents=True, mode=0o700)
            os.chmod(folder, 0o700)
        elif _is_default_folder(folder):
            _chmod_if_ours(folder, 0o700)
        if path.is_dir():
            raise StoreError(f"the database path {path} is a folder; set database_url to a file in it, "
                             f"e.g. sqlite:///{path / 'syncd.db'}")
        if not path.exists():
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(13, "permission denied")
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            except FileExistsError:
                pass  # another process made it first
    except OSError as err:
        raise StoreError(f"cannot create the database {path}: {(err.strerror or str(err)).lower()}; "
                         "set database_url to a path in a folder you can write") from None
    if not os.access(path, os.R_OK | os.W_OK):
        raise StoreError(f"the database {path} is read-only for you; make it writable (chmod u+rw '{path}') "
                         "or set database_url to another file")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreError(f"the folder {folder} of the database is read-only for you, and SQLite keeps its "
                         f"journal beside the database; make it writable (chmod u+rwx '{folder}') or move the database")
    _make_private(path)


def _make_private(path: Path) -> None:
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        _chmod_if_ours(p, 0o600)


def _chmod_if_ours(path: Path, mode: int) -> None:
    try:
        st = path.stat()
        if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o077 | (mode & 0o700))
    except OSError:
        pass


def _is_default_folder(folder: Path) -> bool:
    from syncd import paths

    try:
        return folder.resolve() == paths.data_dir().resolve()
    except OSError:
        return False


def _where(url: URL, sqlite_path: Path | None) -> str:
    return str(sqlite_path) if sqlite_path is not None else url.render_as_string(hide_password=True)


_APPLICATION = "syncd"  # meta row 'application': this database is syncd's (written when the schema is made)


def _identity(store: Store) -> tuple[str | None, bool]:
    """(schema revision, carries syncd's mark): one cheap query when both are there."""
    with store.engine.connect() as conn:
        try:
            row = conn.execute(text("SELECT (SELECT version_num FROM alembic_version), "
                                    "(SELECT value FROM meta WHERE key = 'application')")).one()
            return row[0], row[1] == _APPLICATION
        except (OperationalError, ProgrammingError):
            conn.rollback()
    return current_revision(store), False


def _tables(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            q = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        elif store.dialect == "postgresql":
            q = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        else:
            return set()
        return set(conn.execute(text(q)).scalars())


def _check_ours(store: Store, revision: str | None, marked: bool, where: str) -> None:
    """Refuse a database that holds another program's tables, or a newer syncd's schema."""
    if marked:
        if revision is not None and revision not in KNOWN_REVISIONS:
            raise StoreError(f"the database {where} was written by a newer syncd (schema {revision}); "
                             "upgrade syncd, or set database_url to another database")
        return
    tables = _tables(store)
    if not tables:
        return  # new: it becomes syncd's
    if revision in KNOWN_REVISIONS and {"draft", "stream", "contact"} <= tables:
        return  # syncd's, from before the mark
    sample = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
    raise StoreError(f"the database {where} is not syncd's: it holds tables of another program ({sample}); "
                     "set database_url to a new file (syncd never changes another program's database)")


_PG_MIGRATION_LOCK = 0x73796E6364  # "syncd": one advisory lock id for schema changes


def _migrate(store: Store, sqlite_path: Path | None, where: str) -> None:
    """Upgrade the schema; two processes starting at once (daemon and CLI) must not both try.

    Whether the database is ours is judged under the lock: a process that looked before another
    one finished creating the schema would otherwise see syncd's new tables as a stranger's."""
    if store.dialect == "postgresql":
        with store.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            _check_ours(store, *_identity(store), where)
            if conn.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None:
                create(conn)
            elif conn.execute(text("SELECT version_num FROM alembic_version")).scalar() != HEAD_REVISION:
                upgrade(conn)
            _mark(conn)
        return
    lock = None
    if sqlite_path is not None:
        lock = os.open(f"{sqlite_path}.migrate-lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        if lock is not None:
            fcntl.flock(lock, fcntl.LOCK_EX)
        revision, marked = _identity(store)
        _check_ours(store, revision, marked, where)
        _upgrade_sqlite(store, revision)
    finally:
        if lock is not None:
            os.close(lock)


def _mark(conn: Connection) -> None:
    from syncd.store import schema as t
    from syncd.store.upsert import insert_ignore

    conn.execute(insert_ignore(conn, t.meta, ["key"]), [{"key": "application", "value": _APPLICATION}])


def _upgrade_sqlite(store: Store, revision: str | None) -> None:
    """SQLite rebuilds tables to change them; foreign keys must be off meanwhile (a rebuilt parent
    table would otherwise cascade its delete), and checked before the change commits."""
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        raw.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
        try:
            conn.execution_options(syncd_write=True)
            with conn.begin():
                if revision is None:
                    create(conn)
                elif revision != HEAD_REVISION:
                    upgrade(conn)
                _mark(conn)
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    raise StoreError(f"the schema upgrade would break {len(broken)} reference(s); nothing was changed")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")  # type: ignore[union-attr]


def current_revision(store: Store) -> str | None:
    with store.engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError):
            return None


def database_problem(err: BaseException) -> str:
    """What went wrong with the database, in words for the user: never SQL."""
    orig = getattr(err, "orig", None) or err
    message = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    low = message.lower()
    if "readonly" in low or "read-only" in low:
        return ("it is read-only for you; make the database file and its folder writable "
                "(chmod u+rw), or set database_url to another file")
    if "unable to open database file" in low:
        return "SQLite cannot open or create the file; check that its folder exists and is writable"
    if "database or disk is full" in low or "no space" in low:
        return "the disk is full; free some space and run it again"
    if "database is locked" in low:
        return "another process kept the database locked for too long; run it again"
    if "file is not a database" in low or "malformed" in low:
        return "the file is not an SQLite database (or is damaged); set database_url to another file"
    return message
