"""each scored contact's activity at the end of the last twelve months, stored when it is scored

The contacts list drew its sparkline from every interaction of the people shown (17,000 rows
for the twenty closest of a big mailbox). It now reads one row a contact. Existing contacts have
none until they are next scored; the list computes theirs from the interactions meanwhile.

Revision ID: 0008
Revises: 0007
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'contact_trend',
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('months', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], name=op.f('fk_contact_trend_contact_id_contact'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('contact_id', name=op.f('pk_contact_trend')),
    )


def downgrade() -> None:
    op.drop_table('contact_trend')
