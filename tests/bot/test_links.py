"""Useful links without an intake: the menu, a topic tap, topic words in a question; the intake keeps its place."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from bot import links, outputs
from bot.engine import Context, step
from bot.inputs import GET_STARTED, Input, Postback, Text
from bot.outputs import Outcome, Reply, UrlButton
from bot.render import step_reply
from bot.state import ConversationState
from flows.knowledge import MAX_TOPIC_TEXT, Knowledge, Topic, load_knowledge_file, load_knowledge_text
from flows.lexicon import load_lexicon_file
from flows.loader import FlowError, load_flow_file

FLOWS = Path(__file__).resolve().parents[2] / "flows"
FLOW = load_flow_file(FLOWS / "intake.yaml")
KNOWLEDGE = load_knowledge_file()
CONTEXT = Context(lexicon=load_lexicon_file(FLOWS / "lexicon.yaml"), links=KNOWLEDGE)
NEW = ConversationState()
COMPLETED = ConversationState(flow_version=FLOW.version, completed=True, case_reference="ISMC-2026-00001")


def at(step_id: str, locale: str = "nl", **answers: str) -> ConversationState:
    """Return a conversation waiting at a step with these answers."""
    return ConversationState(flow_version=FLOW.version, step=step_id, answers=MappingProxyType(answers),
                             locale=locale, locale_chosen=True)


def send(state: ConversationState, event: Input) -> Outcome:
    """Run one engine step with the links loaded."""
    return step(state, event, FLOW, CONTEXT)


def question(state: ConversationState) -> Reply:
    """Return the pending question of a conversation."""
    return step_reply(FLOW.step(state.step or ""), state.answers, state.locale, vars(CONTEXT))


def topic(topic_id: str) -> Topic:
    """Return a shipped topic by id."""
    found = KNOWLEDGE.topic(topic_id)
    assert found is not None
    return found


@pytest.mark.parametrize("state", [NEW, at("reporter", privacy="yes"), at("description"), COMPLETED],
                         ids=["new", "choice", "text", "completed"])
def test_the_menu_postback_lists_every_topic_without_touching_the_intake(state: ConversationState) -> None:
    outcome = send(state, Postback(links.MENU))
    menu = outcome.replies[0]
    assert menu.text == KNOWLEDGE.intro.get(state.locale)
    assert [q.payload for q in menu.quick_replies] == [f"LINKS:{t.id}" for t in KNOWLEDGE.topics]
    assert outputs.INTAKE_STARTED not in outcome.effects
    assert outcome.state == state
    assert outcome.replies[1:] == ((question(state),) if state.in_intake else ())


@pytest.mark.parametrize("typed", ["Handige links", "links", "useful links!", "LINKS"])
def test_typing_handige_links_shows_the_menu(typed: str) -> None:
    outcome = send(NEW, Text(typed))
    assert [q.payload for q in outcome.replies[0].quick_replies][:1] == ["LINKS:privacy"]
    assert outcome.state.step is None and not outcome.effects


def test_a_topic_tap_sends_its_text_with_url_buttons() -> None:
    outcome = send(NEW, Text("Fraude melden", payload="LINKS:fraud"))
    assert outcome.replies == (Reply(topic("fraud").text.nl, buttons=(UrlButton("Fraudehelpdesk",
                                                                                 "https://www.fraudehelpdesk.nl"),)),)
    assert outcome.state == NEW and not outcome.effects


def test_a_topic_tap_mid_intake_asks_the_pending_question_again() -> None:
    state = at("platform", privacy="yes", reporter="parent", danger="no", category="bullying")
    outcome = send(state, Text("Identiteitsfraude", payload="LINKS:identity"))
    assert outcome.replies == (links.topic_reply(topic("identity"), "nl"), question(state))
    assert outcome.state == state


def test_an_unknown_topic_shows_the_menu_again() -> None:
    outcome = send(NEW, Text("weg", payload="LINKS:gone"))
    assert outcome.replies == (links.menu(KNOWLEDGE, "nl"),)


def test_english_users_get_english_links() -> None:
    outcome = send(at("reporter", "en", privacy="yes"), Postback("LINKS:police"))
    assert outcome.replies[0].text == topic("police").text.en
    assert [b.title for b in outcome.replies[0].buttons] == ["Police", "Report anonymously"]


@pytest.mark.parametrize(("typed", "topic_id"), [
    ("Hoe werken de privacy instellingen van TikTok?", "privacy"),
    ("Ik ben opgelicht op Marktplaats", "fraud"),
    ("Waar maak ik een veilige kopie ID?", "identity"),
    ("Mijn pakket is nooit geleverd", "online_fraud"),
    ("hoe laat ik iets van internet verwijderen", "removal"),
    ("How do I report fraud?", "fraud"),
])
def test_a_question_naming_a_topic_is_answered_without_an_intake(typed: str, topic_id: str) -> None:
    outcome = send(NEW, Text(typed))
    assert outcome.replies == (links.topic_reply(topic(topic_id), outcome.state.locale),)
    assert outcome.state.step is None and outputs.INTAKE_STARTED not in outcome.effects


def test_the_erase_command_still_wins_over_the_removal_topic() -> None:
    outcome = send(at("reporter", privacy="yes"), Text("verwijder mijn gegevens"))
    assert [q.payload for q in outcome.replies[0].quick_replies] == ["ERASE_CONFIRM", "ERASE_CANCEL"]


def test_a_free_text_answer_stays_an_answer() -> None:
    outcome = send(at("description"), Text("Iemand heeft mijn privacy instellingen veranderd"))
    assert outcome.state.answers.get("description") == "Iemand heeft mijn privacy instellingen veranderd"
    assert not any(r.buttons for r in outcome.replies)


def test_a_choice_question_offers_the_topic_then_asks_again() -> None:
    state = at("reporter", privacy="yes")
    outcome = send(state, Text("waar vind ik de privacy instellingen?"))
    assert outcome.replies == (links.topic_reply(topic("privacy"), "nl"), question(state))
    assert outcome.state == state


def test_a_fitting_choice_answer_is_taken_not_offered_a_topic() -> None:
    outcome = send(at("reporter", privacy="yes"), Text("ouder"))
    assert outcome.state.answers.get("reporter") == "parent"


def test_a_danger_story_goes_to_the_intake_not_to_the_links() -> None:
    outcome = send(NEW, Text("hij wil mijn naaktfoto's verspreiden als ik niet betaal, ik ben opgelicht"))
    assert outputs.INTAKE_STARTED in outcome.effects
    assert not any(r.buttons for r in outcome.replies)


def test_without_links_nothing_changes() -> None:
    outcome = step(NEW, Text("Ik ben opgelicht"), FLOW, dataclasses.replace(CONTEXT, links=None))
    assert outputs.INTAKE_STARTED in outcome.effects


def test_get_started_still_starts_the_intake() -> None:
    assert outputs.INTAKE_STARTED in send(NEW, Postback(GET_STARTED)).effects


def test_the_shipped_links_fit_messenger() -> None:
    assert 1 <= len(KNOWLEDGE.topics) <= 13
    for item in KNOWLEDGE.topics:
        for locale in ("nl", "en"):
            assert len(item.title.get(locale)) <= 20 and len(item.text.get(locale)) <= MAX_TOPIC_TEXT
            assert all(len(link.title.get(locale)) <= 20 for link in item.links)
        assert 1 <= len(item.links) <= 3


BROKEN = """\
version: 1
intro: {nl: "Kies", en: "Pick"}
topics:
  - id: a
    title: {nl: "Een titel die veel te lang is", en: "A"}
    words: {nl: ["a"], en: ["a"]}
    text: {nl: "Tekst", en: "Text"}
    links:
      - title: {nl: "Site", en: "Site"}
        url: http://example.org
  - id: a
    title: {nl: "B", en: "B"}
    words: {nl: ["b"], en: ["b"]}
    text: {nl: "Tekst", en: "Text"}
    links: []
"""


def test_a_broken_links_file_names_every_problem_with_its_line() -> None:
    with pytest.raises(FlowError) as caught:
        load_knowledge_text(BROKEN, source="links.yml")
    found = [(p.line, p.message.split(" ")[0]) for p in caught.value.problems]
    assert (5, "'title'") in found  # too long for a button
    assert any(line == 10 and "https" in message for line, message in
               [(p.line, p.message) for p in caught.value.problems])
    assert any(p.line == 11 and "duplicate" in p.message for p in caught.value.problems)
    assert any(p.line == 15 and "1 to 3 links" in p.message for p in caught.value.problems)


def test_knowledge_is_a_value() -> None:
    assert isinstance(KNOWLEDGE, Knowledge) and KNOWLEDGE.topic("nope") is None
