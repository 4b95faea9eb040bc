"""exact instants (integer microseconds), draft claims, leases

Every timestamp column becomes BIGINT microseconds since the epoch (UTC), converted exactly:
on SQLite from the text 'YYYY-MM-DD HH:MM:SS[.ffffff]' with integer arithmetic, on PostgreSQL
from the timestamp's whole seconds and its microseconds field. No value passes through a float.
The tier crossing times were floats derived from floats: they are dropped and recomputed at the
next sync (until then `syncd status` brings each score to now one by one).

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

INSTANTS = {
    'account': ['created_at'],
    'stream': ['cursor_updated_at', 'last_attempt_at', 'last_success_at', 'failing_since'],
    'contact': ['created_at', 'first_at', 'last_at', 'last_out_at', 'last_in_at', 'scored_at'],
    'contact_address': ['created_at'],
    'message': ['sent_at'],
    'meeting': ['start_at', 'end_at'],
    'interaction': ['occurred_at'],
    'mailing_list': ['learned_at'],
    'ignore_rule': ['created_at'],
    'draft': ['since_at', 'due_at', 'overdue_at', 'expires_at', 'planned_at', 'attempted_at', 'written_at',
              'missing_since', 'closed_at'],
    'daemon_run': ['started_at', 'beat_at', 'stopped_at'],
    'job_run': ['started_at', 'finished_at', 'retry_at'],
}
CROSSINGS = ['inner_until', 'warm_until', 'cooling_until', 'cold_until']


def _sqlite_micros(col: str) -> str:
    """'YYYY-MM-DD HH:MM:SS[.ffffff]' -> microseconds: whole seconds from SQLite's own integer
    clock arithmetic, the fraction read as digits."""
    return (f"CAST(strftime('%s', substr({col}, 1, 19)) AS INTEGER) * 1000000"
            f" + CAST(substr(substr({col}, 21) || '000000', 1, 6) AS INTEGER)")


def _pg_micros(col: str) -> str:
    return (f"EXTRACT(EPOCH FROM date_trunc('second', {col}))::bigint * 1000000"
            f" + EXTRACT(MICROSECONDS FROM {col})::bigint % 1000000")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        for table, columns in INSTANTS.items():
            op.execute(f"ALTER TABLE {table} " + ", ".join(
                f"ALTER COLUMN {c} TYPE BIGINT USING {_pg_micros(c)}" for c in columns))
        op.execute("ALTER TABLE contact " + ", ".join(f"ALTER COLUMN {c} TYPE BIGINT USING NULL" for c in CROSSINGS))
    else:
        # SQLite cannot change a column's type in place: convert the values, then let Alembic
        # rebuild each table with BIGINT columns (syncd.store turns foreign keys off meanwhile,
        # as SQLite's documentation prescribes for rebuilding tables).
        for table, columns in INSTANTS.items():
            for c in columns:
                op.execute(f"UPDATE {table} SET {c} = {_sqlite_micros(c)} WHERE typeof({c}) = 'text'")
        op.execute("UPDATE contact SET " + ", ".join(f"{c} = NULL" for c in CROSSINGS))
        for table, columns in INSTANTS.items():
            extra = CROSSINGS if table == 'contact' else []
            with op.batch_alter_table(table, recreate='always') as batch_op:
                for c in columns:
                    batch_op.alter_column(c, type_=sa.BigInteger(), existing_type=sa.DateTime())
                for c in extra:
                    batch_op.alter_column(c, type_=sa.BigInteger(), existing_type=sa.Float())
    op.execute("DELETE FROM meta WHERE key = 'warmth'")  # rescore everyone: crossing times are gone

    with op.batch_alter_table('draft', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_owner', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('claim_until', sa.BigInteger(), nullable=True))
    op.create_table('lease',
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_lease'))
    )


def downgrade() -> None:
    op.drop_table('lease')
    with op.batch_alter_table('draft', schema=None) as batch_op:
        batch_op.drop_column('claim_until')
        batch_op.drop_column('claim_owner')
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        for table, columns in INSTANTS.items():
            op.execute(f"ALTER TABLE {table} " + ", ".join(
                f"ALTER COLUMN {c} TYPE TIMESTAMP WITHOUT TIME ZONE USING TIMESTAMP 'epoch' + {c} * INTERVAL '1 microsecond'"
                for c in columns))
        op.execute("ALTER TABLE contact " + ", ".join(f"ALTER COLUMN {c} TYPE FLOAT USING NULL" for c in CROSSINGS))
        return
    for table, columns in INSTANTS.items():
        # the rebuild first: a cast of text to DATETIME (NUMERIC) would keep only the year
        with op.batch_alter_table(table, recreate='always') as batch_op:
            for c in columns:
                batch_op.alter_column(c, type_=sa.DateTime(), existing_type=sa.BigInteger())
            for c in (CROSSINGS if table == 'contact' else []):
                batch_op.alter_column(c, type_=sa.Float(), existing_type=sa.BigInteger())
        for c in columns:
            frac = f"(({c} % 1000000) + 1000000) % 1000000"
            op.execute(f"UPDATE {table} SET {c} = strftime('%Y-%m-%d %H:%M:%S', ({c} - {frac}) / 1000000, 'unixepoch')"
                       f" || '.' || printf('%06d', {frac}) WHERE typeof({c}) = 'integer'")
