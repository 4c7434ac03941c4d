"""Advisor reminders and user follow-ups, on a controlled clock, through the real webhook and sender."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app import create_app
from handlers.reminders import advisor_replied
from handlers.settings import Settings
from storage import reminders
from storage.cases import export_cases
from storage.models import Alert, Case, Reminder
from tests.conftest import User
from tests.support import messenger

PAGE_INBOX = "263902037430900"


class Clock:
    """A clock the test moves by hand, shared by the webhook, the sender and the reminder worker."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed(settings: Settings, graph: Any, clock: Clock) -> Iterator[tuple[User, Any]]:
    """An app with short promises: advisor 60 s (urgent 10 s), follow-up after 120 s, window margin 30 s."""
    app = create_app(replace(settings, advisor_sla=60, urgent_sla=10, followup_after=120, window_margin=30),
                     start_background=False)
    services = app.extensions["intake"]
    services.clock = services.sender.clock = services.reminders.clock = services.inbox.clock = clock
    yield User(app.test_client(), services, graph, psid="7391046258314702"), services
    services.close()


def complete_intake(user: User, urgency: str = "normal") -> None:
    """Answer the whole intake quickly."""
    user.say("hoi")
    for step, value in [("privacy", "yes"), ("reporter", "parent"), ("danger", "no"), ("category", "privacy"),
                        ("platform", "instagram"), ("since", "today"), ("age", "18_plus"), ("known", "yes"),
                        ("reported", "no")]:
        user.choose(step, value)
    user.say("Iemand gebruikt foto's van de klas op een website.")
    user.choose("urgency", urgency)
    user.choose("contact_method", "messenger")


def rows(services: Any) -> list[tuple[str, int, str, str | None]]:
    """Return every reminder as (kind, round, status, reason)."""
    with services.sessions.begin() as session:
        found = session.scalars(select(Reminder).order_by(Reminder.id))
        return [(r.kind, r.round, r.status, r.last_error) for r in found]


def follow_ups(graph: Any, psid: str) -> list[dict[str, Any]]:
    """Return the follow-up messages the Graph API received."""
    return [b for b in graph.sent_messages(psid)
            if any(q["payload"].startswith("FOLLOWUP:") for q in b["message"].get("quick_replies", []))]


def test_completing_an_intake_schedules_both_reminders(timed: tuple[User, Any], clock: Clock) -> None:
    user, services = timed
    complete_intake(user)
    with services.sessions.begin() as session:
        due = {r.kind: r.due_at for r in session.scalars(select(Reminder))}
    assert due[reminders.ADVISOR] == clock.now + timedelta(seconds=60)
    assert due[reminders.FOLLOWUP] == clock.now + timedelta(seconds=120)


def test_the_follow_up_is_sent_once_on_time_and_its_answer_closes_the_case(timed: tuple[User, Any],
                                                                            clock: Clock) -> None:
    user, services = timed
    complete_intake(user)
    clock.advance(119)
    services.reminders.run_due()
    services.drain()
    assert follow_ups(user.graph, user.psid) == []
    clock.advance(2)
    assert services.reminders.run_due() >= 1 and services.reminders.run_due() == 0
    services.drain()
    [sent] = follow_ups(user.graph, user.psid)
    assert sent["messaging_type"] == "UPDATE" and len(sent["message"]["quick_replies"]) == 3
    user.tap("Opgelost")
    with services.sessions.begin() as session:
        assert session.scalars(select(Case)).one().status == "closed"
    assert all(status in ("done", "cancelled") for _, _, status, _ in rows(services))


def test_the_follow_up_comes_before_the_window_closes_and_never_after(timed: tuple[User, Any], clock: Clock) -> None:
    user, services = timed
    complete_intake(user)
    with services.sessions.begin() as session:
        follow_up = session.scalars(select(Reminder).where(Reminder.kind == reminders.FOLLOWUP)).one()
        follow_up.due_at = clock.now + timedelta(hours=30)  # as if FOLLOWUP_AFTER were longer than the window
    clock.advance(30 * 3600)
    services.reminders.run_due()
    services.drain()
    assert follow_ups(user.graph, user.psid) == []
    [reason] = [reason for kind, _, status, reason in rows(services) if kind == reminders.FOLLOWUP]
    assert "window closed" in reason


def test_a_message_from_the_user_moves_the_follow_up_with_the_new_window(timed: tuple[User, Any],
                                                                         clock: Clock) -> None:
    user, services = timed
    complete_intake(user)
    clock.advance(100)
    user.say("Ik wilde nog iets toevoegen")
    with services.sessions.begin() as session:
        follow_up = session.scalars(select(Reminder).where(Reminder.kind == reminders.FOLLOWUP)).one()
        assert follow_up.due_at == clock.now + timedelta(seconds=120)


