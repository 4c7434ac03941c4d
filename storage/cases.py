"""Cases: references, the fields that follow from the answers, safety flags, and the export."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.case import CaseFields
from storage.models import Case, CaseFlag, CaseSequence, Contact, Message, OutboxMessage
from storage.upsert import insert_ignore


def next_number(session: Session, year: int) -> int:
    """Hand out the next case number of a year; the row lock makes it safe across processes."""
    insert_ignore(session, CaseSequence, year=year, last_number=0)
    statement = (update(CaseSequence).where(CaseSequence.year == year)
                 .values(last_number=CaseSequence.last_number + 1).returning(CaseSequence.last_number))
    return session.execute(statement).scalar_one()


def format_reference(prefix: str, year: int, number: int) -> str:
    """Return a reference like IDA-2026-00042."""
    return f"{prefix}-{year}-{number:05d}"


def open_case(session: Session, *, prefix: str, contact_id: int, flow_id: str, flow_version: int,
              referral: str | None, now: datetime) -> Case:
    """Create a new case with the next reference of this year."""
    number = next_number(session, now.year)
    case = Case(reference=format_reference(prefix, now.year, number), year=now.year, number=number,
                contact_id=contact_id, flow_id=flow_id, flow_version=flow_version, answers={},
                referral=referral, created_at=now, updated_at=now)
    session.add(case)
    session.flush()
    return case


def apply_fields(case: Case, fields: CaseFields, answers: dict[str, str], now: datetime) -> None:
    """Copy what the answers say onto the case."""
    case.category = fields.category or case.category
    case.contact_method = fields.contact_method
    if fields.urgency == "urgent":  # once urgent, a later answer never makes a case less urgent
        case.urgency = "urgent"
    case.answers = dict(answers)
    case.updated_at = now


def add_flag(session: Session, case: Case, *, category: str, source: str, matched: str, severity: str,
             now: datetime) -> bool:
    """Flag the case for a safety category (once per category); return whether the flag is new."""
    added = insert_ignore(session, CaseFlag, case_id=case.id, category=category, source=source[:64],
                          matched=matched[:200], severity=severity, created_at=now)
    if severity == "urgent":
        case.urgency = "urgent"
    return added


def case_by_id(session: Session, case_id: int | None) -> Case | None:
    """Return a case by id, or None."""
    return session.get(Case, case_id) if case_id is not None else None


def export_cases(session: Session) -> list[dict[str, Any]]:
    """Return every case as a JSON-ready dict, oldest first."""
    counts = dict(session.execute(
        select(Message.case_id, func.count()).where(Message.case_id.is_not(None)).group_by(Message.case_id)).all())
    flags: dict[int, list[dict[str, Any]]] = {}
    for flag in session.scalars(select(CaseFlag).order_by(CaseFlag.id)):
        flags.setdefault(flag.case_id, []).append(
            {"category": flag.category, "severity": flag.severity, "matched": flag.matched, "source": flag.source,
             "created_at": flag.created_at.isoformat()})
    failed: dict[int, list[OutboxMessage]] = {}
    for message in session.scalars(select(OutboxMessage).where(OutboxMessage.status == "failed")):
        failed.setdefault(message.contact_id, []).append(message)
    rows = session.execute(select(Case, Contact.psid).outerjoin(Contact, Case.contact_id == Contact.id)
                           .order_by(Case.id))
    return [{**_case_dict(case, psid, flags.get(case.id, []), counts.get(case.id, 0)),
             "delivery_failures": [{"error": m.last_error, "at": m.created_at.isoformat()}
                                   for m in failed.get(case.contact_id or -1, []) if m.created_at >= case.created_at]}
            for case, psid in rows]


def _case_dict(case: Case, psid: str | None, flags: list[dict[str, Any]], messages: int) -> dict[str, Any]:
    """Return one exported case."""
    return {
        "reference": case.reference, "user_id": psid, "status": case.status, "category": case.category,
        "urgency": case.urgency, "contact_method": case.contact_method, "needs_human": case.needs_human,
        "intake_complete": case.intake_complete, "flow_id": case.flow_id, "flow_version": case.flow_version,
        "referral": case.referral, "answers": case.answers, "flags": flags, "messages": messages,
        "created_at": case.created_at.isoformat(),
        "completed_at": case.completed_at.isoformat() if case.completed_at else None,
    }
