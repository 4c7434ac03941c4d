"""Handle the inbox: lease the events first in line for their user, then each in its own transaction."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from handlers import metrics
from handlers.flow_library import hold_live_versions
from handlers.inbound import Intake, handle_event
from handlers.logformat import request_context
from handlers.messenger import Event, parse_item
from storage import inbox

log = logging.getLogger(__name__)
TRANSIENT = (OperationalError, IntegrityError)  # lock timeouts, deadlocks, a lost race on a unique key
ATTEMPTS = 3  # tries in a row before an event goes back in line
LEASE = timedelta(seconds=60)  # a crashed worker's events are taken up again after this
BATCH = 10  # events leased per round: a small round lets several workers share a burst
RETRY_AFTER = timedelta(seconds=5)
Claim = Callable[[Session], bool]
Leased = tuple[int, int, str, dict, datetime, str | None]  # id, attempts, channel, item, received_at, request_id


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
                queued = handle_event(session, intake, event, now)
            _handled(event, queued)
            return queued
        except TRANSIENT as exc:
            log.warning("%s event hit %s (attempt %d)", event.kind, type(exc).__name__, attempt)
            metrics.database_error(exc, "inbox")
    return None


def _handled(event: Event, queued: int) -> None:
    """Log that an event is done: the middle of its trail from webhook to Send API (kind and count only)."""
    log.info("event handled kind=%s queued=%d", event.kind, queued, extra={"queued": queued})


class InboxWorker:
    """Works the inbox of the whole installation; any number of processes may run one."""

    def __init__(self, sessions: sessionmaker[Session], intake: Intake, clock: Callable[[], datetime],
                 inbox_sessions: sessionmaker[Session] | None = None,
                 on_queued: Callable[[], None] = lambda: None) -> None:
        self.sessions, self.intake, self.clock, self.on_queued = sessions, intake, clock, on_queued
        self.inbox_sessions = inbox_sessions or sessions  # SQLite keeps the inbox in a file of its own
        # with the inbox in a file of its own: events handled in a round, removed with the next round's lease
        self._handled: list[int] = []
        self._handled_lock = threading.Lock()

    def process_once(self) -> int:
        """Handle one round (at most one event per user); return how many events were leased.

        The round is one transaction with a savepoint per event: one commit instead of one per event, and an
        event that fails undoes only itself. Should the round's transaction itself fail (a lock timeout, a
        deadlock), each event is tried again in a transaction of its own.

        Where the inbox is a SQLite file of its own, every webhook request waits for each write to it: the events
        of a round are removed in the transaction that leases the next round (process_all ends with one that
        leases nothing), one inbox write per round instead of two.
        """
        with self._handled_lock:
            removable, self._handled = self._handled, []
        try:
            with self.inbox_sessions.begin() as session:
                if removable:
                    inbox.remove(session, removable)
                leased: list[Leased] = [(row.id, row.attempts, row.channel, row.item, row.received_at,
                                         row.request_id)
                                        for row in inbox.claim_batch(session, self.clock(), BATCH, LEASE)]
        except Exception:
            self._remove_later(removable)
            raise
        handled: list[int] = []
        alone: list[Leased] = []
        failed: list[tuple[int, str]] = []
        try:
            with self.sessions.begin() as session:
                hold_live_versions(session)  # one query for the round's flow and lexicon versions
                for row in leased:
                    with request_context(row[5]):  # its lines carry the id the webhook gave the event
                        self._handle_in_round(session, row, handled, alone, failed)
        except TRANSIENT as exc:
            log.warning("a round of %d events hit %s; each is tried on its own", len(leased), type(exc).__name__)
            metrics.database_error(exc, "inbox")
            done = {inbox_id for inbox_id, _ in failed}
            handled, alone = [], [row for row in leased if row[0] not in done]
        if handled:
            self.on_queued()  # the sender starts on the replies while the events tried alone go on
        for row in alone:
            with request_context(row[5]):
                if self._handle(*row[:5], handled):
                    self.on_queued()
        if failed:
            with self.inbox_sessions.begin() as session:
                for inbox_id, error in failed:
                    inbox.mark_failed(session, inbox_id, error)
        if handled and self.inbox_sessions is not self.sessions:
            self._remove_later(handled)
        return len(leased)

    def _remove_later(self, inbox_ids: list[int]) -> None:
        """Have these handled events removed with the next lease (a separate inbox file)."""
        with self._handled_lock:
            self._handled += inbox_ids

    def _handle_in_round(self, session: Session, row: Leased, handled: list[int], alone: list[Leased],
                         failed: list[tuple[int, str]]) -> None:
        """Handle one event of a round in a savepoint; sort it into handled, to try alone, or failed."""
        inbox_id, attempts, channel, item, received_at, _ = row
        try:
            event = parse_item(channel, item)
            with session.begin_nested():
                if self.inbox_sessions is self.sessions and not inbox.take(session, inbox_id, attempts):
                    return  # another worker took it over after our lease ran out
                queued = handle_event(session, self.intake, event, received_at)
            handled.append(inbox_id)
            _handled(event, queued)
        except TRANSIENT as exc:
            log.warning("%s in a round; the event is tried on its own", type(exc).__name__)
            metrics.database_error(exc, "inbox")
            alone.append(row)
        except Exception as exc:  # noqa: BLE001 - a bug, or an unreadable item: set it aside, the user's next go on
            log.exception("inbox event %s failed; set aside", inbox_id)
            failed.append((inbox_id, type(exc).__name__))

    def process_all(self, max_rounds: int = 1000) -> int:
        """Handle rounds until the inbox has nothing due; return how many events were leased."""
        total = 0
        for _ in range(max_rounds):
            done = self.process_once()
            if not done:
                return total
            total += done
        with self._handled_lock:  # stopped at max_rounds: remove what the last round handled now
            removable, self._handled = self._handled, []
        if removable:
            with self.inbox_sessions.begin() as session:
                inbox.remove(session, removable)
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
