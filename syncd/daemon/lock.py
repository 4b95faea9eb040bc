"""One daemon per database.

SQLite: an exclusive ``flock`` on a file next to the database (``<db>.daemon.lock``), which
the kernel releases when the process dies, even by kill -9. PostgreSQL: a session-level
``pg_try_advisory_lock`` on a connection held for the daemon's lifetime; the server releases
it when that connection goes. Other databases: a lock file in the state dir keyed by the URL.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from syncd import paths
from syncd.store import Store

# A fixed 63-bit key: "syncd daemon" for pg_try_advisory_lock.
PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"syncd daemon").digest()[:8], "big") >> 1


class AlreadyRunning(Exception):
    """Another daemon holds the lock; ``str()`` is for the user."""


class DaemonLock:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._fd: int | None = None
        self._conn: Connection | None = None
        self.where = ""

    def acquire(self) -> None:
        url = make_url(str(self.store.engine.url))
        if url.get_backend_name() == "postgresql":
            self._acquire_pg()
        else:
            self._acquire_file(lock_path(str(self.store.engine.url)))

    def _acquire_file(self, path: Path) -> None:
        if path.parent == paths.state_dir():
            paths.private_dir(path.parent)
        else:  # beside the database, whose folder the store made private
            path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = _read_pid(fd)
            os.close(fd)
            raise AlreadyRunning(
                f"another syncd daemon{f' (pid {other})' if other else ''} is already running for this database "
                f"(lock file {path}); stop it first (systemctl --user stop syncd) or use another database_url"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd, self.where = fd, str(path)

    def _acquire_pg(self) -> None:
        conn = self.store.engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": PG_LOCK_KEY}).scalar()
        conn.commit()  # the lock is session-level: it outlives this transaction
        if not got:
            other = conn.execute(text(
                "SELECT a.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = (:k & 4294967295)"), {"k": PG_LOCK_KEY}).scalar()
            conn.close()
            raise AlreadyRunning(
                "another syncd daemon is already running for this database (PostgreSQL advisory lock held"
                f"{f' by backend {other}' if other else ''}); stop it first or use another database_url")
        self._conn, self.where = conn, "PostgreSQL advisory lock"

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_KEY})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_path(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        db = Path(parsed.database).expanduser().resolve()
        return db.with_name(db.name + ".daemon.lock")
    digest = hashlib.sha256(parsed.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return paths.state_dir() / f"daemon-{digest}.lock"


def _read_pid(fd: int) -> int | None:
    try:
        raw = os.pread(fd, 32, 0).decode().strip()
        return int(raw) if raw.isdigit() else None
    except (OSError, ValueError):
        return None
