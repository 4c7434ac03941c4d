"""Deliver the outbox: lease due messages, send them outside any transaction, record the result."""
from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from handlers.graph import GraphError, Sender
from handlers.messenger import simulated
from storage import alerts, outbox, status

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)  # a crashed sender's messages are taken up again after this
BATCH = 50
MAX_ATTEMPTS = 12
MAX_BACKOFF = 600.0
TOKEN_CODES = {190}  # the page token is expired or revoked: every send would fail the same way


def backoff(attempts: int) -> timedelta:
    """Return the wait before the next try: exponential, capped, with jitter so workers spread out."""
    seconds = min(MAX_BACKOFF, 2.0 ** attempts)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security


def token_fingerprint(token: str) -> str:
    """Return a short, non-secret name for a token, to tell a new one from a refused one."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class OutboxSender:
    """Works the outbox through a Sender (the Graph API, or a printer)."""

    def __init__(self, sessions: sessionmaker[Session], client: Sender, clock: Callable[[], datetime],
                 token: str = "") -> None:
        self.sessions, self.client, self.clock = sessions, client, clock
        self.fingerprint = token_fingerprint(token)

    def deliver_once(self) -> int:
        """Send one round of due messages (the first waiting one of each user); return how many were tried."""
        with self.sessions.begin() as session:
            if self._blocked(session):
                return 0
            claimed = outbox.claim_batch(session, self.clock(), BATCH, LEASE)
            rows = [(r.id, r.body, r.attempts) for r in claimed]
        for index, (outbox_id, body, attempts) in enumerate(rows):
            if not self._deliver(outbox_id, body, attempts):
                with self.sessions.begin() as session:  # give back what this round will not send
                    outbox.release(session, [row[0] for row in rows[index + 1:]])
                break
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

    def _blocked(self, session: Session) -> bool:
        """Return whether sending waits for a new page token; a new token lifts the block."""
        refused = status.get_status(session, status.TOKEN_REFUSED)
        if refused is None:
            return False
        if not refused.value.startswith(self.fingerprint):
            status.clear_status(session, status.TOKEN_REFUSED)
            log.warning("a new page token is configured: sending the kept messages")
            return False
        return True

    def _deliver(self, outbox_id: int, body: dict, attempts: int) -> bool:
        """Send one leased message and record what happened; return False when sending must pause."""
        if attempts > 1:
            log.warning("outbox %s: attempt %d (an earlier outcome may be unknown)", outbox_id, attempts)
        try:
            message_id = None if simulated(str(body.get("recipient", {}).get("id", ""))) else self.client.send(body)
        except GraphError as error:
            return self._record_failure(outbox_id, error, attempts)
        with self.sessions.begin() as session:
            outbox.mark_sent(session, outbox_id, message_id, self.clock())
        return True

    def _record_failure(self, outbox_id: int, error: GraphError, attempts: int) -> bool:
        """Retry later when that can help; keep a final failure with its reason; pause on a refused token."""
        now = self.clock()
        with self.sessions.begin() as session:
            if error.code in TOKEN_CODES:
                outbox.mark_retry(session, outbox_id, str(error), now, count_attempt=False)
                if status.set_status(session, status.TOKEN_REFUSED, f"{self.fingerprint} {error}", now):
                    alerts.raise_alert(session, case_id=None, kind="token_refused", category=None,
                                       severity="urgent", now=now)
                log.error("the page token was refused (code 190): sending paused until a new token is set")
                return False
            if error.retryable and attempts < MAX_ATTEMPTS:
                outbox.mark_retry(session, outbox_id, str(error), now + backoff(attempts))
                log.warning("send %s failed, will retry: %s", outbox_id, error)
            else:
                outbox.mark_failed(session, outbox_id, str(error))
                log.error("send %s failed for good: %s", outbox_id, error)
        return True
