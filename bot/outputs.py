"""What the engine returns: replies to send and effects for the handlers to carry out."""
from __future__ import annotations

from dataclasses import dataclass

from bot.safety import Detection
from bot.state import ConversationState


@dataclass(frozen=True)
class QuickReply:
    """A quick-reply button."""

    title: str
    payload: str


@dataclass(frozen=True)
class UrlButton:
    """A button that opens a web page."""

    title: str
    url: str


@dataclass(frozen=True)
class Reply:
    """One message to the user; with url buttons it is sent as Messenger's button template."""

    text: str
    quick_replies: tuple[QuickReply, ...] = ()
    buttons: tuple[UrlButton, ...] = ()


# Effects are plain names: the handler layer decides what each one means for storage.
CASE_COMPLETED = "case_completed"  # an end step that stores a case was reached
HUMAN_REQUESTED = "human_requested"  # the user asked for an advisor
FLAGGED = "flagged"  # an answer raised a safety flag (danger, sextortion, ...)
INTAKE_STARTED = "intake_started"
URGENT = "urgent"  # the user said someone is in danger (the menu's emergency item): the case becomes urgent
ERASURE_CONFIRMED = "erasure_confirmed"  # the user confirmed that their data is to be erased
FOLLOWUP_PREFIX = "followup:"  # followup:resolved or followup:need_help, the user's answer to the follow-up


@dataclass(frozen=True)
class Outcome:
    """The result of one engine step."""

    state: ConversationState
    replies: tuple[Reply, ...] = ()
    effects: tuple[str, ...] = ()
    detections: tuple[Detection, ...] = ()
