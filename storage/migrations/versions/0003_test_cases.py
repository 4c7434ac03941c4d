"""simulator: cases opened from the console's simulator are marked as test cases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 10:25:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.add_column(sa.Column('test', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('cases') as batch:
        batch.drop_column('test')
