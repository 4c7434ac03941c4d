"""Leasing a round reads only the head of the queue: a backlog of a burst must not be sorted inside the inbox
file's write lock, which every webhook request waits for (SQLite)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.orm import sessionmaker

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
