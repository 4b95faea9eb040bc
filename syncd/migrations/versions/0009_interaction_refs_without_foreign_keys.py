"""interactions' message_ref and meeting_ref without foreign keys

Messages and meetings are never deleted (a meeting gone at the provider is marked ``gone``;
a changed one keeps its row), so the keys' only work was a check per interaction: on
PostgreSQL a lookup and a row lock of its message per row written (the 234,766 interactions
of a 100k first sync: 3.2 s of server time to COPY with the keys, 2.1 s without). Ingest
stores a message or meeting before its interactions, in the same transaction;
tests/test_store.py checks the references after every path that writes interactions, on
both databases.

Revision ID: 0009
Revises: 0008
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

_FKS = (('fk_interaction_message_ref_message', 'message', 'message_ref'),
        ('fk_interaction_meeting_ref_meeting', 'meeting', 'meeting_ref'))


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:  # SQLite rebuilds the table; the partial indexes are made again after it, as 0007 made them
        _drop_partial_indexes()
    with op.batch_alter_table('interaction', schema=None) as batch_op:
        for name, _table, _column in _FKS:
            batch_op.drop_constraint(name, type_='foreignkey')
    if sqlite:
        _create_partial_indexes()


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == 'sqlite'
    if sqlite:
        _drop_partial_indexes()
    with op.batch_alter_table('interaction', schema=None) as batch_op:
        for name, table, column in _FKS:
            batch_op.create_foreign_key(name, table, [column], ['id'], ondelete='CASCADE')
    if sqlite:
        _create_partial_indexes()


def _drop_partial_indexes() -> None:
    for ref in ('message_ref', 'meeting_ref'):
        op.drop_index(f'uq_interaction_{ref}_contact_id', table_name='interaction')


def _create_partial_indexes() -> None:
    for ref in ('message_ref', 'meeting_ref'):
        op.create_index(f'uq_interaction_{ref}_contact_id', 'interaction', [ref, 'contact_id'], unique=True,
                        sqlite_where=sa.text(f'{ref} IS NOT NULL'))
