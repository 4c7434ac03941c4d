"""The outbox: replies are written here in the event's transaction and sent later by the sender."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from storage.lease import claim_first_in_line
from storage.models import OutboxMessage

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


def enqueue(session: Session, *, contact_id: int, recipient: str, body: dict[str, Any], now: datetime) -> None:
    """Queue one Send API body."""
    session.add(OutboxMessage(contact_id=contact_id, recipient=recipient, body=body, status=PENDING,
                              next_attempt_at=now, created_at=now))


def claim_batch(session: Session, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
    """Lease due messages that are first in line for their recipient, so each user's replies stay in order."""
    return claim_first_in_line(session, OutboxMessage, "recipient", now, limit, lease, PENDING, SENDING)


def mark_sent(session: Session, outbox_id: int, message_id: str | None, now: datetime) -> None:
    """Record a successful send."""
    row = session.get_one(OutboxMessage, outbox_id)
    row.status, row.message_id, row.sent_at, row.locked_until, row.last_error = SENT, message_id, now, None, None


def mark_retry(session: Session, outbox_id: int, error: str, at: datetime, count_attempt: bool = True) -> None:
    """Put a message back in line to be tried again at `at`."""
    row = session.get_one(OutboxMessage, outbox_id)
    row.status, row.next_attempt_at, row.locked_until, row.last_error = PENDING, at, None, error[:500]
    if not count_attempt:
        row.attempts -= 1


def release(session: Session, outbox_ids: list[int]) -> None:
    """Give leased messages back untried (their attempt is not counted)."""
    for outbox_id in outbox_ids:
        row = session.get_one(OutboxMessage, outbox_id)
        row.status, row.locked_until, row.attempts = PENDING, None, row.attempts - 1


def mark_failed(session: Session, outbox_id: int, error: str) -> None:
    """Give up on a message for good (it stays in the table, with the reason)."""
    row = session.get_one(OutboxMessage, outbox_id)
    row.status, row.locked_until, row.last_error = FAILED, None, error[:500]


def pending_count(session: Session) -> int:
    """Return how many messages still wait to be sent."""
    return session.scalar(select(func.count()).where(OutboxMessage.status.in_((PENDING, SENDING)))) or 0


def last_quick_replies(session: Session, recipient: str) -> list[dict[str, Any]]:
    """Return the quick replies of the latest message queued for a recipient (none when it had none)."""
    rows = session.scalars(select(OutboxMessage.body).where(OutboxMessage.recipient == recipient)
                           .order_by(OutboxMessage.id.desc()).limit(20))
    message = next((body["message"] for body in rows if isinstance(body.get("message"), dict)), {})
    return list(message.get("quick_replies", []))
