"""PostgreSQL wakes the listening workers when the webhook stores events; a lost listener comes back."""
from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from handlers import inbox_listener
from handlers.inbox_listener import InboxListener
from storage import inbox, inbox_wakeup
from storage.db import make_engine, upgrade
from tests.support import messenger

NOW = datetime(2026, 12, 6, 22, 0, tzinfo=UTC)


@pytest.fixture
def engine(fresh_postgres: str) -> Engine:
    engine = make_engine(fresh_postgres)
    upgrade(engine)
    yield engine
    engine.dispose()


def store(engine: Engine, *users: str) -> None:
    inbox.store(engine, [(user, "messaging", messenger.text_item(user, "hoi")) for user in users], NOW)


def test_storing_events_notifies_a_listener_once_per_commit_and_nothing_else_does(engine: Engine) -> None:
    with inbox_wakeup.listening(engine) as wait:
        assert wait(0.2) == 0  # nobody stored anything
        store(engine, "1001", "1002", "1003")  # one statement, three rows
        assert wait(5) == 1
        assert wait(0.2) == 0
        with engine.begin() as connection:  # the worker's own writes to the inbox wake nobody
            connection.execute(text("UPDATE inbox SET attempts = attempts + 1"))
            connection.execute(text("DELETE FROM inbox"))
        assert wait(0.2) == 0
        store(engine, "1004")
        assert wait(5) == 1


def test_sqlite_has_no_listener(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        assert not inbox_wakeup.can_listen(engine)
    finally:
        engine.dispose()


def test_a_listener_whose_connection_is_cut_listens_again_and_wakes_for_what_came_meanwhile(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbox_listener, "RECONNECT", 0.2)
    name = f"test listener {uuid.uuid4().hex[:8]}"  # this listener's connection, whatever else runs on the server
    monkeypatch.setattr(inbox_wakeup, "APPLICATION_NAME", name)
    woken = threading.Semaphore(0)
    listener = InboxListener(engine, woken.release)
    listener.start()
    try:
        assert woken.acquire(timeout=5)  # once on listening: events stored before it are not left waiting
        store(engine, "2001")
        assert woken.acquire(timeout=5)
        with engine.begin() as connection:  # a database restart, as far as this connection can tell
            cut = connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                          "WHERE application_name = :name"), {"name": name})
            assert cut.scalars().all() == [True]
        assert woken.acquire(timeout=5)  # listening again, and woken once for what may have come meanwhile
        store(engine, "2002")
        assert woken.acquire(timeout=5)
    finally:
        listener.stop()
    assert not listener.listening.is_set()


def test_a_silent_listening_connection_is_tried_with_a_query(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"test listener {uuid.uuid4().hex[:8]}"  # this connection, whatever else runs on the server

    def last_query() -> str:
        with engine.connect() as connection:
            return connection.execute(text("SELECT query FROM pg_stat_activity WHERE application_name = :name"),
                                      {"name": name}).scalar_one()

    with inbox_wakeup.listening(engine, name) as wait:
        assert wait(0.05) == 0
        assert last_query() == f"LISTEN {inbox_wakeup.CHANNEL}"  # a short silence: nothing sent
        monkeypatch.setattr(inbox_wakeup, "PING_AFTER", 0.0)
        assert wait(0.05) == 0
        assert last_query() == "SELECT 1"
