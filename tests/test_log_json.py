"""With LOG_FORMAT=json every log line is one JSON object without personal data; a request id follows each event."""
from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from app import create_app
from handlers.logformat import NOISY, configure_logging, event_ids
from handlers.settings import Settings, SettingsError, load_settings
from storage import inbox
from storage.models import Case, OutboxMessage
from tests.conftest import PAGE_TOKEN, User
from tests.console.conftest import Console, add_user
from tests.support import messenger

PSID = "7391046258314812"
FIRST = "Hoi, Zebrakwartel chanteert me met naaktfoto's"  # a safety hit: a flag and an advisor alert
DESCRIPTION = "Mijn buurman Okko Vlinderbloem stuurt foto's van mij rond in de groepsapp"
EMAIL = "okko.vlinderbloem@example.nl"
BROKEN = "Knorrepot wil dat ik betaal"  # in an event the worker cannot read: it is set aside with a traceback
ADVISOR = "Hoi, ik ben Sam Pimpelmees van het team. Wil je me bellen?"
SECRETS = (PSID, "Zebrakwartel", "Okko", "Vlinderbloem", EMAIL, "Knorrepot", "Pimpelmees", PAGE_TOKEN)
KEYS = {"time", "level", "logger", "message"}
ANSWERS = [("privacy", "yes"), ("reporter", "parent"), ("danger", "no"), ("category", "sextortion"),
           ("platform", "instagram"), ("since", "this_week"), ("age", "12_15"), ("known", "yes"), ("reported", "no")]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@contextmanager
def capturing(log_format: str) -> Iterator[io.StringIO]:
    """Collect everything the configured handler writes, at DEBUG, from every logger; restore logging after."""
    root, stream = logging.getLogger(), io.StringIO()
    levels = {name: logging.getLogger(name).level for name in ("", *NOISY)}
    handler = configure_logging(log_format, logging.DEBUG, stream=stream, force=True)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


@contextmanager
def talking(settings: Settings, graph: Any, log_format: str) -> Iterator[tuple[io.StringIO, User, Any, Clock]]:
    """An app on that log format, created while its output is captured, every worker on one hand-moved clock."""
    with capturing(log_format) as stream:
        app = create_app(replace(settings, log_format=log_format), start_background=False)
        app.config["SESSION_COOKIE_SECURE"] = False  # the console test client talks plain http
        services, clock = app.extensions["intake"], Clock()
        for worker in (services, services.sender, services.reminders, services.inbox, services.erasure):
            worker.clock = clock
        try:
            yield stream, User(app.test_client(), services, graph, psid=PSID), services, clock
        finally:
            services.close()


def entries(stream: io.StringIO) -> list[dict[str, Any]]:
    """Parse every line written so far; each must be one JSON object with the fixed keys."""
    lines = stream.getvalue().splitlines()
    parsed = [json.loads(line) for line in lines]
    assert lines and all(isinstance(entry, dict) and KEYS <= entry.keys() for entry in parsed)
    return parsed


def trail(logged: list[dict[str, Any]], request_id: str) -> list[tuple[str, str]]:
    """Return (logger, message) of every line that carries the request id."""
    return [(entry["logger"], entry["message"]) for entry in logged if entry.get("request_id") == request_id]


