"""The team database: members and their accounts, and each member's own store.

A member's store is the single-user store opened on its own schema (``syncd_m_<id>``), and its
config is built from its rows here on top of the team's config file (which gives the database,
and defaults such as targets and follow-up hours that a member's settings may override).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, select, text, update
from sqlalchemy.engine import make_url

from syncd.config import Config, ConfigError, as_data, config_from_data
from syncd.store import Store, StoreError, lock_key, open_store
from syncd.team import schema as ts

MEMBER_ID = re.compile(r"[a-z0-9][a-z0-9_]{0,39}")
# Config tables a member inherits from the team's config file unless its settings name them.
INHERITED = ("timezone", "warmth", "cadence", "targets", "ignore", "nonpeople", "followups", "sync")


def member_schema(member_id: str) -> str:
    return f"syncd_m_{member_id}"


class MemberStore(Store):
    """A member's store on the team's one connection pool: every transaction first sets the
    search path to the member's schema (so a worker serving thousands of members holds as
    many connections as it runs transactions, not one pool per member), and its write
    transactions run one at a time across every worker.

    The single-user daemon queues its threads' writes (SerialStore) because its code was
    written for one writer per database; two workers syncing two accounts of one member would
    otherwise interleave batches on the same contacts and deadlock. Here the queue is an
    advisory lock per member, so members never wait for each other, and provider I/O (between
    transactions) still runs in parallel. A nested transaction in a thread that holds the lock
    does not take it again (it could not: the lock belongs to the outer connection).

    The path is set inside the transaction, so the rollback or commit that ends it (every
    connection returned to the pool is rolled back) leaves nothing behind for the next user."""

    def __init__(self, engine: Engine, schema: str) -> None:
        super().__init__(engine.execution_options(syncd_schema=schema))
        self.schema = schema
        self._path = f'SET LOCAL search_path TO "{schema}"'
        self._key = lock_key(f"{schema}:write")
        self._lock = threading.RLock()
        self._local = threading.local()

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        with self._lock:  # this process's threads queue here, not on database connections
            depth = getattr(self._local, "depth", 0)
            with self.engine.connect() as conn, conn.begin():
                conn.exec_driver_sql(self._path)
                if depth == 0:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._key})
                self._local.depth = depth + 1
                try:
                    yield conn
                finally:
                    self._local.depth = depth

    def connect(self) -> Connection:
        conn = self.engine.connect()
        conn.exec_driver_sql(self._path)  # in the transaction the reader's statements run in
        return conn

    def close(self) -> None:
        pass  # the pool is the team's


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    addresses: list[str]
    settings: dict[str, Any]
    opt_out: bool


class Team:
    """The shared schema and the members' stores, on one PostgreSQL database."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.url = config.db_url
        parsed = make_url(self.url)
        if parsed.get_backend_name() != "postgresql":
            raise StoreError("a team needs PostgreSQL; set database_url in the config to a "
                             "postgresql:// URL (workers and members share that database)")
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        self.engine: Engine = create_engine(parsed, pool_pre_ping=True, pool_size=8, max_overflow=24)
        self._stores: dict[str, Store] = {}
        self._lock = threading.Lock()
        with self.engine.begin() as conn:
            ts.ensure(conn)

    def close(self) -> None:
        for store in self._stores.values():
            store.close()
        self.engine.dispose()

    # --- members --------------------------------------------------------------------------------

    def members(self, conn: Connection) -> list[Member]:
        return [_member(r) for r in conn.execute(select(ts.member).order_by(ts.member.c.id))]

    def member(self, conn: Connection, member_id: str) -> Member:
        row = conn.execute(select(ts.member).where(ts.member.c.id == member_id)).first()
        if row is None:
            known = ", ".join(m.id for m in self.members(conn)) or "none"
            raise ConfigError(f"no member {member_id!r} in the team database; members: {known} "
                              "(add one with: syncd members add ID --name NAME --address ADDR)")
        return _member(row)

    def add_member(self, member_id: str, name: str, addresses: list[str], settings: dict[str, Any]) -> Member:
        if not MEMBER_ID.fullmatch(member_id):
            raise ConfigError(f"member id {member_id!r}: use 1-40 lower-case letters, digits and _, "
                              "beginning with a letter or digit")
        data = self._member_data(name, addresses, settings, [])
        config_from_data(data, Path(f"member {member_id}"))  # refuses bad settings before they are stored
        with self.engine.begin() as conn:
            if conn.execute(select(ts.member.c.id).where(ts.member.c.id == member_id)).first():
                raise ConfigError(f"member {member_id!r} exists already; remove it first or pick another id")
            conn.execute(ts.member.insert().values(id=member_id, name=name, addresses=addresses,
                                                   settings=settings, opt_out=False))
            conn.execute(ts.work.insert().values(kind="drafts", member_id=member_id, account="", attempts=0,
                                                 failures=0))
        self.store(member_id)  # its schema, made now rather than by the first worker
        return Member(member_id, name, addresses, settings, False)

    def remove_member(self, member_id: str) -> None:
        """The member, its accounts, secrets, queue and directory rows, and its whole schema."""
        from sqlalchemy import text

        with self.engine.begin() as conn:
            self.member(conn, member_id)
            conn.execute(delete(ts.secret).where(ts.secret.c.member_id == member_id))
            conn.execute(delete(ts.member).where(ts.member.c.id == member_id))  # cascades
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{member_schema(member_id)}" CASCADE'))
        with self._lock:
            store = self._stores.pop(member_id, None)
        if store is not None:
            store.close()

    def set_opt_out(self, member_id: str, value: bool, contact: str | None = None) -> int:
        """Keep a member (or one of its contacts) out of the directory, at once; returns rows hidden."""
        d = ts.directory
        with self.engine.begin() as conn:
            self.member(conn, member_id)
            if contact is None:
                conn.execute(update(ts.member).where(ts.member.c.id == member_id).values(opt_out=value))
                where = d.c.member_id == member_id
            else:
                o = ts.contact_opt_out
                conn.execute(delete(o).where((o.c.member_id == member_id) & (o.c.address == contact)))
                if value:
                    conn.execute(o.insert().values(member_id=member_id, address=contact))
                where = (d.c.member_id == member_id) & (d.c.address == contact)
            hidden = conn.execute(delete(d).where(where)).rowcount if value else 0
            if not value:  # back in at its next publication: sync soon
                conn.execute(update(ts.work).where((ts.work.c.member_id == member_id) & (ts.work.c.kind == "drafts"))
                             .values(due_at=_now()))
        return hidden

    # --- accounts -------------------------------------------------------------------------------

    def accounts(self, conn: Connection, member_id: str | None = None) -> list[Any]:
        q = select(ts.account).order_by(ts.account.c.member_id, ts.account.c.name)
        if member_id is not None:
            q = q.where(ts.account.c.member_id == member_id)
        return list(conn.execute(q))

    def add_account(self, member_id: str, name: str, kind: str, settings: dict[str, Any],
                    secret: str | None = None) -> None:
        with self.engine.begin() as conn:
            m = self.member(conn, member_id)
            if conn.execute(select(ts.account.c.name).where((ts.account.c.member_id == member_id)
                                                             & (ts.account.c.name == name))).first():
                raise ConfigError(f"member {member_id!r} has an account named {name!r} already")
            if secret is not None:
                settings = {**settings, "team_secret": True}  # IMAP/CalDAV: the password comes from here
            data = self._member_data(m.name, m.addresses, m.settings,
                                     [{"name": name, "kind": kind, "enabled": True, **settings}])
            config_from_data(data, Path(f"member {member_id}"))  # validates the account's settings
            conn.execute(ts.account.insert().values(member_id=member_id, name=name, kind=kind, settings=settings,
                                                    enabled=True))
            if secret is not None:
                from syncd.team.secret import encrypt

                conn.execute(ts.secret.insert().values(member_id=member_id, account=name,
                                                       ciphertext=encrypt(secret)))
            conn.execute(ts.work.insert().values(kind="sync", member_id=member_id, account=name, attempts=0,
                                                 failures=0))

    def remove_account(self, member_id: str, name: str) -> None:
        with self.engine.begin() as conn:
            a = ts.account
            if conn.execute(delete(a).where((a.c.member_id == member_id) & (a.c.name == name))).rowcount == 0:
                raise ConfigError(f"member {member_id!r} has no account named {name!r}")
            conn.execute(delete(ts.secret).where((ts.secret.c.member_id == member_id) & (ts.secret.c.account == name)))
            conn.execute(delete(ts.work).where((ts.work.c.member_id == member_id) & (ts.work.c.account == name)
                                               & (ts.work.c.kind == "sync")))

    def secrets(self, conn: Connection, member_id: str, accounts: list[str] | None) -> dict[str, str]:
        """The member's decrypted passwords (of ``accounts``, or all): for one job, in memory."""
        q = select(ts.secret.c.account).where(ts.secret.c.member_id == member_id)
        if accounts is not None:
            q = q.where(ts.secret.c.account.in_(accounts))
        out = {}
        for name in conn.execute(q).scalars():
            value = self.secret(conn, member_id, name)
            if value is not None:
                out[name] = value
        return out

    def secret(self, conn: Connection, member_id: str, account: str) -> str | None:
        row = conn.execute(select(ts.secret.c.ciphertext).where(
            (ts.secret.c.member_id == member_id) & (ts.secret.c.account == account))).first()
        if row is None:
            return None
        from syncd.team.secret import decrypt

        return decrypt(row.ciphertext)

    # --- a member's config and store ------------------------------------------------------------

    def _member_data(self, name: str, addresses: list[str], settings: dict[str, Any],
                     accounts: list[dict[str, Any]]) -> dict[str, Any]:
        base = {k: as_data(getattr(self.config, k)) for k in INHERITED}
        data: dict[str, Any] = {**base, **{k: v for k, v in settings.items() if k != "me"}}
        data["database_url"] = self.url
        data["me"] = {**settings.get("me", {}), "name": name, "addresses": addresses}
        data["accounts"] = accounts
        return data

    def member_config(self, conn: Connection, member_id: str) -> Config:
        m = self.member(conn, member_id)
        accounts = [{"name": a.name, "kind": a.kind, "enabled": a.enabled, **a.settings}
                    for a in self.accounts(conn, member_id)]
        config = config_from_data(self._member_data(m.name, m.addresses, m.settings, accounts),
                                  Path(f"member {member_id}"))
        return config.replace(state_namespace=f"team/{member_id}/")

    def store(self, member_id: str) -> Store:
        """The member's own store (its schema made and migrated on first use), one per process."""
        with self._lock:
            store = self._stores.get(member_id)
            if store is None:
                schema = member_schema(member_id)
                open_store(self.url, schema=schema).close()  # made or migrated, once per process
                store = self._stores[member_id] = MemberStore(self.engine, schema)
            return store


def _member(row: Any) -> Member:
    return Member(row.id, row.name, list(row.addresses), dict(row.settings or {}), bool(row.opt_out))


def _now():  # type: ignore[no-untyped-def]
    from sqlalchemy import func

    return func.now()
