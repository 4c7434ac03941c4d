"""The Alembic migrations and the models describe the same schema."""
from __future__ import annotations

from alembic import command

from storage.db import alembic_config, make_engine, upgrade


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
