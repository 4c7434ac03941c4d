"""No log record at INFO or above carries a page-scoped id or anything the user typed; a psid is pseudonymised."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import create_app
from handlers.logsafe import pseudonym
from handlers.settings import Settings
from tests.conftest import User
from tests.support import messenger

PAGE_INBOX = "263902037430900"
OUR_APP = "880123456789012"
FIRST = "Hoi, Zebrakwartel chanteert me met naaktfoto's"  # a safety hit: a flag and an advisor alert
DESCRIPTION = "Mijn buurman Okko Vlinderbloem stuurt foto's van mij rond in de groepsapp"
EMAIL = "okko.vlinderbloem@example.nl"
TYPED = ("Zebrakwartel", "Vlinderbloem", EMAIL, "Tjilpende-Walvis")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def talk(settings: Settings, graph: Any) -> Iterator[tuple[User, Any, Clock]]:
    """A user of an app with short promises, every worker on one hand-moved clock."""
    app = create_app(replace(settings, advisor_sla=60, urgent_sla=10, followup_after=120, window_margin=30,
                             erasure_grace=300), start_background=False)
    services, clock = app.extensions["intake"], Clock()
    for worker in (services, services.sender, services.reminders, services.inbox, getattr(services, "erasure", None)):
        if worker is not None:
            worker.clock = clock
    yield User(app.test_client(), services, graph, psid="7391046258314799"), services, clock
    services.sender.close()
    services.close()


def thread_control(psid: str, kind: str, new_owner: str) -> dict[str, Any]:
    """Return a take_thread_control or pass_thread_control item."""
    previous = OUR_APP if new_owner == PAGE_INBOX else PAGE_INBOX
    return {"sender": {"id": psid}, "recipient": {"id": messenger.PAGE_ID}, "timestamp": 1_781_000_500_000,
            kind: {"previous_owner_app_id": previous, "new_owner_app_id": new_owner}}


def logged(record: logging.LogRecord) -> str:
    """Return everything a log handler would write for a record, traceback included."""
    text = record.getMessage()
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text + (record.stack_info or "")


def test_a_whole_conversation_logs_no_psid_and_no_typed_text(talk: tuple[User, Any, Clock],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    user, services, clock = talk
    caplog.set_level(logging.DEBUG)
    user.say(FIRST)
    for step, value in [("privacy", "yes"), ("reporter", "parent"), ("danger", "no"), ("category", "sextortion"),
                        ("platform", "instagram"), ("since", "this_week"), ("age", "12_15"), ("known", "yes"),
                        ("reported", "no")]:
        user.choose(step, value)
    user.say(DESCRIPTION)
    user.choose("urgency", "urgent")
    user.choose("contact_method", "email")
    user.say(EMAIL)
    user.post(messenger.envelope(messenger.attachment_item(user.psid, "image")))
    twice = messenger.text_item(user.psid, "Tjilpende-Walvis", mid="m_hygiene_twice")
    user.post(messenger.envelope(twice))
    user.post(messenger.envelope(twice))  # Meta delivers again: a duplicate
    user.say("adviseur")
    for _ in range(3):  # the advisor reminders and the follow-up fire
        clock.now += timedelta(seconds=61)
        services.reminders.run_due()
        services.drain()
    user.post(messenger.envelope(thread_control(user.psid, "take_thread_control", PAGE_INBOX)))
    user.post(messenger.envelope(thread_control(user.psid, "pass_thread_control", OUR_APP)))
    user.say("verwijder mijn gegevens")
    user.tap("Ja, wis alles")
    clock.now += timedelta(seconds=301)
    if getattr(services, "erasure", None) is not None:
        services.erasure.run_due()
    services.drain()

    shown = [(r.levelname, r.name, logged(r)) for r in caplog.records if r.levelno >= logging.INFO]
    messages = " | ".join(text for _, _, text in shown)
    assert "opened" in messages and "flagged" in messages and "overdue" in messages, messages
    assert f"user {pseudonym(user.psid)}: conversation taken over" in messages, "a psid is logged as its pseudonym"
    leaks = [entry for entry in shown if any(secret in entry[2] for secret in (user.psid, *TYPED))]
    assert leaks == []


def test_a_pseudonym_is_short_stable_and_not_the_psid() -> None:
    psid = "7391046258314799"
    assert pseudonym(psid) == pseudonym(psid) != pseudonym("7391046258314798")
    assert len(pseudonym(psid)) == 10 and psid not in pseudonym(psid) and pseudonym(None) == "-"
