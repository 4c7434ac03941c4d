"""A send-rate budget shared by every sender process through one locked row (Meta allows ~300 calls/s per page)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import SendSlot
from storage.upsert import insert_ignore

MAX_AHEAD = timedelta(seconds=30)  # far more than any real backlog of reservations (a batch is 50 calls)


def reserve(session: Session, name: str, count: int, rate: float, now: datetime) -> datetime:
    """Reserve `count` calls at `rate` per second after those already reserved; return when the first may go.

    Call i of the reservation goes at the returned time + i / rate. The row lock is held only until the
    caller's (short) transaction commits, so senders on several machines share one budget.
    """
    locked = select(SendSlot).where(SendSlot.name == name).with_for_update()
    row = session.scalars(locked).one_or_none()
    if row is None:  # the first round ever: two senders may race to create the row
        insert_ignore(session, SendSlot, name=name, next_at=now)
        row = session.scalars(locked).one()
    start = max(row.next_at, now)
    if start - now > MAX_AHEAD:  # a clock that jumped back, or another machine's clock far ahead: start afresh
        start = now
    row.next_at = start + timedelta(seconds=count / rate)
    return start
