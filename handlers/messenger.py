"""Messenger webhook JSON -> typed events, and bot replies -> Send API bodies. No I/O here."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from bot.inputs import Input, Media, Postback, Text
from bot.outputs import Reply

MAX_TEXT = 2000  # Send API limit on message.text
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_TEMPLATE_TEXT = 640  # the button template's text
MAX_BUTTONS = 3
MAX_BUTTON_TITLE = 20
MAX_MID = 200  # the transcript's mid column; Meta's mids are about 100 characters
MAX_KIND = 40  # the transcript's kind column ("attachment:image,video")
MAX_MILLIS = 253_402_300_799_999  # the last millisecond of the year 9999: later times cannot be dates
SIMULATOR_PREFIX = "sim-"  # the console simulator's test contacts; Meta's PSIDs are digits only
IGNORED_KINDS = ("delivery", "read", "reaction", "optin", "policy_enforcement", "account_linking",
                 "pass_thread_control", "take_thread_control", "request_thread_control", "app_roles")


class BadEvent(ValueError):
    """A messaging item is missing what it needs; it is skipped, the rest of the batch goes on."""


@dataclass(frozen=True)
class Event:
    """One messaging item, reduced to what the bot uses."""

    kind: str  # message, postback, referral, echo, standby, edit, or one of IGNORED_KINDS, or unknown
    sender: str | None
    timestamp: int  # epoch milliseconds
    key: str | None = None  # de-duplication key for events that reach the engine
    input: Input | None = None
    transcript_kind: str = ""
    text: str | None = None
    mid: str | None = None
    referral: str | None = None
    app_id: str | None = None  # for echoes: the app that sent the message (the Page Inbox for a human)


def iter_items(body: Any) -> list[tuple[str, Any]]:
    """Return (channel, item) for every messaging and standby item of every entry."""
    if not isinstance(body, dict) or not isinstance(body.get("entry"), list):
        raise BadEvent("body has no entry list")
    items = []
    for entry in body["entry"]:
        if not isinstance(entry, dict):
            continue
        for channel in ("messaging", "standby"):
            found = entry.get(channel)
            items += [(channel, item) for item in found] if isinstance(found, list) else []
    return items


def parse_item(channel: str, item: Any) -> Event:
    """Turn one messaging item into an Event; raise BadEvent when it is unusable."""
    if not isinstance(item, dict):
        raise BadEvent("messaging item is not an object")
    sender = _id(item.get("sender"))
    delivery = item.get("delivery") if isinstance(item.get("delivery"), dict) else {}
    timestamp = _millis(item.get("timestamp") or delivery.get("watermark"))
    if channel == "standby":
        return _standby(item, sender, timestamp)
    if isinstance(item.get("message"), dict):
        return _message(item["message"], sender, timestamp, _id(item.get("recipient")))
    if isinstance(item.get("postback"), dict):
        return _postback(item["postback"], sender, timestamp)
    if isinstance(item.get("referral"), dict):
        ref = _text(item["referral"].get("ref"))
        return Event("referral", _need(sender), timestamp, referral=ref[:200] if ref else None)
    if isinstance(item.get("message_edit"), dict):
        edit = item["message_edit"]
        return Event("edit", _need(sender), timestamp, transcript_kind="edit", text=_text(edit.get("text")),
                     mid=_mid(edit.get("mid")))
    kind = next((k for k in IGNORED_KINDS if k in item), None)
    if kind in ("pass_thread_control", "take_thread_control") and isinstance(item[kind], dict):
        owner = item[kind].get("new_owner_app_id")
        return Event(kind, sender, timestamp, app_id=str(owner)[:64] if isinstance(owner, (int, str)) else None)
    return Event(kind or "unknown", sender, timestamp)


def _message(message: dict[str, Any], sender: str | None, timestamp: int, user: str | None = None) -> Event:
    """Parse a message: text, quick-reply tap, or attachments."""
    if message.get("is_echo"):  # our page wrote: the user is the recipient
        app_id = message.get("app_id")
        return Event("echo", user, timestamp, mid=_mid(message.get("mid")), text=_text(message.get("text")),
                     app_id=str(app_id) if isinstance(app_id, (int, str)) else None, transcript_kind="advisor")
    mid = _mid(message.get("mid"))
    if not mid:
        raise BadEvent("message without a usable mid")
    text = _text(message.get("text")) or ""
    payload = _text((message.get("quick_reply") or {}).get("payload")) if isinstance(
        message.get("quick_reply"), dict) else None
    kinds = attachment_kinds(message.get("attachments"))
    if payload is not None:
        event_input: Input = Text(text, payload)
        kind = "quick_reply"
    elif text.strip() or not kinds:
        event_input, kind = Text(text), "text"
    else:
        event_input, kind = Media(kinds), _attachment_kind(kinds)
    return Event("message", _need(sender), timestamp, key=f"mid:{mid}", input=event_input,
                 transcript_kind=kind, text=text or None, mid=mid)


def _postback(postback: dict[str, Any], sender: str | None, timestamp: int) -> Event:
    """Parse a button or menu tap; it has no reliable mid, so sender and time identify it."""
    sender = _need(sender)
    payload = _text(postback.get("payload")) or ""
    referral = postback.get("referral") if isinstance(postback.get("referral"), dict) else {}
    ref = _text(referral.get("ref"))
    return Event("postback", sender, timestamp, key=f"postback:{sender}:{timestamp}",
                 input=Postback(payload, _text(postback.get("title")) or ""), transcript_kind="postback",
                 text=_text(postback.get("title")), mid=_mid(postback.get("mid")),
                 referral=ref[:200] if ref else None)


def _standby(item: dict[str, Any], sender: str | None, timestamp: int) -> Event:
    """Another app (such as the Page Inbox) owns the thread: keep the message, never answer it."""
    message = item.get("message") if isinstance(item.get("message"), dict) else {}
    if message.get("is_echo") or not message:
        return Event("standby", sender, timestamp)
    kinds = attachment_kinds(message.get("attachments"))
    mid = _mid(message.get("mid"))
    text = _text(message.get("text"))
    return Event("standby", _need(sender), timestamp, key=f"mid:{mid}" if mid else None,
                 input=Text(text) if text else None,  # read for danger and crime, never answered
                 transcript_kind=_attachment_kind(kinds) if kinds else "text", text=text, mid=mid)


def attachment_kinds(attachments: Any) -> tuple[str, ...]:
    """Return the attachment kinds, once each; a sticker's duplicate image item counts as the sticker."""
    kinds: list[str] = []
    for item in attachments if isinstance(attachments, list) else ():
        if not isinstance(item, dict):
            continue
        payload = item.get("payload") if isinstance(item.get("payload"), dict) else {}
        kind = "sticker" if "sticker_id" in payload else str(item.get("type") or "unknown")[:20]
        if kind not in kinds:
            kinds.append(kind)
    return tuple(kinds)


