"""The Alembic migrations and the models describe the same schema."""
from __future__ import annotations

from alembic import command

from storage.db import alembic_config, inbox_url, make_engine, upgrade


def test_the_migrations_build_exactly_what_the_models_describe(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        command.check(alembic_config(engine))  # raises when autogenerate would find a difference
    finally:
        engine.dispose()


def test_the_console_migration_can_be_undone_and_redone(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        command.downgrade(alembic_config(engine), "0001")
        upgrade(engine)
        command.check(alembic_config(engine))
    finally:
        engine.dispose()


def test_a_sqlite_database_keeps_its_inbox_in_a_file_beside_it_and_postgresql_in_itself() -> None:
    assert inbox_url("sqlite:////srv/bot/bot.db") == "sqlite:////srv/bot/bot.inbox.db"
    assert inbox_url("sqlite:///instance/data") == "sqlite:///instance/data.inbox.db"
    assert inbox_url("sqlite://") is None and inbox_url("sqlite:///:memory:") is None
    assert inbox_url("postgresql://postgres@127.0.0.1:5432/test") is None
