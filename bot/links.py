"""Useful links without an intake: the topic menu, a topic's text with url buttons, topics named in a question."""
from __future__ import annotations

import re

from bot import safety
from bot.answers import match_choice
from bot.commands import normalise
from bot.inputs import Input, Postback, Text
from bot.outputs import QuickReply, Reply, UrlButton
from bot.state import ConversationState
from flows.knowledge import Knowledge, Topic
from flows.model import Flow

MENU = "LINKS"  # the persistent menu's and ice breaker's postback payload
PREFIX = "LINKS:"  # + topic id: the quick reply of one topic
WORDS = ("handige links", "nuttige links", "links", "link", "useful links", "helpful links")
MAX_TYPED = 300  # a longer message is a story, not a question about links


def requested(event: Input, knowledge: Knowledge | None, locale: str) -> Reply | None:
    """Answer the menu postback, a topic tap, or typed 'handige links'; None for anything else."""
    if knowledge is None:
        return None
    payload = event.payload if isinstance(event, (Postback, Text)) else None
    if payload == MENU or payload is None and isinstance(event, Text) and normalise(event.text) in WORDS:
        return menu(knowledge, locale)
    if payload and payload.startswith(PREFIX):
        topic = knowledge.topic(payload[len(PREFIX):])
        return topic_reply(topic, locale) if topic else menu(knowledge, locale)
    return None


def offered(state: ConversationState, event: Input, flow: Flow, knowledge: Knowledge | None,
            found: tuple[safety.Detection, ...]) -> Reply | None:
    """Answer a typed question that names a topic, unless it is an answer to the intake or about a danger."""
    if knowledge is None or found or not isinstance(event, Text) or event.payload is not None:
        return None
    if state.in_intake:
        current = flow.step(state.step or "")
        if current.type != "choice" or match_choice(current, event).value is not None:
            return None  # a free-text answer stays an answer
    topic = topic_in(event.text, knowledge)
    return topic_reply(topic, state.locale) if topic else None


def topic_in(text: str, knowledge: Knowledge) -> Topic | None:
    """Return the topic whose longest word appears as whole words in the text."""
    if len(text) > MAX_TYPED:
        return None
    typed = " ".join(text.lower().split())
    best, length = None, 0
    for topic in knowledge.topics:
        for word in topic.words:
            if len(word) > length and re.search(rf"(?<!\w){re.escape(word)}(?!\w)", typed):
                best, length = topic, len(word)
    return best


def menu(knowledge: Knowledge, locale: str) -> Reply:
    """Return the intro with one quick reply per topic."""
    return Reply(knowledge.intro.get(locale),
                 tuple(QuickReply(t.title.get(locale), PREFIX + t.id) for t in knowledge.topics))


def topic_reply(topic: Topic, locale: str) -> Reply:
    """Return a topic's text with its links as url buttons."""
    return Reply(topic.text.get(locale), buttons=tuple(UrlButton(link.title.get(locale), link.url)
                                                       for link in topic.links))
