"""The engine on the shipped intake: whole conversations, branches, commands and input that does not fit."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

import pytest

from bot import outputs, texts
from bot.answers import payload_for
from bot.case import summarise
from bot.engine import Context, step
from bot.inputs import GET_STARTED, Input, Media, Postback, Text
from bot.machine import compile_flow
from bot.outputs import Outcome, Reply
from bot.render import fill, step_reply
from bot.state import ConversationState
from flows.lexicon import load_lexicon_file
from flows.loader import load_flow_file

INTAKE = Path(__file__).resolve().parents[2] / "flows" / "intake.yaml"
FLOW = load_flow_file(INTAKE)
CONTEXT = Context(lexicon=load_lexicon_file(INTAKE.parent / "lexicon.yaml"))
VALUES = {"retention_days": Context().retention_days}
BEFORE_DESCRIPTION = {"privacy": "yes", "reporter": "parent", "danger": "no", "category": "bullying",
                      "platform": "whatsapp", "since": "this_week", "age": "12_15", "known": "no", "reported": "no"}


def at(step_id: str, locale: str = "nl", **answers: str) -> ConversationState:
    """Return a conversation waiting at a step with these answers."""
    return ConversationState(flow_version=FLOW.version, step=step_id, answers=MappingProxyType(answers),
                             locale=locale)


def tap(step_id: str, value: str, locale: str = "nl") -> Text:
    """Return the tap on one quick reply of a choice step."""
    question = FLOW.step(step_id)
    option = question.option(value)
    assert option is not None, (step_id, value)
    return Text(option.title.get(locale), payload=payload_for(question, option))


def question(step_id: str, state: ConversationState) -> Reply:
    """Return the reply that asks a step's question to this user."""
    return step_reply(FLOW.step(step_id), state.answers, state.locale, VALUES)


def send(state: ConversationState, event: Input) -> Outcome:
    """Run one engine step; an active conversation always gets a non-empty answer."""
    outcome = step(state, event, FLOW, CONTEXT)
    assert outcome.replies and all(reply.text.strip() for reply in outcome.replies)
    return outcome


def converse(state: ConversationState, *events: Input) -> tuple[ConversationState, list[Reply], list[str]]:
    """Send several inputs; return the last state and every reply and effect."""
    replies: list[Reply] = []
    effects: list[str] = []
    for event in events:
        outcome = send(state, event)
        state = outcome.state
        replies += outcome.replies
        effects += outcome.effects
    return state, replies, effects


def urls(reply: Reply) -> list[str]:
    """Return the links in a reply, in order."""
    return [word for word in reply.text.split() if word.startswith("http")]


def test_a_dutch_intake_stores_every_answer_and_completes() -> None:
    state, replies, effects = converse(
        ConversationState(), Text("hoi"), tap("privacy", "yes"), Text("Ouder/verzorger"), Text("nee"),
        Text("gepest"), Text("Instagram"), Text("deze week"), Text("14"), Text("ja"), Text("nog niet"),
        Text("Mijn zoon wordt uitgescholden in een groepsapp."), tap("urgency", "normal"), Text("e-mail"),
        Text("ouder@example.nl"),
    )
    assert dict(state.answers) == {
        "privacy": "yes", "reporter": "parent", "danger": "no", "category": "bullying", "platform": "instagram",
        "since": "this_week", "age": "12_15", "known": "yes", "reported": "no",
        "description": "Mijn zoon wordt uitgescholden in een groepsapp.", "urgency": "normal",
        "contact_method": "email", "email": "ouder@example.nl",
    }
    assert state.completed and not state.in_intake and state.locale == "nl"
    assert effects[0] == outputs.INTAKE_STARTED and effects[-1] == outputs.CASE_COMPLETED
    assert set(effects[1:-1]) == {outputs.FLAGGED}  # the bullying answer, and the insult in the description
    end, links = replies[-2], replies[-1]
    assert end.text == FLOW.step("done").variants[1].text.nl  # the parent wording, {case_reference} kept
    assert "{case_reference}" in end.text
    assert links.text.startswith(texts.LINKS_INTRO.nl)
    assert urls(links) == [link.url for link in FLOW.links_for("bullying")]
    assert all(url.startswith("https://") for url in urls(links))
    assert not any("Politie" in reply.text for reply in replies[:-1]), "bullying is not a criminal category"


