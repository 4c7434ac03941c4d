"""The outbox: replies are written here in the event's transaction and sent later by the sender."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from storage.lease import claim_first_in_line
from storage.models import OutboxMessage

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# Core, built once and sent at once: nearly every event queues a reply, and the ORM's unit of work cost more than
# the insert. Rows go in in the order they are queued, so a user's replies keep their order by id.
_ENQUEUE = insert(OutboxMessage.__table__)


def enqueue(session: Session, *, contact_id: int, recipient: str, body: dict[str, Any], now: datetime,
            request_id: str | None = None) -> None:
    """Queue one Send API body; `request_id` (the event or request it answers) is logged with its send."""
    session.connection().execute(_ENQUEUE, {"contact_id": contact_id, "recipient": recipient, "body": body,
                                            "status": PENDING, "next_attempt_at": now, "created_at": now,
                                            "request_id": request_id})


def claim_batch(session: Session, now: datetime, limit: int, lease: timedelta) -> list[OutboxMessage]:
    """Lease due messages that are first in line for their recipient, so each user's replies stay in order."""
    return claim_first_in_line(session, OutboxMessage, "recipient", now, limit, lease, PENDING, SENDING)


def claim_chains(session: Session, now: datetime, users: int, per_user: int,
                 lease: timedelta) -> list[list[OutboxMessage]]:
    """Lease the first due message of up to `users` recipients, each with the due ones right behind it (at most
    `per_user` in all), so one thread can send a user's typing indicator and reply one after the other.

    The followers need no lock of their own: no other sender takes them while the first is leased.
    """
    heads = claim_batch(session, now, users, lease)
    if per_user < 2 or not heads:
        return [[head] for head in heads]
    rank = func.row_number().over(partition_by=OutboxMessage.recipient, order_by=OutboxMessage.id).label("rank")
    queued = (select(OutboxMessage.id, rank)
              .where(OutboxMessage.recipient.in_([head.recipient for head in heads]),
                     OutboxMessage.status.in_((PENDING, SENDING)),
                     OutboxMessage.id.not_in([head.id for head in heads])).subquery())
    nearest = select(queued.c.id).where(queued.c.rank < per_user)
    followers: dict[str, list[OutboxMessage]] = {}
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(nearest)).order_by(OutboxMessage.id))
    for row in rows:
        followers.setdefault(row.recipient, []).append(row)
    chains = []
    for head in heads:
        chain = [head]
        for row in followers.get(head.recipient, []):
            if row.status != PENDING or row.next_attempt_at > now:
                break  # one waiting for a retry (or a stray lease) keeps the rest behind it
            row.status, row.locked_until, row.attempts = SENDING, head.locked_until, row.attempts + 1
            chain.append(row)
        chains.append(chain)
    return chains


def mark_sent_many(session: Session, sent: list[tuple[int, str | None, datetime]]) -> None:
    """Record successful sends, (id, Meta's message id, when) each, in one statement."""
    session.execute(update(OutboxMessage), [
        {"id": outbox_id, "status": SENT, "message_id": message_id, "sent_at": at, "locked_until": None,
         "last_error": None} for outbox_id, message_id, at in sent])


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