def _attachment_kind(kinds: tuple[str, ...]) -> str:
    """Return the transcript kind for attachments, short enough for its column."""
    return ("attachment:" + ",".join(kinds))[:MAX_KIND]


def _id(party: Any) -> str | None:
    """Return sender.id (or user_ref) as a string."""
    if not isinstance(party, dict):
        return None
    value = party.get("id") or party.get("user_ref")
    return str(value)[:64] if isinstance(value, (str, int)) and str(value) else None


def _need(sender: str | None) -> str:
    """Return the sender id, or refuse the event when there is none."""
    if not sender:
        raise BadEvent("event without sender id")
    return sender


def _text(value: Any) -> str | None:
    """Return a string field, or None for anything else."""
    return value if isinstance(value, str) else None


def _mid(value: Any) -> str | None:
    """Return a message id that fits its column, or None."""
    return value if isinstance(value, str) and 0 < len(value) <= MAX_MID else None


def _millis(value: Any) -> int:
    """Return a timestamp in milliseconds (some Meta samples use seconds); 0 for one that cannot be a date."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if isinstance(value, float) and not math.isfinite(value):  # Python's json reads NaN and Infinity
        return 0
    millis = int(value * 1000) if value < 100_000_000_000 else int(value)
    return millis if 0 <= millis <= MAX_MILLIS else 0


def simulated(psid: str) -> bool:
    """Return whether a PSID belongs to a simulator test contact, whose messages never go to Meta."""
    return psid.startswith(SIMULATOR_PREFIX)


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split text into parts of at most `limit` characters, at a paragraph, line or word where possible."""
    parts = []
    while len(text) > limit:
        cut = max(text.rfind(sep, 0, limit + 1) for sep in ("\n\n", "\n", ". ", " "))
        cut = cut if cut > limit // 2 else limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return parts + [text] if text else parts


def send_bodies(recipient: str, reply: Reply) -> list[dict[str, Any]]:
    """Return the Send API bodies for one reply; url buttons and quick replies go with its last part."""
    parts = split_text(reply.text) or [" "]
    if reply.buttons:  # the button template holds less text: earlier parts go as plain messages
        parts = parts[:-1] + split_text(parts[-1], MAX_TEMPLATE_TEXT)
    messages: list[dict[str, Any]] = [{"text": part} for part in parts]
    if reply.buttons:
        messages[-1] = {"attachment": {"type": "template", "payload": {
            "template_type": "button", "text": parts[-1],
            "buttons": [{"type": "web_url", "url": b.url, "title": b.title[:MAX_BUTTON_TITLE]}
                        for b in reply.buttons[:MAX_BUTTONS]]}}}
    bodies = [{"recipient": {"id": recipient}, "messaging_type": "RESPONSE", "message": message}
              for message in messages]
    if reply.quick_replies:
        bodies[-1]["message"]["quick_replies"] = [
            {"content_type": "text", "title": q.title[:MAX_QUICK_REPLY_TITLE], "payload": q.payload[:1000]}
            for q in reply.quick_replies[:MAX_QUICK_REPLIES]
        ]
    return bodies

