"""INSERT … ON CONFLICT DO NOTHING for both supported databases."""
from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(session: Session, model: type, **values: Any) -> bool:
    """Insert a row unless its unique key exists; return whether it was inserted."""
    if session.autoflush:  # as an ORM statement would: rows added before this one go first
        session.flush()
    connection = session.connection()
    statement = _statement(connection.dialect.name, model.__table__)  # type: ignore[attr-defined]
    # RETURNING tells inserted from skipped on both databases
    return connection.execute(statement, values).first() is not None


@cache
def _statement(dialect_name: str, table: Table) -> Insert:
    """Build the statement once per table: it runs on every event (the event's key), and building it anew and
    sending it through the ORM cost more than the insert itself. The columns come from the values passed."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing().returning(*table.primary_key.columns)