def test_an_untouched_case_alerts_advisors_twice_then_stops(timed: tuple[User, Any], clock: Clock) -> None:
    user, services = timed
    complete_intake(user)
    for _ in range(3):
        clock.advance(61)
        services.reminders.run_due()
    with services.sessions.begin() as session:
        overdue = [a for a in session.scalars(select(Alert)) if a.kind == "overdue"]
        assert len(overdue) == 2 and session.scalars(select(Case)).one().overdue
    assert [(k, r) for k, r, s, _ in rows(services) if k == reminders.ADVISOR] == [("advisor", 1), ("advisor", 2)]


def test_an_urgent_case_uses_the_urgent_promise(timed: tuple[User, Any], clock: Clock) -> None:
    user, services = timed
    complete_intake(user, urgency="urgent")
    with services.sessions.begin() as session:
        advisor = session.scalars(select(Reminder).where(Reminder.kind == reminders.ADVISOR)).one()
        assert advisor.due_at == clock.now + timedelta(seconds=10)


def test_a_reply_from_the_page_inbox_stops_advisor_reminders_and_pauses_the_bot(timed: tuple[User, Any],
                                                                               clock: Clock) -> None:
    user, services = timed
    complete_intake(user)
    echo = {"sender": {"id": messenger.PAGE_ID}, "recipient": {"id": user.psid}, "timestamp": 1781000009999,
            "message": {"is_echo": True, "app_id": int(PAGE_INBOX), "mid": "m_human_1", "text": "Hoi, ik ben Sam."}}
    assert user.post(messenger.envelope(echo)).status_code == 200
    assert ("advisor", 1, "cancelled", "an advisor replied") in rows(services)
    assert user.say("Dank je Sam") == [], "the bot stays silent while a person talks"
    back = {"sender": {"id": user.psid}, "recipient": {"id": messenger.PAGE_ID}, "timestamp": 1781000019999,
            "pass_thread_control": {"previous_owner_app_id": PAGE_INBOX, "new_owner_app_id": "880123456789012"}}
    user.post(messenger.envelope(back))
    assert user.say("hallo?"), "after the hand-back the bot answers again"
    with services.sessions.begin() as session:
        [case] = export_cases(session)
    assert case["status"] == "in_progress"


def test_an_unsubscribed_app_makes_health_degraded_and_alerts_until_subscribed_again(
        settings: Settings, graph: Any) -> None:
    app = create_app(replace(settings, app_id="880123456789012"), start_background=False)
    services = app.extensions["intake"]
    client = app.test_client()
    assert services.subscription.run() is True and client.get("/healthz").json["status"] == "ok"
    graph.subscribed = []
    assert services.subscription.run() is False and services.subscription.run() is False
    health = client.get("/healthz").json
    assert health["status"] == "degraded" and health["problems"][0]["problem"] == "app_unsubscribed"
    assert "subscribe it again" in health["problems"][0]["detail"]
    with services.sessions.begin() as session:
        assert [a.kind for a in session.scalars(select(Alert))] == ["app_unsubscribed"]  # one alert, not one a check
    graph.subscribed = ["880123456789012"]
    assert services.subscription.run() is True and client.get("/healthz").json["status"] == "ok"
    services.close()


def test_a_permanent_send_error_is_kept_and_shown_in_the_case_export(user: User, services: Any, graph: Any) -> None:
    user.say("hoi")
    user.choose("privacy", "yes")
    user.say("adviseur")
    graph.fail_always(status=400, code=10, subcode=2018278, message="Message sent outside of allowed window")
    user.say("nog iets")
    with services.sessions.begin() as session:
        [case] = export_cases(session)
    assert case["delivery_failures"] and "outside of allowed window" in case["delivery_failures"][0]["error"]


def test_advisors_are_told_at_once_of_an_urgent_case_and_again_near_its_promise(timed: tuple[User, Any],
                                                                                clock: Clock) -> None:
    user, services = timed
    complete_intake(user, urgency="urgent")
    with services.sessions.begin() as session:
        assert [a.kind for a in session.scalars(select(Alert))] == ["urgent_case"]
    clock.advance(8)  # 80% of the 10-second urgent promise
    services.reminders.run_due()
    with services.sessions.begin() as session:
        assert [a.kind for a in session.scalars(select(Alert).order_by(Alert.id))] == ["urgent_case",
                                                                                       "nearing_deadline"]