def test_an_english_intake_ends_with_english_texts_and_links() -> None:
    state, replies, effects = converse(
        ConversationState(), Text("Hello, my daughter is being bullied"), Text("yes"), Text("parent"), Text("no"),
        Text("blackmail"), Text("snapchat"), Text("today"), Text("16"), Text("unsure"), Text("police"),
        Text("Someone wants money or he will share her photos."), Text("asap"), Text("here"),
    )
    assert state.completed and state.locale == "en" and not state.locale_chosen
    assert state.answers["category"] == "sextortion" and state.answers["contact_method"] == "messenger"
    assert outputs.CASE_COMPLETED in effects
    assert replies[-2].text == FLOW.step("done").variants[1].text.en
    assert replies[-1].text.startswith(texts.LINKS_INTRO.en)
    assert [link.title.en in replies[-1].text for link in FLOW.links_for("sextortion")] == [True] * 4


def test_a_first_message_in_english_gets_english_texts() -> None:
    outcome = send(ConversationState(), Text("Hello, my daughter is being bullied"))
    assert outcome.state.locale == "en" and not outcome.state.locale_chosen
    assert outcome.state.step == "privacy" and outputs.INTAKE_STARTED in outcome.effects
    advice, privacy = outcome.replies  # "being bullied": the bullying advice comes first, in English
    assert advice.text == CONTEXT.lexicon.categories["bullying"].advice.en
    assert privacy.text.startswith("Hi! You are chatting") and "180 days" in privacy.text
    assert [q.title for q in privacy.quick_replies] == ["Yes, continue", "No, thanks"]


@pytest.mark.parametrize(("word", "before", "after"), [
    ("english", "nl", "en"), ("English", "nl", "en"), ("in english", "nl", "en"),
    ("nederlands", "en", "nl"), ("Nederlands!", "en", "nl"), ("dutch", "en", "nl"),
])
def test_a_language_command_asks_the_current_question_again_in_that_language(word: str, before: str,
                                                                            after: str) -> None:
    state = at("reporter", locale=before, privacy="yes")
    outcome = send(state, Text(word))
    assert outcome.state == state.update(locale=after, locale_chosen=True)
    assert outcome.effects == ()
    notice, asked = outcome.replies
    assert notice.text == texts.LANGUAGE_SET.get(after)
    assert asked.text == FLOW.step("reporter").text.get(after)
    assert [q.title for q in asked.quick_replies] == [o.title.get(after) for o in FLOW.step("reporter").options]
    assert asked.quick_replies != question("reporter", state).quick_replies
    assert [q.payload for q in asked.quick_replies] == [q.payload for q in question("reporter", state).quick_replies]


def test_a_chosen_language_sticks_over_a_dutch_greeting_and_a_restart() -> None:
    state, replies, _ = converse(ConversationState(), Text("english"), Text("hoi"))
    assert state.locale == "en" and state.locale_chosen
    assert replies[-1].text.startswith("Hi! You are chatting")
    state, replies, _ = converse(state, Text("yes"), Text("opnieuw"))
    assert state.step == "privacy" and state.locale == "en" and state.locale_chosen
    assert replies[-2].text == texts.RESTARTING.en and replies[-1].text.startswith("Hi! You are chatting")


@pytest.mark.parametrize(("reporter", "asked"), [
    ("student", "Hoe oud ben je?"),
    ("parent", "Hoe oud is je kind?"),
    ("school", "Hoe oud is de leerling om wie het gaat?"),
    ("other", "Hoe oud is degene om wie het gaat?"),
])
def test_the_age_question_is_worded_for_the_reporter(reporter: str, asked: str) -> None:
    outcome = send(at("since", reporter=reporter, category="bullying"), tap("since", "today"))
    assert outcome.state.step == "age"
    [reply] = outcome.replies
    assert reply.text == asked
    assert [q.title for q in reply.quick_replies][:2] == ["Jonger dan 12", "12 tot en met 15"]


