"""Alert e-mails through a real SMTP server on loopback: sent once, never with what the user wrote."""
from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from handlers.mailer import AlertMailer, SmtpSettings
from storage.models import Alert


class Inbox:
    """An aiosmtpd handler that keeps every message it receives."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def free_port() -> int:
    """Return a free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    """Run an SMTP server on loopback."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


def mailer_for(services: Any, port: int) -> AlertMailer:
    """Return a mailer that sends to the loopback SMTP server."""
    settings = SmtpSettings(host="127.0.0.1", port=port, sender="bot@example.org",
                            recipients=("team@example.org",), security="none", console_url="https://console.example")
    return AlertMailer(services.sessions, settings)


def test_a_request_for_an_advisor_is_mailed_once_without_message_text(user: Any, services: Any,
                                                                      smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    user.say("hoi")
    user.choose("privacy", "yes")
    user.say("adviseur")
    mailer = mailer_for(services, port)
    assert mailer.send_pending() == 1 and mailer.send_pending() == 0
    [mail] = inbox.messages
    assert "IDA-" in mail["Subject"] and mail["To"] == "team@example.org"
    body = mail.get_payload()
    assert "https://console.example" in body and user.psid not in body and "adviseur" not in body.lower()


def test_without_smtp_alerts_are_kept_and_marked_not_mailed(user: Any, services: Any) -> None:
    user.say("hoi")
    user.say("adviseur")
    mailer = AlertMailer(services.sessions, SmtpSettings("", 587, "", ()))
    assert mailer.send_pending() == 0
    with services.sessions.begin() as session:
        [alert] = session.scalars(select(Alert)).all()
        assert alert.kind == "human_requested" and alert.email_status == "off"


def test_an_unreachable_smtp_server_is_retried_then_given_up(user: Any, services: Any) -> None:
    user.say("hoi")
    user.say("adviseur")
    mailer = mailer_for(services, free_port())  # nothing listens there
    mailer.settings = replace(mailer.settings, port=free_port())
    for _ in range(5):
        assert mailer.send_pending() == 0
    with services.sessions.begin() as session:
        [alert] = session.scalars(select(Alert)).all()
        assert alert.email_status == "failed" and alert.email_attempts == 5
