"""what the copies of a message say (list, machine-made, to you), merged; re-read once

Revision ID: 0005
Revises: 0004

Each copy of a message (folders, accounts, list copies) now adds to its facts instead of the
first copy deciding them. Existing rows get what their stored reason says. The next sync reads
the calendars again, and the mail too where list mail might answer you, once: group sizes,
rooms and replies through lists are then judged by the new rules (re-reading is a no-op for
everything else: every write is an upsert).
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('via_list', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('automated', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('to_me', sa.Boolean(), nullable=False, server_default=sa.false()))

    message = sa.table('message', sa.column('noise', sa.String), sa.column('via_list', sa.Boolean),
                       sa.column('automated', sa.Boolean), sa.column('direction', sa.String),
                       sa.column('in_reply_to', sa.String), sa.column('refs', sa.Text))
    stream = sa.table('stream', sa.column('kind', sa.String), sa.column('cursor', sa.Text))
    # the reasons syncd.filters wrote: "mailing list (List-Id)", "bulk (...)", "automated (...)"
    op.execute(message.update().where(sa.or_(message.c.noise.like('mailing list%'), message.c.noise.like('bulk%')))
               .values(via_list=True))
    op.execute(message.update().where(message.c.noise.like('automated (%')).values(automated=True))

    op.execute(stream.update().where(stream.c.kind == 'calendar').values(cursor=None))
    list_replies = sa.exists().where(sa.and_(message.c.direction == 'in', message.c.via_list.is_(True),
                                             sa.or_(message.c.in_reply_to != '', message.c.refs != '')))
    op.execute(stream.update().where(sa.and_(stream.c.kind == 'mail', list_replies)).values(cursor=None))


def downgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_column('to_me')
        batch_op.drop_column('automated')
        batch_op.drop_column('via_list')