@pytest.mark.parametrize(("category", "next_step"), [
    ("other", "since"), ("bullying", "platform"), ("privacy", "platform"), ("threat", "platform"),
])
def test_only_category_other_skips_the_platform_question(category: str, next_step: str) -> None:
    outcome = send(at("category", reporter="parent", danger="no"), tap("category", category))
    assert outcome.state.step == next_step
    assert outcome.replies[-1] == question(next_step, outcome.state)


@pytest.mark.parametrize(("category", "police"), [
    ("sextortion", True), ("threat", True), ("intimate_images", True), ("hacking", True), ("grooming", True),
    ("bullying", False), ("privacy", False), ("other", False),
])
def test_a_criminal_category_gets_police_advice_before_the_next_question(category: str, police: bool) -> None:
    outcome = send(at("category", reporter="student", danger="no"), tap("category", category))
    *advice, asked = outcome.replies
    assert asked.quick_replies, "the next question comes last"
    assert any("Politie" in reply.text for reply in advice) is police
    assert (outputs.FLAGGED in outcome.effects) is bool(FLOW.step("category").option(category).flags)


def test_sextortion_first_says_it_is_not_your_fault_then_the_police() -> None:
    outcome = send(at("category", reporter="student", danger="no"), Text("chantage"))
    comfort, police, asked = outcome.replies
    assert comfort.text == CONTEXT.lexicon.categories["sextortion"].advice.nl
    assert "niet jouw schuld" in comfort.text and "Betaal niet" in comfort.text
    assert police.text.startswith("Bij strafbare feiten adviseren wij altijd contact op te nemen met de Politie")
    assert "112" in police.text and "0900-8844" in police.text and "wijkagent" in police.text
    assert asked == question("platform", outcome.state)


def test_danger_gets_112_at_once_then_the_intake_goes_on() -> None:
    outcome = send(at("danger", privacy="yes", reporter="parent"), tap("danger", "yes"))
    warning, asked = outcome.replies
    assert warning.text == CONTEXT.lexicon.categories["danger"].advice.nl and not warning.quick_replies
    assert "112" in warning.text
    assert asked == question("category", outcome.state) and outcome.state.step == "category"
    assert outcome.effects == (outputs.FLAGGED,)
    answers = {**outcome.state.answers, "category": "bullying", "urgency": "normal"}
    case = summarise(FLOW, answers)
    assert (case.urgency, case.flags, case.category) == ("urgent", ("danger", "bullying"), "bullying")


def test_no_danger_and_no_rush_make_a_normal_case() -> None:
    case = summarise(FLOW, {**BEFORE_DESCRIPTION, "urgency": "normal", "contact_method": "messenger"})
    assert (case.urgency, case.flags, case.contact_method) == ("normal", ("bullying",), "messenger")


@pytest.mark.parametrize("word", ["stop", "menu", "opnieuw", "Opnieuw!", "begin opnieuw", "restart"])
def test_a_restart_word_clears_the_answers_and_asks_the_first_question(word: str) -> None:
    outcome = send(at("description", **BEFORE_DESCRIPTION), Text(word))
    assert outcome.state.step == "privacy" and dict(outcome.state.answers) == {}
    assert not outcome.state.completed and outcome.state.reprompts == 0
    assert outcome.effects == (outputs.INTAKE_STARTED,)
    assert outcome.replies == (Reply(texts.RESTARTING.nl), question("privacy", outcome.state))


@pytest.mark.parametrize("word", ["hulp", "help", "Help?", "?"])
def test_help_explains_and_asks_the_same_question_again(word: str) -> None:
    state = at("known", **{k: v for k, v in BEFORE_DESCRIPTION.items() if k != "known"})
    outcome = send(state, Text(word))
    assert outcome.state == state and outcome.effects == ()
    assert outcome.replies == (Reply(texts.HELP.nl), question("known", state))


@pytest.mark.parametrize(("word", "locale"), [("adviseur", "nl"), ("Adviseur.", "nl"), ("advisor", "en")])
def test_asking_for_an_advisor_keeps_the_step_and_the_answers(word: str, locale: str) -> None:
    state = at("description", locale=locale, **BEFORE_DESCRIPTION)
    outcome = send(state, Text(word))
    assert outcome.effects == (outputs.HUMAN_REQUESTED,)
    assert outcome.state == state
    assert outcome.replies[0].text == texts.ADVISOR_REQUESTED.get(locale)
    assert outcome.replies[-1] == question("description", state)


