"""Leasing the rows of a work queue (the inbox, the outbox) so that each key's rows are worked in order."""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Table, Update, and_, bindparam, exists, select, text, union_all, update
from sqlalchemy.orm import Session

HEAD = 20  # PostgreSQL: rows of the queue's head read per row to lease
PLANNER_SETTINGS = ("SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"  # true: this transaction
                    " set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)")


def claim_first_in_line(session: Session, model: Any, key: str, now: datetime, limit: int, lease: timedelta,
                        pending: str, leased: str) -> list[Any]:
    """Lease due rows that are first in line for their key (no earlier row of it waits or is leased).

    A leased row whose lease ran out (its worker died) is due again. On PostgreSQL, rows another worker is
    claiming are skipped, not waited for.
    """
    if session.get_bind().dialect.name == "postgresql":
        # A custom plan each time: psycopg prepares a statement after a few runs, and PostgreSQL then settles on a
        # generic plan made for the queue as it was (nearly empty on a quiet page) and keeps it. A queue's size
        # swings too far for one plan. And index scans only: statistics from a quiet hour put a few rows in the
        # queue, and PostgreSQL then read and sorted every waiting row instead of walking the index in order.
        session.execute(text(PLANNER_SETTINGS))
        rows, whole_queue = _claim_from_head(session, model, key, now, limit, pending, leased)
        if len(rows) < limit and not whole_queue:  # the head held a few users' long chains: look at every row
            session.execute(text("SET LOCAL enable_nestloop = off"))  # a hash join, whatever the statistics say
            more = _first_in_line(model, key, now, limit - len(rows), pending, leased)
            rows += session.scalars(more.where(model.id.not_in([row.id for row in rows]))
                                    .with_for_update(skip_locked=True))
            rows.sort(key=lambda row: row.id)
    else:
        # SQLite: two queries, not one with `due OR expired`. Each walks its status index (whose entries of one
        # status are in id order) and stops after `limit` rows, where the OR collected and sorted every waiting
        # row: 20 ms for a backlog of 20,000 events, inside the inbox file's write lock that every webhook request
        # waits for.
        found = {row.id: row for condition in (_expired(model, now, leased), _due(model, now, pending))
                 for row in session.scalars(_first_in_line(model, key, now, limit, pending, leased, condition))}
        rows = [found[row_id] for row_id in sorted(found)[:limit]]
    for row in rows:
        row.status, row.locked_until, row.attempts = leased, now + lease, row.attempts + 1
    return rows


def _claim_from_head(session: Session, model: Any, key: str, now: datetime, limit: int, pending: str,
                     leased: str) -> tuple[list[Any], bool]:
    """Lease from the first `limit * HEAD` waiting rows only: the first row of each key among them.

    Return the leased rows and whether the head was the whole queue (then nothing else could be leased). The
    whole-queue form (a row with no earlier row of its key) was an anti-join over every waiting row. Where the
    table's statistics still told of a nearly empty queue, as on a new or a quiet page when a burst comes,
    PostgreSQL ran it as a nested loop: a lease early in a 3,000-event backlog compared 3 million pairs and
    took 350 ms, CPU that the webhook's own SQL then lacked. The head is read in id order per status (index
    status, id), so its cost stays the same however long the queue grows.
    """
    size = limit * HEAD
    columns = (model.id, getattr(model, key), model.status, model.next_attempt_at, model.locked_until)
    parts = [select(*columns).where(model.status == status).order_by(model.id).limit(size)
             for status in (pending, leased)]
    found = session.execute(union_all(*(select(part.subquery()) for part in parts))).all()
    per_status = Counter(row[2] for row in found)
    whole_queue = len(found) <= size and all(count < size for count in per_status.values())
    seen: set[str] = set()
    ready: list[int] = []
    for row_id, owner, status, next_attempt_at, locked_until in sorted(found)[:size]:
        if owner in seen:
            continue  # an earlier row of this key waits or is leased
        seen.add(owner)
        if status == pending and next_attempt_at <= now or status == leased and (locked_until or now) < now:
            ready.append(row_id)
    if not ready:
        return [], whole_queue
    # all of them: those another worker is leasing right now are skipped, the next ones taken
    statement = (select(model).where(model.id.in_(ready),
                                     _due(model, now, pending) | _expired(model, now, leased))
                 .order_by(model.id).limit(limit).with_for_update(skip_locked=True))
    return list(session.scalars(statement)), whole_queue


def lease_first_in_line(table: Table, key: str, ready: ColumnElement[bool], pending: str, leased: str,
                        returning: Sequence[ColumnElement[Any]]) -> Update:
    """Return an UPDATE ... RETURNING that leases the first :limit `ready` rows in id order that no earlier row of
    their key waits for, until :until.

    Build it once and keep it: SQLAlchemy then compiles it once, where building a query per lease (and loading
    and flushing ORM objects) cost milliseconds inside SQLite's one write lock.
    """
    first = select(table.c.id).where(ready, ~_waits_behind(table, key, pending, leased)).order_by(table.c.id)
    return (update(table).where(table.c.id.in_(first.limit(bindparam("limit"))))
            .values(status=leased, locked_until=bindparam("until"), attempts=table.c.attempts + 1)
            .returning(*returning))


def _waits_behind(table: Table, key: str, pending: str, leased: str) -> ColumnElement[bool]:
    """Whether an earlier row of the same key waits or is leased: then this row is not first in line."""
    earlier = table.alias("earlier")
    return exists().where(earlier.c[key] == table.c[key], earlier.c.id < table.c.id,
                          earlier.c.status.in_((pending, leased)))


def _first_in_line(model: Any, key: str, now: datetime, limit: int, pending: str, leased: str,
                   condition: ColumnElement[bool] | None = None) -> Any:
    """Select the due (or `condition`) rows, first `limit` in id order, that no earlier row of their key waits for."""
    blocked = _waits_behind(model.__table__, key, pending, leased)
    ready = _due(model, now, pending) | _expired(model, now, leased) if condition is None else condition
    return select(model).where(ready, ~blocked).order_by(model.id).limit(limit)


def _due(columns: Any, now: datetime, pending: str) -> ColumnElement[bool]:
    return and_(columns.status == pending, columns.next_attempt_at <= now)


def _expired(columns: Any, now: datetime, leased: str) -> ColumnElement[bool]:
    return and_(columns.status == leased, columns.locked_until < now)