def test_a_whole_intake_logs_json_lines_without_personal_data_and_one_id_per_event(
        settings: Settings, graph: Any) -> None:
    with talking(settings, graph, "json") as (stream, user, services, clock):
        user.say(FIRST)
        for step, value in ANSWERS:
            user.choose(step, value)
        mark = len(stream.getvalue().splitlines())
        user.say(DESCRIPTION)
        described = entries(stream)[mark:]
        graph.fail_next(1)  # Meta fails once: a warning, and a retry after the back-off
        user.choose("urgency", "urgent")
        clock.now += timedelta(minutes=15)
        services.drain()
        user.choose("contact_method", "email")
        user.say(EMAIL)
        broken = {"recipient": {"id": messenger.PAGE_ID}, "timestamp": 1_781_000_000_001,  # no sender: a BadEvent
                  "message": {"mid": "m_broken", "text": BROKEN}}
        with services.inbox_engine.begin() as connection:
            inbox.add(connection, [(user.psid, "messaging", broken)], clock())
        services.drain()
        add_user(services, "advisor@example.org")
        console = Console(user.client)
        assert console.login("advisor@example.org").status_code == 302
        with services.sessions.begin() as session:
            reference = session.scalars(select(Case.reference)).one()
        console.get(f"/console/cases/{reference}")
        assert console.post(f"/console/cases/{reference}/reply", text=ADVISOR).status_code == 303
        services.drain()
        assert ADVISOR in graph.texts(user.psid)
        logged = entries(stream)
        with services.sessions.begin() as session:
            queued_by = {row.id: row.request_id for row in session.scalars(select(OutboxMessage))}

    leaks = [entry for entry in logged if any(secret in json.dumps(entry, ensure_ascii=False) for secret in SECRETS)]
    assert leaks == [], "no word the user or the advisor typed, no psid, no page token"
    assert all(entry["time"].endswith("Z") and datetime.fromisoformat(entry["time"]) for entry in logged)
    messages = " | ".join(entry["message"] for entry in logged)
    assert "flagged: sextortion" in messages and "intake completed" in messages and "will retry" in messages

    [webhook] = [entry for entry in described if entry["logger"] == "handlers.webhook"]
    request_id = webhook["request_id"]
    assert re.fullmatch("[0-9a-f]{16}", request_id) and webhook["events"] == 1
    sent = [outbox_id for outbox_id, queued in queued_by.items() if queued == request_id]
    assert trail(logged, request_id) == [
        ("handlers.webhook", "webhook stored events=1"),
        ("handlers.inbound", "engine step kind=message from=description to=urgency replies=1"),
        ("handlers.inbox_worker", f"event handled kind=message queued={len(sent)}"),
        *[("handlers.sender", f"sent outbox={outbox_id} kind=message") for outbox_id in sent]]
    webhook_ids = [entry["request_id"] for entry in logged if entry["message"] == "webhook stored events=1"]
    assert len(webhook_ids) == len(set(webhook_ids)) == 1 + len(ANSWERS) + 4, "each POST has an id of its own"

    [failed] = [entry for entry in logged if entry["message"].startswith("inbox event")]
    assert failed["level"] == "ERROR" and "Traceback" in failed["exc"] and "BadEvent" in failed["exc"]
    [reply] = [entry for entry in logged if entry["message"].startswith(f"case {reference}: advisor reply")]
    assert reply["logger"] == "handlers.console.handover" and re.fullmatch("[0-9a-f]{16}", reply["request_id"])
    assert [entry["message"] for entry in logged if entry.get("request_id") == reply["request_id"]
            and entry["message"].endswith("kind=message")] != [], "the advisor's reply is sent under the console's id"


def test_plain_text_lines_carry_the_request_id_and_a_batch_numbers_its_events(settings: Settings,
                                                                              graph: Any) -> None:
    with talking(settings, graph, "text") as (stream, user, services, _):
        other = "7391046258314813"
        response = user.post(messenger.envelope(messenger.text_item(user.psid, "Zebrakwartel"),
                                                messenger.text_item(other, "Vlinderbloem")))
        assert response.status_code == 200
        services.drain()
        text = stream.getvalue()
    [post_id] = re.findall(r"handlers\.webhook \[req=([0-9a-f]{16})\]: webhook stored events=2", text)
    for event_id in event_ids(post_id, 2):
        assert f"handlers.inbound [req={event_id}]: engine step kind=message from=- to=privacy" in text
        assert f"handlers.inbox_worker [req={event_id}]: event handled kind=message" in text
        assert re.search(rf"handlers\.sender \[req={event_id}\]: sent outbox=\d+ kind=message", text)
    assert not any(secret in text for secret in (user.psid, other, "Zebrakwartel", "Vlinderbloem"))


def test_log_format_is_text_or_json() -> None:
    assert load_settings({}).log_format == "text"
    assert load_settings({"LOG_FORMAT": " JSON "}).log_format == "json"
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings({"LOG_FORMAT": "xml"})


def test_a_json_line_keeps_extra_fields_and_the_exception_as_strings() -> None:
    with capturing("json") as stream:
        try:
            raise ValueError("boom")
        except ValueError:
            logging.getLogger("handlers.test").exception("failed %d times", 2, extra={"queued": 3, "odd": object()})
    [entry] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entry["message"] == "failed 2 times" and entry["level"] == "ERROR" and entry["logger"] == "handlers.test"
    assert entry["queued"] == 3 and entry["odd"].startswith("<object") and "request_id" not in entry
    assert entry["exc"].startswith("Traceback") and entry["exc"].endswith("ValueError: boom")