def test_a_menu_postback_works_like_the_typed_command() -> None:
    outcome = send(at("description", **BEFORE_DESCRIPTION), Postback("HUMAN", "Praat met een adviseur"))
    assert outcome.effects == (outputs.HUMAN_REQUESTED,) and outcome.state.step == "description"


@pytest.mark.parametrize("sentence", [
    "Ze zei dat ik moest stoppen, anders zet ze alles online",
    "help mijn dochter wordt gechanteerd",
    "Ik heb al met een adviseur op school gepraat",
    "Menu van de kantine is uitgelekt, met mijn naam erbij",
])
def test_a_command_word_inside_a_sentence_is_an_answer(sentence: str) -> None:
    outcome = send(at("description", **BEFORE_DESCRIPTION), Text(sentence))
    assert outcome.state.answers["description"] == sentence
    assert outcome.state.step == "urgency" and outputs.HUMAN_REQUESTED not in outcome.effects


def test_a_command_word_inside_a_sentence_is_no_command_at_a_choice_either() -> None:
    state = at("reporter", privacy="yes")
    outcome = send(state, Text("ik wil een adviseur spreken"))
    assert outcome.effects == () and outcome.state.step == "reporter"
    assert outcome.replies == (Reply(texts.NOT_UNDERSTOOD.nl), question("reporter", state))


@pytest.mark.parametrize("kinds", [("sticker",), ("audio",), ("fallback",), ()])
def test_a_sticker_or_sound_gets_a_friendly_text_and_the_same_question(kinds: tuple[str, ...]) -> None:
    state = at("reporter", privacy="yes")
    outcome = send(state, Media(kinds))
    assert outcome.state == state.update(reprompts=1) and outcome.effects == ()  # counts toward offering a human
    assert outcome.replies == (Reply(texts.TEXT_ONLY.nl), question("reporter", state))


@pytest.mark.parametrize("kinds", [("image",), ("video",), ("file",), ("image", "image"), ("sticker", "video")])
@pytest.mark.parametrize("step_id", ["category", "description"])
def test_a_picture_or_video_gets_the_nude_image_warning_and_is_never_an_answer(kinds: tuple[str, ...],
                                                                               step_id: str) -> None:
    state = at(step_id, **{k: v for k, v in BEFORE_DESCRIPTION.items() if k != step_id})
    outcome = send(state, Media(kinds, text="kijk maar"))
    assert outcome.state == state.update(reprompts=1) and outcome.effects == ()
    warning, asked = outcome.replies
    assert warning.text == texts.NO_PICTURES.nl
    assert "Stuur ons alsjeblieft geen foto's" in warning.text and "Stuur die nooit door" in warning.text
    assert asked == question(step_id, state)


def test_repeated_stickers_lead_to_the_offer_of_a_human() -> None:
    state = at("reporter", privacy="yes")
    for _ in range(3):
        outcome = send(state, Media(("sticker",)))
        state = outcome.state
    assert texts.STILL_STUCK.nl in [r.text for r in outcome.replies]


def test_the_nude_image_warning_in_english_says_not_to_send_or_forward() -> None:
    outcome = send(at("description", locale="en", **BEFORE_DESCRIPTION), Media(("image",)))
    assert "don't send us photos" in outcome.replies[0].text and "Never forward it" in outcome.replies[0].text


def test_a_picture_as_the_very_first_message_gets_the_warning_and_the_first_question() -> None:
    outcome = send(ConversationState(), Media(("image",)))
    assert outcome.state.step == "privacy" and outcome.effects == (outputs.INTAKE_STARTED,)
    assert outcome.replies == (Reply(texts.NO_PICTURES.nl), question("privacy", outcome.state))


def test_a_location_is_not_kept() -> None:
    state = at("platform", **{k: v for k, v in BEFORE_DESCRIPTION.items() if k != "platform"})
    outcome = send(state, Media(("location",)))
    assert outcome.state == state.update(reprompts=1)
    assert outcome.replies == (Reply(texts.NO_LOCATION.nl), question("platform", state))


