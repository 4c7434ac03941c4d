"""Leasing the rows of a work queue (the inbox, the outbox) so that each key's rows are worked in order."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select
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
    statement = select(model).where(due | expired, ~blocked).order_by(model.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update(skip_locked=True)
    rows = list(session.scalars(statement))
    for row in rows:
        row.status, row.locked_until, row.attempts = leased, now + lease, row.attempts + 1
    return rows
