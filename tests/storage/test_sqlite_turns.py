"""SQLite writers of one process take turns on a Python lock per file, held from BEGIN IMMEDIATE to the end of
the transaction, whatever ends it; readers and other files do not wait for it."""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from storage import db


@pytest.fixture
def database(tmp_path: Path) -> str:
    return str(tmp_path / "turns.db")


def test_a_write_transaction_holds_the_files_lock_until_commit_or_rollback(database: str) -> None:
    engine = db.make_engine(f"sqlite:///{database}")
    lock = db._write_lock(database)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            assert lock.locked()
        assert not lock.locked()
        with pytest.raises(RuntimeError), engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
            assert lock.locked()
            raise RuntimeError("undo")
        assert not lock.locked()
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        engine.dispose()


def test_a_read_only_transaction_and_another_file_do_not_wait(database: str, tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{database}")
    other = db.make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        with engine.begin() as writer:
            writer.execute(text("CREATE TABLE t (x INTEGER)"))
            with engine.connect().execution_options(**{db.READ_ONLY_OPTION: True}) as reader:
                with reader.begin():
                    assert reader.execute(text("SELECT 1")).scalar() == 1
            with other.begin() as elsewhere:
                elsewhere.execute(text("CREATE TABLE u (y INTEGER)"))
    finally:
        engine.dispose()
        other.dispose()


def test_a_writer_of_another_process_waits_on_the_lock_file_and_gives_up_after_the_wait(
        database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "WRITE_WAIT", 0.3)
    engine = db.make_engine(f"sqlite:///{database}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    other_process = subprocess.Popen(  # holds the lock file, as another process's writer would
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({database + '.write-lock'!r}, os.O_RDWR)\n"
         "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(float(sys.argv[1]))", "1.0"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert other_process.stdout is not None and other_process.stdout.readline() == "held\n"
        started = time.monotonic()
        with pytest.raises(OperationalError), engine.begin():
            pass
        assert 0.25 < time.monotonic() - started < 0.9
        assert not db._write_lock(database).locked()  # this process's other writers were let go
        other_process.wait(10)  # its lock is gone with it: the next writer goes at once
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        other_process.kill()
        other_process.communicate()
        engine.dispose()


def test_a_second_writer_of_the_process_goes_as_soon_as_the_first_commits(database: str) -> None:
    first_engine = db.make_engine(f"sqlite:///{database}")
    second_engine = db.make_engine(f"sqlite:///{database}")  # another engine on the file shares the lock
    order: list[str] = []
    inside = threading.Event()

    def second() -> None:
        inside.wait(10)
        with second_engine.begin() as connection:
            order.append("second")
            connection.execute(text("INSERT INTO t VALUES (2)"))

    try:
        with first_engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
        thread = threading.Thread(target=second)
        thread.start()
        with first_engine.begin() as connection:
            inside.set()
            thread.join(0.3)  # it waits on the lock, not on SQLite's busy handler
            assert thread.is_alive()
            order.append("first")
            connection.execute(text("INSERT INTO t VALUES (1)"))
        thread.join(10)
        assert order == ["first", "second"]
    finally:
        first_engine.dispose()
        second_engine.dispose()


def test_a_writer_that_cannot_get_its_turn_gets_a_transient_error(database: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "WRITE_WAIT", 0.1)
    engine = db.make_engine(f"sqlite:///{database}")
    lock = db._write_lock(database)
    assert lock.acquire(timeout=1)  # another thread of this process writes for longer than a writer waits
    try:
        with pytest.raises(OperationalError), engine.begin():
            pass
    finally:
        lock.release()
    with engine.begin() as connection:  # nothing was left held
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    assert not lock.locked()
    engine.dispose()


def test_a_lock_file_that_cannot_be_opened_fails_the_writer_and_leaves_the_turn_free(database: str) -> None:
    engine = db.make_engine(f"sqlite:///{database}")
    turn = db._write_lock(database)
    path, turn.path = turn.path, f"{database}.missing-folder/write-lock"
    try:
        with pytest.raises(OSError), engine.begin():
            pass
        assert not turn.locked()
    finally:
        turn.path = path
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    engine.dispose()
