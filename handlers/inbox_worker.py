"""Handle the inbox: lease the events first in line for their user, then each in its own transaction."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from handlers.inbound import Intake, handle_event
from handlers.messenger import Event, parse_item
from storage import inbox

log = logging.getLogger(__name__)
TRANSIENT = (OperationalError, IntegrityError)  # lock timeouts, deadlocks, a lost race on a unique key
ATTEMPTS = 3  # tries in a row before an event goes back in line
LEASE = timedelta(seconds=60)  # a crashed worker's events are taken up again after this
BATCH = 10  # events leased per round: a small round lets several workers share a burst
RETRY_AFTER = timedelta(seconds=5)
Claim = Callable[[Session], bool]


def run_event(sessions: sessionmaker[Session], intake: Intake, event: Event, now: datetime,
              claim: Claim | None = None) -> int | None:
    """Handle one event in a transaction, retrying a transient database error.

    Return how many Send API requests it queued, or None when it kept failing on the database (the caller
    keeps the event). A bug's exception propagates. `claim` runs first in the same transaction; when it says
    no, nothing is done.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with sessions.begin() as session:
                if claim is not None and not claim(session):
                    return 0
                return handle_event(session, intake, event, now)
        except TRANSIENT as exc:
            log.warning("%s event hit %s (attempt %d)", event.kind, type(exc).__name__, attempt)
    return None


class InboxWorker:
    """Works the inbox of the whole installation; any number of processes may run one."""

    def __init__(self, sessions: sessionmaker[Session], intake: Intake, clock: Callable[[], datetime],
                 inbox_sessions: sessionmaker[Session] | None = None,
                 on_queued: Callable[[], None] = lambda: None) -> None:
        self.sessions, self.intake, self.clock, self.on_queued = sessions, intake, clock, on_queued
        self.inbox_sessions = inbox_sessions or sessions  # SQLite keeps the inbox in a file of its own

    def process_once(self) -> int:
        """Handle one round (at most one event per user); return how many events were leased."""
        with self.inbox_sessions.begin() as session:
            leased = [(row.id, row.attempts, row.channel, row.item, row.received_at)
                      for row in inbox.claim_batch(session, self.clock(), BATCH, LEASE)]
        handled: list[int] = []
        for row in leased:
            if self._handle(*row, handled):
                self.on_queued()  # the sender starts on this user's replies while the round goes on
        if handled:  # a separate inbox file: remove the round's handled events in one transaction
            with self.inbox_sessions.begin() as session:
                inbox.remove(session, handled)
        return len(leased)

    def process_all(self, max_rounds: int = 1000) -> int:
        """Handle rounds until the inbox has nothing due; return how many events were leased."""
        total = 0
        for _ in range(max_rounds):
            done = self.process_once()
            if not done:
                break
            total += done
        return total

    def _handle(self, inbox_id: int, attempts: int, channel: str, item: dict, received_at: datetime,
                handled: list[int]) -> int:
        """Handle one leased event; keep it (back in line, or set aside) when that fails.

        With a separate inbox file, a handled event's id is added to `handled` for the caller to remove.
        """
        try:
            event = parse_item(channel, item)
            if self.inbox_sessions is self.sessions:  # one database: removing the event is part of handling it
                return self._finish(inbox_id, run_event(self.sessions, self.intake, event, received_at,
                                                        claim=lambda session: inbox.take(session, inbox_id,
                                                                                         attempts)))
            # a separate inbox file: the event is removed after it was handled; should a crash come in between,
            # it is handled again and recognised by its key (a message's mid, a postback's time)
            queued = run_event(self.sessions, self.intake, event, received_at)
            if queued is not None:
                handled.append(inbox_id)
            return self._finish(inbox_id, queued)
        except Exception as exc:  # noqa: BLE001 - a bug, or an unreadable item: set it aside, the user's next go on
            log.exception("inbox event %s failed; set aside", inbox_id)
            with self.inbox_sessions.begin() as session:
                inbox.mark_failed(session, inbox_id, type(exc).__name__)
            return 0

    def _finish(self, inbox_id: int, queued: int | None) -> int:
        """Put an event that kept failing on the database back in line; return the requests it queued."""
        if queued is None:
            with self.inbox_sessions.begin() as session:
                inbox.retry(session, inbox_id, "database busy", self.clock() + RETRY_AFTER)
            return 0
        return queued
