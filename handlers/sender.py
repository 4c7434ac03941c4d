"""Deliver the outbox: lease due messages, send them outside any transaction, record the result."""
from __future__ import annotations

import hashlib
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from handlers import metrics
from handlers.graph import GraphError, Sender
from handlers.logformat import request_context
from handlers.messenger import simulated
from storage import alerts, outbox, pacing, status, tallies

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)  # a crashed sender's messages are taken up again after this
BATCH = 50  # users per round
CHAIN = 4  # messages of one user sent one after the other in a round (typing indicator, reply, ...)
SENT, FAILED, PAUSE = "sent", "failed", "pause"  # the outcome of one call
RECORD_ATTEMPTS = 3
MAX_ATTEMPTS = 12
MAX_BACKOFF = 600.0
TOKEN_CODES = {190}  # the page token is expired or revoked: every send would fail the same way
PACING_KEY = "send_api"
Call = tuple[int, dict[str, Any], int, str | None]  # outbox id, body, attempts, request id
STALE_TYPING = timedelta(seconds=2)  # a typing indicator this late (queued by an older version) is noise


def backoff(attempts: int) -> timedelta:
    """Return the wait before the next try: exponential, capped, with jitter so workers spread out."""
    seconds = min(MAX_BACKOFF, 2.0 ** attempts)
    return timedelta(seconds=seconds * random.uniform(0.8, 1.2))  # noqa: S311 - jitter, not security


def _is_typing(body: dict[str, Any]) -> bool:
    return body.get("sender_action") == "typing_on"


def _kind(body: dict[str, Any]) -> str:
    """Return what a Send API body is, for the log: a message, a sender action, or a handover."""
    return str(body.get("_endpoint") or body.get("sender_action") or "message")


