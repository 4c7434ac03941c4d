"""APScheduler as the clock: an interval job works the outbox; the webhook wakes it for a quick reply."""
from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from handlers.sender import OutboxSender

log = logging.getLogger(__name__)
OUTBOX_JOB = "outbox"


class Jobs:
    """The background scheduler of one process; the database decides who sends which row."""

    def __init__(self, app: Flask, sender: OutboxSender, interval: float) -> None:
        self.app, self.sender = app, sender
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.scheduler.add_job(self._work_outbox, "interval", seconds=interval, id=OUTBOX_JOB,
                               max_instances=1, coalesce=True, next_run_time=datetime.now(UTC))

    def start(self) -> None:
        """Start the scheduler thread."""
        self.scheduler.start()

    def stop(self) -> None:
        """Stop the scheduler, letting a running job finish."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def wake(self) -> None:
        """Run the outbox job now instead of at its next tick."""
        if self.scheduler.running:
            self.scheduler.modify_job(OUTBOX_JOB, next_run_time=datetime.now(UTC))

    def _work_outbox(self) -> None:
        """Deliver everything due; a failure is logged and the next tick tries again."""
        with self.app.app_context():
            try:
                self.sender.deliver_all()
            except Exception:
                log.exception("outbox job failed")
