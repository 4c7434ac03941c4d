"""The follow-up after an intake: when it may be sent (Messenger's 24-hour window) and what it says."""
from __future__ import annotations

from datetime import datetime, timedelta

from bot.outputs import QuickReply, Reply
from flows.model import Texts

WINDOW = timedelta(hours=24)  # a page may send a standard message only this long after the user's last one
PREFIX = "FOLLOWUP:"
RESOLVED, NEED_HELP, ADVISOR = "resolved", "need_help", "advisor"
QUESTION = Texts(
    nl="Hoi, hoe gaat het nu? We willen graag weten of je nog hulp nodig hebt.",
    en="Hi, how are things now? We'd like to know if you still need help.",
)
CHOICES = (
    (NEED_HELP, Texts(nl="Nog hulp nodig", en="Still need help")),
    (RESOLVED, Texts(nl="Opgelost", en="Sorted")),
    (ADVISOR, Texts(nl="Praat met adviseur", en="Talk to an advisor")),
)
ANSWERS = {
    RESOLVED: Texts(nl="Fijn dat het is opgelost! We sluiten je melding. Je kunt ons altijd weer een bericht sturen.",
                    en="Glad it's sorted! We're closing your case. You can always message us again."),
    NEED_HELP: Texts(nl="Dank je dat je het laat weten. Een adviseur kijkt er opnieuw naar en reageert binnen 24 uur.",
                     en="Thanks for letting us know. An advisor will look at it again and reply within 24 hours."),
}


def followup_due(now: datetime, last_inbound: datetime, after: timedelta, margin: timedelta) -> datetime | None:
    """Return when to follow up: after `after`, or just before the window closes; None when it has closed."""
    closes = last_inbound + WINDOW - margin
    due = min(now + after, closes)
    return due if due > now else None


def window_open(now: datetime, last_inbound: datetime | None, margin: timedelta = timedelta(0)) -> bool:
    """Return whether a standard message may still be sent."""
    return last_inbound is not None and now < last_inbound + WINDOW - margin


def followup_message(locale: str) -> Reply:
    """Return the follow-up question with its three answers."""
    buttons = tuple(QuickReply(title.get(locale), PREFIX + value) for value, title in CHOICES)
    return Reply(QUESTION.get(locale), buttons)


def followup_answer(payload: str | None) -> str | None:
    """Return the follow-up answer a quick-reply payload carries, if it is one."""
    if payload and payload.startswith(PREFIX) and payload[len(PREFIX):] in (RESOLVED, NEED_HELP, ADVISOR):
        return payload[len(PREFIX):]
    return None
