"""The composition root: create_app() for gunicorn and the tests, and the command line (`python app.py …`)."""
from __future__ import annotations

import logging
import secrets
import sys
from datetime import timedelta

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from bot.engine import Context
from flows.knowledge import load_knowledge_file
from handlers.erasure_worker import ErasureWorker
from handlers.flow_library import FlowLibrary, seed_defaults
from handlers.graph import GraphClient, PrintingSender, Sender
from handlers.inbound import Intake
from handlers.inbox_worker import InboxWorker
from handlers.jobs import Jobs
from handlers.mailer import AlertMailer
from handlers.reminders import ReminderWorker, Timing
from handlers.sender import OutboxSender
from handlers.services import Services, utc_now
from handlers.settings import Settings, check, load_settings
from handlers.subscription import SubscriptionCheck
from storage.db import inbox_url, make_engine, make_session_factory, upgrade

log = logging.getLogger(__name__)


def build_services(settings: Settings, client: Sender | None = None) -> Services:
    """Build the database, flows and sender; apply the migrations."""
    check(settings)
    links = load_knowledge_file(settings.links_file)  # a broken file stops the start before any connection
    engine = make_engine(settings.database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    # where the webhook stores events. SQLite: a file (a write lock) of its own. PostgreSQL: a pool of its own,
    # one round trip per webhook (no ping before use, the one INSERT is its own transaction; a lost connection
    # is retried)
    separate_inbox = inbox_url(settings.database_url)
    if separate_inbox:
        inbox_engine = make_engine(separate_inbox)
        upgrade(inbox_engine)
    else:
        inbox_engine = make_engine(settings.database_url, pool_pre_ping=False, isolation_level="AUTOCOMMIT")
    library = FlowLibrary()
    with sessions.begin() as session:  # a fresh installation starts from the files in flows/
        for seeded in seed_defaults(session, settings.flows_dir, settings.lexicon_file, utc_now()):
            log.info("published the default %s", seeded)
        library.live(session)  # compile the live versions now, not on the first user's message
    context = Context(retention_days=settings.retention_days, links=links,
                      privacy_url=f"{settings.public_url}/privacy" if settings.public_url else "")
    timing = Timing(advisor_sla=timedelta(seconds=settings.advisor_sla),
                    urgent_sla=timedelta(seconds=settings.urgent_sla),
                    followup_after=timedelta(seconds=settings.followup_after),
                    window_margin=timedelta(seconds=settings.window_margin))
    intake = Intake(flows=library, case_prefix=settings.case_prefix,
                    context=context, timing=timing, handover_app_id=settings.handover_target_app_id,
                    erasure_grace=settings.erasure_grace, flood_limit=settings.flood_limit)
    if client is None:
        client = (GraphClient(settings.graph_api_url, settings.page_access_token, settings.graph_timeout,
                              connections=max(10, settings.send_concurrency))
                  if settings.sends_for_real else PrintingSender())
    sender = OutboxSender(sessions, client, utc_now, token=settings.page_access_token, rate=settings.send_rate,
                          concurrency=settings.send_concurrency)
    subscription = SubscriptionCheck(sessions, client, settings.app_id, utc_now) \
        if settings.app_id and isinstance(client, GraphClient) else None
    inbox_sessions = make_session_factory(inbox_engine) if separate_inbox else sessions
    services = Services(settings=settings, engine=engine, sessions=sessions, intake=intake, sender=sender,
                        mailer=AlertMailer(sessions, settings.smtp),
                        reminders=ReminderWorker(sessions, timing, utc_now),
                        inbox_engine=inbox_engine, subscription=subscription,
                        inbox=InboxWorker(sessions, intake, utc_now, inbox_sessions),
                        erasure=ErasureWorker(sessions, inbox_sessions, utc_now, settings.retention_days,
                                              settings.abandoned_days))
    services.inbox.on_queued = lambda: services.jobs.wake() if services.jobs else None  # replies go out at once
    return services


def create_app(settings: Settings | None = None, start_background: bool = True) -> Flask:
    """Create the Flask app; with start_background this process also handles the inbox and sends the outbox.

    Under gunicorn with separate `python app.py worker` processes, use 'app:create_app(start_background=False)'.
    """
    from handlers import console, data_deletion, health, logformat, logsafe, privacy, scrape, security_headers, webhook

    settings = settings or load_settings()
    logsafe.configure(settings.secret_key or settings.app_secret)  # the same pseudonym in every process
    if not logging.getLogger().handlers:  # under gunicorn nobody else configures logging
        logformat.configure_logging(settings.log_format)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=_secret_key(settings), MAX_CONTENT_LENGTH=settings.max_body_bytes,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=not settings.insecure_cookies)
    services = build_services(settings)
    app.extensions["intake"] = services
    csrf = CSRFProtect(app)
    csrf.exempt(webhook.bp)  # Meta signs its posts; it cannot send our CSRF token
    app.register_blueprint(webhook.bp)
    csrf.exempt(data_deletion.bp)  # Meta signs the deletion request itself
    app.register_blueprint(data_deletion.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(console.bp)
    security_headers.init_app(app)
    logformat.init_app(app)  # a request id for each request
    app.register_blueprint(privacy.bp)
    scrape.init_app(app, settings)  # GET /metrics; times the webhook's requests
    app.wsgi_app = webhook.WebhookPosts(app.wsgi_app, services, settings.max_body_bytes)  # type: ignore[method-assign]
    if start_background:
        services.jobs = Jobs(app, services, settings.send_interval)
        services.jobs.start()
    return app


def _secret_key(settings: Settings) -> str:
    """Return SECRET_KEY, or a random key for this process only when none is set."""
    if settings.secret_key:
        return settings.secret_key
    log.warning("SECRET_KEY is not set: using a random key, so console log-ins do not survive a restart "
                "and differ between workers")
    return secrets.token_hex(32)


if __name__ == "__main__":
    from handlers.cli import main

    sys.exit(main(sys.argv[1:]))
