"""The inbox: the webhook stores verified events here and answers; workers handle them per user, in order."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.orm import Session

from storage.lease import claim_first_in_line
from storage.models import InboxEvent

PENDING, PROCESSING, FAILED = "pending", "processing", "failed"


def add(connection: Connection, items: list[tuple[str, str, dict[str, Any]]], now: datetime,
        request_ids: Sequence[str | None] = ()) -> None:
    """Store (sender, channel, item) events in one insert (Core, not the ORM: this runs in every webhook request).

    `request_ids`, one per event when given, follow each event into the logs of the worker and the sender.
    """
    ids = request_ids or [None] * len(items)
    rows = [{"sender": sender[:64], "channel": channel, "item": item, "status": PENDING, "attempts": 0,
             "next_attempt_at": now, "received_at": now, "request_id": request_id}
            for (sender, channel, item), request_id in zip(items, ids, strict=True)]
    connection.execute(insert(InboxEvent.__table__), rows[0] if len(rows) == 1 else rows)


def claim_batch(session: Session, now: datetime, limit: int, lease: timedelta) -> list[InboxEvent]:
    """Lease due events that are first in line for their sender, so each user's events are handled in order."""
    return claim_first_in_line(session, InboxEvent, "sender", now, limit, lease, PENDING, PROCESSING)


def take(session: Session, inbox_id: int, attempts: int) -> bool:
    """Remove a leased event in the transaction that handles it; False when another worker has taken it over."""
    statement = delete(InboxEvent).where(InboxEvent.id == inbox_id, InboxEvent.attempts == attempts,
                                         InboxEvent.status == PROCESSING)
    return session.execute(statement).rowcount == 1  # type: ignore[attr-defined]


def remove(session: Session, inbox_ids: list[int]) -> None:
    """Remove handled events (where the inbox is a database of its own, after their transaction)."""
    session.execute(delete(InboxEvent).where(InboxEvent.id.in_(inbox_ids)))


def forget_sender(session: Session, sender: str, until: datetime) -> int:
    """Remove a user's events received up to `until` that still wait or were set aside (their data is erased)."""
    statement = delete(InboxEvent).where(InboxEvent.sender == sender, InboxEvent.received_at <= until,
                                         InboxEvent.status.in_((PENDING, FAILED)))
    return session.execute(statement).rowcount  # type: ignore[attr-defined]


def retry(session: Session, inbox_id: int, error: str, at: datetime) -> None:
    """Put an event back in line (its user's later events wait behind it) to be tried again at `at`."""
    session.execute(update(InboxEvent).where(InboxEvent.id == inbox_id)
                    .values(status=PENDING, next_attempt_at=at, locked_until=None, last_error=error[:200]))


def mark_failed(session: Session, inbox_id: int, error: str) -> None:
    """Set an event aside for good (kept, with the reason; the user's later events go on)."""
    session.execute(update(InboxEvent).where(InboxEvent.id == inbox_id)
                    .values(status=FAILED, locked_until=None, last_error=error[:200]))


def counts(session: Session) -> dict[str, int]:
    """Return how many events are pending, being handled and set aside."""
    rows = session.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status))
    return {PENDING: 0, PROCESSING: 0, FAILED: 0, **{status: count for status, count in rows}}
