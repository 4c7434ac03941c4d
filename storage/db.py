"""Engine and session set-up for SQLite and PostgreSQL, and applying the migrations."""
from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 727_274  # any constant: PostgreSQL advisory lock so several workers migrate one at a time
READ_ONLY_OPTION = "read_only"  # an execution option: this transaction never writes (see _sqlite_engine)


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
    """SQLite with WAL, a busy timeout and BEGIN IMMEDIATE, so writers queue instead of failing."""
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **options)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let SQLAlchemy's begin event below start transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # a deferred transaction that reads first and writes later can fail at once under WAL;
        # taking the write lock up front makes concurrent events wait their turn instead.
        # A transaction marked READ_ONLY (the insight page's long aggregates) only reads: under WAL it needs no
        # write lock, so it does not hold up the bot
        read_only = connection.get_execution_options().get(READ_ONLY_OPTION)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


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
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001 - any failure means "not reachable" for a health check
        return False
