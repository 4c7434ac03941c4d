"""The app's parts, built once by create_app and kept in app.extensions['intake']."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from handlers import metrics
from handlers.erasure_worker import ErasureWorker
from handlers.inbound import Intake, needs_database
from handlers.inbox_worker import InboxWorker, run_event
from handlers.logformat import event_ids
from handlers.mailer import AlertMailer
from handlers.messenger import BadEvent, Event, parse_item
from handlers.reminders import ReminderWorker
from handlers.sender import OutboxSender
from handlers.settings import Settings
from storage import inbox
from storage.group_commit import GroupCommit

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


@dataclass
class Services:
    """Everything a request or job needs, built from the settings."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    intake: Intake
    sender: OutboxSender
    mailer: AlertMailer
    reminders: ReminderWorker
    inbox: InboxWorker
    inbox_engine: Engine  # where the webhook stores events: the database, or SQLite's inbox file
    erasure: ErasureWorker
    clock: Callable[[], datetime] = utc_now
    subscription: Any = field(default=None)  # handlers.subscription.SubscriptionCheck when APP_ID is set
    jobs: Any = field(default=None)  # handlers.jobs.Jobs when this process runs the background work

    def accept(self, items: Iterable[tuple[str, Any]], request_id: str | None = None) -> int:
        """Store a webhook batch's events that can change anything in the inbox, in one commit.

        Receipts, reads and our own echoes are dropped here; an unusable item is logged and skipped, the rest
        of the batch is kept. Each event keeps an id derived from the POST's `request_id` for the logs. Return how
        many events were stored.
        """
        kept = []
        for channel, item in items:
            try:
                event = parse_item(channel, item)
            except BadEvent as exc:
                log.warning("webhook event skipped: %s", exc)
                metrics.webhook_event(None)
                continue
            metrics.webhook_event(event)
            if needs_database(event) and event.sender:
                kept.append((event.timestamp, event.sender, channel, item))
        if not kept:
            return 0
        kept.sort(key=lambda row: row[0])  # Meta may deliver a backlog out of order
        rows = [row[1:] for row in kept]
        ids = event_ids(request_id, len(rows))
        self._inbox_writes.submit([(*row, event_id) for row, event_id in zip(rows, ids, strict=True)])
        if self.jobs:
            self.jobs.wake_inbox()
        return len(kept)

    def __post_init__(self) -> None:
        # under a burst a web worker's threads share one commit (and SQLite's one write lock) instead of queueing
        self._inbox_writes: GroupCommit[tuple[str, str, Any, str | None]] = GroupCommit(self._store_events)

    def _store_events(self, rows: list[tuple[str, str, Any, str | None]]) -> None:
        """Insert the events of one or more webhook requests in one transaction; again after a lost connection."""
        items, ids = [row[:3] for row in rows], [row[3] for row in rows]
        for attempt in (1, 2):
            try:
                inbox.store(self.inbox_engine, items, self.clock(), ids)
                return
            except OperationalError as exc:  # a connection the database closed (a restart): the pool is renewed
                metrics.database_error(exc, "webhook")
                if attempt == 2:
                    raise
                log.warning("storing webhook events failed once; retrying")

    def process(self, events: Iterable[Event]) -> int:
        """Handle events at once, each in its own transaction (the terminal chat and the console simulator)."""
        queued = 0
        for event in events:
            if not needs_database(event):
                continue
            try:
                queued += run_event(self.sessions, self.intake, event, self.clock()) or 0
            except Exception:
                log.exception("%s event failed", event.kind)
        if queued and self.jobs:
            self.jobs.wake()
        return queued

    def close(self) -> None:
        """Let the sending threads finish and close every database connection."""
        self.sender.close()
        self.engine.dispose()
        self.inbox_engine.dispose()

    def drain(self) -> None:
        """Handle the whole inbox, then deliver the whole outbox (for tests and the terminal)."""
        self.inbox.process_all()
        self.sender.deliver_all()
