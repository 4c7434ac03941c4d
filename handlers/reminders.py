"""Advisor reminders and user follow-ups: scheduled when an intake completes, fired by whichever worker claims them."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot import followup
from handlers import metrics
from handlers.logformat import current_request_id
from handlers.messenger import send_bodies
from storage import alerts, outbox, reminders, transcript
from storage.models import Case, Contact, Reminder

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=120)
BATCH = 50
ADVISOR_ROUNDS = 2
NEARING_AT = 0.8  # warn at 80% of the promised time (after about 19 hours of 24)
MAX_ATTEMPTS = 5
RETRY_AFTER = timedelta(seconds=60)  # the first alert, then once more at the same interval if still untouched


@dataclass(frozen=True)
class Timing:
    """The service's promises, as durations."""

    advisor_sla: timedelta = timedelta(hours=24)
    urgent_sla: timedelta = timedelta(hours=1)
    followup_after: timedelta = timedelta(hours=24)
    window_margin: timedelta = timedelta(minutes=15)

    def sla(self, case: Case) -> timedelta:
        """Return how soon an advisor must answer this case."""
        return self.urgent_sla if case.urgency == "urgent" else self.advisor_sla


def schedule_after_intake(session: Session, case: Case, contact: Contact, timing: Timing, now: datetime) -> None:
    """Schedule the advisor reminder and, while the window allows, the user follow-up."""
    advisor_promised(session, case, timing, now)
    if case.urgency == "urgent":  # an urgent case is news for the advisors at once, not only when it is late
        alerts.raise_alert(session, case_id=case.id, kind="urgent_case", category=case.category, severity="urgent",
                           now=now)
    due = followup.followup_due(now, contact.last_inbound_at or now, timing.followup_after, timing.window_margin)
    if due is not None:
        reminders.schedule(session, case_id=case.id, kind=reminders.FOLLOWUP, due_at=due, now=now)


def advisor_promised(session: Session, case: Case, timing: Timing, now: datetime, asked: bool = False) -> bool:
    """Start the promise of an advisor's answer within the case's SLA; return whether a new one started.

    `asked`: the user asked (for an advisor, with the emergency item, or "still need help" in the follow-up) and
    the bot answered "within 24 hours": a new promise starts unless one is running, also after an advisor's reply.
    Otherwise (a completed intake) a case gets one only if it never had one: asking first and completing later
    makes one promise, also after an advisor replied or both rounds fired. A running promise keeps its time, or
    moves sooner when the case became urgent.
    """
    due = now + timing.sla(case)
    running = reminders.first_pending(session, case.id, reminders.ADVISOR)
    if running is None and (asked or not reminders.any_of(session, case.id, reminders.ADVISOR)):
        reminders.schedule(session, case_id=case.id, kind=reminders.ADVISOR, due_at=due, now=now)
        reminders.schedule(session, case_id=case.id, kind=reminders.NEARING, due_at=now + timing.sla(case) * NEARING_AT,
                           now=now)
        return True
    if running is not None and due < running:
        reminders.move(session, case.id, reminders.ADVISOR, due)
        reminders.move(session, case.id, reminders.NEARING, now + timing.sla(case) * NEARING_AT)
    return False


def user_wrote(session: Session, case: Case, contact: Contact, timing: Timing, now: datetime) -> None:
    """The user's message opens a new 24-hour window: the follow-up moves with it."""
    due = followup.followup_due(now, now, timing.followup_after, timing.window_margin)
    if due is not None:
        reminders.move(session, case.id, reminders.FOLLOWUP, due)


def advisor_replied(session: Session, case: Case, now: datetime) -> None:
    """An advisor answered or took over: no more advisor reminders; the case is in progress."""
    case.first_response_at = case.first_response_at or now
    case.overdue = False
    if case.status == "new":
        case.status = "in_progress"
    reminders.cancel(session, case.id, (reminders.ADVISOR, reminders.NEARING), "an advisor replied", now)


def case_closed(session: Session, case: Case, now: datetime) -> None:
    """Close a case and cancel everything still scheduled for it."""
    case.status, case.closed_at = "closed", now
    reminders.cancel(session, case.id, (reminders.ADVISOR, reminders.NEARING, reminders.FOLLOWUP), "case closed", now)


def _answered_since(case: Case, reminder: Reminder) -> bool:
    """Whether an advisor answered after the reminder was scheduled. A reply cancels the pending reminders; this
    catches the one a worker had just claimed. An answer before it does not count: the user asked again since."""
    return case.first_response_at is not None and case.first_response_at >= reminder.created_at


