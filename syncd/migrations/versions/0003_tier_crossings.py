"""tier crossing times on contacts, and a meta table

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('meta',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_meta'))
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('inner_until', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('warm_until', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('cooling_until', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('cold_until', sa.Float(), nullable=True))
    # Existing scores have no crossing times yet: rescore everyone on the next sync.
    op.execute("UPDATE contact SET dirty = true")


def downgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('cold_until')
        batch_op.drop_column('cooling_until')
        batch_op.drop_column('warm_until')
        batch_op.drop_column('inner_until')
    op.drop_table('meta')
