"""The webhook through the real app: handshake, signatures, every event type, redelivery, hostile bodies."""
from __future__ import annotations

import dataclasses
import io
import json
import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from app import create_app
from handlers.settings import Settings, load_settings
from handlers.signature import sign
from storage.models import Contact, Conversation, Message, OutboxMessage, ProcessedEvent
from tests.conftest import APP_SECRET, VERIFY_TOKEN
from tests.support import messenger

USER_A, USER_B = "7391046258314702", "6620184493071155"


def count(services: Any, model: type, *where: Any) -> int:
    """Return how many rows of a table match."""
    with services.sessions.begin() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def post_fixture(user: Any, name: str) -> Any:
    """Post a shared webhook fixture, signed, and deliver the replies."""
    response = user.post(messenger.fixture(name))
    user.services.drain()
    return response


def test_handshake_answers_the_challenge(user: Any) -> None:
    query = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    response = user.client.get("/webhook", query_string=query)
    assert response.status_code == 200 and response.data == b"1158201444"


@pytest.mark.parametrize("query", [
    {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
    {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
    {"hub.mode": "subscribe", "hub.challenge": "1"},
    {},
])
def test_handshake_refuses_a_wrong_token_or_mode(user: Any, query: dict[str, str]) -> None:
    response = user.client.get("/webhook", query_string=query)
    assert response.status_code == 403 and b"1" not in response.data


@pytest.mark.parametrize("headers", [
    {},
    {"X-Hub-Signature-256": "sha256=" + "0" * 64},
    {"X-Hub-Signature-256": sign(b"another body", APP_SECRET)},
    {"X-Hub-Signature-256": sign(messenger.fixture("01_text_message.json"), "another-secret")},
    {"X-Hub-Signature": "sha1=" + "0" * 40},  # the old SHA-1 header alone is not enough
    {"X-Hub-Signature-256": "md5=abc"},
    {"X-Hub-Signature-256": "sha256=ÿÿ"},
])
def test_bad_signatures_are_refused_and_nothing_is_stored(user: Any, headers: dict[str, str]) -> None:
    response = user.client.post("/webhook", data=messenger.fixture("01_text_message.json"),
                                headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 403
    assert count(user.services, Message) == 0 and count(user.services, OutboxMessage) == 0


def test_signature_is_checked_over_the_raw_escaped_bytes(user: Any) -> None:
    raw = messenger.fixture("01_text_message.json")
    assert b"\\u00dc" in raw and b"\\ud83d" in raw  # escaped exactly as Meta sends it
    assert post_fixture(user, "01_text_message.json").status_code == 200
    assert user.graph.texts(USER_A)


@pytest.mark.parametrize("raw", [b"not json", b"{", b"\xff\xfe\x00", b"[]", b"{}", b'{"object":"page"}',
                                 b'{"object":"page","entry":"x"}', b"null", b'"text"'])
def test_a_body_that_is_not_a_webhook_gets_400_never_500(user: Any, raw: bytes) -> None:
    response = user.post(raw)
    assert response.status_code == 400


@pytest.mark.parametrize("body", [
    {"object": "page", "entry": [1, None, "x", {"messaging": "no"}]},
    {"object": "page", "entry": [{"messaging": [1, None, [], {}, {"sender": None}, {"message": "hi"}]}]},
    {"object": "page", "entry": [{"messaging": [{"sender": {"id": USER_A}, "message": {"text": "no mid"}}]}]},
    {"object": "page", "entry": [{"messaging": [{"sender": {"id": USER_A}, "message": {"mid": 5, "text": 7}}]}]},
    {"object": "page", "entry": [{"messaging": [{"sender": {"id": [1]}, "postback": {"payload": None}}]}]},
    {"object": "instagram", "entry": []},
])
def test_malformed_events_are_skipped_with_200(user: Any, body: dict[str, Any]) -> None:
    assert user.post(body).status_code == 200
    assert count(user.services, OutboxMessage) == 0


def padded(size: int) -> bytes:
    """Return a valid webhook body of exactly `size` bytes."""
    head, tail = b'{"object":"page","entry":[],"pad":"', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_a_body_of_exactly_max_body_bytes_is_accepted(user: Any, settings: Settings) -> None:
    assert settings.max_body_bytes == 1024 * 1024  # the default
    assert user.post(padded(settings.max_body_bytes)).status_code == 200


@pytest.mark.parametrize("extra", [1, 3 * 1024 * 1024])
def test_a_body_over_max_body_bytes_gets_a_short_413_and_no_error_log(user: Any, settings: Settings, extra: int,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    response = user.post(padded(settings.max_body_bytes + extra))
    assert response.status_code == 413 and response.data == b"request body too large"
    assert response.mimetype == "text/plain"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_console_form_over_max_body_bytes_gets_the_same_413(user: Any, settings: Settings) -> None:
    response = user.client.post("/console/login", data={"email": "x" * (settings.max_body_bytes + 1)})
    assert response.status_code == 413 and response.data == b"request body too large"


def test_max_body_bytes_from_the_environment_is_honoured(settings: Settings, graph: Any) -> None:
    limit = load_settings({"MAX_BODY_BYTES": "4096"}).max_body_bytes
    assert limit == 4096
    app = create_app(dataclasses.replace(settings, max_body_bytes=limit), start_background=False)
    try:
        client = app.test_client()
        for size, status in ((4096, 200), (4097, 413)):
            raw = padded(size)
            assert client.post("/webhook", data=raw, headers=messenger.signed_headers(raw, APP_SECRET)).status_code \
                == status
    finally:
        app.extensions["intake"].sender.close()
        app.extensions["intake"].close()


def test_quick_reply_fixture_from_a_new_user_starts_the_intake(user: Any) -> None:
    assert post_fixture(user, "02_quick_reply.json").status_code == 200
    assert user.graph.texts(USER_A) and user.graph.sent_messages(USER_A)[-1]["message"]["quick_replies"]


def test_get_started_postback_with_referral_starts_and_keeps_the_ref(user: Any) -> None:
    assert post_fixture(user, "03_postback_get_started.json").status_code == 200
    assert user.graph.texts(USER_B)
    assert count(user.services, Conversation, Conversation.referral == "flyer_school_north") == 1


def test_image_gets_the_nude_image_warning_and_is_never_downloaded(user: Any) -> None:
    assert post_fixture(user, "04_image_attachment.json").status_code == 200
    first = user.graph.texts(USER_A)[0]
    assert "naakt" in first.lower() or "nude" in first.lower()
    with user.services.sessions.begin() as session:
        stored = session.scalars(select(Message).where(Message.direction == "in")).one()
        assert stored.kind == "attachment:image" and stored.text is None  # the kind only, no URL
    assert not [r for r in user.graph.requests if "fbcdn" in r.path]


def test_sticker_with_its_duplicate_image_item_counts_as_a_sticker(user: Any) -> None:
    post_fixture(user, "05_sticker.json")
    first = user.graph.texts(USER_A)[0]
    assert "naakt" not in first.lower() and "nude" not in first.lower()
    assert count(user.services, Message, Message.kind == "attachment:sticker") == 1


def test_legacy_location_is_answered_and_not_kept(user: Any) -> None:
    post_fixture(user, "06_location_legacy.json")
    assert user.graph.texts(USER_A)
    with user.services.sessions.begin() as session:
        stored = session.scalars(select(Message).where(Message.direction == "in")).one()
        assert stored.kind == "attachment:location" and stored.text is None


@pytest.mark.parametrize("name", ["07_echo.json", "08_delivery.json", "09_read.json", "12_pass_thread_control.json",
                                  "13_reaction.json", "14_unknown_future_event.json"])
def test_events_that_need_no_answer_get_200_and_no_reply(user: Any, name: str) -> None:
    assert post_fixture(user, name).status_code == 200
    assert user.graph.sent_messages() == []
    assert count(user.services, OutboxMessage) == 0


def test_echo_of_our_own_message_is_never_answered_or_stored_as_user_input(user: Any) -> None:
    post_fixture(user, "07_echo.json")
    assert count(user.services, Message) == 0 and count(user.services, Contact) == 0


def test_standby_message_is_kept_but_not_answered(user: Any) -> None:
    assert post_fixture(user, "11_standby.json").status_code == 200
    assert user.graph.sent_messages() == []
    assert count(user.services, Message, Message.direction == "in", Message.text.like("%call my mom%")) == 1


def test_message_edit_is_kept_in_the_transcript_without_a_reply(user: Any) -> None:
    assert post_fixture(user, "15_message_edit.json").status_code == 200
    assert user.graph.sent_messages() == []
    assert count(user.services, Message, Message.kind == "edit") == 1


def test_batched_entries_of_two_users_are_both_answered(user: Any) -> None:
    post_fixture(user, "10_batched_two_users.json")
    assert user.graph.texts(USER_A) and user.graph.texts(USER_B)


def test_an_event_redelivered_five_times_gets_one_reply(user: Any) -> None:
    body = messenger.envelope(messenger.text_item(user.psid, "hoi", mid="m_redelivered"))
    for _ in range(5):
        assert user.post(body).status_code == 200
    user.services.drain()
    once = user.graph.texts(user.psid)
    assert once and count(user.services, Message, Message.direction == "in") == 1
    assert count(user.services, ProcessedEvent) == 1
    assert len(once) == count(user.services, OutboxMessage)  # every queued body went out once


def test_a_redelivered_postback_is_recognised_by_sender_and_time(user: Any) -> None:
    item = messenger.postback_item(user.psid, "GET_STARTED")
    item["postback"].pop("mid")
    for _ in range(3):
        user.post(messenger.envelope(item))
    assert count(user.services, Message, Message.direction == "in") == 1


def test_a_bad_event_in_the_middle_of_a_batch_does_not_stop_the_good_ones(user: Any, make_user: Any) -> None:
    other = make_user("6620184493071155")
    body = {"object": "page", "entry": [
        {"id": messenger.PAGE_ID, "messaging": [messenger.text_item(user.psid, "hoi")]},
        {"id": messenger.PAGE_ID, "messaging": [{"sender": {"id": user.psid}, "message": {"text": "no mid"}},
                                               {"sender": {"id": other.psid}, "message": "not an object"}]},
        {"id": messenger.PAGE_ID, "messaging": [messenger.text_item(other.psid, "hallo")]},
    ]}
    assert user.post(body).status_code == 200
    user.services.drain()
    assert user.graph.texts(user.psid) and user.graph.texts(other.psid)


def test_replies_respect_meta_limits(user: Any) -> None:
    user.say("hoi")
    for request in user.graph.requests:
        assert request.status == 200, request.response
    bodies = user.graph.sent_messages(user.psid)
    assert all(len(b["message"]["text"]) <= 2000 for b in bodies)
    assert all(b["messaging_type"] == "RESPONSE" for b in bodies)
    # no typing indicator before a reply that is ready: every call carries a message
    assert [r.body.get("sender_action") for r in user.graph.requests] == [None] * len(bodies)


def test_a_very_long_message_is_kept_and_answered_with_a_re_prompt(user: Any) -> None:
    user.say("hoi")
    replies = user.say("x" * 5000)
    assert replies and all(len(r) <= 2000 for r in replies)
    assert count(user.services, Message, func.length(Message.text) == 5000) == 1


def test_json_with_unicode_is_stored_as_sent(user: Any) -> None:
    user.say("Hallo 😊 ïüé")
    with user.services.sessions.begin() as session:
        assert session.scalars(select(Message.text).where(Message.direction == "in")).one() == "Hallo 😊 ïüé"


def test_health_reports_the_database(user: Any) -> None:
    response = user.client.get("/healthz")
    assert response.status_code == 200 and json.loads(response.data)["database"] == "ok"


def test_a_referral_into_a_new_thread_starts_the_intake_and_keeps_the_ref(user: Any) -> None:
    item = {"sender": {"id": user.psid}, "recipient": {"id": messenger.PAGE_ID}, "timestamp": 1781000000000,
            "referral": {"ref": "school_b", "source": "SHORTLINK", "type": "OPEN_THREAD"}}
    assert user.post(messenger.envelope(item)).status_code == 200
    user.services.drain()
    assert user.buttons(), "the first question is asked"
    assert count(user.services, Conversation, Conversation.referral == "school_b") == 1


def test_a_chunked_body_without_a_length_is_read_up_to_the_limit(user: Any, settings: Settings) -> None:
    for size, status in ((1000, 200), (settings.max_body_bytes + 1, 413)):
        raw = padded(size)
        environ = {"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"}
        response = user.client.post("/webhook", input_stream=io.BytesIO(raw), environ_overrides=environ,
                                    headers=messenger.signed_headers(raw, APP_SECRET) | {"Content-Length": ""})
        assert response.status_code == status, size


def test_only_posts_to_the_webhook_skip_flask(user: Any) -> None:
    assert user.client.put("/webhook", data=b"{}").status_code == 405  # Flask's answer: the route has GET only
    assert user.client.post("/webhook/", data=b"{}").status_code == 404
    response = user.client.post("/webhook", data=b"{}")
    assert response.status_code == 403 and response.data == b"bad signature"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
