"""Carry out erasure requests once their time has come, and erase what is past its retention period."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from storage import erasure, inbox
from storage.models import ErasureRequest

log = logging.getLogger(__name__)
CONFIRMATION_WAIT = timedelta(minutes=10)  # how long an erasure waits for the bot's last message to go out


class ErasureWorker:
    """Erases data in any process that runs the background jobs; a row lock makes each request run once."""

    def __init__(self, sessions: sessionmaker[Session], inbox_sessions: sessionmaker[Session],
                 clock: Callable[[], datetime], retention_days: int, abandoned_days: int) -> None:
        self.sessions, self.inbox_sessions, self.clock = sessions, inbox_sessions, clock
        self.retention_days, self.abandoned_days = retention_days, abandoned_days

    def run_due(self) -> int:
        """Carry out the due requests; return how many were done."""
        now = self.clock()
        with self.sessions.begin() as session:
            due = erasure.due(session, now)
        done = 0
        for request_id in due:
            with self.sessions.begin() as session:
                row = session.get_one(ErasureRequest, request_id)
                requested_at = row.requested_at
                if row.contact_id is not None and erasure.unsent(session, row.contact_id) \
                        and now - row.due_at < CONFIRMATION_WAIT:
                    continue  # the bot's answer to the request goes out first
                psid = erasure.carry_out(session, request_id, now)
            if psid is not None:
                self._forget_inbox(psid, requested_at)
                done += 1
                log.info("erasure request %s carried out", request_id)
        return done

    def purge(self) -> erasure.Expired:
        """Erase closed cases past RETENTION_DAYS and conversations abandoned for ABANDONED_DAYS."""
        now = self.clock()
        with self.sessions.begin() as session:
            found, psids = erasure.purge(session, now, self.retention_days, self.abandoned_days)
        for psid in psids:
            self._forget_inbox(psid, now)
        if found.closed_cases or found.abandoned_contacts:
            log.info("retention: erased %d closed cases and %d abandoned conversations",
                     len(found.closed_cases), len(found.abandoned_contacts))
        return found

    def expired(self) -> erasure.Expired:
        """Return what purge() would erase now, erasing nothing."""
        with self.sessions.begin() as session:
            return erasure.expired(session, self.clock(), self.retention_days, self.abandoned_days)

    def _forget_inbox(self, psid: str, until: datetime) -> None:
        with self.inbox_sessions.begin() as session:
            inbox.forget_sender(session, psid, until)
