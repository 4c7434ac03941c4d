"""The transcript: every message in and out, attachments as their kind only."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from storage.models import Message

MAX_STORED_TEXT = 10_000  # a longer message is cut; the user is asked to write less anyway
_MESSAGES = Message.__table__
# Core, built once, and not flushing the session first: asked on a quick user's every message, before the message
# itself is added, so that its insert goes out batched with the reply's
_INBOUND_SINCE = select(func.count()).select_from(_MESSAGES).where(
    _MESSAGES.c.contact_id == bindparam("contact_id"), _MESSAGES.c.direction == "in",
    _MESSAGES.c.created_at >= bindparam("since"))


def record(session: Session, *, contact_id: int, case_id: int | None, direction: str, kind: str,
           text: str | None, mid: str | None, now: datetime) -> Message:
    """Add one transcript line."""
    message = Message(contact_id=contact_id, case_id=case_id, direction=direction, kind=kind[:40],
                      text=text[:MAX_STORED_TEXT] if text else text, mid=mid, created_at=now)
    session.add(message)
    return message


def attach_to_case(session: Session, contact_id: int, case_id: int, since: datetime | None) -> None:
    """Give a new case the messages of its intake that were exchanged before the case existed."""
    statement = update(Message).where(Message.contact_id == contact_id, Message.case_id.is_(None))
    if since is not None:
        statement = statement.where(Message.created_at >= since)
    session.execute(statement.values(case_id=case_id))


def for_contact(session: Session, contact_id: int, limit: int = 200) -> list[Message]:
    """Return a contact's latest messages, oldest first."""
    latest = select(Message).where(Message.contact_id == contact_id).order_by(Message.id.desc()).limit(limit)
    return list(reversed(session.scalars(latest).all()))


def inbound_since(session: Session, contact_id: int, since: datetime) -> int:
    """Return how many messages the contact sent from `since` on (the flood check); rows not yet flushed to the
    database are not counted."""
    return session.connection().execute(_INBOUND_SINCE, {"contact_id": contact_id, "since": since}).scalar() or 0
