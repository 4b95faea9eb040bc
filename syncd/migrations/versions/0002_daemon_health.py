"""daemon heartbeat and job runs

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('daemon_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('hostname', sa.String(length=255), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('beat_at', sa.DateTime(), nullable=False),
    sa.Column('beat_seconds', sa.Float(), nullable=False),
    sa.Column('stopped_at', sa.DateTime(), nullable=True),
    sa.Column('stop_reason', sa.String(length=255), nullable=True),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('next_runs', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_daemon_run'))
    )
    with op.batch_alter_table('daemon_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_daemon_run_beat_at'), ['beat_at'], unique=False)

    op.create_table('job_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('daemon_id', sa.Integer(), nullable=True),
    sa.Column('job', sa.String(length=128), nullable=False),
    sa.Column('account', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('error_kind', sa.String(length=16), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.Column('retry_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['daemon_id'], ['daemon_run.id'], name=op.f('fk_job_run_daemon_id_daemon_run'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_run'))
    )
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_run_daemon_id'), ['daemon_id'], unique=False)
        batch_op.create_index('ix_job_run_job_started', ['job', 'started_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('job_run', schema=None) as batch_op:
        batch_op.drop_index('ix_job_run_job_started')
        batch_op.drop_index(batch_op.f('ix_job_run_daemon_id'))
    op.drop_table('job_run')
    with op.batch_alter_table('daemon_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_daemon_run_beat_at'))
    op.drop_table('daemon_run')
