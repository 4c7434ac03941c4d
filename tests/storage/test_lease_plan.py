"""Leasing a round reads only the head of the queue: a backlog of a burst must not be sorted inside the inbox
file's write lock, which every webhook request waits for (SQLite)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.orm import Session, sessionmaker

from storage import db, inbox
from storage.models import Base


def test_the_inbox_lease_walks_an_index_in_order_instead_of_sorting_the_backlog(tmp_path: Path) -> None:
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
            leased = [row.item["n"] for row in inbox.claim_batch(session, now, 5, timedelta(seconds=60))]
        selects = [(sql, params) for sql, params in statements if sql.lstrip().upper().startswith("SELECT")]
        with engine.connect() as connection:
            plans = [" / ".join(row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
                     for sql, params in selects]
    finally:
        engine.dispose()
    assert leased == [0, 1, 2, 3, 4]
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
