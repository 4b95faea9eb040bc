"""The database schema (SQLAlchemy Core). Changes go through an Alembic migration too.

Only metadata is stored: addresses, names, dates, subjects and titles, ids. No bodies.
Instants are integer microseconds since the epoch (syncd.store.instant.Instant), naive UTC
datetimes in code, exact and the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
)

from syncd.store.instant import Instant

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Small facts about the store itself, e.g. which warmth parameters the stored scores were made with.
meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

account = Table(
    "account",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("created_at", Instant, nullable=False),
)

# One row per (account, stream): the cursor, and the stream's health for `syncd status`.
stream = Table(
    "stream",
    metadata,
    Column("account_id", Integer, ForeignKey("account.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("cursor", Text),
    Column("cursor_updated_at", Instant),
    Column("last_attempt_at", Instant),
    Column("last_success_at", Instant),
    Column("last_error", Text),
    Column("error_kind", String(16)),  # auth | temporary | source | unknown
    Column("error_fix", Text),
    Column("failing_since", Instant),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("items_total", Integer, nullable=False, default=0),
    Column("skipped_total", Integer, nullable=False, default=0),
    Column("last_items", Integer, nullable=False, default=0),
    Column("last_skipped", Integer, nullable=False, default=0),
    Column("resyncs", Integer, nullable=False, default=0),
    Column("last_skip_reason", Text),
)

# Addresses a provider told us are the user's (Gmail sendAs, Graph proxyAddresses), per account.
own_address = Table(
    "own_address",
    metadata,
    Column("address", String(320), primary_key=True),
    Column("account_id", Integer, ForeignKey("account.id", ondelete="CASCADE"), nullable=False),
)

organisation = Table(
    "organisation",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("domain", String(255), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
)

contact = Table(
    "contact",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("display_name", String(255), nullable=False, default=""),
    Column("first_name", String(128), nullable=False, default=""),
    Column("org_id", Integer, ForeignKey("organisation.id", ondelete="SET NULL"), index=True),
    Column("note", Text),
    Column("cadence_days", Integer),  # the user's own cadence for this person
    Column("ignored", Boolean, nullable=False, default=False),
    Column("is_list", Boolean, nullable=False, default=False),
    Column("pruned", Boolean, nullable=False, default=False),
    Column("internal", Boolean, nullable=False, default=False),
    Column("created_at", Instant, nullable=False),
    # Aggregates, recomputed from interactions for contacts marked dirty (see syncd.warmth).
    Column("dirty", Boolean, nullable=False, default=True, index=True),
    Column("first_at", Instant),
    Column("last_at", Instant, index=True),
    Column("last_out_at", Instant),
    Column("last_in_at", Instant),
    Column("n_out", Integer, nullable=False, default=0),
    Column("n_in", Integer, nullable=False, default=0),
    Column("n_meetings", Integer, nullable=False, default=0),
    Column("activity", Float, nullable=False, default=0.0),  # decayed activity at scored_at
    Column("reciprocity", Float, nullable=False, default=0.0),
    Column("half_life_days", Float, nullable=False, default=30.0),
    Column("standing", Float, nullable=False, default=0.0),  # score as of the last interaction
    Column("scored_at", Instant),
    # When the decaying score falls below each tier's threshold (NULL: never above it), so
    # counting tiers now is a plain comparison in SQL (see syncd.warmth).
    Column("inner_until", Instant),
    Column("warm_until", Instant),
    Column("cooling_until", Instant),
    Column("cold_until", Instant),
    # Ordering key of the decaying score (syncd.warmth.anchor): views sort and filter by warmth in SQL.
    Column("warmth_anchor", Float),
    # The address the contact is shown under; NULL: its only (or first) address.
    Column("primary_address", String(320)),
)

contact_address = Table(
    "contact_address",
    metadata,
    Column("address", String(320), primary_key=True),  # normalised (syncd.addresses)
    Column("contact_id", Integer, ForeignKey("contact.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(255), nullable=False, default=""),
    Column("created_at", Instant, nullable=False),
)

message = Table(
    "message",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("message_id", String(500), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("account.id", ondelete="SET NULL")),
    Column("folder", String(255), nullable=False, default=""),
    Column("direction", String(3), nullable=False),  # out | in
    Column("sent_at", Instant, nullable=False),
    Column("subject", String(500), nullable=False, default=""),
    Column("sender", String(320), nullable=False, default=""),
    Column("n_recipients", Integer, nullable=False, default=0),
    Column("thread_id", String(255), nullable=False, default=""),
    Column("in_reply_to", String(500), nullable=False, default=""),
    Column("refs", Text, nullable=False, default=""),  # space-separated Message-IDs
    Column("noise", String(64)),  # why it looked like bulk or machine-made mail (null: a copy did not)
    # What the copies of one message say, merged so that no copy's order matters (syncd.ingest):
    # via_list, every copy came through a list or a bulk sender; automated, every copy was
    # machine-made; to_me, some copy names you in To or Cc.
    Column("via_list", Boolean, nullable=False, default=False, server_default=false()),
    Column("automated", Boolean, nullable=False, default=False, server_default=false()),
    Column("to_me", Boolean, nullable=False, default=False, server_default=false()),
    Column("linked", Boolean, nullable=False, default=True),  # inbound: settled (attributed or noise)?
    Index("ix_message_direction_linked", "direction", "linked"),
)

meeting = Table(
    "meeting",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("uid", String(500), nullable=False),
    Column("occurrence", String(64), nullable=False, default=""),
    Column("account_id", Integer, ForeignKey("account.id", ondelete="SET NULL")),
    Column("calendar", String(255), nullable=False, default=""),
    Column("title", String(500), nullable=False, default=""),
    Column("start_at", Instant, nullable=False, index=True),
    Column("end_at", Instant, nullable=False, index=True),
    Column("all_day", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False, default="confirmed"),
    Column("self_response", String(16), nullable=False, default="unknown"),
    Column("organizer", String(320), nullable=False, default=""),
    Column("n_people", Integer, nullable=False, default=0),  # attendees besides the user, rooms excluded
    Column("online", Boolean, nullable=False, default=False),
    Column("recorded", Boolean, nullable=False, default=False),  # interactions made (it has ended)
    Column("gone", Boolean, nullable=False, default=False),  # deleted at the provider
    Column("fingerprint", String(40), nullable=False, default=""),  # unchanged -> nothing to do
    UniqueConstraint("uid", "occurrence"),
)

meeting_attendee = Table(
    "meeting_attendee",
    metadata,
    Column("meeting_id", Integer, ForeignKey("meeting.id", ondelete="CASCADE"), primary_key=True),
    Column("address", String(320), primary_key=True),
    Column("name", String(255), nullable=False, default=""),
    Column("partstat", String(16), nullable=False, default="unknown"),
    Column("is_resource", Boolean, nullable=False, default=False),
    Column("is_self", Boolean, nullable=False, default=False),
)

interaction = Table(
    "interaction",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contact.id", ondelete="CASCADE"), nullable=False),
    # What it was: a message or a meeting, by integer key (a text key here, in the unique
    # constraint and in an index cost half of the database). No foreign key: messages and
    # meetings are never deleted, and ingest stores each before its interactions in the same
    # transaction (a test checks every path); the key's check per row cost a PostgreSQL first
    # sync ~1.1 s of server time per 100k messages (migration 0009).
    Column("message_ref", Integer),
    Column("meeting_ref", Integer),
    Column("kind", String(8), nullable=False),  # sent | received | meeting
    Column("role", String(8), nullable=False, default=""),  # to | cc | from | attendee
    Column("occurred_at", Instant, nullable=False),
    Column("group_size", Integer, nullable=False, default=1),
    Column("weight", Float, nullable=False),
    # One interaction per person per message or meeting; led by the reference, so that they
    # also find a message's or a meeting's interactions. Partial: a mail's interaction has no
    # entry in the meetings' index, and the other way round (upserts name the WHERE too).
    Index("uq_interaction_message_ref_contact_id", "message_ref", "contact_id", unique=True,
          sqlite_where=text("message_ref IS NOT NULL")),
    Index("uq_interaction_meeting_ref_contact_id", "meeting_ref", "contact_id", unique=True,
          sqlite_where=text("meeting_ref IS NOT NULL")),
    Index("ix_interaction_contact_occurred", "contact_id", "occurred_at"),
)


@event.listens_for(interaction, "before_create")
def _partial_on_postgresql(table: Table, connection: Connection, **_kw: object) -> None:
    """The same partial indexes on PostgreSQL. Declared here, when one is made, not above:
    naming a ``postgresql_`` option in a table imports SQLAlchemy's PostgreSQL dialect (and
    asyncio with it), 30 ms of every read command on SQLite."""
    if connection.dialect.name == "postgresql":
        for ix in table.indexes:
            where = ix.dialect_options["sqlite"]["where"]
            if where is not None:
                ix.dialect_options["postgresql"]["where"] = where


# Each scored contact's activity at the end of the last twelve months (syncd.warmth.MonthEnds,
# packed): written when the contact is scored, so the contacts list draws its sparkline without
# reading interactions. Months end at fixed instants: a value changes only with the interactions.
contact_trend = Table(
    "contact_trend",
    metadata,
    Column("contact_id", Integer, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True),
    Column("months", LargeBinary, nullable=False),
)

# One row per `syncd merge`, what it moved, so that `syncd unmerge` can take it apart again.
contact_merge = Table(
    "contact_merge",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("keep_id", Integer, ForeignKey("contact.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("merged_at", Instant, nullable=False),
    Column("snapshot", Text, nullable=False),  # JSON: the merged contact's row, addresses, interactions, drafts
)

mailing_list = Table(
    "mailing_list",
    metadata,
    Column("address", String(320), primary_key=True),
    Column("list_id", String(500), nullable=False, default=""),
    Column("learned_at", Instant, nullable=False),
)

ignore_rule = Table(
    "ignore_rule",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(16), nullable=False),  # address | domain | pattern
    Column("value", String(320), nullable=False),
    Column("created_at", Instant, nullable=False),
    UniqueConstraint("kind", "value"),
)

target = Table(
    "target",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("cadence_days", Integer, nullable=False, default=0),
)

target_member = Table(
    "target_member",
    metadata,
    Column("target_id", Integer, ForeignKey("target.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(16), primary_key=True),  # domain | person
    Column("value", String(320), primary_key=True),
)

# The draft ledger: planned -> writing -> written -> done | dismissed | expired, or failed
# (see syncd.ledger).
draft = Table(
    "draft",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(255), nullable=False, unique=True),  # what it is for; never planned twice
    Column("kind", String(16), nullable=False),  # followup | checkin
    Column("status", String(16), nullable=False, index=True),
    Column("marker", String(64), nullable=False, unique=True),
    Column("message_id", String(255), nullable=False, unique=True),
    Column("account_id", Integer, ForeignKey("account.id", ondelete="SET NULL")),
    Column("provider_id", String(500)),
    Column("meeting_id", Integer, ForeignKey("meeting.id", ondelete="SET NULL")),
    Column("subject", String(500), nullable=False, default=""),
    Column("body", Text, nullable=False, default=""),
    Column("in_reply_to", String(500), nullable=False, default=""),
    Column("thread_id", String(255), nullable=False, default=""),
    Column("since_at", Instant, nullable=False),  # a mail to them after this means it is done
    Column("due_at", Instant, nullable=False),
    Column("overdue_at", Instant, nullable=False),
    Column("expires_at", Instant, nullable=False),
    Column("planned_at", Instant, nullable=False),
    Column("attempted_at", Instant),  # the provider write began (intent recorded first)
    Column("claim_owner", String(128)),  # the process writing it (status "writing"), see syncd.store.lease
    Column("claim_until", Instant),  # its claim lapses then, and another process may recover it
    Column("written_at", Instant),
    Column("missing_since", Instant),  # written, then not found in the mailbox
    Column("closed_at", Instant),
    Column("reason", Text),
)

draft_recipient = Table(
    "draft_recipient",
    metadata,
    Column("draft_id", Integer, ForeignKey("draft.id", ondelete="CASCADE"), primary_key=True),
    Column("contact_id", Integer, ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("address", String(320), nullable=False),
    Column("name", String(255), nullable=False, default=""),
)

# The daemon's own health (syncd.daemon.health): one row per `syncd run`, its heartbeat
# refreshed while it runs, so that `syncd status` can tell running from gone.
daemon_run = Table(
    "daemon_run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("pid", Integer, nullable=False),
    Column("hostname", String(255), nullable=False, default=""),
    Column("started_at", Instant, nullable=False),
    Column("beat_at", Instant, nullable=False, index=True),
    Column("beat_seconds", Float, nullable=False),  # how often it beats: staleness is judged by it
    Column("stopped_at", Instant),
    Column("stop_reason", String(255)),
    Column("summary", Text, nullable=False, default=""),  # the one-line STATUS= it last sent
    Column("next_runs", Text, nullable=False, default="{}"),  # JSON {job id: ISO time}
)

# One row per job run (a sync of one account, a follow-up pass); old rows are pruned.
job_run = Table(
    "job_run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("daemon_id", Integer, ForeignKey("daemon_run.id", ondelete="CASCADE"), index=True),
    Column("job", String(128), nullable=False),  # "sync:<account>" | "followups"
    Column("account", String(64)),
    Column("started_at", Instant, nullable=False),
    Column("finished_at", Instant, nullable=False),
    Column("outcome", String(16), nullable=False),  # ok | failed | stopped
    Column("error_kind", String(16)),  # auth | temporary | source | unknown
    Column("error", Text),
    Column("items", Integer, nullable=False, default=0),
    Column("retry_at", Instant),  # backing off: the next attempt is not before this
    Index("ix_job_run_job_started", "job", "started_at"),
)

# Leases: a named piece of work (syncing one stream, ...) held by one process until it expires or
# is released (syncd.store.lease). A process that dies leaves its lease to expire or be taken over.
lease = Table(
    "lease",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("expires_at", Instant, nullable=False),
)
