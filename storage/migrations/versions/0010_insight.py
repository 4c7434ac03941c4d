"""insight: intake runs and steps reached (the funnel), Send API errors, follow-up answers and times, request ids

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 01:40:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('intake_runs',
    sa.Column('id', BigId, nullable=False),
    sa.Column('flow_id', sa.String(length=64), nullable=False),
    sa.Column('flow_version', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('case_id', BigId, nullable=True),
    sa.Column('last_step', sa.String(length=64), nullable=True),
    sa.Column('completed', sa.Boolean(), nullable=False),
    sa.Column('test', sa.Boolean(), nullable=False),
    sa.Column('referral', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('intake_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_intake_runs_case_id'), ['case_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_intake_runs_started_at'), ['started_at'], unique=False)
    op.create_table('intake_steps',
    sa.Column('id', BigId, nullable=False),
    sa.Column('run_id', BigId, nullable=False),
    sa.Column('step', sa.String(length=64), nullable=False),
    sa.Column('reached_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['intake_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('run_id', 'step')
    )
    op.create_table('send_errors',
    sa.Column('id', BigId, nullable=False),
    sa.Column('code', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('send_errors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_send_errors_created_at'), ['created_at'], unique=False)
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('intake_run_id', BigId, nullable=True))
        batch_op.create_foreign_key('fk_conversations_intake_run_id', 'intake_runs', ['intake_run_id'], ['id'],
                                    ondelete='SET NULL')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('followup_answer', sa.String(length=20), nullable=True))
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.create_index('ix_reminders_kind_done_at', ['kind', 'done_at'], unique=False)
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=32), nullable=True))
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('request_id', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('request_id')
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_column('request_id')
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.drop_index('ix_reminders_kind_done_at')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('followup_answer')
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_constraint('fk_conversations_intake_run_id', type_='foreignkey')
        batch_op.drop_column('intake_run_id')
    with op.batch_alter_table('send_errors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_send_errors_created_at'))
    op.drop_table('send_errors')
    op.drop_table('intake_steps')
    with op.batch_alter_table('intake_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_intake_runs_started_at'))
        batch_op.drop_index(batch_op.f('ix_intake_runs_case_id'))
    op.drop_table('intake_runs')
