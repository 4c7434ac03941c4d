"""flow versions (drafts, approvals, numbered published versions of flows and the lexicon); send slots

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 12:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'flow_versions',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('version', sa.Integer(), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('comment', sa.String(length=500), nullable=False),
        sa.Column('author', sa.String(length=254), nullable=False),
        sa.Column('approved_by', sa.String(length=254), nullable=True),
        sa.Column('rollback_of', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('kind', 'name', 'version'),
    )
    op.create_index(op.f('ix_flow_versions_status'), 'flow_versions', ['status'])
    op.create_table(
        'send_slots',
        sa.Column('name', sa.String(length=40), nullable=False),
        sa.Column('next_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade() -> None:
    op.drop_table('send_slots')
    op.drop_index(op.f('ix_flow_versions_status'), table_name='flow_versions')
    op.drop_table('flow_versions')