@pytest.mark.parametrize(("step_id", "event", "problem"), [
    ("reporter", Text("👍"), texts.NOT_UNDERSTOOD),
    ("reporter", Text("🙂🙂🙂"), texts.NOT_UNDERSTOOD),
    ("reporter", Text(""), texts.EMPTY),
    ("since", Text("al een tijdje, denk ik"), texts.NOT_UNDERSTOOD),
    ("since", Text("x", payload="Q:reporter:parent"), texts.NOT_UNDERSTOOD),
    ("since", Text("Vandaag", payload="Q:since:yesterday"), texts.NOT_UNDERSTOOD),
    ("since", Postback("SOMETHING_OLD"), texts.NOT_UNDERSTOOD),
    ("description", Text("   "), texts.EMPTY),
    ("description", Text("x"), texts.TOO_SHORT),
    ("description", Text("Ja, ga verder", payload="Q:privacy:yes"), texts.TYPE_ANSWER),
    ("description", Postback("SOMETHING_OLD"), texts.TYPE_ANSWER),
])
def test_input_that_does_not_fit_gets_a_reason_and_the_same_question(step_id: str, event: Input,
                                                                     problem: object) -> None:
    state = at(step_id, **{k: v for k, v in BEFORE_DESCRIPTION.items() if k != step_id})
    outcome = send(state, event)
    assert outcome.state == state.update(reprompts=1) and outcome.effects == ()
    assert outcome.replies == (Reply(problem.nl), question(step_id, state))  # type: ignore[attr-defined]


def test_a_text_step_reprompt_does_not_point_at_buttons() -> None:
    outcome = send(at("description", **BEFORE_DESCRIPTION), Postback("SOMETHING_OLD"))
    assert "knop" not in outcome.replies[0].text and not outcome.replies[-1].quick_replies


def test_free_text_at_a_choice_gets_the_same_quick_replies_again() -> None:
    state = at("urgency", **BEFORE_DESCRIPTION, description="Het begon vorige week.")
    outcome = send(state, Text("Mijn dochter durft niet meer naar school"))
    assert outcome.state == state.update(reprompts=1)
    assert outcome.replies[0].text == texts.NOT_UNDERSTOOD.nl
    assert [q.payload for q in outcome.replies[-1].quick_replies] == ["Q:urgency:urgent", "Q:urgency:normal"]


def test_a_message_over_the_limit_is_not_stored_and_the_limit_is_named() -> None:
    state = at("description", **BEFORE_DESCRIPTION)
    outcome = send(state, Text("Het begon zo. " * 358))  # 5,012 characters
    assert "description" not in outcome.state.answers and outcome.state.step == "description"
    assert "2000 tekens" in outcome.replies[0].text
    assert outcome.replies[-1] == question("description", state)


def test_after_three_failed_attempts_the_bot_offers_an_advisor() -> None:
    state = at("reporter", privacy="yes")
    firsts = []
    for _ in range(2):
        outcome = send(state, Text("blabla"))
        state = outcome.state
        firsts += outcome.replies
    assert not any("adviseur" in reply.text for reply in firsts)
    third = send(state, Text("weet niet"))
    assert texts.STILL_STUCK.nl in [reply.text for reply in third.replies] and "'adviseur'" in texts.STILL_STUCK.nl
    assert third.replies[-1] == question("reporter", state) and third.effects == ()
    answered = send(third.state, Text("leerling"))
    assert answered.state.reprompts == 0 and answered.state.step == "danger"


ODD_INPUTS = [
    Text(""), Text(" "), Text("👍"), Text("x" * 5000), Text("{case_reference} {0} }{"), Text("ok", payload=""),
    Text("ok", payload="Q:nowhere:x"), Text("ok", payload="garbage"), Media(("sticker",)), Media(("image",)),
    Media(("location",)), Media(()), Postback("UNKNOWN"), Postback(""),
]


