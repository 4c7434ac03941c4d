"""The inbox: the webhook stores verified events here and answers; workers handle them per user, in order."""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Row, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from storage.db import sqlite_file, write_sqlite
from storage.lease import claim_first_in_line, lease_first_in_line
from storage.models import InboxEvent

PENDING, PROCESSING, FAILED = "pending", "processing", "failed"
COLUMNS = ("sender", "channel", "item", "status", "attempts", "next_attempt_at", "received_at", "request_id")
# SQLite takes at most this many parameters in one statement (999 before 3.32)
SQLITE_PARAMETERS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999
POSTGRES_PARAMETERS = 65_535  # the protocol's limit per statement


def store(engine: Engine, items: list[tuple[str, str, dict[str, Any]]], now: datetime,
          request_ids: Sequence[str | None] = (), rows_per_statement: int | None = None) -> None:
    """Store (sender, channel, item) events in a transaction of their own: the webhook's one write.

    The rows go in with multi-row INSERTs, one while the batch fits one statement: a single statement is its own
    transaction (the webhook's engine on PostgreSQL runs in autocommit, where an executemany would commit each
    row by itself). The SQL is ours, kept per row count, and the values are made ready by SQLAlchemy's column
    types: SQLAlchemy does not cache a multi-row INSERT and compiled it again for each request, a fifth of the
    webhook's time on PostgreSQL. On a SQLite file this happens before the file's write turn, which every webhook
    request of every web worker waits for; inside it the thread makes one call to the driver instead of about
    six. `rows_per_statement` (default: as many as the parameter limit allows) is for the tests.
    """
    dialect = engine.dialect
    size = rows_per_statement or _parameter_limit(dialect) // len(COLUMNS)
    processors = _bind_processors(dialect)
    values = [[value if process is None else process(value)
               for value, process in zip(row, processors, strict=True)] for row in _rows(items, now, request_ids)]
    chunks = [values[start:start + size] for start in range(0, len(values), size)]
    placeholder = "?" if dialect.paramstyle == "qmark" else "%s"
    statements = [(_insert_sql(len(chunk), placeholder), tuple(value for row in chunk for value in row))
                  for chunk in chunks]
    if sqlite_file(engine):
        write_sqlite(engine, statements)
        return
    with engine.connect() as connection:
        if len(statements) > 1 and dialect.name == "postgresql":  # autocommit: make it one transaction
            connection = connection.execution_options(isolation_level="READ COMMITTED")
        with connection.begin():
            for sql, parameters in statements:
                connection.exec_driver_sql(sql, parameters)


def add(connection: Connection, items: list[tuple[str, str, dict[str, Any]]], now: datetime,
        request_ids: Sequence[str | None] = (), rows_per_statement: int | None = None) -> None:
    """Store (sender, channel, item) events in the connection's transaction, with multi-row INSERTs (Core).

    `request_ids`, one per event when given, follow each event into the logs of the worker and the sender. The app
    stores through `store`; this SQLAlchemy way is kept as the reference the tests hold `store`'s own SQL to, and
    for tests that put events in inside a transaction of their own.
    """
    rows = [dict(zip(COLUMNS, row, strict=True)) for row in _rows(items, now, request_ids)]
    size = rows_per_statement or _parameter_limit(connection.dialect) // len(COLUMNS)
    for start in range(0, len(rows), size):
        connection.execute(insert(InboxEvent.__table__).values(rows[start:start + size]))


def _parameter_limit(dialect: Dialect) -> int:
    """Return how many parameters one statement may carry."""
    return SQLITE_PARAMETERS if dialect.name == "sqlite" else POSTGRES_PARAMETERS


def _rows(items: list[tuple[str, str, dict[str, Any]]], now: datetime,
          request_ids: Sequence[str | None]) -> list[tuple[Any, ...]]:
    """Return the new events' values in the order of COLUMNS."""
    ids = request_ids or [None] * len(items)
    return [(sender[:64], channel, item, PENDING, 0, now, now, request_id)
            for (sender, channel, item), request_id in zip(items, ids, strict=True)]


@lru_cache(maxsize=8)  # one per engine's dialect
def _bind_processors(dialect: Dialect) -> list[Callable[[Any], Any] | None]:
    """Return how SQLAlchemy turns each of COLUMNS into what the driver stores, so both ways store the same."""
    table = InboxEvent.__table__
    return [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in COLUMNS]


