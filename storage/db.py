"""Engine and session set-up for SQLite and PostgreSQL, and applying the migrations."""
from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 727_274  # any constant: PostgreSQL advisory lock so several workers migrate one at a time
READ_ONLY_OPTION = "read_only"  # an execution option: this transaction never writes (see _sqlite_engine)
WRITE_WAIT = 30.0  # seconds a writer waits for its turn, as long as SQLite's busy_timeout below
_write_locks: dict[str, WriteTurn] = {}
_write_locks_guard = threading.Lock()


def normalise_url(url: str) -> str:
    """Accept the plain postgres:// URLs hosting providers hand out and pick the psycopg 3 driver."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def inbox_url(url: str) -> str | None:
    """Return the URL of the SQLite file that holds the inbox beside a SQLite database file, else None.

    SQLite has one write lock per file: with the inbox in the same file, storing a webhook event would wait for
    each event being handled. PostgreSQL locks rows, so there the inbox is a table like the others.
    """
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    path = Path(parsed.database)
    return str(parsed.set(database=str(path.with_name(f"{path.stem}.inbox{path.suffix or '.db'}"))))


def make_engine(url: str, **options: Any) -> Engine:
    """Create an engine with the settings each database needs for safe concurrent writes."""
    url = normalise_url(url)
    options.setdefault("hide_parameters", True)  # an error's text must not carry a user's id or message into logs
    if url.startswith("sqlite"):
        return _sqlite_engine(url, **options)
    options.setdefault("pool_pre_ping", True)
    return create_engine(url, **options)


def _sqlite_engine(url: str, **options: Any) -> Engine:
    """SQLite with WAL, a busy timeout and BEGIN IMMEDIATE, so writers queue instead of failing.

    Writers take turns before they ask SQLite (WriteTurn): SQLite's own busy handler polls, sleeping up to
    100 ms between tries, so the threads of a worker (the inbox round, the sender's claims and records, the
    reminders) and the web workers storing events lost most of that time waiting for each other. A Python lock
    hands the turn to the next thread of the process at once, and a lock file to the next process within 2 ms.
    """
    database = make_url(url).database
    connect_args: dict[str, Any] = {"timeout": 30, "check_same_thread": False}
    write_lock = None
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        write_lock = _write_lock(database)
        connect_args["factory"] = _TurnTakingConnection
    engine = create_engine(url, connect_args=connect_args, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's begin event below start transactions
        if isinstance(dbapi_connection, _TurnTakingConnection):
            dbapi_connection.write_turn = write_lock
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "engine_disposed")
    def _on_dispose(disposed: Engine) -> None:
        writer = _writers.get(disposed)
        if writer is not None and writer.pid == os.getpid() and writer.turn.acquire(timeout=WRITE_WAIT):
            try:
                _close_writer(writer)
            finally:
                writer.turn.release()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # a deferred transaction that reads first and writes later can fail at once under WAL;
        # taking the write lock up front makes concurrent events wait their turn instead.
        # A transaction marked READ_ONLY (the insight page's long aggregates) only reads: under WAL it needs no
        # write lock, so it does not hold up the bot
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
            return
        dbapi_connection = connection.connection.dbapi_connection
        if write_lock is not None and isinstance(dbapi_connection, _TurnTakingConnection):
            dbapi_connection.take_turn(write_lock)
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except Exception:
            if isinstance(dbapi_connection, _TurnTakingConnection):
                dbapi_connection.end_turn()
            raise

    return engine


class WriteTurn:
    """The turn to write a SQLite file: a lock among this process's threads, then `<file>.write-lock` (flock)
    among processes. The lock file is opened for each turn: closing it ends the turn, also for a process that dies."""

    def __init__(self, database: str) -> None:
        self.threads = threading.Lock()
        self.path = f"{database}.write-lock"
        self._fd: int | None = None

    def acquire(self, timeout: float) -> bool:
        """Wait for the turn; False after `timeout` seconds (a writer stuck elsewhere: the caller fails)."""
        deadline = time.monotonic() + timeout
        if not self.threads.acquire(timeout=timeout):
            return False
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:  # a folder this process cannot write: neither could it write the database
            self.threads.release()
            raise
        pause = 0.0002
        while True:  # flock has no timeout: try, and sleep briefly between tries (one thread per process does)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    self.threads.release()
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # releases the flock
        self.threads.release()

    def locked(self) -> bool:
        return self.threads.locked()


def _write_lock(database: str) -> WriteTurn:
    """Return this process's write turn for a database file (every engine on the file shares it)."""
    path = os.path.realpath(database)
    with _write_locks_guard:
        if path not in _write_locks:
            _write_locks[path] = WriteTurn(path)
        return _write_locks[path]


