"""Parsing Messenger events and building Send API bodies (no I/O)."""
from __future__ import annotations

import json
from typing import Any

import pytest

from bot.inputs import Media, Postback, Text
from bot.outputs import QuickReply, Reply
from handlers.messenger import (
    BadEvent,
    attachment_kinds,
    iter_items,
    parse_item,
    send_bodies,
    split_text,
)
from tests.support import messenger


def parsed(name: str) -> list[Any]:
    """Parse every item of a shared fixture."""
    return [parse_item(channel, item) for channel, item in iter_items(json.loads(messenger.fixture(name)))]


@pytest.mark.parametrize(("name", "kind", "event_input"), [
    ("01_text_message.json", "message", Text("Hi, I'd like to sign up for the summer program. Über 14 Jahre alt 🙂")),
    ("02_quick_reply.json", "message", Text("13-15", "INTAKE_AGE_BAND_13_15")),
    ("03_postback_get_started.json", "postback", Postback("GET_STARTED", "Get Started")),
    ("04_image_attachment.json", "message", Media(("image",))),
    ("05_sticker.json", "message", Media(("sticker",))),
    ("06_location_legacy.json", "message", Media(("location",))),
    ("07_echo.json", "echo", None),
    ("08_delivery.json", "delivery", None),
    ("09_read.json", "read", None),
    ("11_standby.json", "standby", Text("ok thank you, when will someone call my mom?")),
    ("12_pass_thread_control.json", "pass_thread_control", None),
    ("13_reaction.json", "reaction", None),
    ("14_unknown_future_event.json", "unknown", None),
    ("15_message_edit.json", "edit", None),
])
def test_every_fixture_parses_to_the_right_event(name: str, kind: str, event_input: Any) -> None:
    [event] = parsed(name)
    assert event.kind == kind and event.input == event_input


def test_batched_entries_are_all_parsed() -> None:
    events = parsed("10_batched_two_users.json")
    assert [e.sender for e in events] == ["7391046258314702", "6620184493071155"]
    assert len({e.key for e in events}) == 2


def test_dedup_keys_use_mid_for_messages_and_sender_time_for_postbacks() -> None:
    [message] = parsed("01_text_message.json")
    [postback] = parsed("03_postback_get_started.json")
    assert message.key == "mid:m_TestTxt01aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
    assert postback.key == "postback:6620184493071155:1781002990101" and postback.referral == "flyer_school_north"


def test_a_referral_event_carries_its_ref() -> None:
    event = parse_item("messaging", {"sender": {"id": "1"}, "timestamp": 1781000000000,
                                     "referral": {"ref": "school_b", "source": "SHORTLINK", "type": "OPEN_THREAD"}})
    assert event.kind == "referral" and event.referral == "school_b"


def test_timestamps_in_seconds_become_milliseconds() -> None:
    item = {"sender": {"id": "1"}, "timestamp": 1665424533, "message": {"mid": "m", "text": "x"}}
    event = parse_item("messaging", item)
    assert event.timestamp == 1665424533000


@pytest.mark.parametrize("item", [None, [], "x", {"sender": {"id": "1"}, "message": {"text": "no mid"}},
                                  {"message": {"mid": "m", "text": "no sender"}},
                                  {"sender": {}, "postback": {"payload": "P"}, "timestamp": "soon"}])
def test_unusable_items_raise_bad_event(item: Any) -> None:
    with pytest.raises(BadEvent):
        parse_item("messaging", item)


def test_text_with_a_link_preview_is_read_as_text() -> None:
    event = parse_item("messaging", {"sender": {"id": "1"}, "timestamp": 1, "message": {
        "mid": "m", "text": "zie https://youtu.be/x", "attachments": [{"type": "fallback", "payload": {"url": "u"}}]}})
    assert event.input == Text("zie https://youtu.be/x") and event.transcript_kind == "text"


def test_attachment_kinds_are_listed_once_and_odd_items_ignored() -> None:
    assert attachment_kinds([{"type": "image"}, {"type": "image"}, {"type": "video"}, 5, None]) == ("image", "video")
    assert attachment_kinds("nonsense") == ()


@pytest.mark.parametrize("length", [1, 1999, 2000, 2001, 4500, 10_000])
def test_long_texts_are_split_within_the_limit_without_losing_a_character(length: int) -> None:
    words = ("woord " * (length // 6 + 1))[:length]
    parts = split_text(words)
    assert all(0 < len(p) <= 2000 for p in parts)
    assert "".join(parts).replace(" ", "") == words.replace(" ", "")


def test_an_unbroken_long_text_is_cut_hard() -> None:
    parts = split_text("x" * 4001)
    assert [len(p) for p in parts] == [2000, 2000, 1]


def test_quick_replies_go_with_the_last_part() -> None:
    reply = Reply("a " * 1500, (QuickReply("Ja", "Q:s:yes"), QuickReply("Nee", "Q:s:no")))
    bodies = send_bodies("42", reply)
    assert len(bodies) == 2 and "quick_replies" not in bodies[0]["message"]
    assert bodies[-1]["message"]["quick_replies"] == [
        {"content_type": "text", "title": "Ja", "payload": "Q:s:yes"},
        {"content_type": "text", "title": "Nee", "payload": "Q:s:no"}]
    assert all(b["messaging_type"] == "RESPONSE" and b["recipient"] == {"id": "42"} for b in bodies)