def test_no_nearing_alert_once_an_advisor_replied(timed: tuple[User, Any], clock: Clock) -> None:
    user, services = timed
    complete_intake(user)
    echo = {"sender": {"id": messenger.PAGE_ID}, "recipient": {"id": user.psid}, "timestamp": 1781000009999,
            "message": {"is_echo": True, "app_id": int(PAGE_INBOX), "mid": "m_human_2", "text": "Hoi!"}}
    user.post(messenger.envelope(echo))
    clock.advance(3600)
    services.reminders.run_due()
    with services.sessions.begin() as session:
        assert not [a for a in session.scalars(select(Alert)) if a.kind in ("nearing_deadline", "overdue")]


def pending(services: Any) -> dict[str, list[datetime]]:
    """Return the due times of the pending reminders by kind."""
    with services.sessions.begin() as session:
        found: dict[str, list[datetime]] = {}
        for reminder in session.scalars(select(Reminder).where(Reminder.status == reminders.PENDING)):
            found.setdefault(reminder.kind, []).append(reminder.due_at)
        return found


def test_asking_for_an_advisor_during_the_intake_starts_the_promise_the_bot_makes(timed: tuple[User, Any],
                                                                                   clock: Clock) -> None:
    user, services = timed
    user.say("hoi")
    user.choose("privacy", "yes")
    asked = clock.now
    assert any("24 uur" in text for text in user.say("adviseur"))
    assert pending(services) == {reminders.ADVISOR: [asked + timedelta(seconds=60)],
                                 reminders.NEARING: [asked + timedelta(seconds=48)]}
    clock.advance(30)  # completing the intake later keeps the promise made when the user asked
    for step, value in [("reporter", "parent"), ("danger", "no"), ("category", "privacy"),
                        ("platform", "instagram"), ("since", "today"), ("age", "18_plus"), ("known", "yes"),
                        ("reported", "no")]:
        user.choose(step, value)
    user.say("Iemand gebruikt foto's van de klas op een website.")
    user.choose("urgency", "normal")
    user.choose("contact_method", "messenger")
    assert pending(services)[reminders.ADVISOR] == [asked + timedelta(seconds=60)]
    clock.advance(31)
    services.reminders.run_due()
    with services.sessions.begin() as session:
        assert [a.kind for a in session.scalars(select(Alert).order_by(Alert.id))] == [
            "human_requested", "nearing_deadline", "overdue"]


def test_the_emergency_item_during_the_intake_starts_the_urgent_promise(timed: tuple[User, Any],
                                                                        clock: Clock) -> None:
    user, services = timed
    user.say("hoi")
    user.choose("privacy", "yes")
    user.say("adviseur")
    clock.advance(5)
    assert "112" in user.press("EMERGENCY")[0]
    assert pending(services)[reminders.ADVISOR] == [clock.now + timedelta(seconds=10)]  # moved: urgent is sooner
    assert pending(services)[reminders.NEARING] == [clock.now + timedelta(seconds=8)]


def alert_kinds(services: Any) -> list[str]:
    with services.sessions.begin() as session:
        return [a.kind for a in session.scalars(select(Alert).order_by(Alert.id))]


def advisor_answers(services: Any, clock: Clock) -> None:
    """An advisor replies from the console (which stops the reminders the same way)."""
    with services.sessions.begin() as session:
        advisor_replied(session, session.scalars(select(Case)).one(), clock.now)


def test_still_needing_help_after_the_follow_up_starts_a_new_promise(timed: tuple[User, Any], clock: Clock) -> None:
    """The bot answers "een adviseur reageert binnen 24 uur" again: that promise is watched too, although an
    advisor answered the first time."""
    user, services = timed
    complete_intake(user)
    advisor_answers(services, clock)
    clock.advance(121)
    services.reminders.run_due()
    services.drain()
    assert follow_ups(user.graph, user.psid)
    assert any("24 uur" in text for text in user.tap("Nog hulp nodig"))
    assert pending(services)[reminders.ADVISOR] == [clock.now + timedelta(seconds=60)]
    clock.advance(61)
    services.reminders.run_due()
    assert alert_kinds(services) == ["still_needs_help", "nearing_deadline", "overdue"]


def test_asking_again_after_an_advisor_answered_starts_a_new_promise(timed: tuple[User, Any], clock: Clock) -> None:
    user, services = timed
    user.say("hoi")
    user.choose("privacy", "yes")
    user.say("adviseur")
    advisor_answers(services, clock)
    clock.advance(10)
    assert any("24 uur" in text for text in user.say("adviseur"))
    assert pending(services) == {reminders.ADVISOR: [clock.now + timedelta(seconds=60)],
                                 reminders.NEARING: [clock.now + timedelta(seconds=48)]}
    assert user.say("adviseur")  # asked once more while the promise runs: no new promise, no new alert
    assert pending(services)[reminders.ADVISOR] == [clock.now + timedelta(seconds=60)]
    assert alert_kinds(services) == ["human_requested", "human_requested"]
