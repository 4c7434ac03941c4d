"""Handover with Meta's Page Inbox: taking and passing thread control, and passing it when a user asks."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from app import create_app
from handlers.messenger import parse_item
from handlers.settings import Settings, SettingsError, load_settings
from storage.models import AuditEvent, Conversation
from tests.conftest import User
from tests.console.conftest import open_case
from tests.support import messenger

PAGE_INBOX = "263902037430900"
OUR_APP = "880123456789012"


def control(psid: str, kind: str, new_owner: str, timestamp: int) -> dict[str, Any]:
    """Return a take_thread_control or pass_thread_control webhook item."""
    return {"sender": {"id": psid}, "recipient": {"id": messenger.PAGE_ID}, "timestamp": timestamp,
            kind: {"previous_owner_app_id": OUR_APP if new_owner == PAGE_INBOX else PAGE_INBOX,
                   "new_owner_app_id": new_owner}}


def audit_actions(services: Any) -> list[str]:
    """Return the audit trail's actions, oldest first."""
    with services.sessions.begin() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_take_thread_control_events_carry_the_new_owner() -> None:
    event = parse_item("messaging", control("123", "take_thread_control", PAGE_INBOX, 1781000000000))
    assert event.kind == "take_thread_control" and event.app_id == PAGE_INBOX


def test_the_page_inbox_taking_the_thread_pauses_the_bot_until_it_passes_it_back(user: User,
                                                                                 services: Any) -> None:
    open_case(user)
    assert user.post(messenger.envelope(control(user.psid, "take_thread_control", PAGE_INBOX,
                                                1781000009999))).status_code == 200
    with services.sessions.begin() as session:
        assert session.scalars(select(Conversation.paused)).one() is True
    assert audit_actions(services) == ["page_inbox_took_over"]
    assert user.say("hallo?") == []
    user.post(messenger.envelope(control(user.psid, "pass_thread_control", OUR_APP, 1781000019999)))
    assert audit_actions(services) == ["page_inbox_took_over", "page_inbox_handed_back"]
    assert user.say("menu"), "after the hand-back the bot answers again"


def test_another_app_taking_the_thread_does_not_pause_the_bot(user: User, services: Any) -> None:
    open_case(user)
    user.post(messenger.envelope(control(user.psid, "take_thread_control", "111111111111111", 1781000009999)))
    with services.sessions.begin() as session:
        assert session.scalars(select(Conversation.paused)).one() is False
    assert audit_actions(services) == []


def test_asking_for_an_advisor_passes_the_thread_to_the_handover_target(settings: Settings, graph: Any) -> None:
    app = create_app(replace(settings, handover_target_app_id=PAGE_INBOX), start_background=False)
    services = app.extensions["intake"]
    try:
        user = User(app.test_client(), services, graph, psid="7000000000000042")
        open_case(user)
        assert graph.thread_owner(user.psid) == PAGE_INBOX
        [request] = [r for r in graph.requests if r.path.endswith("/pass_thread_control")]
        assert request.body == {"recipient": {"id": user.psid}, "target_app_id": PAGE_INBOX,
                                "metadata": "advisor requested"}
        assert graph.texts(user.psid), "the bot's replies went out first"
        user.say("adviseur")
        assert len([r for r in graph.requests if r.path.endswith("/pass_thread_control")]) == 1
    finally:
        services.close()


def test_without_a_handover_target_the_thread_stays_with_the_bot(user: User, graph: Any) -> None:
    open_case(user)
    assert not [r for r in graph.requests if r.path.endswith("/pass_thread_control")]


def test_the_handover_target_is_read_and_checked() -> None:
    assert load_settings({"HANDOVER_TARGET_APP_ID": PAGE_INBOX}).handover_target_app_id == PAGE_INBOX
    with pytest.raises(SettingsError, match="HANDOVER_TARGET_APP_ID"):
        load_settings({"HANDOVER_TARGET_APP_ID": "page inbox"})
