"""Remember handled webhook events, so a redelivered one is recognised and skipped."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from storage.models import ProcessedEvent
from storage.upsert import insert_ignore


def claim_event(session: Session, key: str, now: datetime) -> bool:
    """Record an event key; return False when it was handled before (or is being handled now)."""
    # on PostgreSQL a concurrent insert of the same key waits for the other transaction and then conflicts
    return insert_ignore(session, ProcessedEvent, key=key[:255], created_at=now)
