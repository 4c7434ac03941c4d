"""PostgreSQL's LISTEN on the inbox: a worker waits for the notification that events were stored.

Migration 0012 has every insert into the inbox notify CHANNEL when its transaction commits, so a worker woken by
it leases rows that are already there. SQLite has nothing of the kind; its workers only poll.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import NullPool

CHANNEL = "ida_inbox"  # the channel migration 0012's trigger notifies
APPLICATION_NAME = "ida inbox listener"  # how the listening connection shows in pg_stat_activity
# seconds without a notification before the connection is tried with a query: one that a firewall or a failover
# dropped without a word would otherwise leave the worker deaf (and polling) for good
PING_AFTER = 60.0


def can_listen(engine: Engine) -> bool:
    """Whether stored events wake listening workers on this database."""
    return engine.dialect.name == "postgresql"


@contextmanager
def listening(engine: Engine, name: str | None = None) -> Iterator[Callable[[float], int]]:
    """Listen on CHANNEL on a connection of its own; yield wait(timeout) -> how many notifications came.

    wait() raises when the connection is lost; after PING_AFTER seconds of silence it asks the server to find out.
    The connection shows as `name` (default APPLICATION_NAME) in pg_stat_activity. It is outside the engine's pool
    (it is held for as long as the worker runs) and in autocommit: notifications reach a session only between
    transactions.
    """
    listener = create_engine(engine.url, poolclass=NullPool,
                             connect_args={"application_name": name or APPLICATION_NAME})
    try:
        with listener.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"LISTEN {CHANNEL}")
            driver = connection.connection.driver_connection

            heard = time.monotonic()

            def wait(timeout: float) -> int:
                nonlocal heard
                # stop_after=1: back as soon as a packet of notifications came (all of that packet are counted)
                received = sum(1 for _ in driver.notifies(timeout=timeout, stop_after=1))  # type: ignore[union-attr]
                if received or time.monotonic() - heard > PING_AFTER:
                    if not received:
                        driver.execute("SELECT 1")  # type: ignore[union-attr] - raises on a dead connection
                    heard = time.monotonic()
                return received

            yield wait
    finally:
        listener.dispose()
