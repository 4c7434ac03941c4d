"""Leasing the rows of a work queue (the inbox, the outbox) so that each key's rows are worked in order."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, text
from sqlalchemy.orm import Session, aliased


def claim_first_in_line(session: Session, model: Any, key: str, now: datetime, limit: int, lease: timedelta,
                        pending: str, leased: str) -> list[Any]:
    """Lease due rows that are first in line for their key (no earlier row of it waits or is leased).

    A leased row whose lease ran out (its worker died) is due again. On PostgreSQL, rows another worker is
    claiming are skipped, not waited for.
    """
    earlier = aliased(model)
    blocked = exists().where(and_(getattr(earlier, key) == getattr(model, key), earlier.id < model.id,
                                  earlier.status.in_((pending, leased))))
    due = and_(model.status == pending, model.next_attempt_at <= now)
    expired = and_(model.status == leased, model.locked_until < now)
    if session.get_bind().dialect.name == "postgresql":
        # A custom plan each time: psycopg prepares a statement after a few runs, and PostgreSQL then settles on a
        # generic plan made for the queue as it was (nearly empty on a quiet page) and keeps it. A burst of 20,000
        # events then met a nested-loop scan of the whole queue per waiting row: 4-6 s per lease instead of 20 ms,
        # and the workers answered a few events per second. A queue's size swings too far for one plan.
        session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        statement = select(model).where(due | expired, ~blocked).order_by(model.id).limit(limit)
        rows = list(session.scalars(statement.with_for_update(skip_locked=True)))
    else:
        # SQLite: two queries, not one with `due OR expired`. Each walks its status index (whose entries of one
        # status are in id order) and stops after `limit` rows, where the OR collected and sorted every waiting
        # row: 20 ms for a backlog of 20,000 events, inside the inbox file's write lock that every webhook request
        # waits for. PostgreSQL keeps the OR: without fresh statistics its planner turns the split query into a
        # scan per waiting row.
        found = {row.id: row for condition in (expired, due)
                 for row in session.scalars(select(model).where(condition, ~blocked).order_by(model.id).limit(limit))}
        rows = [found[row_id] for row_id in sorted(found)[:limit]]
    for row in rows:
        row.status, row.locked_until, row.attempts = leased, now + lease, row.attempts + 1
    return rows
