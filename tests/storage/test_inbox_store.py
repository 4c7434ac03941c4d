"""The webhook's write: rows made ready by SQLAlchemy's column types, then one multi-row INSERT of our own SQL (on a
SQLite file inside the file's write turn). What it stores must read back exactly as what SQLAlchemy's insert
stores, and a failed write must leave the turn free."""
from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from storage import db, inbox
from storage.models import Base, InboxEvent

NOW = datetime(2026, 12, 6, 12, 30, 15, 123456, tzinfo=UTC)
ITEMS = [("1" * 70, "messaging", {"sender": {"id": "1"}, "message": {"mid": "m1", "text": "hé 😀 \"quoted\""}}),
         ("2", "standby", {"sender": {"id": "2"}, "postback": {"payload": "START", "title": "Begin"}}),
         ("3", "messaging", {"sender": {"id": "3"}, "message": {"mid": "m3", "attachments": [{"type": "image"}]}})]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'inbox.db'}")
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def stored(engine: Engine) -> list[tuple]:
    with Session(engine) as session:
        return [(row.sender, row.channel, row.item, row.status, row.attempts, row.next_attempt_at, row.received_at,
                 row.request_id, row.locked_until, row.last_error)
                for row in session.scalars(select(InboxEvent).order_by(InboxEvent.id))]


def stored_by_sqlalchemy(engine: Engine) -> list[tuple]:
    """Return ITEMS as SQLAlchemy's insert stores them, and empty the inbox again."""
    with engine.begin() as connection:
        inbox.add(connection, ITEMS, NOW, ["r1", None, "r3"])
    rows = stored(engine)
    with engine.begin() as connection:
        connection.execute(InboxEvent.__table__.delete())
    return rows


def test_store_keeps_what_the_orm_insert_keeps_and_takes_one_statement(engine: Engine) -> None:
    by_orm = stored_by_sqlalchemy(engine)
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    inbox.store(engine, ITEMS, NOW, ["r1", None, "r3"])
    event.remove(engine, "before_cursor_execute", record)
    assert stored(engine) == by_orm
    assert by_orm[0][0] == "1" * 64 and by_orm[0][5] == NOW and by_orm[0][5].tzinfo is not None
    assert statements == []  # the driver was called directly: no BEGIN, no SQLAlchemy statement
    assert not db._write_lock(str(engine.url.database)).locked()


def test_a_batch_over_the_rows_of_one_statement_goes_in_one_transaction_in_order(engine: Engine) -> None:
    items = [(f"user{n % 4}", "messaging", {"n": n}) for n in range(11)]
    inbox.store(engine, items, NOW, rows_per_statement=3)
    assert [row[2]["n"] for row in stored(engine)] == list(range(11))


def test_a_failing_batch_stores_nothing_and_leaves_the_write_turn_free(engine: Engine) -> None:
    items = [(f"user{n}", "messaging", {"n": n}) for n in range(6)]
    with engine.begin() as connection:  # the fifth row's insert fails after the first two statements ran
        connection.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN NEW.sender = 'user4' "
                                   "BEGIN SELECT RAISE(ABORT, 'refused'); END")
    for size in (2, None):  # several statements in a transaction; one statement in autocommit
        with pytest.raises(Exception) as raised:
            inbox.store(engine, items, NOW, rows_per_statement=size)
        assert "refused" in str(raised.value) and "user4" not in str(raised.value)  # no parameters in errors
        assert stored(engine) == []
        assert not db._write_lock(str(engine.url.database)).locked()
    inbox.store(engine, items[:4], NOW)
    assert len(stored(engine)) == 4


def test_a_store_waits_for_a_writer_of_the_file_and_a_missing_table_is_a_sqlalchemy_error(engine: Engine) -> None:
    started, done = threading.Event(), threading.Event()

    def store() -> None:
        started.set()
        inbox.store(engine, ITEMS[:1], NOW)
        done.set()

    with engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM inbox")
        thread = threading.Thread(target=store)
        thread.start()
        started.wait(5)
        assert not done.wait(0.3)  # the open write transaction holds the turn
    thread.join(5)
    assert done.is_set() and len(stored(engine)) == 1
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE inbox")
    with pytest.raises(OperationalError):
        inbox.store(engine, ITEMS[:1], NOW)


