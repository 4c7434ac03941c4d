"""Match what a user sent against the current question; say why when it does not fit."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from bot.commands import normalise
from bot.inputs import Text
from flows.model import Option, Step

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]{2,}$")
PHONE_CHARS = re.compile(r"^\+?[\d\s().-]+$")
MAX_OTHER_ANSWER = 200
FORMAT_PROBLEMS = {"email": "bad_email", "phone": "bad_phone"}  # wrong length means mistyped


@dataclass(frozen=True)
class Match:
    """An accepted answer value, or the reason (a texts key) it was refused."""

    value: str | None = None
    problem: str | None = None


def payload_for(step: Step, option: Option) -> str:
    """Return the quick-reply payload that names this step and option."""
    return f"Q:{step.id}:{option.value}"


def match_choice(step: Step, event: Text) -> Match:
    """Match a quick-reply tap or typed text against a choice step's options."""
    if event.payload is not None:
        prefix = f"Q:{step.id}:"
        value = event.payload[len(prefix):] if event.payload.startswith(prefix) else None
        return Match(value) if value is not None and step.option(value) else Match(problem="not_understood")
    typed = normalise(event.text)
    if not typed:
        return Match(problem="empty")
    option = _exact(step, typed) or _prefix(step, typed)
    if option:
        return Match(option.value)
    if step.allow_text:
        return Match(event.text.strip()[:MAX_OTHER_ANSWER])
    return Match(problem="not_understood")


@lru_cache(maxsize=2048)  # options are frozen and few (those of the live flow versions); each answer asked again
def _words(option: Option) -> frozenset[str]:
    """Return every normalised word a user may type for this option."""
    return frozenset(normalise(w) for w in (option.value, option.title.nl, option.title.en, *option.synonyms))


def _exact(step: Step, typed: str) -> Option | None:
    """Return the option whose title, value or synonym is exactly what was typed."""
    return next((o for o in step.options if typed in _words(o)), None)


def _prefix(step: Step, typed: str) -> Option | None:
    """Return the one option whose title starts with what was typed (at least two letters)."""
    if len(typed) < 2:
        return None
    hits = [o for o in step.options if any(w.startswith(typed) for w in _words(o))]
    return hits[0] if len(hits) == 1 else None


def match_text(step: Step, event: Text) -> Match:
    """Check typed text against a text step's validation."""
    text = event.text.strip()
    rule = step.validate
    if event.payload is not None:
        return Match(problem="not_understood")  # a tap on an earlier question's quick reply is not an answer
    if not text:
        return Match(problem="empty")
    if len(text) > rule.max_length:
        return Match(problem=FORMAT_PROBLEMS.get(rule.kind, "too_long"))
    if len(text) < rule.min_length:
        return Match(problem=FORMAT_PROBLEMS.get(rule.kind, "too_short"))
    if rule.kind == "email" and not EMAIL.match(text):
        return Match(problem="bad_email")
    if rule.kind == "phone" and not _is_phone(text):
        return Match(problem="bad_phone")
    return Match(text)


def _is_phone(text: str) -> bool:
    """Return whether text looks like a phone number (8 to 15 digits)."""
    return bool(PHONE_CHARS.match(text)) and 8 <= sum(c.isdigit() for c in text) <= 15
