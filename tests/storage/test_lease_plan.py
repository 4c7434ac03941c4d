"""Leasing a round reads only the head of the queue: a burst's backlog must not be sorted inside the inbox file's
write lock, which every webhook request waits for (SQLite), nor compared row by row with itself (PostgreSQL)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, event, text
from sqlalchemy.orm import Session, sessionmaker

from storage import db, inbox
from storage.lease import HEAD
from storage.models import Base


def test_the_inbox_lease_walks_an_index_in_order_instead_of_sorting_the_backlog(tmp_path: Path) -> None:
    """And it builds no ORM objects: through the ORM, a round's lease held the inbox file's write lock for 4 to 5
    ms of Python, where SQLite's own work takes 0.2 ms."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'lease.db'}")
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine)
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    statements: list[tuple[str, tuple]] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, statement, parameters, *_: statements.append((statement, parameters)))
    try:
        with engine.begin() as connection:
            inbox.add(connection, [(f"user{i % 7}", "messaging", {"n": i}) for i in range(40)], now)
        statements.clear()
        with sessions.begin() as session:
            leased = [(row.item["n"], row.attempts) for row in inbox.claim_batch(session, now, 5,
                                                                                 timedelta(seconds=60))]
            objects = len(session.identity_map)
        leases = [(sql, params) for sql, params in statements if sql.lstrip().upper().startswith(("SELECT", "UPDATE"))]
        with engine.connect() as connection:
            plans = [" / ".join(row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
                     for sql, params in leases]
    finally:
        engine.dispose()
    assert leased == [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]
    assert objects == 0
    assert plans and all("TEMP B-TREE" not in plan for plan in plans), plans


def test_on_postgresql_a_lease_is_planned_for_the_queue_as_it_is_not_as_it_was(fresh_postgres: str) -> None:
    """psycopg prepares a statement run often; PostgreSQL would then keep a generic plan made while the queue was
    nearly empty, and a burst's backlog met a scan of the whole queue per waiting row (seconds per lease)."""
    engine = db.make_engine(fresh_postgres)
    Base.metadata.create_all(engine)
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    try:
        with engine.connect() as connection:  # one connection: its prepared statements are the ones looked at
            def lease() -> list[int]:
                with Session(bind=connection) as session, session.begin():
                    ids = [row.id for row in inbox.claim_batch(session, now, 10, timedelta(seconds=60))]
                    inbox.remove(session, ids)
                return ids

            with connection.begin():
                inbox.add(connection, [(f"user{i % 3}", "messaging", {"n": i}) for i in range(20)], now)
            for _ in range(12):  # a quiet page: a handful of events, many leases
                lease()
            with connection.begin():
                inbox.add(connection, [(f"user{i % 200}", "messaging", {"n": i}) for i in range(2000)], now)
            assert len(lease()) == 10
            plans = connection.execute(text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement LIKE :lease"),
                {"lease": "%FROM inbox%SKIP LOCKED%"}).all()
    finally:
        engine.dispose()
    assert plans, "the lease was not prepared: the check below would prove nothing"
    assert all(generic == 0 and custom > 0 for generic, custom in plans), plans


def _tuples_read(connection: Connection, table: str) -> int:
    """Return how many rows and index entries PostgreSQL's scans of `table` have read so far."""
    connection.execute(text("SELECT pg_stat_force_next_flush()"))
    connection.commit()  # a backend sends its counters when it goes idle outside a transaction
    read = connection.execute(text(
        "SELECT coalesce(t.seq_tup_read, 0) + (SELECT coalesce(sum(i.idx_tup_read), 0) FROM pg_stat_user_indexes i"
        " WHERE i.relid = t.relid) FROM pg_stat_user_tables t WHERE t.relid = CAST(:table AS regclass)"),
        {"table": table}).scalar_one()
    connection.commit()  # the next read takes a fresh snapshot of the counters
    return read


def test_on_postgresql_a_lease_reads_the_head_of_a_backlog_not_all_of_it(fresh_postgres: str) -> None:
    """A new table's statistics, as on a quiet page when a burst comes, made PostgreSQL compare every waiting row
    with every other (a nested loop): 350 ms per lease of a 3,000-event backlog."""
    engine = db.make_engine(fresh_postgres)
    Base.metadata.create_all(engine)
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    try:
        with engine.connect() as connection:
            with connection.begin():
                inbox.add(connection, [(f"user{i % 2500}", "messaging", {"n": i}) for i in range(10_000)], now)
            before = _tuples_read(connection, "inbox")
            with Session(bind=connection) as session, session.begin():
                leased = [row.item["n"] for row in inbox.claim_batch(session, now, 10, timedelta(seconds=60))]
            read = _tuples_read(connection, "inbox") - before
    finally:
        engine.dispose()
    assert leased == list(range(10))
    assert read < 1_000, f"the lease read {read} rows and index entries of a backlog of 10,000 (before: 20,010)"


def test_a_user_whose_events_fill_the_head_does_not_hold_up_the_others(db_url: str) -> None:
    """The head (HEAD rows per row to lease) can be one user's chain; the users behind it are still leased."""
    engine = db.make_engine(db_url)
    Base.metadata.create_all(engine)
    sessions = sessionmaker(engine)
    now = datetime(2026, 12, 6, 12, tzinfo=UTC)
    lease = timedelta(seconds=60)
    try:
        with engine.begin() as connection:
            inbox.add(connection, [("flooder", "messaging", {"n": i}) for i in range(5 * HEAD + 5)], now)
            inbox.add(connection, [(f"user{i}", "messaging", {"n": 1000 + i}) for i in range(3)], now)
        with sessions.begin() as session:
            first = [row.item["n"] for row in inbox.claim_batch(session, now, 5, lease)]
        with sessions.begin() as session:  # the flooder's first event is still being handled
            second = [row.item["n"] for row in inbox.claim_batch(session, now, 5, lease)]
        with sessions.begin() as session:
            third = [row.item["n"] for row in inbox.claim_batch(session, now, 5, lease)]
    finally:
        engine.dispose()
    assert first == [0, 1000, 1001, 1002]
    assert second == [] and third == []
