"""Reminders: scheduled per case in the database, claimed by exactly one worker when due."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.models import Reminder

PENDING, CLAIMED, DONE, CANCELLED, SKIPPED, FAILED = "pending", "claimed", "done", "cancelled", "skipped", "failed"
ADVISOR, FOLLOWUP, NEARING = "advisor", "followup", "nearing"  # nearing: the promise is close to running out
WINDOW_CLOSED = "messaging window closed"  # how a skipped follow-up's reason begins when the window had closed


def schedule(session: Session, *, case_id: int, kind: str, due_at: datetime, now: datetime,
             round_: int = 1) -> Reminder:
    """Add a pending reminder."""
    reminder = Reminder(case_id=case_id, kind=kind, round=round_, due_at=due_at, status=PENDING, created_at=now)
    session.add(reminder)
    return reminder


def cancel(session: Session, case_id: int, kinds: tuple[str, ...], reason: str, now: datetime) -> int:
    """Cancel a case's pending reminders of these kinds; return how many."""
    statement = (update(Reminder).where(Reminder.case_id == case_id, Reminder.kind.in_(kinds),
                                        Reminder.status == PENDING)
                 .values(status=CANCELLED, last_error=reason, done_at=now))
    return session.execute(statement).rowcount or 0


def move(session: Session, case_id: int, kind: str, due_at: datetime) -> int:
    """Move a case's pending reminders of one kind to a new time; return how many moved."""
    statement = (update(Reminder).where(Reminder.case_id == case_id, Reminder.kind == kind,
                                        Reminder.status == PENDING).values(due_at=due_at))
    return session.execute(statement).rowcount or 0


def first_pending(session: Session, case_id: int, kind: str) -> datetime | None:
    """Return when a case's earliest pending reminder of this kind is due, or None when none is pending."""
    return session.scalar(select(func.min(Reminder.due_at)).where(Reminder.case_id == case_id, Reminder.kind == kind,
                                                                  Reminder.status == PENDING))


def any_of(session: Session, case_id: int, kind: str) -> bool:
    """Return whether a case has ever had a reminder of this kind, whatever became of it."""
    return session.scalar(select(Reminder.id).where(Reminder.case_id == case_id, Reminder.kind == kind)
                          .limit(1)) is not None


def claim_due(session: Session, now: datetime, limit: int, lease: timedelta) -> list[Reminder]:
    """Lease due reminders (and ones whose worker died mid-way) so that no other worker takes them."""
    due = (Reminder.status == PENDING) & (Reminder.due_at <= now)
    abandoned = (Reminder.status == CLAIMED) & (Reminder.locked_until < now)
    if session.get_bind().dialect.name == "postgresql":
        statement = select(Reminder).where(due | abandoned).order_by(Reminder.due_at, Reminder.id).limit(limit)
        rows = list(session.scalars(statement.with_for_update(skip_locked=True)))
    else:  # SQLite would walk the whole due_at index for the OR; one query per branch uses (status, due_at)
        rows = sorted((row for condition in (due, abandoned) for row in session.scalars(
            select(Reminder).where(condition).order_by(Reminder.due_at, Reminder.id).limit(limit))),
            key=lambda row: (row.due_at, row.id))[:limit]
    for row in rows:
        row.status, row.locked_until, row.attempts = CLAIMED, now + lease, row.attempts + 1
    return rows


def finish(reminder: Reminder, status: str, now: datetime, reason: str | None = None) -> None:
    """Record how a claimed reminder ended."""
    reminder.status, reminder.done_at, reminder.locked_until, reminder.last_error = status, now, None, reason


def for_case(session: Session, case_id: int) -> list[Reminder]:
    """Return a case's reminders, oldest first."""
    return list(session.scalars(select(Reminder).where(Reminder.case_id == case_id).order_by(Reminder.id)))
