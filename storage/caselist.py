"""What the console reads: the case list in working order, a case's flags and transcript, a change marker."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from storage.models import Alert, Case, CaseFlag, Message, User

STATUSES = ("new", "in_progress", "waiting", "closed")
LIST_LIMIT = 500


@dataclass(frozen=True)
class Filters:
    """What the case list is narrowed to; None means any."""

    status: str | None = None
    category: str | None = None
    flag: str | None = None  # a safety category the case was flagged with
    assignee: int | None = None
    test: bool = False  # include the simulator's test cases


@dataclass(frozen=True)
class CaseRow:
    """One line of the case list."""

    case: Case
    flags: int
    assignee: str | None


def list_cases(session: Session, filters: Filters) -> list[CaseRow]:
    """Return the matching cases with urgent, flagged and overdue first, then the longest waiting."""
    flags = (select(CaseFlag.case_id, func.count().label("n")).group_by(CaseFlag.case_id).subquery())
    statement = (select(Case, func.coalesce(flags.c.n, 0), User.email)
                 .outerjoin(flags, flags.c.case_id == Case.id).outerjoin(User, Case.assignee_id == User.id))
    if filters.status:
        statement = statement.where(Case.status == filters.status)
    if filters.category:
        statement = statement.where(Case.category == filters.category)
    if filters.flag:
        statement = statement.where(exists().where(CaseFlag.case_id == Case.id, CaseFlag.category == filters.flag))
    if filters.assignee is not None:
        statement = statement.where(Case.assignee_id == filters.assignee)
    if not filters.test:
        statement = statement.where(Case.test.is_(False))
    rows = [CaseRow(case, count, email) for case, count, email in session.execute(statement.limit(LIST_LIMIT))]
    return sorted(rows, key=lambda r: (r.case.urgency != "urgent", r.flags == 0, not r.case.overdue,
                                       r.case.created_at))


def filter_choices(session: Session) -> dict[str, list[str]]:
    """Return the categories and flag categories that occur, for the list's filter menus."""
    categories = session.scalars(select(Case.category).where(Case.category.is_not(None)).distinct())
    flagged = session.scalars(select(CaseFlag.category).distinct())
    return {"categories": sorted(categories), "flags": sorted(flagged)}


def case_by_reference(session: Session, reference: str) -> Case | None:
    """Return the case with this reference, if any."""
    return session.scalars(select(Case).where(Case.reference == reference)).one_or_none()


def flags_for(session: Session, case_id: int) -> list[CaseFlag]:
    """Return a case's safety flags, oldest first."""
    return list(session.scalars(select(CaseFlag).where(CaseFlag.case_id == case_id).order_by(CaseFlag.id)))


def transcript_for(session: Session, case_id: int) -> list[Message]:
    """Return every message of a case, in order."""
    return list(session.scalars(select(Message).where(Message.case_id == case_id).order_by(Message.id)))


def change_marker(session: Session) -> str:
    """Return a short value that changes whenever a case, a message or an alert is added or changed."""
    cases = session.execute(select(func.count(Case.id), func.max(Case.updated_at))).one()
    messages = session.scalar(select(func.max(Message.id)))
    alerts = session.scalar(select(func.count(Alert.id)).where(Alert.acknowledged_at.is_(None)))
    return f"{cases[0]}:{cases[1]}:{messages or 0}:{alerts}"

