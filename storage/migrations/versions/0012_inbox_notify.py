"""inbox notify: on PostgreSQL an insert into the inbox wakes the listening workers (NOTIFY ida_inbox)

A worker looked for new webhook events every INBOX_INTERVAL (50 ms): on average a reply waited 25 ms for that
look alone. The notification goes out when the webhook's transaction commits, so a woken worker's lease sees
the rows. One per statement, not per row; PostgreSQL folds repeats within a transaction into one. SQLite keeps
polling: it has no way to wake another process.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 22:40:00.000000
"""
from __future__ import annotations

from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

CHANNEL = 'ida_inbox'  # storage.inbox_wakeup.CHANNEL; a migration keeps its own copy of what it wrote


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(f"""
        CREATE FUNCTION inbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', '');
            RETURN NULL;
        END $$""")
    op.execute('CREATE TRIGGER inbox_notify AFTER INSERT ON inbox '
               'FOR EACH STATEMENT EXECUTE FUNCTION inbox_notify()')


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute('DROP TRIGGER IF EXISTS inbox_notify ON inbox')
    op.execute('DROP FUNCTION IF EXISTS inbox_notify()')
