"""Anonymous tallies for the insight page: intake runs and the steps they reached, refused Send API calls.

None of these rows names a user or holds what anyone wrote; they are kept for RETENTION_DAYS and then purged.
Recording runs on the hot path of every event, so it costs at most one insert and one update per event, sent on
the session's connection without flushing the session first: the event's other rows still go out batched at commit.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.models import Conversation, IntakeRun, IntakeStep, SendError


def track_run(session: Session, row: Conversation, *, before: str | None, started: bool, completed: bool,
              case_id: int | None, case_opened: bool, test: bool, now: datetime) -> None:
    """Record what one event did to the conversation's intake run: started it, moved it on, completed it.

    `before` is the step the conversation was at before the event; a run begins on the intake's start, or on
    the first step of a conversation that has no run yet (one that was under way before runs were recorded).
    """
    if started or (row.intake_run_id is None and row.step is not None):
        _start_run(session, row, case_id, test, now)
        return
    if row.intake_run_id is None:
        return
    moved = row.step is not None and row.step != before
    changes: dict[str, object] = {"last_step": row.step} if moved else {}
    if completed:
        changes["completed"] = True
    if case_opened and case_id is not None:
        changes["case_id"] = case_id
    if not changes:
        return
    connection = session.connection()
    run_update = update(IntakeRun).where(IntakeRun.id == row.intake_run_id).values(**changes)
    if not moved:
        connection.execute(run_update)
        return
    postgres = connection.dialect.name == "postgresql"
    # a step reached again (a loop in the flow) is kept once
    reached = (postgresql if postgres else sqlite).insert(IntakeStep).on_conflict_do_nothing().values(
        run_id=row.intake_run_id, step=row.step, reached_at=now)
    if postgres:  # one round trip: the insert rides along in a WITH of the update
        connection.execute(run_update.add_cte(reached.cte("reached")))
    else:
        connection.execute(reached)
        connection.execute(run_update)


def _start_run(session: Session, row: Conversation, case_id: int | None, test: bool, now: datetime) -> None:
    """Insert a new run at the conversation's step (and that step's row) and point the conversation at it."""
    connection = session.connection()
    run = insert(IntakeRun).values(
        flow_id=row.flow_id, flow_version=row.flow_version, started_at=now, case_id=case_id, last_step=row.step,
        completed=False, test=test, referral=row.referral).returning(IntakeRun.id)
    if row.step is None:
        row.intake_run_id = connection.execute(run).scalar_one()
    elif connection.dialect.name == "postgresql":  # one round trip: the run's insert in a WITH of the step's
        started = run.cte("started")
        first = select(started.c.id, literal(row.step, IntakeStep.step.type), literal(now, IntakeStep.reached_at.type))
        row.intake_run_id = connection.execute(
            insert(IntakeStep).from_select(["run_id", "step", "reached_at"], first).add_cte(started)
            .returning(IntakeStep.run_id)).scalar_one()
    else:
        row.intake_run_id = connection.execute(run).scalar_one()
        connection.execute(insert(IntakeStep).values(run_id=row.intake_run_id, step=row.step, reached_at=now))


def record_send_error(session: Session, code: int | None, now: datetime) -> None:
    """Count one Send API call that Meta refused (its error code) or that failed on the network (None)."""
    session.execute(insert(SendError).values(code=code, created_at=now))


def forget_referral(session: Session, *, case_id: int | None = None, contact_id: int | None = None) -> None:
    """Empty the referral of a case's runs, or of a contact's current run, when their data is erased."""
    if case_id is not None:
        runs = IntakeRun.case_id == case_id
    else:
        runs = IntakeRun.id.in_(select(Conversation.intake_run_id).where(Conversation.contact_id == contact_id))
    session.execute(update(IntakeRun).where(runs, IntakeRun.referral.is_not(None)).values(referral=None)
                    .execution_options(synchronize_session=False))


def purge(session: Session, before: datetime) -> tuple[int, int]:
    """Delete runs started and Send API errors counted before `before`; return how many of each."""
    # a conversation still pointing at an old run loses the link by its foreign key (ON DELETE SET NULL)
    old_runs = select(IntakeRun.id).where(IntakeRun.started_at < before)
    session.execute(delete(IntakeStep).where(IntakeStep.run_id.in_(old_runs)))
    runs = session.execute(delete(IntakeRun).where(IntakeRun.started_at < before)).rowcount or 0
    errors = session.execute(delete(SendError).where(SendError.created_at < before)).rowcount or 0
    return runs, errors