@lru_cache(maxsize=64)  # batches come in few sizes
def _insert_sql(rows: int, placeholder: str) -> str:
    """Return an INSERT of `rows` rows with positional parameters (the driver's `placeholder`: ? or %s)."""
    one = "(" + ", ".join([placeholder] * len(COLUMNS)) + ")"
    return f"INSERT INTO {InboxEvent.__tablename__} ({', '.join(COLUMNS)}) VALUES " + ", ".join([one] * rows)


def claim_batch(session: Session, now: datetime, limit: int, lease: timedelta) -> list[InboxEvent] | list[Row]:
    """Lease due events that are first in line for their sender, so each user's events are handled in order.

    On SQLite the lease runs inside the inbox file's write lock, which every webhook request waits for: there it
    is two UPDATE ... RETURNING statements, compiled once (events whose lease ran out, then due ones), that return
    rows (id, sender, channel, item, attempts, received_at, request_id). Through the ORM, building the query and
    the objects and flushing them took 4 to 5 ms of that lock per round, against 0.2 ms for SQLite's own work.
    """
    if session.get_bind().dialect.name != "sqlite":
        return claim_first_in_line(session, InboxEvent, "sender", now, limit, lease, PENDING, PROCESSING)
    values = {"now": now, "until": now + lease, "limit": limit}
    rows = list(session.execute(_LEASE_EXPIRED, values))
    if len(rows) < limit:
        rows += session.execute(_LEASE_DUE, {**values, "limit": limit - len(rows)})
    return sorted(rows, key=lambda row: row.id)


_INBOX = InboxEvent.__table__
_LEASED = (_INBOX.c.id, _INBOX.c.sender, _INBOX.c.channel, _INBOX.c.item, _INBOX.c.attempts, _INBOX.c.received_at,
           _INBOX.c.request_id)
_LEASE_EXPIRED = lease_first_in_line(_INBOX, "sender", (_INBOX.c.status == PROCESSING)
                                     & (_INBOX.c.locked_until < bindparam("now")), PENDING, PROCESSING, _LEASED)
_LEASE_DUE = lease_first_in_line(_INBOX, "sender", (_INBOX.c.status == PENDING)
                                 & (_INBOX.c.next_attempt_at <= bindparam("now")), PENDING, PROCESSING, _LEASED)
_REMOVE = delete(_INBOX).where(_INBOX.c.id.in_(bindparam("ids", expanding=True)))
_TAKE = delete(_INBOX).where(_INBOX.c.id == bindparam("id"), _INBOX.c.attempts == bindparam("attempts"),
                             _INBOX.c.status == PROCESSING)


def take(session: Session, inbox_id: int, attempts: int) -> bool:
    """Remove a leased event in the transaction that handles it; False when another worker has taken it over."""
    taken = session.connection().execute(_TAKE, {"id": inbox_id, "attempts": attempts})  # Core, built once
    return taken.rowcount == 1  # type: ignore[attr-defined]


def remove(session: Session, inbox_ids: list[int]) -> None:
    """Remove handled events (where the inbox is a database of its own, after their transaction)."""
    session.execute(_REMOVE, {"ids": inbox_ids})  # Core, compiled once: this too runs in the inbox's write lock


def forget_sender(session: Session, sender: str, until: datetime) -> int:
    """Remove a user's events received up to `until` that still wait or were set aside (their data is erased)."""
    statement = delete(InboxEvent).where(InboxEvent.sender == sender, InboxEvent.received_at <= until,
                                         InboxEvent.status.in_((PENDING, FAILED)))
    return session.execute(statement).rowcount  # type: ignore[attr-defined]


def retry(session: Session, inbox_id: int, error: str, at: datetime) -> None:
    """Put an event back in line (its user's later events wait behind it) to be tried again at `at`."""
    session.execute(update(InboxEvent).where(InboxEvent.id == inbox_id)
                    .values(status=PENDING, next_attempt_at=at, locked_until=None, last_error=error[:200]))


def mark_failed(session: Session, inbox_id: int, error: str) -> None:
    """Set an event aside for good (kept, with the reason; the user's later events go on)."""
    session.execute(update(InboxEvent).where(InboxEvent.id == inbox_id)
                    .values(status=FAILED, locked_until=None, last_error=error[:200]))


def counts(session: Session) -> dict[str, int]:
    """Return how many events are pending, being handled and set aside."""
    rows = session.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status))
    return {PENDING: 0, PROCESSING: 0, FAILED: 0, **{status: count for status, count in rows}}