class _TurnTakingConnection(sqlite3.Connection):
    """A SQLite connection that holds its process's write lock for the file from BEGIN IMMEDIATE until the
    transaction ends (commit, rollback, or the connection closing), whatever ends it."""

    _turn: WriteTurn | None = None
    write_turn: WriteTurn | None = None  # the file's, set on connecting

    def take_turn(self, lock: WriteTurn) -> None:
        """Wait for the other writers of the file (this process's threads, other processes); raise
        OperationalError after WRITE_WAIT."""
        self.end_turn()  # a transaction that ended without our hearing of it
        if not lock.acquire(timeout=WRITE_WAIT):
            raise OperationalError("BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked"))
        self._turn = lock

    def end_turn(self) -> None:
        """Let the next writer of this process go."""
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            if not self.in_transaction:
                self.end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()


def sqlite_file(engine: Engine) -> bool:
    """Tell whether the engine writes a SQLite file (whose writers take turns), not memory or PostgreSQL."""
    return engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:")


def write_sqlite(engine: Engine, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
    """Run statements as one transaction on a SQLite file (sqlite_file), in as few calls to the driver as can be.

    Each call into sqlite3 lets go of the GIL, and the thread has to win it back from the other threads of its
    process before it goes on; inside the file's write turn every such wait holds up all writers of the file.
    One statement runs in SQLite's autocommit mode, its own transaction (one call for the write and the commit);
    several run between BEGIN IMMEDIATE and COMMIT. The connection is this process's own for the engine, kept
    between calls and used only by the holder of the turn: taking one from SQLAlchemy's pool and giving it back
    (which rolls back) cost as much CPU as a tenth of a webhook request. Errors come out as SQLAlchemy's,
    without their parameters.
    """
    writer = _writer(engine)
    if not writer.turn.acquire(timeout=WRITE_WAIT):
        raise OperationalError(statements[0][0], None, sqlite3.OperationalError("database is locked"))
    try:
        if writer.connection is None:
            writer.connection = engine.raw_connection()
            writer.connection.detach()  # ours until the engine is disposed; closing it closes the file
        connection = writer.connection.dbapi_connection
        if len(statements) == 1:
            connection.execute(*statements[0])
        else:
            connection.execute("BEGIN IMMEDIATE")
            for sql, params in statements:
                connection.execute(sql, params)
            connection.execute("COMMIT")
    except sqlite3.Error as exc:
        _close_writer(writer)  # the next write starts on a fresh connection, whatever state this one is in
        raise DBAPIError.instance(statements[0][0], None, exc, sqlite3.Error, hide_parameters=True) from exc
    except BaseException:
        _close_writer(writer)
        raise
    finally:
        writer.turn.release()


@dataclass
class _Writer:
    """write_sqlite's connection to one file, in one process."""

    pid: int
    turn: WriteTurn
    connection: PoolProxiedConnection | None = None


_writers: weakref.WeakKeyDictionary[Engine, _Writer] = weakref.WeakKeyDictionary()
_writers_guard = threading.Lock()


def _writer(engine: Engine) -> _Writer:
    """Return this process's writer for the engine (a forked process makes its own: SQLite connections do not
    survive a fork)."""
    writer = _writers.get(engine)
    if writer is not None and writer.pid == os.getpid():
        return writer
    if not sqlite_file(engine):
        raise TypeError("write_sqlite needs an engine of make_engine on a SQLite file")
    with _writers_guard:
        writer = _writers.get(engine)
        if writer is None or writer.pid != os.getpid():
            writer = _writers[engine] = _Writer(os.getpid(), _write_lock(str(engine.url.database)))
    return writer


def _close_writer(writer: _Writer) -> None:
    """Close the writer's connection, if any (the caller holds the turn, or the engine is being disposed)."""
    connection, writer.connection = writer.connection, None
    if connection is not None:
        with suppress(sqlite3.Error):
            connection.close()


@contextmanager
def reading(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """Open a transaction that only reads: on a SQLite file it takes no write lock, so a health check, a metrics
    scrape or a long page never holds up the webhook or the bot."""
    with sessions() as session, session.begin():
        session.connection(execution_options={READ_ONLY_OPTION: True})
        yield session


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return the session factory; callers open one transaction per event or job."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic config that runs on this engine (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to `revision`; safe to call from several processes at once."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
            try:
                command.upgrade(alembic_config(engine), revision)
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
                connection.commit()
    else:  # SQLite runs Alembic's DDL outside a transaction: a second process must wait, not migrate alongside
        database = engine.url.database
        if not database or database == ":memory:":
            command.upgrade(alembic_config(engine), revision)
            return
        with open(f"{database}.migrate-lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            command.upgrade(alembic_config(engine), revision)


def ping(engine: Engine) -> bool:
    """Return whether the database answers a trivial query."""
    try:
        with engine.connect().execution_options(**{READ_ONLY_OPTION: True}) as connection:  # no SQLite write lock
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable" for a health check
        return False
