"""Useful links through the real webhook and the loopback Graph API; the links file's addresses; chat rendering."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy import select

from bot.links import topic_reply
from bot.outputs import QuickReply, Reply, UrlButton
from flows.knowledge import DEFAULT_FILE, load_knowledge_file
from handlers.chat import TerminalSender
from handlers.messenger import send_bodies
from storage.models import Contact, Conversation
from tests.conftest import User
from tests.support.graph_server import validate_send

KNOWLEDGE = load_knowledge_file()


def shown(message: dict[str, Any]) -> str:
    """Return the text a message shows, plain or in a button template."""
    return message.get("text") or message["attachment"]["payload"]["text"]


def conversation(services: Any, psid: str) -> tuple[str | None, bool]:
    """Return the stored step and completed flag of a user's conversation."""
    with services.sessions.begin() as session:
        row = session.scalars(select(Conversation).join(Contact, Conversation.contact_id == Contact.id)
                              .where(Contact.psid == psid)).one_or_none()
        return (row.step, row.completed) if row else (None, False)


def test_handige_links_and_a_topic_word_answer_without_starting_an_intake(user: User, services: Any,
                                                                            graph: Any) -> None:
    assert user.say("Handige links") == [KNOWLEDGE.intro.nl]
    assert user.buttons() == [t.title.nl for t in KNOWLEDGE.topics]
    user.tap("Fraude melden")
    assert shown(graph.sent_messages(user.psid)[-1]["message"]).startswith("Wil je fraude melden")
    user.say("Ik ben opgelicht bij een webshop, wat nu?")
    assert shown(graph.sent_messages(user.psid)[-1]["message"]) == KNOWLEDGE.topic("fraud").text.nl
    assert conversation(services, user.psid) == (None, False)
    assert all(r.status == 200 for r in graph.requests if r.path.endswith("/messages"))


def test_the_menu_postback_mid_intake_asks_the_question_again(user: User, services: Any) -> None:
    first = user.press("GET_STARTED")
    step = conversation(services, user.psid)[0]
    replies = user.press("LINKS")
    assert replies[0] == KNOWLEDGE.intro.nl and replies[-1] == first[-1]
    assert conversation(services, user.psid)[0] == step


def test_a_topic_goes_out_as_a_button_template_meta_accepts(user: User, graph: Any) -> None:
    user.say("links")
    user.tap("Hulplijnen")
    message = graph.sent_messages(user.psid)[-1]["message"]
    buttons = message["attachment"]["payload"]["buttons"]
    assert [b["url"] for b in buttons] == [link.url for link in KNOWLEDGE.topic("helplines").links]


@pytest.mark.parametrize("locale", ["nl", "en"])
def test_every_topic_makes_a_send_body_meta_accepts(locale: str) -> None:
    for topic in KNOWLEDGE.topics:
        for body in send_bodies("42", topic_reply(topic, locale)):
            assert validate_send(body) is None, (topic.id, body)


def test_a_long_text_goes_first_and_the_template_holds_the_end_with_the_quick_replies() -> None:
    reply = Reply("woord " * 200, (QuickReply("Ja", "Y"),), (UrlButton("Site", "https://example.org"),))
    bodies = send_bodies("42", reply)
    assert "text" in bodies[0]["message"] and "attachment" in bodies[-1]["message"]
    assert bodies[-1]["message"]["quick_replies"][0]["payload"] == "Y"
    assert all(validate_send(body) is None for body in bodies)


def template(text: str = "Kies", **button: Any) -> dict[str, Any]:
    """Return a Send API body with a button template holding one button."""
    web = {"type": "web_url", "url": "https://example.org", "title": "Site"} | button
    return {"recipient": {"id": "42"}, "messaging_type": "RESPONSE", "message": {"attachment": {
        "type": "template", "payload": {"template_type": "button", "text": text, "buttons": [web]}}}}


@pytest.mark.parametrize("body", [
    template("x" * 641), template(title="x" * 21), template(url="ftp://example.org"), template(url=""),
    template(type="nope"), template(type="postback"),
    {**template(), "message": {"attachment": {"type": "template", "payload": {
        "template_type": "button", "text": "Kies", "buttons": [template()["message"]["attachment"]["payload"]
                                                               ["buttons"][0]] * 4}}}},
], ids=["long text", "long title", "not http", "no url", "unknown type", "postback without payload",
        "four buttons"])
def test_the_graph_stub_refuses_a_broken_button_template(body: dict[str, Any]) -> None:
    assert validate_send(body) is not None
    assert validate_send(template()) is None


def test_every_url_in_the_links_file_is_https_and_well_formed() -> None:
    data = yaml.safe_load(Path(DEFAULT_FILE).read_text(encoding="utf-8"))
    urls = [link["url"] for topic in data["topics"] for link in topic["links"]]
    assert urls
    for url in urls:
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.hostname and "." in parts.hostname, url
        assert not parts.username and parts.port is None and " " not in url, url
        assert parts.geturl() == url, url


def test_the_terminal_chat_shows_url_buttons_with_their_address() -> None:
    terminal = TerminalSender(io.StringIO())
    for body in send_bodies("42", topic_reply(KNOWLEDGE.topic("fraud"), "nl")):
        terminal.send(body)
    shown_text = terminal.out.getvalue()
    assert "Fraudehelpdesk" in shown_text and "https://www.fraudehelpdesk.nl" in shown_text
