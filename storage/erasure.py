"""Erasing a user's personal data: the contact, its page-scoped id, transcripts, free-text answers and notes.

What is left of each case is an anonymous statistical record: its category, urgency, dates and flags (without the
words that raised them). A request names its contact only until it is carried out.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from storage import notes, tallies
from storage.models import (
    Case,
    CaseFlag,
    Contact,
    Conversation,
    ErasureRequest,
    Message,
    Note,
    OutboxMessage,
    ProcessedEvent,
    Reminder,
)

WAITING, DONE = "waiting", "done"
CHAT, META, RETENTION = "chat", "meta", "retention"


def request(session: Session, *, contact_id: int | None, source: str, due_at: datetime,
            now: datetime) -> ErasureRequest:
    """Record a request to erase a contact's data at `due_at` (a contact already gone: done at once)."""
    if contact_id is not None:
        waiting = session.scalars(select(ErasureRequest).where(ErasureRequest.contact_id == contact_id,
                                                               ErasureRequest.status == WAITING)).first()
        if waiting is not None:  # asked twice: the earlier time holds
            waiting.due_at = min(waiting.due_at, due_at)
            return waiting
    row = ErasureRequest(code=secrets.token_hex(10), source=source, contact_id=contact_id, requested_at=now,
                         due_at=due_at, status=WAITING if contact_id is not None else DONE,
                         done_at=None if contact_id is not None else now)
    session.add(row)
    session.flush()
    return row


def by_code(session: Session, code: str) -> ErasureRequest | None:
    """Return the request with this confirmation code."""
    return session.scalars(select(ErasureRequest).where(ErasureRequest.code == code)).one_or_none()


def due(session: Session, now: datetime, limit: int = 50) -> list[int]:
    """Return the ids of requests whose time has come."""
    return list(session.scalars(select(ErasureRequest.id).where(ErasureRequest.status == WAITING,
                                                               ErasureRequest.due_at <= now)
                                .order_by(ErasureRequest.id).limit(limit)))


def unsent(session: Session, contact_id: int) -> int:
    """Return how many messages to the contact still wait to go out (the confirmation goes before erasure)."""
    return session.scalar(select(func.count()).where(OutboxMessage.contact_id == contact_id,
                                                     OutboxMessage.status.in_(("pending", "sending")))) or 0


def carry_out(session: Session, request_id: int, now: datetime) -> str | None:
    """Erase the request's contact; return its page-scoped id (for the caller to clear the inbox), if any."""
    row = session.get_one(ErasureRequest, request_id, with_for_update=True)
    if row.status != WAITING:
        return None  # another worker did it
    psid, erased = erase_contact(session, row.contact_id, row.source, now) if row.contact_id else (None, 0)
    session.execute(update(ErasureRequest).where(ErasureRequest.id == request_id)  # `row` may be expunged
                    .values(status=DONE, done_at=now, contact_id=None, cases_erased=erased))
    return psid


def erase_contact(session: Session, contact_id: int, source: str, now: datetime) -> tuple[str | None, int]:
    """Erase one contact and everything personal about it; return (its page-scoped id, cases anonymised)."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        return None, 0
    psid = contact.psid
    case_ids = list(session.scalars(select(Case.id).where(Case.contact_id == contact_id)))
    for case_id in case_ids:
        anonymise_case(session, case_id, source, now)
    session.execute(delete(Message).where(Message.contact_id == contact_id))
    session.execute(delete(OutboxMessage).where(OutboxMessage.contact_id == contact_id))
    tallies.forget_referral(session, contact_id=contact_id)  # the running intake's anonymous run keeps no school
    session.execute(delete(Conversation).where(Conversation.contact_id == contact_id))
    session.execute(delete(ProcessedEvent).where(ProcessedEvent.key.like(f"postback:{psid}:%")))  # holds the id
    session.execute(update(ErasureRequest).where(ErasureRequest.contact_id == contact_id)
                    .values(contact_id=None))
    session.execute(delete(Contact).where(Contact.id == contact_id))
    session.expunge_all()  # the rows above are gone; nothing stale may be flushed back
    return psid, len(case_ids)


def anonymise_case(session: Session, case_id: int, source: str, now: datetime) -> None:
    """Keep a case only as an anonymous record: no contact, answers, notes, transcript or matched words."""
    session.execute(delete(Message).where(Message.case_id == case_id))
    session.execute(delete(Note).where(Note.case_id == case_id))
    session.execute(delete(Reminder).where(Reminder.case_id == case_id, Reminder.status == "pending"))
    session.execute(update(CaseFlag).where(CaseFlag.case_id == case_id).values(matched=None))
    session.execute(update(Case).where(Case.id == case_id).values(
        contact_id=None, answers={}, referral=None, needs_human=False, status="closed",
        closed_at=func.coalesce(Case.closed_at, now), erased_at=now, updated_at=now))
    tallies.forget_referral(session, case_id=case_id)
    notes.audit(session, action="erased", user_id=None, case_id=case_id, detail=source, now=now)


@dataclass(frozen=True)
class Expired:
    """What retention would erase now."""

    closed_cases: list[str]  # references of closed cases past RETENTION_DAYS
    abandoned_contacts: list[int]  # contacts silent for ABANDONED_DAYS that never got as far as a case


def expired(session: Session, now: datetime, retention_days: int, abandoned_days: int) -> Expired:
    """Find what is past its retention period (erased cases are not found again)."""
    closed = select(Case.reference).where(Case.status == "closed", Case.erased_at.is_(None),
                                          Case.closed_at <= now - timedelta(days=retention_days))
    # a case opens when an intake is completed, flagged or handed to an advisor: those wait for an advisor to
    # close them, and are then kept for RETENTION_DAYS
    any_case = select(Case.id).where(Case.contact_id == Contact.id)
    silent = (select(Contact.id).where(func.coalesce(Contact.last_inbound_at, Contact.created_at)
                                       <= now - timedelta(days=abandoned_days), ~any_case.exists())
              .order_by(Contact.id))
    return Expired(list(session.scalars(closed.order_by(Case.id))), list(session.scalars(silent)))


def purge(session: Session, now: datetime, retention_days: int, abandoned_days: int) -> tuple[Expired, list[str]]:
    """Erase what is past its retention period; return what went and the page-scoped ids erased."""
    found = expired(session, now, retention_days, abandoned_days)
    psids = []
    for reference in found.closed_cases:
        case = session.scalars(select(Case).where(Case.reference == reference)).one()
        contact_id = case.contact_id
        anonymise_case(session, case.id, RETENTION, now)
        if contact_id is not None and not _has_open_case(session, contact_id):
            psid, _ = erase_contact(session, contact_id, RETENTION, now)
            psids.append(psid)
    for contact_id in found.abandoned_contacts:
        psid, _ = erase_contact(session, contact_id, RETENTION, now)
        if psid is not None:
            psids.append(psid)
    tallies.purge(session, now - timedelta(days=retention_days))  # the anonymous funnel and send-error rows
    return found, [psid for psid in psids if psid]


def _has_open_case(session: Session, contact_id: int) -> bool:
    return session.scalar(select(func.count()).where(Case.contact_id == contact_id, Case.status != "closed")) > 0
