"""The background work of a process: the inbox and outbox loops, and APScheduler as the clock for the rest."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from handlers.inbox_listener import InboxListener
from handlers.logformat import new_request_id, request_context
from handlers.services import Services
from storage.inbox_wakeup import can_listen

log = logging.getLogger(__name__)
# wake() asks for a run while one may be going: APScheduler then warns "maximum number of running instances
# reached" for what is only a coalesced wake-up, thousands of times in a burst
logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
INBOX_JOB, OUTBOX_JOB, REMINDER_JOB, ALERT_JOB = "inbox", "outbox", "reminders", "alerts"
ERASURE_JOB, RETENTION_JOB = "erasure", "retention"
ERASURE_INTERVAL = 5.0  # seconds: a confirmed erasure runs soon after the bot's last message went out
RETENTION_INTERVAL = 3600.0
SUBSCRIPTION_JOB = "subscription"
ALERT_INTERVAL = 10.0
SEND_LANES = 2  # sender rounds side by side in a process: a reply queued during a round goes out in the other lane


class WorkLoop:
    """Threads (`lanes`) that run one job every `interval` seconds and at once when woken.

    A wake-up that comes while the job runs makes it run again straight after, so none is lost (APScheduler
    skips a run asked for while one is going, which left replies waiting for the next tick). With more than one
    lane a wake-up goes to a lane that is idle, so rounds run side by side: the sender's round waits for Meta's
    answers (50 ms and more each), and a reply queued meanwhile need not wait for that round to end. Only the
    first lane also runs on the clock.
    """

    def __init__(self, app: Flask, job_id: str, function: Callable[[], object], interval: float,
                 lanes: int = 1) -> None:
        self.app, self.job_id, self.function, self.interval = app, job_id, function, interval
        self._stopping = threading.Event()
        self._woken = [threading.Event() for _ in range(lanes)]
        self._running = [False] * lanes
        self._threads = [threading.Thread(target=self._loop, args=(lane,), name=f"{job_id}-loop-{lane}",
                                          daemon=True) for lane in range(lanes)]

    def start(self) -> None:
        """Start the threads; the job runs at once."""
        for thread in self._threads:
            thread.start()

    def wake(self) -> None:
        """Run the job now in an idle lane, or again as soon as the first lane's running round ends."""
        idle = next((lane for lane, running in enumerate(self._running) if not running), 0)
        self._woken[idle].set()

    def stop(self) -> None:
        """Let the running rounds finish, then end the threads."""
        self._stopping.set()
        for woken in self._woken:
            woken.set()
        for thread in self._threads:
            if thread.is_alive():
                thread.join()

    def _loop(self, lane: int) -> None:
        woken = self._woken[lane]
        if lane:  # the first lane runs at once and on the clock; the others only when woken
            woken.wait()
        while not self._stopping.is_set():
            woken.clear()  # before the run: a wake-up during it may be about rows its lease missed, so it runs again
            self._running[lane] = True
            try:
                run_job(self.app, self.job_id, self.function)
            finally:
                self._running[lane] = False
            woken.wait(None if lane else self.interval)


def run_job(app: Flask, job_id: str, function: Callable[[], object]) -> None:
    """Run one job inside the app context; a failure is logged and the next round tries again."""
    with app.app_context(), request_context(new_request_id()):  # an id per run: what it queues is logged under it
        try:
            function()
        except Exception:
            log.exception("%s job failed", job_id)


class Jobs:
    """The background work of one process; the database decides which worker does which row."""

    def __init__(self, app: Flask, services: Services, interval: float) -> None:
        self.app, self.services = app, services
        self.loops = {INBOX_JOB: WorkLoop(app, INBOX_JOB, services.inbox.process_all,
                                          services.settings.inbox_interval),
                      OUTBOX_JOB: WorkLoop(app, OUTBOX_JOB, services.sender.deliver_all, interval, SEND_LANES)}
        self.scheduler = BackgroundScheduler(timezone=UTC)
        now = datetime.now(UTC)
        work = {REMINDER_JOB: (services.reminders.run_due, services.settings.reminder_interval),
                ALERT_JOB: (services.mailer.send_pending, ALERT_INTERVAL),
                ERASURE_JOB: (services.erasure.run_due, ERASURE_INTERVAL),
                RETENTION_JOB: (services.erasure.purge, RETENTION_INTERVAL)}
        if services.subscription is not None:
            work[SUBSCRIPTION_JOB] = (services.subscription.run, services.settings.subscription_interval)
        # PostgreSQL: a web process's stored events wake the inbox loop at once, not at its next look
        self.listener = InboxListener(services.engine, self.wake_inbox) if can_listen(services.engine) else None
        for job_id, (function, seconds) in work.items():
            self.scheduler.add_job(run_job, "interval", args=(app, job_id, function), seconds=seconds, id=job_id,
                                   max_instances=1, coalesce=True, next_run_time=now)

    def start(self) -> None:
        """Start the loops and the scheduler thread; due and overdue work runs at once."""
        for loop in self.loops.values():
            loop.start()
        if self.listener:
            self.listener.start()
        self.scheduler.start()

    def stop(self) -> None:
        """Stop the loops and the scheduler, letting running jobs finish."""
        if self.listener:
            self.listener.stop()
        for loop in self.loops.values():
            loop.stop()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.services.sender.close()

    def wake(self) -> None:
        """Send queued replies now (and e-mail new alerts soon)."""
        self.loops[OUTBOX_JOB].wake()
        if self.scheduler.running:
            self.scheduler.modify_job(ALERT_JOB, next_run_time=datetime.now(UTC))

    def wake_erasure(self) -> None:
        """Look for due erasure requests now."""
        if self.scheduler.running:
            self.scheduler.modify_job(ERASURE_JOB, next_run_time=datetime.now(UTC))

    def wake_inbox(self) -> None:
        """Handle newly stored webhook events now."""
        self.loops[INBOX_JOB].wake()
