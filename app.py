"""The composition root: create_app() for gunicorn and the tests, and the command line (`python app.py …`)."""
from __future__ import annotations

import sys
from datetime import timedelta

from flask import Flask

from bot.engine import Context
from flows.lexicon import load_lexicon_file
from flows.registry import FlowRegistry
from handlers.graph import GraphClient, PrintingSender, Sender
from handlers.inbound import Intake
from handlers.jobs import Jobs
from handlers.mailer import AlertMailer
from handlers.reminders import ReminderWorker, Timing
from handlers.sender import OutboxSender
from handlers.services import Services, utc_now
from handlers.settings import Settings, check, load_settings
from storage.db import make_engine, make_session_factory, upgrade

MAX_WEBHOOK_BODY = 2 * 1024 * 1024  # Meta's batches are far smaller; anything larger is refused with 413


def build_services(settings: Settings, client: Sender | None = None) -> Services:
    """Build the database, flows and sender; apply the migrations."""
    check(settings)
    engine = make_engine(settings.database_url)
    upgrade(engine)
    sessions = make_session_factory(engine)
    context = Context(retention_days=settings.retention_days, lexicon=load_lexicon_file(settings.lexicon_file))
    timing = Timing(advisor_sla=timedelta(seconds=settings.advisor_sla),
                    urgent_sla=timedelta(seconds=settings.urgent_sla),
                    followup_after=timedelta(seconds=settings.followup_after),
                    window_margin=timedelta(seconds=settings.window_margin))
    intake = Intake(flows=FlowRegistry.from_directory(settings.flows_dir), case_prefix=settings.case_prefix,
                    context=context, timing=timing)
    if client is None:
        client = (GraphClient(settings.graph_api_url, settings.page_access_token, settings.graph_timeout)
                  if settings.sends_for_real else PrintingSender())
    sender = OutboxSender(sessions, client, utc_now, token=settings.page_access_token)
    return Services(settings=settings, engine=engine, sessions=sessions, intake=intake, sender=sender,
                    mailer=AlertMailer(sessions, settings.smtp), reminders=ReminderWorker(sessions, timing, utc_now))


def create_app(settings: Settings | None = None, start_background: bool = True) -> Flask:
    """Create the Flask app; with start_background the outbox sender runs in this process."""
    from handlers import health, webhook

    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key or None, MAX_CONTENT_LENGTH=MAX_WEBHOOK_BODY)
    services = build_services(settings)
    app.extensions["intake"] = services
    app.register_blueprint(webhook.bp)
    app.register_blueprint(health.bp)
    if start_background:
        services.jobs = Jobs(app, services, settings.send_interval)
        services.jobs.start()
    return app


if __name__ == "__main__":
    from handlers.cli import main

    sys.exit(main(sys.argv[1:]))