@pytest.mark.parametrize("event", ODD_INPUTS, ids=repr)
def test_odd_input_at_any_question_never_raises_and_always_answers(event: Input) -> None:
    for step_id in [s.id for s in FLOW.steps.values() if s.waits]:
        state = at(step_id, **{k: v for k, v in BEFORE_DESCRIPTION.items() if k != step_id})
        outcome = send(state, event)
        assert outcome.state.step == step_id or outcome.state.answers.get(FLOW.step(step_id).answer)


@pytest.mark.parametrize("event", ODD_INPUTS, ids=repr)
@pytest.mark.parametrize("state", [
    ConversationState(),
    ConversationState(completed=True, case_reference="IDA-2025-00042", answers=MappingProxyType(BEFORE_DESCRIPTION)),
    ConversationState(completed=True),
], ids=["new", "completed", "declined"])
def test_odd_input_outside_an_intake_never_raises_and_always_answers(event: Input,
                                                                      state: ConversationState) -> None:
    outcome = send(state, event)
    assert outcome.state.in_intake or outcome.state.completed


@pytest.mark.parametrize(("step_id", "typed", "value"), [
    ("privacy", "ja", "yes"),
    ("privacy", "Ja, ga verder", "yes"),
    ("reporter", "ouder/verzorger", "parent"),
    ("reporter", "Young person/pupil", "student"),
    ("reporter", "docent", "school"),
    ("danger", "nee", "no"),
    ("danger", "NEE!", "no"),
    ("category", "gepest", "bullying"),
    ("category", "Chantage met beelden", "sextortion"),
    ("category", "BLACKMAIL", "sextortion"),
    ("category", "intimate_images", "intimate_images"),
    ("platform", "Instagram", "instagram"),
    ("platform", "insta", "instagram"),
    ("since", "Deze week", "this_week"),
    ("age", "14", "12_15"),
    ("age", "18+", "18_plus"),
    ("known", "weet niet", "unsure"),
    ("reported", "aangifte", "police"),
    ("urgency", "spoed", "urgent"),
    ("contact_method", "mail", "email"),
])
def test_typed_text_that_names_an_option_is_accepted(step_id: str, typed: str, value: str) -> None:
    state = at(step_id, **{k: v for k, v in BEFORE_DESCRIPTION.items() if k != step_id})
    outcome = send(state, Text(typed))
    assert outcome.state.answers[FLOW.step(step_id).answer] == value
    assert outcome.state.step != step_id


@pytest.mark.parametrize(("typed", "stored"), [
    ("Roblox", "gaming"), ("roblox", "gaming"), ("Pinterest", "Pinterest"), ("  BeReal ", "BeReal"),
])
def test_the_platform_question_also_takes_a_typed_name(typed: str, stored: str) -> None:
    state = at("platform", reporter="student", category="bullying")
    outcome = send(state, Text(typed))
    assert outcome.state.answers["platform"] == stored
    assert outcome.state.step == "since" and outcome.replies == (question("since", outcome.state),)


def test_the_platform_question_keeps_at_most_200_typed_characters() -> None:
    outcome = send(at("platform", category="bullying"), Text("Een forum " + "z" * 300))
    assert len(outcome.state.answers["platform"]) == 200


@pytest.mark.parametrize("email", ["ouder@example.nl", " a.b+school@mail.example.com ", "j.de.vries@ziggo.nl"])
def test_a_good_email_address_is_stored_and_ends_the_intake(email: str) -> None:
    state = at("ask_email", **BEFORE_DESCRIPTION, description="Pesten", urgency="normal", contact_method="email")
    outcome = send(state, Text(email))
    assert outcome.state.answers["email"] == email.strip()
    assert outcome.state.completed and outcome.effects == (outputs.CASE_COMPLETED,)


@pytest.mark.parametrize("email", ["ouder@example", "ouder at example.nl", "@example.nl", "a@b", "ouder@@example.nl",
                                   "ouder@example.n", "twee woorden@example.nl", "x" * 250 + "@example.nl"])
def test_a_bad_email_address_is_asked_again_with_an_example(email: str) -> None:
    state = at("ask_email", **BEFORE_DESCRIPTION, description="Pesten", urgency="normal", contact_method="email")
    outcome = send(state, Text(email))
    assert "email" not in outcome.state.answers and outcome.state.step == "ask_email"
    assert outcome.replies == (Reply(texts.BAD_EMAIL.nl), question("ask_email", state))


