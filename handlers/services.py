"""The app's parts, built once by create_app and kept in app.extensions['intake']."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from handlers.inbound import Intake, handle_event, needs_database
from handlers.mailer import AlertMailer
from handlers.messenger import Event
from handlers.reminders import ReminderWorker
from handlers.sender import OutboxSender
from handlers.settings import Settings

log = logging.getLogger(__name__)
TRANSIENT = (OperationalError, IntegrityError)  # lock timeouts, deadlocks, a lost race on a unique key
ATTEMPTS = 3


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
    clock: Callable[[], datetime] = utc_now
    subscription: Any = field(default=None)  # handlers.subscription.SubscriptionCheck when APP_ID is set
    jobs: Any = field(default=None)  # handlers.jobs.Jobs when this process runs the background work

    def process(self, events: Iterable[Event]) -> int:
        """Handle events one by one, each in its own transaction; one bad event never stops the rest."""
        queued = sum(self.process_one(event) for event in events)
        if queued and self.jobs:
            self.jobs.wake()
        return queued

    def process_one(self, event: Event) -> int:
        """Handle one event, retrying a transient database error; log and drop a bug's exception."""
        if not needs_database(event):
            return 0
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with self.sessions.begin() as session:
                    return handle_event(session, self.intake, event, self.clock())
            except TRANSIENT as exc:
                if attempt == ATTEMPTS:
                    log.exception("%s event failed after %d attempts", event.kind, attempt)
                    return 0
                log.warning("%s event hit %s, retrying", event.kind, type(exc).__name__)
            except Exception:
                log.exception("%s event failed", event.kind)
                return 0
        return 0
