"""What waits in the database: the outbox and due reminders, read by /metrics at scrape time.

Each query filters on an indexed status column first, so it touches only the few rows still waiting however many
sent messages and fired reminders the tables keep.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage import outbox, reminders
from storage.models import OutboxMessage, Reminder


@dataclass(frozen=True)
class Backlog:
    """How many rows wait, and how long the oldest has waited (0 when none)."""

    count: int
    oldest_seconds: float


def outbox_backlog(session: Session, now: datetime) -> Backlog:
    """Return the messages not yet sent (pending, or leased by a sender) and the age of the oldest."""
    count, oldest = session.execute(
        select(func.count(), func.min(OutboxMessage.created_at))
        .where(OutboxMessage.status.in_((outbox.PENDING, outbox.SENDING)))).one()
    return Backlog(count or 0, _age(oldest, now))


def due_reminders(session: Session, now: datetime) -> dict[str, Backlog]:
    """Return, per kind, the pending reminders whose time has come and how long the oldest is overdue."""
    rows = session.execute(
        select(Reminder.kind, func.count(), func.min(Reminder.due_at))
        .where(Reminder.status == reminders.PENDING, Reminder.due_at <= now)
        .group_by(Reminder.kind)).all()
    return {kind: Backlog(count, _age(oldest, now)) for kind, count, oldest in rows}


def _age(since: datetime | None, now: datetime) -> float:
    """Return the seconds from `since` to `now`, never negative."""
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0
