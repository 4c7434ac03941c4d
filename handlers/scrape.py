"""GET /metrics in the Prometheus text format: the counted series, and gauges read from the database per scrape.

Access: with METRICS_TOKEN set, `Authorization: Bearer <token>` (401 without it or with a wrong one); without it,
only a direct connection from loopback (403 otherwise). The app uses no ProxyFix, so `remote_addr` is the peer that
connected, and a proxy on the same host (the nginx of docs/deployment.md) connects from 127.0.0.1 too: a request
that carries a forwarding header (Forwarded, X-Forwarded-For, X-Real-IP) is taken as relayed and refused. A proxy
that adds none of these cannot be told apart; then set METRICS_TOKEN.
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from flask import Blueprint, Flask, Response, current_app, got_request_exception, request
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess, values
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from handlers import metrics
from handlers.settings import Settings, SettingsError
from storage import backlog, inbox, reminders, status
from storage.db import reading

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
REMINDER_KINDS = (reminders.ADVISOR, reminders.NEARING, reminders.FOLLOWUP)


@bp.get("/metrics")
def scrape() -> ResponseReturnValue:
    """Answer a scrape: every series of every process on this machine plus the database gauges."""
    services = current_app.extensions["intake"]
    refusal = _refusal(services.settings.metrics_token)
    if refusal is not None:
        return refusal
    registry = CollectorRegistry()
    if services.settings.prometheus_multiproc_dir:  # gunicorn workers and app.py workers: add up their files
        multiprocess.MultiProcessCollector(registry, path=services.settings.prometheus_multiproc_dir)
    else:
        registry.register(ThisProcess())
    registry.register(DatabaseCollector(services.sessions, services.inbox.inbox_sessions, services.clock))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def _refusal(token: str) -> Response | None:
    """Return the 401 or 403 answer for a scrape that may not see the metrics, or None when it may."""
    if token:
        scheme, _, supplied = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(supplied.strip().encode(), token.encode()):
            return None
        log.warning("metrics scrape refused: missing or wrong bearer token")
        return Response("bearer token required\n", status=401, mimetype="text/plain",
                        headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if _loopback(request.remote_addr) and not any(name in request.headers for name in FORWARDING_HEADERS):
        return None
    log.warning("metrics scrape refused: not from loopback and METRICS_TOKEN is not set")
    return Response("metrics are served to loopback only; set METRICS_TOKEN to scrape from elsewhere\n",
                    status=403, mimetype="text/plain")


def _loopback(address: str | None) -> bool:
    """Tell whether an address is loopback (127.0.0.0/8, ::1, or 127.x written as an IPv6-mapped address)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


class ThisProcess:
    """This process's series from prometheus_client's default registry (without PROMETHEUS_MULTIPROC_DIR)."""

    def collect(self) -> Iterable[Metric]:
        """Yield the default registry's series."""
        return REGISTRY.collect()


class DatabaseCollector:
    """Gauges that describe the database, computed when scraped: the same answer from every process."""

    def __init__(self, sessions: sessionmaker[Session], inbox_sessions: sessionmaker[Session],
                 clock: Callable[[], datetime]) -> None:
        self.sessions, self.inbox_sessions, self.clock = sessions, inbox_sessions, clock

    def collect(self) -> Iterator[Metric]:
        """Yield the gauges, or only ida_database_up 0 when the database does not answer."""
        now = self.clock()
        try:
            with reading(self.sessions) as session:  # no SQLite write lock: a scrape never holds up the webhook
                outbox = backlog.outbox_backlog(session, now)
                due = backlog.due_reminders(session, now)
                refused = status.get_status(session, status.TOKEN_REFUSED) is not None
            with reading(self.inbox_sessions) as session:
                events = inbox.counts(session)
        except SQLAlchemyError as exc:
            log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
            metrics.database_error(exc, "metrics")
            yield _gauge("ida_database_up", "Whether the database answered this scrape", 0)
            return
        yield _gauge("ida_database_up", "Whether the database answered this scrape", 1)
        yield _gauge("ida_outbox_depth", "Outbox messages not yet sent (waiting, leased or waiting for a retry)",
                     outbox.count)
        yield _gauge("ida_outbox_oldest_age_seconds", "Age of the oldest outbox message not yet sent (0: none)",
                     outbox.oldest_seconds)
        yield _gauge("ida_inbox_depth", "Webhook events stored and not yet handled",
                     events[inbox.PENDING] + events[inbox.PROCESSING])
        yield _gauge("ida_inbox_failed", "Webhook events set aside because handling them failed", events[inbox.FAILED])
        yield _gauge("ida_page_token_refused", "1 while Meta refuses the page token (error 190) and sending waits",
                     int(refused))
        kinds = sorted(set(REMINDER_KINDS) | set(due))
        waiting = GaugeMetricFamily("ida_reminders_due", "Reminders whose time has come and that have not fired",
                                    labels=["kind"])
        oldest = GaugeMetricFamily("ida_reminders_due_oldest_age_seconds",
                                   "How long the oldest due reminder has waited to fire (0: none)", labels=["kind"])
        for kind in kinds:
            found = due.get(kind, backlog.Backlog(0, 0.0))
            waiting.add_metric([kind], found.count)
            oldest.add_metric([kind], found.oldest_seconds)
        yield waiting
        yield oldest


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    """Return an unlabelled gauge with one value."""
    return GaugeMetricFamily(name, documentation, value=value)


def init_app(app: Flask, settings: Settings) -> None:
    """Serve /metrics, time the webhook's requests and count database errors that reach Flask's error handling."""
    if settings.prometheus_multiproc_dir and values.ValueClass is values.MutexValue:
        raise SettingsError("PROMETHEUS_MULTIPROC_DIR must be set in the environment of the process before it "
                            "starts (a .env file is read too late for prometheus_client)")
    metrics.show_outcomes()
    app.register_blueprint(bp)
    app.before_request(_before_request)
    app.after_request(_after_request)
    got_request_exception.connect(_request_failed, app)


def _before_request() -> None:
    """Start timing a webhook request."""
    if request.blueprint == "webhook":
        metrics.webhook_started()


def _after_request(response: Response) -> Response:
    """Count a webhook request under its outcome (also a 413 or a 500 from an error handler)."""
    if request.blueprint == "webhook":
        metrics.webhook_finished(request.method, response.status_code)
    return response


def _request_failed(sender: Flask, exception: BaseException, **extra: object) -> None:
    """Count a database error that no view caught (Flask answers it with 500)."""
    metrics.database_error(exception, "request")
