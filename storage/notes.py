"""Internal notes on cases and the console's audit trail."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import AuditEvent, Note, User


def add_note(session: Session, *, case_id: int, user_id: int | None, text: str, now: datetime) -> Note:
    """Store an internal note."""
    note = Note(case_id=case_id, user_id=user_id, text=text, created_at=now)
    session.add(note)
    return note


def notes_for(session: Session, case_id: int) -> list[tuple[Note, str | None]]:
    """Return a case's notes, oldest first, each with its author's e-mail."""
    statement = (select(Note, User.email).outerjoin(User, Note.user_id == User.id)
                 .where(Note.case_id == case_id).order_by(Note.id))
    return [(note, email) for note, email in session.execute(statement)]


def audit(session: Session, *, action: str, user_id: int | None, case_id: int | None = None,
          detail: str | None = None, now: datetime) -> AuditEvent:
    """Record who did what."""
    event = AuditEvent(case_id=case_id, user_id=user_id, action=action, detail=detail[:500] if detail else None,
                       created_at=now)
    session.add(event)
    return event


def audit_for(session: Session, case_id: int) -> list[tuple[AuditEvent, str | None]]:
    """Return a case's audit trail, oldest first, each with the user's e-mail."""
    statement = (select(AuditEvent, User.email).outerjoin(User, AuditEvent.user_id == User.id)
                 .where(AuditEvent.case_id == case_id).order_by(AuditEvent.id))
    return [(event, email) for event, email in session.execute(statement)]