@pytest.mark.parametrize("phone", ["0612345678", "+31 6 12345678", "(020) 261 52 75", "06-12345678"])
def test_a_good_phone_number_is_stored_and_ends_the_intake(phone: str) -> None:
    state = at("ask_phone", **BEFORE_DESCRIPTION, description="Pesten", urgency="urgent", contact_method="phone")
    outcome = send(state, Text(phone))
    assert outcome.state.answers["phone"] == phone
    assert outcome.state.completed and outcome.effects == (outputs.CASE_COMPLETED,)


@pytest.mark.parametrize("phone", ["12345", "06-1234", "bel me maar", "0612345678901234567",
                                   "06 1234 5678 of 020 12345"])
def test_a_bad_phone_number_is_asked_again_with_an_example(phone: str) -> None:
    state = at("ask_phone", **BEFORE_DESCRIPTION, description="Pesten", urgency="urgent", contact_method="phone")
    outcome = send(state, Text(phone))
    assert "phone" not in outcome.state.answers and outcome.state.step == "ask_phone"
    assert outcome.replies == (Reply(texts.BAD_PHONE.nl), question("ask_phone", state))


@pytest.mark.parametrize("event", [Text("hallo"), Text("stop"), Text("adviseur"), Media(("image",))], ids=repr)
def test_a_paused_conversation_gets_no_replies_and_no_change(event: Input) -> None:
    state = at("description", **BEFORE_DESCRIPTION).update(paused=True)
    assert step(state, event, FLOW) == Outcome(state)


def test_get_started_during_a_take_over_says_the_advisor_has_it_and_changes_nothing() -> None:
    state = at("description", **BEFORE_DESCRIPTION).update(paused=True)  # e.g. after deleting the thread
    assert step(state, Postback(GET_STARTED), FLOW) == Outcome(state, (Reply(texts.ADVISOR_HAS_IT.nl),))


def test_get_started_during_an_intake_asks_to_go_on_or_start_again() -> None:
    state = at("description", **BEFORE_DESCRIPTION)
    outcome = step(state, Postback(GET_STARTED), FLOW)
    assert outcome.state == state and outcome.replies[0].text == texts.REPORT_RUNNING.nl


@pytest.mark.parametrize(("message", "locale"), [("Nog een vraag", "nl"), ("Hello, any news?", "en")])
def test_a_message_after_completion_names_the_case_reference(message: str, locale: str) -> None:
    state = ConversationState(completed=True, case_reference="IDA-2025-00042", locale=locale,
                              answers=MappingProxyType(BEFORE_DESCRIPTION))
    outcome = send(state, Text(message))
    assert outcome.state == state and outcome.effects == ()
    [reply] = outcome.replies
    assert "IDA-2025-00042" in reply.text and "{" not in reply.text
    assert reply.text == texts.AFTER_COMPLETION.get(locale).format(case_reference="IDA-2025-00042")


def test_get_started_after_completion_starts_a_new_intake() -> None:
    state = ConversationState(completed=True, case_reference="IDA-2025-00042", locale="en",
                              answers=MappingProxyType(BEFORE_DESCRIPTION))
    outcome = send(state, Postback(GET_STARTED, "Get Started"))
    assert outcome.effects == (outputs.INTAKE_STARTED,)
    assert outcome.state.step == "privacy" and dict(outcome.state.answers) == {}
    assert not outcome.state.completed and outcome.state.case_reference is None
    assert outcome.replies == (question("privacy", outcome.state),) and outcome.state.locale == "en"


def test_declining_the_privacy_notice_ends_without_a_case_or_links() -> None:
    state, replies, effects = converse(ConversationState(), Text("hoi"), Text("nee"))
    assert state.completed and effects == [outputs.INTAKE_STARTED]
    assert replies[-1].text == FLOW.step("privacy_declined").text.nl
    later = send(state, Text("hallo"))
    assert later.replies == (Reply(texts.AFTER_DECLINE.nl),) and later.state == state


