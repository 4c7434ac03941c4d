"""APScheduler as the clock: interval jobs work the outbox, the reminders and the alert e-mails."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from handlers.services import Services

log = logging.getLogger(__name__)
# wake() asks for a run while one may be going: APScheduler then warns "maximum number of running instances
# reached" for what is only a coalesced wake-up, thousands of times in a burst
logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
OUTBOX_JOB, REMINDER_JOB, ALERT_JOB, SUBSCRIPTION_JOB = "outbox", "reminders", "alerts", "subscription"
ALERT_INTERVAL = 10.0


class Jobs:
    """The background scheduler of one process; the database decides which worker does which row."""

    def __init__(self, app: Flask, services: Services, interval: float) -> None:
        self.app, self.services = app, services
        self.scheduler = BackgroundScheduler(timezone=UTC)
        now = datetime.now(UTC)
        work = {OUTBOX_JOB: (services.sender.deliver_all, interval),
                REMINDER_JOB: (services.reminders.run_due, services.settings.reminder_interval),
                ALERT_JOB: (services.mailer.send_pending, ALERT_INTERVAL)}
        if services.subscription is not None:
            work[SUBSCRIPTION_JOB] = (services.subscription.run, services.settings.subscription_interval)
        for job_id, (function, seconds) in work.items():
            self.scheduler.add_job(self._run, "interval", args=(job_id, function), seconds=seconds, id=job_id,
                                   max_instances=1, coalesce=True, next_run_time=now)

    def start(self) -> None:
        """Start the scheduler thread; due and overdue work runs at once."""
        self.scheduler.start()

    def stop(self) -> None:
        """Stop the scheduler, letting a running job finish."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.services.sender.close()

    def wake(self) -> None:
        """Run the outbox and alert jobs now instead of at their next tick."""
        if self.scheduler.running:
            now = datetime.now(UTC)
            for job_id in (OUTBOX_JOB, ALERT_JOB):
                self.scheduler.modify_job(job_id, next_run_time=now)

    def _run(self, job_id: str, function: Callable[[], object]) -> None:
        """Run one job inside the app context; a failure is logged and the next tick tries again."""
        with self.app.app_context():
            try:
                function()
            except Exception:
                log.exception("%s job failed", job_id)
