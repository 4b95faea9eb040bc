"""interactions point at their message or meeting by integer key, not by a text source_key

The text key ("m:<Message-ID>", "e:<uid>|<occurrence>") was stored in the row, in the unique
constraint and in an index: three copies, about half of the database. Every interaction is
given the id of its message or meeting; the merge log's snapshots are rewritten likewise.
Its summary (the subject or title, a fourth copy) is read from the message or meeting now;
the unique indexes are partial (a mail's interaction has no entry in the meetings' one); the
index on message senders, which no query used, is gone.

Revision ID: 0007
Revises: 0006
"""
import json

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_interaction = sa.table('interaction', sa.column('id', sa.Integer), sa.column('source_key', sa.String),
                        sa.column('summary', sa.String),
                        sa.column('message_ref', sa.Integer), sa.column('meeting_ref', sa.Integer))
_message = sa.table('message', sa.column('id', sa.Integer), sa.column('message_id', sa.String),
                    sa.column('subject', sa.String))
_meeting = sa.table('meeting', sa.column('id', sa.Integer), sa.column('uid', sa.String),
                    sa.column('occurrence', sa.String), sa.column('title', sa.String))
_merge = sa.table('contact_merge', sa.column('id', sa.Integer), sa.column('snapshot', sa.Text))