class ReminderWorker:
    """Fires due reminders; the database lease makes each one fire in exactly one worker."""

    def __init__(self, sessions: sessionmaker[Session], timing: Timing, clock: Callable[[], datetime]) -> None:
        self.sessions, self.timing, self.clock = sessions, timing, clock

    def run_due(self) -> int:
        """Fire every due reminder; return how many were handled."""
        handled = 0
        while True:
            with self.sessions.begin() as session:
                claimed = [r.id for r in reminders.claim_due(session, self.clock(), BATCH, LEASE)]
            if not claimed:
                return handled
            for reminder_id in claimed:
                try:
                    with self.sessions.begin() as session:
                        self._fire(session, session.get_one(Reminder, reminder_id))
                except Exception as exc:  # one broken reminder must not hold up the others
                    log.exception("reminder %s failed", reminder_id)
                    metrics.database_error(exc, "reminders")
                    self._give_back(reminder_id)
                handled += 1

    def _give_back(self, reminder_id: int) -> None:
        """Try a failed reminder again later; after a few failures keep it as failed, with the reason."""
        with self.sessions.begin() as session:
            reminder = session.get_one(Reminder, reminder_id)
            if reminder.attempts >= MAX_ATTEMPTS:
                reminders.finish(reminder, reminders.FAILED, self.clock(), "failed too often; see the log")
            else:
                reminder.status, reminder.locked_until = reminders.PENDING, None
                reminder.due_at = self.clock() + RETRY_AFTER * reminder.attempts

    def _fire(self, session: Session, reminder: Reminder) -> None:
        """Carry out one reminder, or record why it no longer applies."""
        now = self.clock()
        case = session.get(Case, reminder.case_id)
        if case is None or case.status == "closed":
            reminders.finish(reminder, reminders.CANCELLED, now, "case closed")
        elif reminder.kind == reminders.ADVISOR:
            self._remind_advisors(session, reminder, case, now)
        elif reminder.kind == reminders.NEARING:
            self._warn_advisors(session, reminder, case, now)
        else:
            self._follow_up(session, reminder, case, now)
        metrics.reminder_fired(reminder.kind, reminder.status, now - reminder.due_at)

    def _warn_advisors(self, session: Session, reminder: Reminder, case: Case, now: datetime) -> None:
        """Tell the advisors a case is close to its promised answer time while nobody has answered."""
        if not _answered_since(case, reminder):
            alerts.raise_alert(session, case_id=case.id, kind="nearing_deadline", category=None,
                               severity=case.urgency, now=now)
        reminders.finish(reminder, reminders.DONE, now)

    def _remind_advisors(self, session: Session, reminder: Reminder, case: Case, now: datetime) -> None:
        """Alert the advisors that a case waits too long, once more later if still untouched."""
        if _answered_since(case, reminder):
            reminders.finish(reminder, reminders.CANCELLED, now, "an advisor replied")
            return
        case.overdue = True
        alerts.raise_alert(session, case_id=case.id, kind="overdue", category=None, severity=case.urgency, now=now)
        if reminder.round < ADVISOR_ROUNDS:
            reminders.schedule(session, case_id=case.id, kind=reminders.ADVISOR, due_at=now + self.timing.sla(case),
                               now=now, round_=reminder.round + 1)
        reminders.finish(reminder, reminders.DONE, now)
        log.info("case %s overdue (reminder round %d)", case.reference, reminder.round)

    def _follow_up(self, session: Session, reminder: Reminder, case: Case, now: datetime) -> None:
        """Ask the user how it goes, but only inside Messenger's 24-hour window."""
        contact = session.get(Contact, case.contact_id) if case.contact_id else None
        if contact is None:
            reminders.finish(reminder, reminders.SKIPPED, now, "the contact is gone")
            return
        if not followup.window_open(now, contact.last_inbound_at):
            closed = contact.last_inbound_at + followup.WINDOW if contact.last_inbound_at else None
            reminders.finish(reminder, reminders.SKIPPED, now, f"{reminders.WINDOW_CLOSED} at {closed}")
            log.info("case %s: follow-up skipped, window closed", case.reference)
            return
        message = followup.followup_message(contact.locale)
        for body in send_bodies(contact.psid, message):
            body["messaging_type"] = "UPDATE"  # a message the bot starts, inside the window
            outbox.enqueue(session, contact_id=contact.id, recipient=contact.psid, body=body, now=now,
                           request_id=current_request_id())  # the job run's id: its sends are logged under it
        transcript.record(session, contact_id=contact.id, case_id=case.id, direction="out", kind="followup",
                          text=message.text, mid=None, now=now)
        reminders.finish(reminder, reminders.DONE, now)
        log.info("case %s: follow-up queued", case.reference)

