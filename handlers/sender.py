"""Deliver the outbox: lease due messages, send them outside any transaction, record the result."""
from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from handlers.graph import GraphError, Sender
from storage import outbox

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)  # a crashed sender's messages are taken up again after this
BATCH = 50
MAX_ATTEMPTS = 12
MAX_BACKOFF = 600.0


def backoff(attempts: int) -> timedelta:
    """Return the wait before the next try: exponential, capped, with jitter so workers spread out."""
    seconds = min(MAX_BACKOFF, 2.0 ** attempts)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security


class OutboxSender:
    """Works the outbox through a Sender (the Graph API, or a printer)."""

    def __init__(self, sessions: sessionmaker[Session], client: Sender, clock: Callable[[], datetime]) -> None:
        self.sessions, self.client, self.clock = sessions, client, clock

    def deliver_once(self) -> int:
        """Send one round of due messages (the first waiting one of each user); return how many were tried."""
        with self.sessions.begin() as session:
            rows = [(r.id, r.body, r.attempts) for r in outbox.claim_batch(session, self.clock(), BATCH, LEASE)]
        for outbox_id, body, attempts in rows:
            self._deliver(outbox_id, body, attempts)
        return len(rows)

    def deliver_all(self, max_rounds: int = 1000) -> int:
        """Deliver until nothing is due; return how many sends were tried."""
        total = 0
        for _ in range(max_rounds):
            tried = self.deliver_once()
            if not tried:
                break
            total += tried
        return total

    def _deliver(self, outbox_id: int, body: dict, attempts: int) -> None:
        """Send one leased message and record what happened."""
        try:
            message_id = self.client.send(body)
        except GraphError as error:
            self._record_failure(outbox_id, error, attempts)
            return
        with self.sessions.begin() as session:
            outbox.mark_sent(session, outbox_id, message_id, self.clock())

    def _record_failure(self, outbox_id: int, error: GraphError, attempts: int) -> None:
        """Retry later when that can help; otherwise keep the message as failed, with the reason."""
        with self.sessions.begin() as session:
            if error.retryable and attempts < MAX_ATTEMPTS:
                outbox.mark_retry(session, outbox_id, str(error), self.clock() + backoff(attempts))
                log.warning("send %s failed, will retry: %s", outbox_id, error)
            else:
                outbox.mark_failed(session, outbox_id, str(error))
                log.error("send %s failed for good: %s", outbox_id, error)
