"""Installation-wide facts that monitoring must see (for example: Meta refused the page token)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from storage.models import SystemStatus
from storage.upsert import insert_ignore

TOKEN_REFUSED = "page_token_refused"


def set_status(session: Session, key: str, value: str, now: datetime) -> bool:
    """Record a fact; return whether it is new (an existing one keeps its first time)."""
    return insert_ignore(session, SystemStatus, key=key, value=value[:500], since=now)


def get_status(session: Session, key: str) -> SystemStatus | None:
    """Return a recorded fact, if any."""
    return session.get(SystemStatus, key)


def clear_status(session: Session, key: str) -> None:
    """Forget a fact."""
    session.execute(delete(SystemStatus).where(SystemStatus.key == key))


def all_status(session: Session) -> list[SystemStatus]:
    """Return every recorded fact."""
    return list(session.scalars(select(SystemStatus).order_by(SystemStatus.key)))
