"""The shared schema ``syncd_team``: small, PostgreSQL only, made and upgraded in code.

Not Alembic: the member schemas already carry one ``alembic_version`` each, and the shared
tables are few. ``version`` holds one row; :data:`STEPS` are the DDL from each version to the
next, applied in order under an advisory lock, so adding a table later is one more step.
"""

from __future__ import annotations

from sqlalchemy import (JSON, BigInteger, Boolean, Column, Connection, DateTime, Float, ForeignKey, Index, Integer,
                        LargeBinary, MetaData, String, Table, Text, UniqueConstraint, text)

SCHEMA = "syncd_team"
metadata = MetaData(schema=SCHEMA)
TS = DateTime(timezone=True)

version = Table("version", metadata, Column("version", Integer, nullable=False))

member = Table(
    "member", metadata,
    Column("id", String(40), primary_key=True),  # its schema is syncd_m_<id>
    Column("name", String(255), nullable=False),
    Column("addresses", JSON, nullable=False),  # [me] addresses
    Column("settings", JSON, nullable=False),  # config tables of its own: followups, cadence, targets...
    Column("opt_out", Boolean, nullable=False, default=False),  # nothing of it in the directory
    Column("created_at", TS, nullable=False, server_default=text("now()")),
)

account = Table(
    "account", metadata,
    Column("member_id", String(40), ForeignKey("member.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("settings", JSON, nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
)

# A password or token of one account, Fernet-encrypted with $SYNCD_SECRET_KEY (syncd.team.secret).
secret = Table(
    "secret", metadata,
    Column("member_id", String(40), primary_key=True),
    Column("account", String(64), primary_key=True),
    Column("ciphertext", LargeBinary, nullable=False),
)

# The queue: one row per account to sync ("sync") and one per member to draft for ("drafts").
# A worker leases due rows with SELECT ... FOR UPDATE SKIP LOCKED (syncd.team.work).
work = Table(
    "work", metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("member_id", String(40), ForeignKey("member.id", ondelete="CASCADE"), nullable=False),
    Column("account", String(64), nullable=False, default=""),  # "" for drafts
    Column("due_at", TS, nullable=False, server_default=text("now()")),
    Column("wake", Boolean, nullable=False, server_default=text("false")),  # asked for again while leased
    Column("lease_owner", String(255)),
    Column("lease_expires_at", TS),
    Column("heartbeat_at", TS),
    Column("attempts", Integer, nullable=False, default=0),
    Column("failures", Integer, nullable=False, default=0),  # in a row
    Column("last_error", Text),
    Column("last_ok_at", TS),
    Column("failing_since", TS),
    UniqueConstraint("kind", "member_id", "account"),
    Index("ix_work_due", "due_at"),
)

worker = Table(
    "worker", metadata,
    Column("id", String(255), primary_key=True),  # the lease owner token (syncd.store.lease.owner)
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", TS, nullable=False),
    Column("seen_at", TS, nullable=False),
    Column("stopped_at", TS),
    Column("done", Integer, nullable=False, default=0),
)

# What the team may see of a member's relationships: name, warmth, tier, date. Nothing else.
directory = Table(
    "directory", metadata,
    Column("member_id", String(40), ForeignKey("member.id", ondelete="CASCADE"), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("domain", String(255), nullable=False),
    Column("organisation", String(255)),
    Column("name", String(255)),
    Column("warmth", Float, nullable=False),
    Column("tier", String(16), nullable=False),
    Column("last_interaction_at", TS),
    Index("ix_directory_domain", "domain"),
    Index("ix_directory_address", "address"),
)

# Contacts a member keeps out of the directory.
contact_opt_out = Table(
    "contact_opt_out", metadata,
    Column("member_id", String(40), ForeignKey("member.id", ondelete="CASCADE"), primary_key=True),
    Column("address", String(320), primary_key=True),
)

VERSION = 1
_LOCK = 0x73796E6374  # "syncdt": one advisory lock id for changes to the shared schema


def _v1(conn: Connection) -> None:
    metadata.create_all(conn)


STEPS = {1: _v1}  # version n is made by STEPS[n] from version n-1


def ensure(conn: Connection) -> None:
    """Make or upgrade ``syncd_team`` (inside the caller's transaction)."""
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
    conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}"))
    have = 0
    if conn.execute(text(f"SELECT to_regclass('{SCHEMA}.version')")).scalar() is not None:
        have = conn.execute(version.select()).scalar() or 0
    if have > VERSION:
        raise RuntimeError(f"the team schema is version {have}, newer than this syncd ({VERSION}); upgrade syncd")
    for n in range(have + 1, VERSION + 1):
        STEPS[n](conn)
    if have == 0:
        conn.execute(version.insert().values(version=VERSION))
    elif have < VERSION:
        conn.execute(version.update().values(version=VERSION))
