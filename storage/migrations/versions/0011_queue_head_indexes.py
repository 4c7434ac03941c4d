"""queue heads: inbox and outbox indexed by (status, id), replacing the indexes on status alone

The PostgreSQL lease reads the first waiting rows of each status in id order (storage/lease.py). An index on
status alone keeps its entries in the order the rows lie in the table, so that read sorted every waiting row.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 10:00:00.000000
"""
from __future__ import annotations

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ('inbox', 'outbox'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f'ix_{table}_status_id', ['status', 'id'], unique=False)
            batch_op.drop_index(f'ix_{table}_status')


def downgrade() -> None:
    for table in ('inbox', 'outbox'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(f'ix_{table}_status', ['status'], unique=False)
            batch_op.drop_index(f'ix_{table}_status_id')
