"""Turn flow steps into replies in the user's language."""
from __future__ import annotations

import re
from collections.abc import Mapping

from bot import texts
from bot.answers import payload_for
from bot.outputs import QuickReply, Reply
from flows.model import Flow, Step, Texts

KEEP_REFERENCE = {"case_reference": "{case_reference}"}  # filled in by storage once the case exists
OPTIONAL_LINES = ("privacy_url",)  # a line naming one of these is left out when it has no value


def step_text(step: Step, answers: Mapping[str, str]) -> Texts:
    """Return the first variant whose conditions all hold, else the step's own text."""
    for variant in step.variants:
        if all(answers.get(k) == v for k, v in variant.when.items()):
            return variant.text
    assert step.text is not None, f"step {step.id} has no text"
    return step.text


def fill(text: str, values: Mapping[str, object]) -> str:
    """Fill known placeholders, leaving {case_reference} for later and dropping lines with an empty optional one."""
    for name in OPTIONAL_LINES:
        if not values.get(name) and f"{{{name}}}" in text:
            kept = "\n".join(line for line in text.split("\n") if f"{{{name}}}" not in line)
            text = re.sub(r"\n{3,}", "\n\n", kept).strip()  # no gap where a paragraph of its own was
    return text.format_map({name: "" for name in OPTIONAL_LINES} | {**values, **KEEP_REFERENCE})


def step_reply(step: Step, answers: Mapping[str, str], locale: str, values: Mapping[str, object]) -> Reply:
    """Return the message a step sends, with its quick replies."""
    text = fill(step_text(step, answers).get(locale), values)
    buttons = tuple(QuickReply(o.title.get(locale), payload_for(step, o)) for o in step.options)
    return Reply(text, buttons)


def links_reply(flow: Flow, category: str | None, locale: str) -> Reply | None:
    """Return one message listing the links that fit the case category."""
    links = flow.links_for(category)
    if not links:
        return None
    lines = [texts.LINKS_INTRO.get(locale)] + [f"• {link.title.get(locale)}\n  {link.url}" for link in links]
    return Reply("\n".join(lines))


def say(message: Texts, locale: str, **values: object) -> Reply:
    """Return a fixed bot text as a reply."""
    return Reply(message.get(locale).format_map({**KEEP_REFERENCE, **values}) if values else message.get(locale))