def upgrade() -> None:
    with op.batch_alter_table('interaction', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_ref', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('meeting_ref', sa.Integer(), nullable=True))
    conn = op.get_bind()
    i, m = _interaction, _message
    # Messages: one indexed lookup per interaction, inside the database.
    conn.execute(sa.update(i).where(i.c.source_key.like('m:%')).values(
        message_ref=sa.select(m.c.id).where(m.c.message_id == sa.func.substr(i.c.source_key, 3))
        .scalar_subquery()))
    # Meetings: the key joins uid and occurrence with '|', which a uid may contain too: matched
    # in Python against the whole key.
    meetings = _meeting_ids(conn)
    updates = [{"iid": iid, "ref": meetings[key]}
               for iid, key in conn.execute(sa.select(i.c.id, i.c.source_key).where(i.c.source_key.like('e:%')))
               if key in meetings]
    if updates:
        conn.execute(sa.update(i).where(i.c.id == sa.bindparam('iid')).values(meeting_ref=sa.bindparam('ref')),
                     updates)
    # An interaction whose message or meeting is not stored cannot have been made by syncd
    # (both are stored before their interactions, and never deleted): nothing to point at.
    conn.execute(sa.delete(i).where(i.c.message_ref.is_(None) & i.c.meeting_ref.is_(None)))
    _rewrite_merge_log(conn, meetings)
    with op.batch_alter_table('interaction', schema=None) as batch_op:
        batch_op.drop_index('ix_interaction_source_key')
        batch_op.drop_constraint('uq_interaction_contact_id_source_key', type_='unique')
        batch_op.drop_column('source_key')
        batch_op.drop_column('summary')
        batch_op.create_foreign_key(op.f('fk_interaction_message_ref_message'), 'message', ['message_ref'], ['id'],
                                    ondelete='CASCADE')
        batch_op.create_foreign_key(op.f('fk_interaction_meeting_ref_meeting'), 'meeting', ['meeting_ref'], ['id'],
                                    ondelete='CASCADE')
    for ref in ('message_ref', 'meeting_ref'):
        op.create_index(f'uq_interaction_{ref}_contact_id', 'interaction', [ref, 'contact_id'], unique=True,
                        sqlite_where=sa.text(f'{ref} IS NOT NULL'), postgresql_where=sa.text(f'{ref} IS NOT NULL'))
    op.drop_index('ix_message_sender', table_name='message')


def _meeting_ids(conn: sa.Connection) -> dict[str, int]:
    e = _meeting
    return {f"e:{uid}|{occ}": mid for mid, uid, occ in conn.execute(sa.select(e.c.id, e.c.uid, e.c.occurrence))}


def _rewrite_merge_log(conn: sa.Connection, meetings: dict[str, int]) -> None:
    """The interactions an unmerge puts back carry their message's or meeting's id too."""
    m = _message
    for merge_id, text in conn.execute(sa.select(_merge.c.id, _merge.c.snapshot)).all():
        snap = json.loads(text)
        kept = []
        for row in snap.get("interactions_dropped", []):
            key = row.pop("source_key", None)
            if key is None:
                kept.append(row)
                continue
            if key.startswith("m:"):
                row["message_ref"] = conn.execute(sa.select(m.c.id).where(m.c.message_id == key[2:])).scalar()
            else:
                row["meeting_ref"] = meetings.get(key)
            if row.get("message_ref") is not None or row.get("meeting_ref") is not None:
                kept.append(row)
        snap["interactions_dropped"] = kept
        conn.execute(sa.update(_merge).where(_merge.c.id == merge_id).values(snapshot=json.dumps(snap)))


def downgrade() -> None:
    op.create_index('ix_message_sender', 'message', ['sender'], unique=False)
    op.drop_index('uq_interaction_meeting_ref_contact_id', table_name='interaction')
    op.drop_index('uq_interaction_message_ref_contact_id', table_name='interaction')
    with op.batch_alter_table('interaction', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_key', sa.String(length=600), nullable=True))
        batch_op.add_column(sa.Column('summary', sa.String(length=300), nullable=False, server_default=''))
    conn = op.get_bind()
    i, m, e = _interaction, _message, _meeting
    conn.execute(sa.update(i).values(summary=sa.func.substr(sa.func.coalesce(
        sa.select(m.c.subject).where(m.c.id == i.c.message_ref).scalar_subquery(),
        sa.select(e.c.title).where(e.c.id == i.c.meeting_ref).scalar_subquery(), ''), 1, 300)))
    conn.execute(sa.update(i).where(i.c.message_ref.is_not(None)).values(
        source_key=sa.select(sa.literal('m:') + m.c.message_id).where(m.c.id == i.c.message_ref).scalar_subquery()))
    conn.execute(sa.update(i).where(i.c.meeting_ref.is_not(None)).values(
        source_key=sa.select(sa.literal('e:') + e.c.uid + sa.literal('|') + e.c.occurrence)
        .where(e.c.id == i.c.meeting_ref).scalar_subquery()))
    for merge_id, snapshot in conn.execute(sa.select(_merge.c.id, _merge.c.snapshot)).all():
        snap = json.loads(snapshot)
        for row in snap.get("interactions_dropped", []):
            message_ref, meeting_ref = row.pop("message_ref", None), row.pop("meeting_ref", None)
            if message_ref is not None:
                row["source_key"] = "m:" + conn.execute(sa.select(m.c.message_id).where(m.c.id == message_ref)).scalar()
            elif meeting_ref is not None:
                uid, occ = conn.execute(sa.select(e.c.uid, e.c.occurrence).where(e.c.id == meeting_ref)).one()
                row["source_key"] = f"e:{uid}|{occ}"
        conn.execute(sa.update(_merge).where(_merge.c.id == merge_id).values(snapshot=json.dumps(snap)))
    with op.batch_alter_table('interaction', schema=None) as batch_op:
        batch_op.drop_constraint('fk_interaction_meeting_ref_meeting', type_='foreignkey')
        batch_op.drop_constraint('fk_interaction_message_ref_message', type_='foreignkey')
        batch_op.drop_column('meeting_ref')
        batch_op.drop_column('message_ref')
        batch_op.alter_column('source_key', existing_type=sa.String(length=600), nullable=False)
        batch_op.create_unique_constraint('uq_interaction_contact_id_source_key', ['contact_id', 'source_key'])
        batch_op.create_index('ix_interaction_source_key', ['source_key'], unique=False)
