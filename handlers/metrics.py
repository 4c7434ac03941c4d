"""Prometheus series counted where things happen (webhook, inbox, engine, sender, reminders).

The metrics live in prometheus_client's default registry, defined once at import, so creating several apps in one
process never registers a series twice. Under PROMETHEUS_MULTIPROC_DIR prometheus_client writes each process's
values to files there, and GET /metrics (handlers/scrape.py) adds them up. Labels take values from small fixed
sets (outcomes, event kinds, lexicon categories, Graph error codes, exception class names): never a user id or
anything a user typed, for privacy and to keep the number of series small.
"""
from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import cache

from flask import g
from prometheus_client import Counter, Histogram, disable_created_metrics
from sqlalchemy.exc import SQLAlchemyError

from handlers.graph import GraphError
from handlers.messenger import Event

disable_created_metrics()  # no *_created series: they double the output and multiprocess mode has none anyway
LATE_AFTER = timedelta(seconds=60)  # a reminder fired later than this after its time counts as late
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ENGINE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
LATENESS_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 900, 3600, 4 * 3600, 24 * 3600)

WEBHOOK_REQUESTS = Counter("ida_webhook_requests", "Webhook requests by outcome (ok, ignored, bad_signature, "
                           "bad_body, too_large, unavailable, error, verify, verify_refused)", ["outcome"])
WEBHOOK_SECONDS = Histogram("ida_webhook_request_duration_seconds", "Time to answer a webhook request, by outcome",
                            ["outcome"], buckets=REQUEST_BUCKETS)
EVENTS = Counter("ida_webhook_events", "Messaging items received through the webhook, by type", ["type"])
ENGINE_STEPS = Counter("ida_engine_steps", "Runs of the conversation engine, by kind of input", ["input"])
ENGINE_SECONDS = Histogram("ida_engine_step_duration_seconds", "Time one engine step takes, by kind of input",
                           ["input"], buckets=ENGINE_BUCKETS)
SAFETY = Counter("ida_safety_detections", "Safety lexicon detections in users' messages and answers",
                 ["category", "severity"])
SENDS = Counter("ida_sends", "Send API calls by result: ok, Meta's error code, http_<status> or network",
                ["result"])
SEND_SECONDS = Histogram("ida_send_duration_seconds", "Time one Send API call takes (ok or error)", ["outcome"],
                         buckets=REQUEST_BUCKETS)
REMINDERS_FIRED = Counter("ida_reminders_fired", "Reminders fired, by kind and what became of them",
                          ["kind", "result"])
REMINDERS_LATE = Counter("ida_reminders_late", f"Reminders fired more than {LATE_AFTER.seconds} s after their time",
                         ["kind"])
REMINDER_LATENESS = Histogram("ida_reminder_lateness_seconds", "How long after its time a reminder fired",
                              ["kind"], buckets=LATENESS_BUCKETS)
DATABASE_ERRORS = Counter("ida_database_errors", "Database errors, by exception class and where they were caught",
                          ["error", "where"])

WEBHOOK_STATUS = {200: "ok", 400: "bad_body", 403: "bad_signature", 413: "too_large", 503: "unavailable"}
MESSAGE_TYPES = {"quick_reply": "quick_reply", "text": "message"}  # a message's transcript kind -> event type
MAX_CODE = 99_999_999  # Graph error codes are small numbers; anything else is folded into "other"
OUTCOMES = ("ok", "ignored", "bad_signature", "bad_body", "too_large", "unavailable", "error", "verify",
            "verify_refused")


def show_outcomes() -> None:
    """Make every webhook outcome show from the start, at 0, as rate() and alerts need.

    Called from create_app, after the settings were checked: under PROMETHEUS_MULTIPROC_DIR this writes the first
    file, and the import itself must write none (a missing directory gets the settings' error, not a traceback).
    """
    for outcome in OUTCOMES:
        WEBHOOK_REQUESTS.labels(outcome=outcome)


def webhook_started() -> None:
    """Note when this webhook request started (a before_request hook)."""
    g.metrics_started = time.perf_counter()


def webhook_finished(method: str, status: int) -> None:
    """Count a webhook request Flask answered (the handshake, an error) under an outcome derived from the status."""
    started = g.pop("metrics_started", None)
    webhook_counted(_outcome(method, status), None if started is None else time.perf_counter() - started)


def webhook_counted(outcome: str, seconds: float | None) -> None:
    """Count a webhook request and how long it took."""
    requests, durations = _webhook_series(outcome)
    requests.inc()
    if seconds is not None:
        durations.observe(seconds)


@cache  # labels() looks a series up under a lock on every call: a few µs of each webhook request, three times
def _webhook_series(outcome: str) -> tuple[Counter, Histogram]:
    """Return the webhook's request counter and duration histogram for one outcome."""
    return WEBHOOK_REQUESTS.labels(outcome=outcome), WEBHOOK_SECONDS.labels(outcome=outcome)


def _outcome(method: str, status: int) -> str:
    """Return the outcome name for a webhook answer."""
    if method == "GET":
        return "verify" if status == 200 else "verify_refused"
    return WEBHOOK_STATUS.get(status, "error")


def webhook_event(event: Event | None) -> None:
    """Count one messaging item by type; None is an item too malformed to read."""
    _events_of_type(event_type(event)).inc()


@cache
def _events_of_type(kind: str) -> Counter:
    """Return the counter of one type of messaging item."""
    return EVENTS.labels(type=kind)


def event_type(event: Event | None) -> str:
    """Return the type label: the event's kind, a message split into message, quick_reply and attachment."""
    if event is None:
        return "invalid"
    if event.kind == "message":
        return MESSAGE_TYPES.get(event.transcript_kind, "attachment")
    return event.kind


@contextmanager
def engine_step(kind: str) -> Iterator[None]:
    """Count and time one engine step; `kind` names the input (text, postback, media)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        ENGINE_SECONDS.labels(input=kind).observe(time.perf_counter() - started)
        ENGINE_STEPS.labels(input=kind).inc()


def safety_detection(category: str, severity: str) -> None:
    """Count one detection of the safety lexicon."""
    SAFETY.labels(category=category, severity=severity).inc()


def send_finished(error: GraphError | None, seconds: float) -> None:
    """Count one Send API call by its result and time it."""
    SEND_SECONDS.labels(outcome="ok" if error is None else "error").observe(seconds)
    SENDS.labels(result=send_result(error)).inc()


def send_result(error: GraphError | None) -> str:
    """Return "ok", Meta's error code, http_<status> for an error without one, or "network"."""
    if error is None:
        return "ok"
    if error.code is not None:
        return str(error.code) if 0 <= error.code <= MAX_CODE else "other"
    return f"http_{error.status}" if error.status else "network"


def reminder_fired(kind: str, result: str, lateness: timedelta) -> None:
    """Count a fired reminder with what became of it, and how late it fired."""
    REMINDERS_FIRED.labels(kind=kind, result=result).inc()
    REMINDER_LATENESS.labels(kind=kind).observe(max(0.0, lateness.total_seconds()))
    if lateness > LATE_AFTER:
        REMINDERS_LATE.labels(kind=kind).inc()


def database_error(exc: BaseException, where: str) -> None:
    """Count a database error caught at `where`; other exceptions are not counted here."""
    if isinstance(exc, SQLAlchemyError):
        DATABASE_ERRORS.labels(error=type(exc).__name__, where=where).inc()
