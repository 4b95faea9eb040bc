"""warmth ordering key and primary address on contacts; a merge log for unmerge

Revision ID: 0006
Revises: 0005
"""
import math

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

DAY = 86400.0


def upgrade() -> None:
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('warmth_anchor', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('primary_address', sa.String(length=320), nullable=True))
    op.create_table('contact_merge',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('keep_id', sa.Integer(), nullable=False),
    sa.Column('merged_at', sa.BigInteger(), nullable=False),  # an instant: integer microseconds (0004)
    sa.Column('snapshot', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['keep_id'], ['contact.id'], name=op.f('fk_contact_merge_keep_id_contact'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contact_merge'))
    )
    op.create_index(op.f('ix_contact_merge_keep_id'), 'contact_merge', ['keep_id'], unique=False)
    _fill_anchors()
    _rename_organisations()


def _fill_anchors() -> None:
    """The ordering key of every stored score, as syncd.warmth.anchor computes it at the next
    rescore, so that the views sort correctly right after the upgrade."""
    conn = op.get_bind()
    contact = sa.table('contact', sa.column('id', sa.Integer), sa.column('activity', sa.Float),
                       sa.column('reciprocity', sa.Float), sa.column('half_life_days', sa.Float),
                       sa.column('scored_at', sa.BigInteger), sa.column('warmth_anchor', sa.Float))
    rows = conn.execute(sa.select(contact.c.id, contact.c.activity, contact.c.reciprocity,
                                  contact.c.half_life_days, contact.c.scored_at)
                        .where(contact.c.activity > 0)).all()
    updates = []
    for cid, activity, recip, hl, scored in rows:
        effective = (activity or 0.0) * (recip or 0.0)
        at = _epoch(scored)
        if effective > 0 and hl and at is not None:
            updates.append({"cid": cid, "anchor": math.log2(effective) + at / (hl * DAY)})
    if updates:
        conn.execute(sa.update(contact).where(contact.c.id == sa.bindparam('cid'))
                     .values(warmth_anchor=sa.bindparam('anchor')), updates)


def _rename_organisations() -> None:
    """Organisations named by the old split of the domain ("Mail" for mail.ibm.de, "Mit") get
    the name the Public Suffix List gives them."""
    from syncd.addresses import organisation_name

    conn = op.get_bind()
    org = sa.table('organisation', sa.column('id', sa.Integer), sa.column('domain', sa.String),
                   sa.column('name', sa.String))
    updates = [{"oid": oid, "new": organisation_name(domain)}
               for oid, domain, name in conn.execute(sa.select(org.c.id, org.c.domain, org.c.name))
               if organisation_name(domain) != name]
    if updates:
        conn.execute(sa.update(org).where(org.c.id == sa.bindparam('oid')).values(name=sa.bindparam('new')), updates)


def _epoch(value: object) -> float | None:
    if isinstance(value, int):  # instants are integer microseconds since 0004
        return value / 1e6
    return None


def downgrade() -> None:
    op.drop_index(op.f('ix_contact_merge_keep_id'), table_name='contact_merge')
    op.drop_table('contact_merge')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_column('primary_address')
        batch_op.drop_column('warmth_anchor')