def token_fingerprint(token: str) -> str:
    """Return a short, non-secret name for a token, to tell a new one from a refused one."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class OutboxSender:
    """Works the outbox through a Sender (the Graph API, or a printer)."""

    def __init__(self, sessions: sessionmaker[Session], client: Sender, clock: Callable[[], datetime],
                 token: str = "", rate: float = 250.0, concurrency: int = 8) -> None:
        self.sessions, self.client, self.clock = sessions, client, clock
        self.fingerprint = token_fingerprint(token)
        self.rate = rate  # Send API calls per second for the whole installation (SEND_RATE)
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="send") if concurrency > 1 else None
        self._trusted = False  # whether the last call was accepted: only then do calls go side by side
        self._spacing, self._last_call = threading.Lock(), 0.0

    def deliver_once(self) -> int:
        """Send one round of due messages; return how many were tried.

        A round takes the first waiting message of up to BATCH users with the ones right behind it (a typing
        indicator and the reply): one thread sends a user's messages one after the other, so each user's order
        holds while users are served side by side. The calls are spread out at `rate` per second, counted
        across every sender of the installation.
        """
        try:
            leased = self._lease()
        except OperationalError as exc:  # a deadlock or lock timeout: nothing was leased; the next round tries again
            log.warning("leasing the outbox hit %s; trying again in the next round", type(exc).__name__)
            metrics.database_error(exc, "sender")
            return 0
        if leased is None:
            return 0
        chains, tried, start = leased
        if not chains:
            return tried
        return self._send_round(chains, start, tried)

    def _lease(self) -> tuple[list[list[Call]], int, datetime] | None:
        """Lease a round and reserve its send slots; return (each user's calls, messages leased, first slot),
        or None while sending waits for a new page token."""
        with self.sessions.begin() as session:
            if self._blocked(session):
                return None
            now = self.clock()
            claimed = outbox.claim_chains(session, now, BATCH, CHAIN, LEASE)
            chains = []
            for chain in claimed:  # no call to Meta: simulator contacts, typing indicators gone stale
                calls = []
                for row in chain:
                    if simulated(row.recipient) or (_is_typing(row.body) and now - row.created_at > STALE_TYPING):
                        outbox.mark_sent(session, row.id, None, now)
                    else:
                        calls.append((row.id, row.body, row.attempts, row.request_id))
                if calls:
                    chains.append(calls)
            tried = sum(len(chain) for chain in claimed)
            if not chains:
                return chains, tried, now
            return chains, tried, pacing.reserve(session, PACING_KEY, sum(len(c) for c in chains), self.rate, now)

    def _send_round(self, chains: list[list[Call]], start: datetime, tried: int) -> int:
        """Send a leased round: each user's calls one after the other, users side by side."""
        stop = threading.Event()  # set when sending must pause (a refused token): the rest is given back
        slots = itertools.count()  # the reserved calls, handed out in the order they go
        sent = _SentRecorder(self.sessions)

        def send(calls: list[Call]) -> None:
            for position, call in enumerate(calls):
                if stop.is_set():
                    outcome = None
                else:
                    slot = (start + timedelta(seconds=next(slots) / self.rate) - self.clock()).total_seconds()
                    wait = self._spaced(time.monotonic() + max(slot, 0.0)) - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    outcome = self._send_one(call, sent)
                if outcome is not SENT:  # the rest of this user's messages wait behind the one not sent
                    rest = calls[position + (outcome is not None):]
                    if rest:
                        with self.sessions.begin() as session:
                            outbox.release(session, [row[0] for row in rest])
                    if outcome is PAUSE:
                        stop.set()
                    return

        try:
            first = 0
            if self._pool is None or not self._trusted:  # after a start or a refused token, one user tests the way
                send(chains[0])
                first = 1
            if self._pool is None:
                for calls in chains[first:]:
                    send(calls)
            else:
                list(self._pool.map(send, chains[first:]))
        finally:
            sent.write()
        return tried

    def _spaced(self, wanted: float) -> float:
        """Return the monotonic time a call may go: at its slot, and never closer than 1/rate to this process's
        previous call, so calls made late by a busy machine do not bunch up when they catch up."""
        with self._spacing:
            at = max(wanted, self._last_call + 1 / self.rate)
            self._last_call = at
            return at

    def close(self) -> None:
        """Stop the sending threads once their calls are done."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

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

    def _send_one(self, call: Call, sent: _SentRecorder) -> str:
        """Deliver one call under the request id of what it answers, so its lines join the event's trail."""
        outbox_id, body, attempts, request_id = call
        with request_context(request_id):
            outcome = self._deliver(outbox_id, body, attempts, sent)
            if outcome is SENT:
                log.info("sent outbox=%s kind=%s", outbox_id, _kind(body), extra={"outbox_id": outbox_id})
        return outcome

    def _deliver(self, outbox_id: int, body: dict, attempts: int, sent: _SentRecorder) -> str:
        """Send one leased message and record what happened: SENT, FAILED (kept or set for a retry) or PAUSE."""
        if attempts > 1:
            log.warning("outbox %s: attempt %d (an earlier outcome may be unknown)", outbox_id, attempts)
        started = time.monotonic()
        try:
            message_id = self.client.send(body)
        except GraphError as error:
            metrics.send_finished(error, time.monotonic() - started)
            return FAILED if self._record_failure(outbox_id, error, attempts) else PAUSE
        metrics.send_finished(None, time.monotonic() - started)
        sent.add(outbox_id, message_id, self.clock())
        self._trusted = True
        return SENT

    def _record_failure(self, outbox_id: int, error: GraphError, attempts: int) -> bool:
        """Retry later when that can help; keep a final failure with its reason; pause on a refused token."""
        now = self.clock()
        with self.sessions.begin() as session:
            tallies.record_send_error(session, error.code, now)  # for the insight page's delivery health
            if error.code in TOKEN_CODES:
                self._trusted = False
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


class _SentRecorder:
    """Records sent messages with group commit: a thread that finds no write going on writes everything recorded
    so far in one transaction, the others only add theirs. One write per call would queue the sending threads
    behind SQLite's single write lock; the gap between a call and its record stays one short transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions
        self._waiting: list[tuple[int, str | None, datetime]] = []
        self._lock, self._writing = threading.Lock(), threading.Lock()

    def add(self, outbox_id: int, message_id: str | None, at: datetime) -> None:
        with self._lock:
            self._waiting.append((outbox_id, message_id, at))
        self.write(wait=False)

    def write(self, wait: bool = True) -> None:
        """Write what waits; with wait=False, leave it to a write already going on."""
        while self._writing.acquire(blocking=wait):
            try:
                with self._lock:
                    batch, self._waiting = self._waiting, []
                if batch:
                    self._record(batch)
            finally:
                self._writing.release()
            with self._lock:
                if not self._waiting:  # else one came in while this write went on and its thread left it to us
                    return

    def _record(self, batch: list[tuple[int, str | None, datetime]]) -> None:
        """Mark a batch sent, trying again after a deadlock: unrecorded, they would go out again after the lease."""
        for attempt in range(1, RECORD_ATTEMPTS + 1):
            try:
                with self.sessions.begin() as session:
                    outbox.mark_sent_many(session, batch)
                return
            except SQLAlchemyError as exc:
                log.warning("recording %d sent messages hit %s (attempt %d)", len(batch), type(exc).__name__, attempt)
                metrics.database_error(exc, "sender")
        log.error("%d sent messages could not be recorded: they may go out again when their lease runs out",
                  len(batch))
