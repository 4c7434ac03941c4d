"""Anonymous tallies for the insight page: intake runs and the steps they reached, refused Send API calls.

None of these rows names a user or holds what anyone wrote; they are kept for RETENTION_DAYS and then purged.
Recording runs on the hot path of every event, so it costs at most one insert and one update per event, sent on
the session's connection without flushing the session first: the event's other rows still go out batched at commit.
"""
from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Insert, Update, bindparam, delete, insert, select, update
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
    postgres = connection.dialect.name == "postgresql"
    run_update = _run_update(tuple(changes), postgres and moved)
    values = {f"new_{key}": value for key, value in changes.items()} | {"run": row.intake_run_id}
    if not moved:
        connection.execute(run_update, values)
        return
    reached = {"reached_run": row.intake_run_id, "reached_step": row.step, "reached_at": now}
    if postgres:  # one round trip: the insert rides along in a WITH of the update
        connection.execute(run_update, values | reached)
    else:
        connection.execute(_STEP_REACHED_SQLITE, reached)
        connection.execute(run_update, values)


def _step_reached(dialect: Any) -> Insert:
    """The insert of a step reached; one reached again (a loop in the flow) is kept once."""
    return dialect.insert(IntakeStep.__table__).values(
        run_id=bindparam("reached_run"), step=bindparam("reached_step"), reached_at=bindparam("reached_at")
    ).on_conflict_do_nothing()


_STEP_REACHED_SQLITE = _step_reached(sqlite)


@cache
def _run_update(columns: tuple[str, ...], with_step: bool) -> Update:
    """Build a run's update once per set of columns (on PostgreSQL with the step's insert in its WITH): it runs
    on most events, and building it anew cost more than sending it."""
    runs = IntakeRun.__table__
    statement = update(runs).where(runs.c.id == bindparam("run")).values(
        {column: bindparam(f"new_{column}") for column in columns})
    return statement.add_cte(_step_reached(postgresql).cte("reached")) if with_step else statement


def _start_run(session: Session, row: Conversation, case_id: int | None, test: bool, now: datetime) -> None:
    """Insert a new run at the conversation's step (and that step's row) and point the conversation at it."""
    connection = session.connection()
    values = {"flow_id": row.flow_id, "flow_version": row.flow_version, "started_at": now, "case_id": case_id,
              "last_step": row.step, "test": test, "referral": row.referral}
    if row.step is None:
        row.intake_run_id = connection.execute(_NEW_RUN, values).scalar_one()
    elif connection.dialect.name == "postgresql":  # one round trip: the run's insert in a WITH of the step's
        row.intake_run_id = connection.execute(_NEW_RUN_AT_STEP, values | {"reached_at": now}).scalar_one()
    else:
        row.intake_run_id = connection.execute(_NEW_RUN, values).scalar_one()
        connection.execute(_STEP_REACHED_SQLITE, {"reached_run": row.intake_run_id, "reached_step": row.step,
                                                  "reached_at": now})


# built once: a new conversation's first event runs one of them
_NEW_RUN = insert(IntakeRun.__table__).values(
    {column: bindparam(column) for column in
     ("flow_id", "flow_version", "started_at", "case_id", "last_step", "test", "referral")} | {"completed": False}
).returning(IntakeRun.__table__.c.id)
_STARTED = _NEW_RUN.cte("started")
_NEW_RUN_AT_STEP = insert(IntakeStep.__table__).from_select(
    ["run_id", "step", "reached_at"],
    select(_STARTED.c.id, bindparam("last_step", type_=IntakeStep.step.type),
           bindparam("reached_at", type_=IntakeStep.reached_at.type))
).add_cte(_STARTED).returning(IntakeStep.__table__.c.run_id)


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
