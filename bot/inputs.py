"""Platform-neutral things a user can send; the handlers turn Messenger events into these."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    """Typed text, or the tap on a quick reply (then `payload` is set)."""

    text: str
    payload: str | None = None


@dataclass(frozen=True)
class Postback:
    """A tap on a button or menu item (Get Started, persistent menu)."""

    payload: str
    title: str = ""


@dataclass(frozen=True)
class Media:
    """One message with attachments; only their kinds are known, never their content."""

    kinds: tuple[str, ...]
    text: str = ""


Input = Text | Postback | Media

GET_STARTED = "GET_STARTED"
