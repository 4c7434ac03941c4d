"""INSERT … ON CONFLICT DO NOTHING for both supported databases."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_ignore(session: Session, model: type, **values: Any) -> bool:
    """Insert a row unless its unique key exists; return whether it was inserted."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement: Insert = dialect.insert(model).values(**values).on_conflict_do_nothing()
    # RETURNING tells inserted from skipped on both databases (an ORM execute reports no rowcount)
    key = list(model.__table__.primary_key.columns)  # type: ignore[attr-defined]
    return session.execute(statement.returning(*key)).first() is not None
