"""Build and post signed Messenger webhook bodies, the way Meta sends them."""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from handlers.signature import sign

PAGE_ID = "104729356102938"
PAYLOADS = Path(__file__).resolve().parent.parent / "fixtures" / "messenger"  # copied from shared/reference/payloads
_counter = itertools.count(1)


def fixture(name: str) -> bytes:
    """Return the raw bytes of a shared webhook fixture, compacted as Meta sends bodies."""
    return json.dumps(json.loads((PAYLOADS / name).read_text(encoding="utf-8"))).encode()


def envelope(*items: dict[str, Any]) -> dict[str, Any]:
    """Wrap messaging items in a page entry, one entry per item."""
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": item.get("timestamp", 0), "messaging": [item]}
                                        for item in items]}


def text_item(user: str, text: str, payload: str | None = None, mid: str | None = None) -> dict[str, Any]:
    """Return a message item (a quick-reply tap when payload is given)."""
    n = next(_counter)
    message: dict[str, Any] = {"mid": mid or f"m_test_{n}", "text": text}
    if payload is not None:
        message["quick_reply"] = {"payload": payload}
    return {"sender": {"id": user}, "recipient": {"id": PAGE_ID}, "timestamp": 1_781_000_000_000 + n,
            "message": message}


def postback_item(user: str, payload: str, title: str = "Get Started", ref: str | None = None) -> dict[str, Any]:
    """Return a postback item."""
    n = next(_counter)
    postback: dict[str, Any] = {"mid": f"m_pb_{n}", "title": title, "payload": payload}
    if ref:
        postback["referral"] = {"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
    return {"sender": {"id": user}, "recipient": {"id": PAGE_ID}, "timestamp": 1_781_000_000_000 + n,
            "postback": postback}


def attachment_item(user: str, *kinds: str) -> dict[str, Any]:
    """Return a message item with attachments of the given kinds."""
    n = next(_counter)
    attachments = [{"type": k, "payload": {"url": f"https://cdn.example/{n}.bin"}} for k in kinds]
    return {"sender": {"id": user}, "recipient": {"id": PAGE_ID}, "timestamp": 1_781_000_000_000 + n,
            "message": {"mid": f"m_att_{n}", "attachments": attachments}}


def encode(body: dict[str, Any] | bytes) -> bytes:
    """Return the raw body bytes, compact and with non-ASCII escaped like Meta's."""
    return body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()


def signed_headers(raw: bytes, secret: str) -> dict[str, str]:
    """Return the headers Meta sends with a body."""
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(raw, secret)}