def test_stores_keep_one_connection_of_their_own_until_the_engine_is_disposed(engine: Engine,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """No pool checkout per store (it cost a tenth of a webhook request's CPU); a forked process and a failed
    write start on a fresh connection; dispose closes it."""
    checkouts: list[object] = []
    event.listen(engine.pool, "checkout", lambda dbapi, *_: checkouts.append(dbapi))
    inbox.store(engine, ITEMS[:1], NOW)
    inbox.store(engine, ITEMS[1:], NOW)
    kept = db._writers[engine].connection
    assert kept is not None and checkouts == [kept.dbapi_connection]  # checked out once, then kept
    assert engine.pool.checkedout() == 0  # detached: the pool's own connections are all there for others

    monkeypatch.setattr(db.os, "getpid", lambda: 4242)  # as in a process forked after the first store
    inbox.store(engine, ITEMS[:1], NOW)
    forked = db._writers[engine].connection
    assert forked is not kept and len(checkouts) == 2
    kept.dbapi_connection.execute("SELECT 1")  # the parent's connection is left alone, not closed
    monkeypatch.undo()

    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON inbox BEGIN SELECT RAISE(ABORT, 'no'); END")
    with pytest.raises(Exception, match="no"):
        inbox.store(engine, ITEMS[:1], NOW)
    assert db._writers[engine].connection is None
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER refuse")
    inbox.store(engine, ITEMS[:1], NOW)
    assert len(stored(engine)) == 5
    last = db._writers[engine].connection.dbapi_connection
    engine.dispose()
    assert db._writers[engine].connection is None
    with pytest.raises(sqlite3.ProgrammingError):
        last.execute("SELECT 1")  # closed


def test_on_postgresql_a_batch_is_one_statement_or_one_transaction(services: Any) -> None:
    """The webhook's PostgreSQL engine runs in autocommit: several statements must still be one transaction."""
    engine = services.inbox_engine
    if engine.dialect.name != "postgresql":
        assert db.sqlite_file(engine)  # the SQLite half has its own tests above
        return
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]).split("(")[0].strip())

    event.listen(engine, "before_cursor_execute", record)
    try:
        inbox.store(engine, ITEMS, NOW)
        assert statements == ["INSERT INTO inbox"]
        statements.clear()
        items = [(f"user{n}", "messaging", {"n": n}) for n in range(6)]
        with engine.begin() as connection:
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.sender = 'user4' THEN "
                "RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$")
            connection.exec_driver_sql("CREATE TRIGGER refuse BEFORE INSERT ON inbox "
                                       "FOR EACH ROW EXECUTE FUNCTION refuse()")
        with pytest.raises(Exception, match="refused"):
            inbox.store(engine, items, NOW, rows_per_statement=2)
    finally:
        event.remove(engine, "before_cursor_execute", record)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TRIGGER IF EXISTS refuse ON inbox")
            connection.exec_driver_sql("DROP FUNCTION IF EXISTS refuse()")
    assert len(stored(engine)) == 3  # ITEMS only: the two statements before the failing third were undone


def test_the_app_inbox_stores_what_sqlalchemy_stores_without_compiling_a_statement(services: Any) -> None:
    """Both databases: SQLAlchemy compiles a multi-row INSERT again for every call (it cannot cache one), a fifth
    of the webhook's time on PostgreSQL; the webhook's own SQL must still store the same values."""
    engine = services.inbox_engine
    by_sqlalchemy = stored_by_sqlalchemy(engine)
    compiled: list[object] = []

    def record(_conn: object, _cursor: object, _sql: str, _params: object, context: Any, _many: bool) -> None:
        compiled.append(context.compiled)

    event.listen(engine, "before_cursor_execute", record)
    try:
        inbox.store(engine, ITEMS, NOW, ["r1", None, "r3"])
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert stored(engine) == by_sqlalchemy
    assert by_sqlalchemy[0][2] == ITEMS[0][2] and by_sqlalchemy[1][7] is None
    assert compiled in ([], [None])  # a SQLite file: the driver directly; PostgreSQL: one statement, no compiling