def test_the_retention_period_comes_from_the_context() -> None:
    outcome = step(ConversationState(), Text("hoi"), FLOW, Context(retention_days=30))
    assert "tot 30 dagen nadat" in outcome.replies[0].text


@pytest.mark.parametrize(("first", "line"), [("hoi", "Meer over je privacy: "), ("hello", "More about your privacy: ")])
def test_the_privacy_notice_links_the_privacy_page_when_there_is_one(first: str, line: str) -> None:
    url = "https://bot.example.nl/privacy"
    outcome = step(ConversationState(), Text(first), FLOW, Context(privacy_url=url))
    assert f"{line}{url}\n" in outcome.replies[-1].text


def test_without_a_privacy_page_the_notice_leaves_the_link_line_out() -> None:
    for first in ("hoi", "hello"):
        text = step(ConversationState(), Text(first), FLOW, Context()).replies[-1].text
        assert "privacy:" not in text and "{" not in text and "\n\n\n" not in text and "http" not in text
        assert text.split("\n\n")[1].endswith(("op elk moment.", "at any time."))


def test_an_optional_line_of_its_own_leaves_no_gap() -> None:
    assert fill("A\n\nMore: {privacy_url}\n\nB {retention_days}", {"retention_days": 9}) == "A\n\nB 9"
    assert fill("A\nMore: {privacy_url}", {"privacy_url": "https://x.nl/privacy"}) == "A\nMore: https://x.nl/privacy"


def test_the_machine_is_compiled_once_per_flow() -> None:
    assert compile_flow(FLOW) is compile_flow(FLOW)
    assert compile_flow(load_flow_file(INTAKE)) is not compile_flow(FLOW)


@pytest.mark.parametrize("word", ["help", "english", "hulp"])
def test_a_command_as_the_very_first_message_still_starts_the_intake(word: str) -> None:
    outcome = send(ConversationState(), Text(word))
    assert outcome.state.step == "privacy" and outcome.effects == (outputs.INTAKE_STARTED,)
    assert outcome.replies[-1].quick_replies, "the privacy question is asked after the command's answer"


@pytest.mark.parametrize(("typed", "locale"), [("verwijder mijn gegevens", "nl"), ("Delete my data!", "en")])
def test_asking_to_erase_data_explains_what_goes_and_asks_to_confirm(typed: str, locale: str) -> None:
    state = at("reporter", privacy="yes", locale=locale)
    outcome = send(state, Text(typed))
    assert outcome.effects == () and outcome.state == state  # nothing happens before the user confirms
    (ask,) = outcome.replies
    assert ask.text == texts.ERASURE_ASK.get(locale)
    assert [q.payload for q in ask.quick_replies] == ["ERASE_CONFIRM", "ERASE_CANCEL"]


def test_confirming_erasure_is_an_effect_for_the_handler_and_a_typed_yes_is_not() -> None:
    state = at("reporter", privacy="yes")
    confirmed = send(state, Text("Ja, wis alles", payload="ERASE_CONFIRM"))
    assert confirmed.effects == (outputs.ERASURE_CONFIRMED,)
    assert [r.text for r in confirmed.replies] == [texts.ERASURE_NOW.get("nl")]
    assert outputs.ERASURE_CONFIRMED not in send(state, Text("ja")).effects  # only the button erases


def test_with_an_open_case_the_user_hears_that_advisors_look_first() -> None:
    context = dataclasses.replace(CONTEXT, erasure_waits=True, erasure_grace=86400)
    outcome = step(at("reporter", privacy="yes"), Text("Yes, erase it all", payload="ERASE_CONFIRM"), FLOW, context)
    assert outcome.effects == (outputs.ERASURE_CONFIRMED,)
    assert "24" in outcome.replies[0].text and "112" in outcome.replies[0].text


def test_cancelling_erasure_goes_back_to_the_question() -> None:
    state = at("reporter", privacy="yes")
    outcome = send(state, Text("Nee, toch niet", payload="ERASE_CANCEL"))
    assert outcome.effects == () and outcome.state.step == "reporter"
    assert outcome.replies[0].text == texts.ERASURE_CANCELLED.get("nl") and outcome.replies[-1].quick_replies
